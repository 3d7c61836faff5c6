"""Memoising pure readings of an alert's labels and annotations: every new episode of an alert is
read again (its words, its document), and most episodes are recurrences of an alert already read."""

from __future__ import annotations

from functools import lru_cache
from typing import Callable, Mapping, TypeVar

Result = TypeVar("Result")
Reader = Callable[[Mapping[str, str], Mapping[str, str]], Result]
ALERTS_KEPT = 4096  # per memoised reader: the label sets of the recent alerts


def by_content(reader: Reader) -> Reader:
    """`reader(labels, annotations)` memoised by their content, in order (so it stays the same
    function: the order of labels is part of what a reader may return)."""
    @lru_cache(maxsize=ALERTS_KEPT)
    def cached(labels: tuple, annotations: tuple) -> Result:
        return reader(dict(labels), dict(annotations))

    def memoised(labels: Mapping[str, str], annotations: Mapping[str, str]) -> Result:
        return cached(tuple(labels.items()), tuple(annotations.items()))

    memoised.__doc__, memoised.__name__ = reader.__doc__, reader.__name__
    memoised.cache_info, memoised.cache_clear = cached.cache_info, cached.cache_clear
    return memoised
