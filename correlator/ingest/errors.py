"""Validation errors as values: each names the offending field by its path in the payload."""

from __future__ import annotations

import re
from dataclasses import dataclass

import msgspec


@dataclass(frozen=True, slots=True)
class FieldError:
    path: str
    reason: str

    def as_json(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


class PayloadError(Exception):
    """The whole body is unusable: nothing of it was stored."""

    def __init__(self, message: str, details: list[FieldError]):
        super().__init__(message)
        self.message = message
        self.details = details


_MSGSPEC_PATH = re.compile(r"^(?P<reason>.*) - at `\$(?P<path>[^`]*)`$", re.S)


def from_msgspec(error: msgspec.ValidationError | msgspec.DecodeError) -> FieldError:
    """Turn msgspec's `Expected str, got int - at $.alerts[0].labels[...]` into a FieldError."""
    text = str(error)
    match = _MSGSPEC_PATH.match(text)
    if not match:
        return FieldError("$", text)
    # `[...]` stands for a dict key msgspec does not name: the path stops at that dict.
    path = match.group("path").split("[...]")[0].lstrip(".")
    return FieldError(path or "$", match.group("reason"))
