"""Durations and sizes written the way Prometheus and Alertmanager users write them."""

from __future__ import annotations

import re
from datetime import datetime

# Prometheus' units (prometheus/common model.ParseDuration), in nanoseconds as Go counts them.
_DURATION_UNITS = {"ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9, "d": 86400 * 10**9,
                   "w": 604800 * 10**9, "y": 31536000 * 10**9}
_DURATION_RE = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_MAX_NANOSECONDS = 2**63 - 1  # Go's time.Duration: durations past ~292 years overflow it
_SIZE_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9,
               "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}
_SIZE_RE = re.compile(r"\s*(\d+)\s*([a-zA-Z]*)\s*")


def parse_duration(text: str) -> float:
    """Parse a Prometheus duration (`30s`, `5m`, `1h30m`, `0`) into seconds, refusing what
    Alertmanager refuses: units out of order, and durations that overflow Go's time.Duration."""
    if text == "0":
        return 0.0
    pos, total, last_unit = 0, 0, None
    for match in _DURATION_RE.finditer(text):
        if match.start() != pos:
            break
        unit = match.group(2)
        if last_unit is not None and _DURATION_UNITS[unit] >= _DURATION_UNITS[last_unit]:
            raise ValueError(f"invalid duration {text!r}: units must go from largest to smallest")
        total += int(match.group(1)) * _DURATION_UNITS[unit]
        if total > _MAX_NANOSECONDS:
            raise ValueError(f"invalid duration {text!r}: out of range (at most 292y, as in Alertmanager)")
        pos, last_unit = match.end(), unit
    if pos != len(text) or not text:
        raise ValueError(f"invalid duration {text!r}: expected a number and a unit such as 30s, 5m, 4h, 1d")
    return total / 10**9


class Seconds(float):
    """A duration in seconds, written in YAML as `30s`, `5m`, `4h`."""


def seconds_from(value: object) -> Seconds:
    """Decode a YAML duration (the config's and the rules' alike); ValueError says what is expected.
    As in Alertmanager, a bare number other than 0 is refused: `300` is not silently 300 seconds."""
    if value == 0 and not isinstance(value, bool):
        return Seconds(0)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError(f"expected a duration with a unit such as {value:g}s or 5m, got the bare number "
                         f"{value:g} (a number without a unit is not taken as seconds)")
    if isinstance(value, str):
        return Seconds(parse_duration(value))
    raise ValueError("expected a duration such as 30s, 5m, 4h")


def parse_size(text: str | int) -> int:
    """Parse a byte size: an integer, or `32MiB`, `64MB`, `1GiB`."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    match = _SIZE_RE.fullmatch(str(text))
    if not match or match.group(2).upper() not in _SIZE_UNITS:
        raise ValueError(f"invalid size {text!r}: expected bytes or a number with KiB, MiB, GiB, KB, MB, GB")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2).upper()]


def rfc3339(value: datetime | None) -> str | None:
    """A UTC time as the APIs and recordings show it: `2026-11-23T04:21:56.525541Z`."""
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def number_in(kind: type[int] | type[float], minimum: float | None = None, maximum: float | None = None):
    """An argparse type: a `kind` from `minimum` to `maximum` (its error is the usage's)."""
    import argparse

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, "
                                             f"got {text!r}") from None
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            bounds = f"from {minimum} to {maximum}" if minimum is not None and maximum is not None \
                else f"of at least {minimum}" if minimum is not None else f"of at most {maximum}"
            raise argparse.ArgumentTypeError(f"expected a value {bounds}, got {text}")
        return value
    return parse
