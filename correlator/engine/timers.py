"""The engine's timers on event time: auto-resolve after the hold, escalation when not
acknowledged in time, close after resolution. One due-time heap drives them all (no task per
incident); a timer that no longer applies when due does nothing. Mixed into the Engine."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from correlator.engine.derivation import Facts
from correlator.engine.model import Explanation, Incident, IncidentState

ENGINE = "correlator"  # the actor of what the engine does by itself


@dataclass(order=True, slots=True)
class Timer:
    due: datetime
    sequence: int
    kind: str = field(compare=False)
    incident_id: str = field(compare=False)
    detail: tuple = field(compare=False, default=())


class Timers:
    _timers: list[Timer]
    _timer_sequence: int
    incidents: dict[str, Incident]
    _latest: datetime | None = None  # the latest event time seen

    def event_time(self, now: datetime) -> datetime:
        """The engine's time never goes back: `now`, or the latest time already seen when `now` is
        earlier (a wall clock stepped back by NTP or a resumed VM). Timelines stay in order, windows
        never shrink below zero and a timer never comes due a second time."""
        if self._latest is None or now > self._latest:
            self._latest = now
        return self._latest

    def advance(self, now: datetime) -> set[str]:
        """Fire every timer due at `now`."""
        now = self.event_time(now)
        changed: set[str] = set()
        while self._timers and self._timers[0].due <= now:
            timer = heapq.heappop(self._timers)
            incident = self.incidents.get(timer.incident_id)
            if incident is not None and getattr(self, f"_on_{timer.kind}")(incident, timer):
                changed.add(incident.id)
        return changed

    def _add_timer(self, due: datetime, kind: str, incident_id: str, *detail) -> None:
        self._timer_sequence += 1
        heapq.heappush(self._timers, Timer(due, self._timer_sequence, kind, incident_id, detail))

    def _on_auto_resolve(self, incident: Incident, timer: Timer) -> bool:
        if not incident.active or incident.firing:
            return False  # something re-fired meanwhile, or an operator resolved it
        self._transition(incident, IncidentState.RESOLVED, timer.due, ENGINE,
                         detail="all alerts resolved and the hold time passed")
        return True

    def _on_close(self, incident: Incident, timer: Timer) -> bool:
        if incident.state is not IncidentState.RESOLVED or incident.resolved_at + self.settings.close_after > timer.due:
            return False
        self._transition(incident, IncidentState.CLOSED, timer.due, ENGINE, detail="resolved long enough")
        self._forget(incident)
        self._closed.append(incident.id)
        return True

    def _schedule_escalation(self, incident: Incident, facts: Facts) -> None:
        for index in sorted(facts.escalations):
            rule = self.rules.escalations[index]
            if incident.priority in rule.after:
                due = incident.opened_at + timedelta(seconds=rule.after[incident.priority])
                self._add_timer(due, "escalate", incident.id, rule.name, rule.to_team, incident.priority)
                return

    def _on_escalate(self, incident: Incident, timer: Timer) -> bool:
        rule, team, priority = timer.detail
        if incident.state is not IncidentState.OPEN or incident.priority != priority:
            return False  # acknowledged (or reprioritised: a newer timer applies)
        self._transition(incident, IncidentState.ESCALATED, timer.due, ENGINE, rule=rule,
                         detail=f"not acknowledged within the {priority} escalation time")
        if team:
            incident.team = team
        else:
            incident.tier += 1
        incident.assignment = Explanation("escalated", rule, detail=f"team={incident.team}, tier={incident.tier}")
        incident.record(timer.due, "assigned", team=incident.team, tier=incident.tier, rule=rule)
        return True
