"""Flap detection: an alert whose state changes more than N times within a window is flapping.

State changes are read off episodes in event time: a new episode (fingerprint, startsAt) is a
change to firing at startsAt, its resolution a change to resolved at endsAt. Repeated snapshots
change nothing, so Alertmanager's resends and HA duplicates never count.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from dataclasses import dataclass


@dataclass(slots=True)
class _Series:
    """Tuples, replaced on change, rather than a dict and a list: the detector holds one series per
    active alert, most see one episode and one change, and the containers would cost ~300 bytes more."""

    episodes: tuple[tuple[int, bool], ...] = ()  # (starts_at_us, resolved), in arrival order
    changes: tuple[int, ...] = ()  # change times, microseconds, ascending


class FlapDetector:
    def __init__(self, max_changes: int = 4, window_us: int = 3600 * 10**6):  # config ingest.flapping's defaults
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
        episodes = dict(series.episodes)
        known = episodes.get(starts_at_us)
        if known is None or (resolved and not known):  # a state change (a repeat changes nothing)
            changes = list(series.changes)
            if known is None:
                insort(changes, starts_at_us)
            if resolved:
                insort(changes, ends_at_us if ends_at_us is not None else starts_at_us)
            episodes[starts_at_us] = resolved  # a resolved episode stays resolved (monotonic, as in the store)
            self._latest_us = max(self._latest_us, changes[-1])
            horizon = changes[-1] - self.window_us
            series.changes = tuple(changes[bisect_right(changes, horizon):])
            series.episodes = tuple((start, done) for start, done in episodes.items() if not (done and start <= horizon))
        if len(series.changes) > self.max_changes:
            self.flapping.add(fingerprint)
            return True
        self.flapping.discard(fingerprint)
        return False

    @property
    def tracked(self) -> int:
        """How many fingerprints' changes are held."""
        return len(self._series)

    def forget_idle(self) -> int:
        """Drop fingerprints with no change inside the window (in event time) and no episode still
        firing; returns how many remain tracked."""
        horizon = self._latest_us - self.window_us
        for fingerprint in [fp for fp, s in self._series.items()
                            if (not s.changes or s.changes[-1] <= horizon) and all(done for _, done in s.episodes)]:
            del self._series[fingerprint]
            self.flapping.discard(fingerprint)
        return len(self._series)
