"""The engine's timers on event time: an alert's endsAt passing without a re-send, auto-resolve
after the hold, escalation when not acknowledged in time, close after resolution. One due-time
heap drives them all (no task per incident or alert); a timer that no longer applies when due does
nothing. Mixed into the Engine."""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import datetime, timedelta

from correlator.domain import AlertStatus, DecisionReason, Explanation, Incident, IncidentState, TimelineKind
from correlator.engine.derivation import Facts

ENGINE = "correlator"  # the actor of what the engine does by itself


@dataclass(slots=True)
class Timer:
    due: datetime
    kind: str
    incident_id: str  # "" for an episode's timer (its incident may change meanwhile)
    detail: tuple = ()


# On the heap each timer is (due, sequence, timer), in the order they were scheduled when due at
# once: tuples compare in C (a dataclass's order builds two tuples per comparison).
Scheduled = tuple[datetime, int, Timer]


class Timers:
    _timers: list[Scheduled]
    _timer_sequence: int
    incidents: dict[str, Incident]
    _hold_until: dict[str, datetime]  # per incident whose alerts all cleared: when it may resolve
    _latest: datetime | None = None  # the latest event time seen

    def event_time(self, now: datetime) -> datetime:
        """The engine's time never goes back: `now`, or the latest time already seen when `now` is
        earlier (a wall clock stepped back by NTP or a resumed VM). Timelines stay in order, windows
        never shrink below zero and a timer never comes due a second time."""
        if self._latest is None or now > self._latest:
            self._latest = now
        return self._latest

    def advance(self, now: datetime) -> set[str]:
        """Fire every timer due at `now`, each at its own time: what a timer schedules (the hold
        after an alert expired) fires in the same call when it is due by `now`."""
        if self._latest is not None and now < self._latest:
            now = self._latest
        changed: set[str] = set()
        while self._timers and self._timers[0][0] <= now:
            _, _, timer = heapq.heappop(self._timers)
            self.event_time(timer.due)
            changed |= getattr(self, f"_on_{timer.kind}")(timer)
        self.event_time(now)
        return changed

    def _add_timer(self, due: datetime, kind: str, incident_id: str, *detail) -> datetime:
        """Schedule a timer; one due before the latest event time fires at that time (timelines
        stay in order). Returns when it will fire."""
        if self._latest is not None and due < self._latest:
            due = self._latest
        self._timer_sequence += 1
        heapq.heappush(self._timers, (due, self._timer_sequence, Timer(due, kind, incident_id, detail)))
        return due

    def _start_hold(self, incident: Incident, cleared_at: datetime) -> None:
        """Every alert of `incident` cleared at `cleared_at`: it resolves once the hold (the flap
        hold-down when one of its alerts flaps) has passed since this, its last clearing."""
        hold, flapping = self._hold_for(incident, cleared_at)
        self._hold_until[incident.id] = self._add_timer(cleared_at + hold, "auto_resolve", incident.id, hold, flapping)

    def _hold_for(self, incident: Incident, cleared_at: datetime) -> tuple[timedelta, str]:
        """(how long an incident whose alerts all cleared stays open, the alertname of a member
        flapping then, if any: the flap hold-down applies)."""
        flapping = next((m for fingerprint, m in self._fingerprints(incident)
                         if self._flaps.flapping(fingerprint, cleared_at)), None)
        if flapping is None:
            return self.settings.resolve_hold, ""
        return max(self.settings.resolve_hold, self.settings.flap_hold), flapping.labels.get("alertname", "alert")

    @staticmethod
    def _fingerprints(incident: Incident):
        """(fingerprint, member) once per alert of the incident."""
        seen: set[str] = set()
        for (fingerprint, _), member in incident.members.items():
            if fingerprint not in seen:
                seen.add(fingerprint)
                yield fingerprint, member

    def _on_auto_resolve(self, timer: Timer) -> set[str]:
        incident = self.incidents.get(timer.incident_id)
        if incident is None or not incident.active or incident.firing \
                or timer.due < self._hold_until.get(incident.id, timer.due):
            return set()  # something re-fired meanwhile, an operator resolved it, or a later clearing holds it
        self._hold_until.pop(incident.id, None)
        hold, flapping = timer.detail
        self._transition(incident, IncidentState.RESOLVED, timer.due, ENGINE, hold_seconds=hold.total_seconds(),
                         detail=f"all alerts resolved and the flap hold-down passed ({flapping} flapped)"
                         if flapping else "all alerts resolved and the hold time passed")
        return {incident.id}

    def _on_expire(self, timer: Timer) -> set[str]:
        """An episode's endsAt came: resolved, unless a re-send extended it (then wait for that end)."""
        [key] = timer.detail
        episode = self._episodes.get(key)
        if episode is None or episode.ends_at is None or episode.status is AlertStatus.RESOLVED:
            return set()
        if episode.ends_at > timer.due:
            self._add_timer(episode.ends_at, "expire", "", key)
            return set()
        return self._resolve_member(key, episode.ends_at, episode, timer.due, timed_out=True)

    def _on_close(self, timer: Timer) -> set[str]:
        incident = self.incidents.get(timer.incident_id)
        if incident is None or incident.state is not IncidentState.RESOLVED \
                or incident.resolved_at + self.settings.close_after > timer.due:
            return set()
        self._transition(incident, IncidentState.CLOSED, timer.due, ENGINE, detail="resolved long enough")
        self._closed.append(incident.id)
        return {incident.id} | self._forget(incident, timer.due)

    def _schedule_escalation(self, incident: Incident, facts: Facts) -> None:
        """The first escalate rule that has a time for the incident's priority escalates it when it
        is still open that long after it opened, or last reopened (the clock starts again, as a
        paging service's does for an incident triggered again)."""
        for index in sorted(facts.escalations):
            rule = self.rules.escalations[index]
            if incident.priority in rule.after:
                since = _opened_last(incident)
                self._add_timer(since + timedelta(seconds=rule.after[incident.priority]), "escalate", incident.id,
                                rule.name, rule.to_team, incident.priority, since)
                return

    def _on_escalate(self, timer: Timer) -> set[str]:
        incident = self.incidents.get(timer.incident_id)
        rule, team, priority, since = timer.detail
        if incident is None or incident.state is not IncidentState.OPEN or incident.priority != priority \
                or since != _opened_last(incident):
            return set()  # acknowledged, reprioritised or reopened since: a newer timer applies, if any
        self._transition(incident, IncidentState.ESCALATED, timer.due, ENGINE, rule=rule,
                         detail=f"not acknowledged within the {priority} escalation time")
        if team:
            incident.team = team
        else:
            incident.tier += 1
        incident.assignment = Explanation(DecisionReason.ESCALATED, rule,
                                          detail=f"team={incident.team}, tier={incident.tier}")
        incident.record(timer.due, TimelineKind.ASSIGNED, team=incident.team, tier=incident.tier, rule=rule)
        return {incident.id}


def _opened_last(incident: Incident) -> datetime:
    """When the incident opened, or last reopened."""
    return next((e.at for e in reversed(incident.timeline) if e.kind is TimelineKind.REOPENED), incident.opened_at)
