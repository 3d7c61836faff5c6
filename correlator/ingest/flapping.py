"""Flap detection: an alert whose state changes more than N times within a window is flapping.

State changes are read off episodes in event time: a new episode (fingerprint, startsAt) is a
change to firing at startsAt, its resolution a change to resolved at endsAt. Repeated snapshots
change nothing, so Alertmanager's resends and HA duplicates never count.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(slots=True)
class _Series:
    episodes: dict[int, bool] = field(default_factory=dict)  # starts_at_us -> resolved
    changes: deque[int] = field(default_factory=deque)  # change times, microseconds, ascending


class FlapDetector:
    def __init__(self, max_changes: int, window_us: int):
        self.max_changes = max_changes
        self.window_us = window_us
        self._series: dict[str, _Series] = {}

    def observe(self, fingerprint: str, starts_at_us: int, ends_at_us: int | None, resolved: bool) -> bool:
        """Record one snapshot of an episode; returns whether its fingerprint is flapping now."""
        series = self._series.setdefault(fingerprint, _Series())
        known = series.episodes.get(starts_at_us)
        if known is None:
            self._add_change(series, starts_at_us)
        if resolved and not known:
            self._add_change(series, ends_at_us if ends_at_us is not None else starts_at_us)
        if known is not True:  # a resolved episode stays resolved (monotonic, as in the store)
            series.episodes[starts_at_us] = resolved
        latest = series.changes[-1]
        while series.changes and series.changes[0] <= latest - self.window_us:
            series.changes.popleft()
        horizon = latest - self.window_us
        for start in [s for s, done in series.episodes.items() if done and s <= horizon]:
            del series.episodes[start]
        return len(series.changes) > self.max_changes

    def _add_change(self, series: _Series, at_us: int) -> None:
        # Changes arrive nearly in order; keep the deque sorted for the window trim.
        if not series.changes or at_us >= series.changes[-1]:
            series.changes.append(at_us)
        else:
            ordered = sorted([*series.changes, at_us])
            series.changes.clear()
            series.changes.extend(ordered)

    def forget_idle(self, now_us: int) -> int:
        """Drop fingerprints with no change inside the window; returns how many remain tracked."""
        horizon = now_us - self.window_us
        for fingerprint in [fp for fp, s in self._series.items()
                            if (not s.changes or s.changes[-1] <= horizon)
                            and all(s.episodes.values())]:
            del self._series[fingerprint]
        return len(self._series)
