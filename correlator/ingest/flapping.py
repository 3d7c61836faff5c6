"""Flap detection: an alert whose state changes more than N times within a window is flapping.

State changes are read off episodes in event time: a new episode (fingerprint, startsAt) is a
change to firing at startsAt, its resolution a change to resolved at endsAt. Repeated snapshots
change nothing, so Alertmanager's resends and HA duplicates never count.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from dataclasses import dataclass, field


@dataclass(slots=True)
class _Series:
    episodes: dict[int, bool] = field(default_factory=dict)  # starts_at_us -> resolved
    changes: list[int] = field(default_factory=list)  # change times, microseconds, ascending


class FlapDetector:
    def __init__(self, max_changes: int, window_us: int):
        self.max_changes = max_changes
        self.window_us = window_us
        self._series: dict[str, _Series] = {}
        self._latest_us = 0  # the latest change seen: "now" in event time
        self.flapping: set[str] = set()  # fingerprints flapping now

    def observe(self, fingerprint: str, starts_at_us: int, ends_at_us: int | None, resolved: bool) -> bool:
        """Record one snapshot of an episode; returns whether its fingerprint is flapping now."""
        series = self._series.get(fingerprint)
        if series is None:
            series = self._series[fingerprint] = _Series()
        known = series.episodes.get(starts_at_us)
        if known is None:
            insort(series.changes, starts_at_us)
        if resolved and not known:
            insort(series.changes, ends_at_us if ends_at_us is not None else starts_at_us)
        if known is not True:  # a resolved episode stays resolved (monotonic, as in the store)
            series.episodes[starts_at_us] = resolved
        self._latest_us = max(self._latest_us, series.changes[-1])
        horizon = series.changes[-1] - self.window_us
        expired = bisect_right(series.changes, horizon)
        if expired:
            del series.changes[:expired]
            for start in [s for s, done in series.episodes.items() if done and s <= horizon]:
                del series.episodes[start]
        if len(series.changes) > self.max_changes:
            self.flapping.add(fingerprint)
            return True
        self.flapping.discard(fingerprint)
        return False

    def forget_idle(self) -> int:
        """Drop fingerprints with no change inside the window (in event time) and no episode still
        firing; returns how many remain tracked."""
        horizon = self._latest_us - self.window_us
        for fingerprint in [fp for fp, s in self._series.items()
                            if (not s.changes or s.changes[-1] <= horizon) and all(s.episodes.values())]:
            del self._series[fingerprint]
            self.flapping.discard(fingerprint)
        return len(self._series)
