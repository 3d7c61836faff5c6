"""Flapping in the engine's event time: an alert (fingerprint) whose state changed (a new episode
fired, an episode resolved) more than `max_changes` times within `window` is flapping. Its
incident is then held open for the flap hold-down instead of resolving and reopening with every
flap (Alertmanager #3048). The same definition as ingest's `flapping` flag, counted on receipt."""

from __future__ import annotations

from bisect import bisect_right
from datetime import datetime, timedelta

from correlator.engine.expiry import Expiry

SWEEP_EVERY = 4096  # changes between sweeps of alerts that stopped changing


class FlapTracker:
    def __init__(self, max_changes: int, window: timedelta):
        self.max_changes = max_changes
        self.window = window
        self._changes: dict[str, list[datetime]] = {}  # fingerprint -> change times within the window
        self._counted = 0
        self._expiry = Expiry()  # the fingerprints by their latest change

    def change(self, fingerprint: str, at: datetime) -> bool:
        """Count a state change of `fingerprint` at `at`; returns whether this change made it flap
        (it did not flap just before)."""
        changes = self._changes.setdefault(fingerprint, [])
        changes.append(at)
        self._expiry.touched(fingerprint, at)
        del changes[:bisect_right(changes, at - self.window)]
        self._counted += 1
        if self._counted % SWEEP_EVERY == 0:
            self._sweep(at)
        return len(changes) == self.max_changes + 1

    def flapping(self, fingerprint: str, at: datetime) -> bool:
        changes = self._changes.get(fingerprint, ())
        return len(changes) - bisect_right(changes, at - self.window) > self.max_changes

    def _sweep(self, at: datetime) -> None:
        horizon = at - self.window
        for fingerprint in list(self._expiry.before(horizon, inclusive=True)):
            changes = self._changes.get(fingerprint)
            if changes is not None and changes[-1] <= horizon:  # its latest change is outside the window
                del self._changes[fingerprint]
