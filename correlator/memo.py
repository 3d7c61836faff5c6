"""Memoising pure readings of an alert's labels and annotations: every new episode of an alert is
read again (its words, its document), and most episodes are recurrences of an alert already read."""

from __future__ import annotations

from functools import lru_cache
from itertools import chain
from typing import Callable, Mapping, TypeVar

Result = TypeVar("Result")
Reader = Callable[[Mapping[str, str], Mapping[str, str]], Result]
ALERTS_KEPT = 4096  # per memoised reader: the label sets of the recent alerts


def by_content(reader: Reader) -> Reader:
    """`reader(labels, annotations)` memoised by their content, in order (so it stays the same
    function: the order of labels is part of what a reader may return). Keyed by the names and
    values in one flat tuple: a tuple per pair would be a dozen more objects kept per alert for
    the garbage collector to scan, and most new alerts are new content."""
    @lru_cache(maxsize=ALERTS_KEPT)
    def cached(labels: tuple[str, ...], annotations: tuple[str, ...]) -> Result:
        return reader(_pairs(labels), _pairs(annotations))

    def memoised(labels: Mapping[str, str], annotations: Mapping[str, str]) -> Result:
        return cached(tuple(chain.from_iterable(labels.items())), tuple(chain.from_iterable(annotations.items())))

    memoised.__doc__, memoised.__name__ = reader.__doc__, reader.__name__
    memoised.cache_info, memoised.cache_clear = cached.cache_info, cached.cache_clear
    return memoised


def _pairs(flat: tuple[str, ...]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2]))
