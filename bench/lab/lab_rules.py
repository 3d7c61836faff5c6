"""The lab's copies of the vendored rule files: the same rules, with `for:` durations that fit a
run of minutes.

A `for:` above MAX_FOR becomes MAX_FOR. Rules that wait an hour or more (under-utilisation over a
week, bloat, kernel deviations, a reboot pending) are left out: shortened, they would fire on a
healthy host and say nothing about the faults.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

VENDORED = Path(__file__).resolve().parent / "rules"
MAX_FOR = 30.0
LEFT_OUT_FROM = 3600.0
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")


def seconds(duration: str) -> float:
    """A Prometheus duration (`1h30m`, `0m`) in seconds."""
    parts = _DURATION.findall(duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise ValueError(f"not a Prometheus duration: {duration!r}")
    return sum(int(n) * _UNITS[u] for n, u in parts)


def write_lab_rules(out: Path) -> list[str]:
    """Writes one lab copy per vendored file into `out`; returns the alert names left out."""
    out.mkdir(parents=True, exist_ok=True)
    left_out = []
    for path in sorted(VENDORED.glob("*.yml")):
        document = yaml.safe_load(path.read_text())
        for group in document["groups"]:
            kept = []
            for rule in group["rules"]:
                wait = seconds(str(rule.get("for", "0s")))
                if wait >= LEFT_OUT_FROM:
                    left_out.append(rule["alert"])
                    continue
                if wait > MAX_FOR:
                    rule["for"] = f"{MAX_FOR:.0f}s"
                kept.append(rule)
            group["rules"] = kept
        (out / path.name).write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    return left_out
