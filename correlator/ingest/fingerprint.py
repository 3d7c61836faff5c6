"""Alertmanager's alert identity, so ids match whichever endpoint an alert came through."""

from __future__ import annotations

from functools import lru_cache
from typing import Mapping

_FNV64_OFFSET = 14695981039346656037
_FNV64_PRIME = 1099511628211
_MASK64 = 2**64 - 1
_SEPARATOR = 0xFF


def fingerprint(labels: Mapping[str, str]) -> str:
    """FNV-1a 64 over the labels sorted by name, each name and value followed by 0xff
    (prometheus/common `model.LabelSet.Fingerprint`), as 16 lowercase hex digits."""
    return _fingerprint_of_items(tuple(sorted(labels.items())))


# Senders repeat the same label sets every few seconds: the cache makes repeats free.
@lru_cache(maxsize=65536)
def _fingerprint_of_items(items: tuple[tuple[str, str], ...]) -> str:
    digest = _FNV64_OFFSET
    for name, value in items:
        for byte in name.encode():
            digest = ((digest ^ byte) * _FNV64_PRIME) & _MASK64
        digest = ((digest ^ _SEPARATOR) * _FNV64_PRIME) & _MASK64
        for byte in value.encode():
            digest = ((digest ^ byte) * _FNV64_PRIME) & _MASK64
        digest = ((digest ^ _SEPARATOR) * _FNV64_PRIME) & _MASK64
    return f"{digest:016x}"
