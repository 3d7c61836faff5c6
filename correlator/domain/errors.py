"""Errors as values: a payload's invalid fields, each named by its path, and the actions the engine
refuses (before changing anything)."""

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


class UnknownIncident(LookupError):
    pass


class TransitionError(ValueError):
    """The incident's state cannot follow its current one (domain TRANSITIONS)."""


class InvalidAction(ValueError):
    """An operator action whose `field` cannot be applied to the incident, and why."""

    def __init__(self, field: str, reason: str):
        super().__init__(field, reason)
        self.field = field
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"
