"""Memoising pure functions of label sets: every new episode of an alert is read again (its
entities, its words, its document), and most episodes are recurrences of an alert already read."""

from __future__ import annotations

from functools import lru_cache
from typing import Callable, Mapping, TypeVar

Result = TypeVar("Result")
ALERTS_KEPT = 4096  # per memoised function: label sets of the recent alerts


def by_content(function: Callable[..., Result]) -> Callable[..., Result]:
    """`function(*mappings)` memoised by the mappings' content, in order (so it stays the same
    function: the order of labels is part of what some readers return)."""
    @lru_cache(maxsize=ALERTS_KEPT)
    def cached(*contents: tuple) -> Result:
        return function(*map(dict, contents))

    def memoised(*mappings: Mapping[str, str]) -> Result:
        return cached(*[tuple(mapping.items()) for mapping in mappings])

    memoised.__doc__, memoised.__name__ = function.__doc__, function.__name__
    memoised.cache_info, memoised.cache_clear = cached.cache_info, cached.cache_clear
    return memoised
