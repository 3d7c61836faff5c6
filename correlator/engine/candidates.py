"""Candidates: alerts a group rule holds below its `min_alerts` (Keep's alert threshold). No incident
opens until that many alerts of one group fire within the rule's window; the alert that reaches it
opens the incident with every candidate of its group. A candidate that resolves, expires or
arrived a window ago no longer counts. Mixed into the Engine: working state, not saved apart; a
restart rebuilds it from the store's firing alerts no incident holds (`restore_unplaced`)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from correlator.domain import AlertStatus, Candidate, Explanation, Incident, JoinReason


class Candidates:
    _candidates: dict[str, dict[tuple[str, datetime], Candidate]]  # per group key
    _candidate_group: dict[tuple[str, datetime], str]
    candidates_version: int  # counts changes of the candidates: a caller's snapshot is current while equal

    def _gathered(self, candidate: Candidate, window: float, now: datetime) -> tuple[Incident, Explanation] | None:
        """Hold a firing alert as a candidate of its group; once `min_alerts` alerts of the group
        fire within the window, they open its incident together (returned with the reason)."""
        alert = candidate.alert
        if alert.status is not AlertStatus.FIRING:
            return None  # only firing alerts count towards the threshold
        key = (alert.fingerprint, alert.starts_at)
        pool = self._hold(candidate, key, window)
        alerts = len({fingerprint for fingerprint, _ in pool})
        if alerts < candidate.min_alerts:
            return None
        incident = self._open(candidate.group_key, now)
        self._by_group[candidate.group_key] = incident.id
        why = Explanation(JoinReason.GROUP, candidate.rule, candidate.group_labels,
                          f"{alerts} alerts within {window:g}s reached min_alerts {candidate.min_alerts}")
        for held_key, held in self._leave_pool(candidate.group_key):
            if held_key != key:
                episode = self._episodes[held_key]
                episode.incident_id = incident.id
                member = self._join(incident, held.alert, held_key, why, held.services, now, held.group_key,
                                    held.group_labels)
                member.ends_at = episode.ends_at
        return incident, why

    def _hold(self, candidate: Candidate, key, window: float) -> dict:
        """Put a candidate in its group's pool until a window after it arrived; returns the pool."""
        pool = self._candidates.setdefault(candidate.group_key, {})
        pool[key] = candidate
        self._candidate_group[key] = candidate.group_key
        self.candidates_version += 1
        self._add_timer(candidate.arrived_at + timedelta(seconds=window), "candidate_window", "", key)
        return pool

    def _leave_pool(self, group_key: str, key=None) -> list:
        """Take one candidate (`key`) or all of a group out of the pool; returns (key, candidate)s."""
        pool = self._candidates.get(group_key, {})
        taken = list(pool.items()) if key is None else [(key, pool.pop(key))] if key in pool else []
        if key is None or not pool:
            self._candidates.pop(group_key, None)
        for taken_key, _ in taken:
            del self._candidate_group[taken_key]
        self.candidates_version += bool(taken)
        return taken

    def _resent(self, key, alert) -> None:
        """A candidate re-sent with a new end: it shows the latest snapshot."""
        group_key = self._candidate_group.get(key)
        if group_key is not None:
            pool = self._candidates[group_key]
            pool[key] = replace(pool[key], alert=alert)
            self.candidates_version += 1

    def _on_candidate_window(self, timer) -> set[str]:
        """A candidate arrived a window ago without its group reaching min_alerts: no longer
        counted (its episode stays recorded, without incident, until it resolves)."""
        [key] = timer.detail
        group_key = self._candidate_group.get(key)
        if group_key is not None:
            self._leave_pool(group_key, key)
        return set()

    def candidates(self) -> tuple[Candidate, ...]:
        """The alerts held below their group rule's min_alerts, oldest first (frozen values:
        a snapshot another thread may read)."""
        return tuple(sorted((c for pool in self._candidates.values() for c in pool.values()),
                            key=lambda c: (c.arrived_at, c.alert.fingerprint)))
