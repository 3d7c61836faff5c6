"""What people do to incidents (through the API): acknowledge, assign, comment, reprioritise,
reclassify, escalate, resolve, reopen, close, merge, split. Mixed into the Engine: actions are engine inputs like
alerts, so every change is one owner's, recorded in the timeline with its actor.

Arguments arrive typed and checked (domain/actions.py). Each action checks what depends on the
incident before it changes anything: UnknownIncident, TransitionError and InvalidAction leave the
engine as it was, which is what lets the engine service skip a rebuild after a refusal."""

from __future__ import annotations

from datetime import datetime

from correlator.domain import (Category, DecisionReason, Explanation, Incident, IncidentState, InvalidAction, Priority,
                               ServiceArea, TimelineKind, TransitionError, UnknownIncident)


class OperatorActions:
    incidents: dict[str, Incident]

    def incident(self, incident_id: str) -> Incident:
        incident = self.incidents.get(incident_id)
        if incident is None:
            raise UnknownIncident(f"no open or resolved incident {incident_id!r} (closed incidents are read-only)")
        return incident

    def acknowledge(self, incident_id: str, actor: str, now: datetime) -> set[str]:
        self._transition(self.incident(incident_id), IncidentState.ACKNOWLEDGED, now, actor)
        return {incident_id}

    def investigate(self, incident_id: str, actor: str, now: datetime) -> set[str]:
        self._transition(self.incident(incident_id), IncidentState.INVESTIGATING, now, actor)
        return {incident_id}

    def resolve(self, incident_id: str, actor: str, now: datetime, reason: str = "") -> set[str]:
        self._transition(self.incident(incident_id), IncidentState.RESOLVED, now, actor, reason=reason)
        return {incident_id}

    def reopen(self, incident_id: str, actor: str, now: datetime, reason: str = "") -> set[str]:
        """A resolved incident is open again (the fix did not hold), and follows its alerts like any
        open incident: with none firing, it resolves again after the resolve hold, counted from now,
        unless one fires. Closed incidents are final (not in `incidents`: UnknownIncident)."""
        incident = self.incident(incident_id)
        if incident.state is not IncidentState.RESOLVED:
            raise TransitionError(f"{incident_id} is {incident.state}: only a resolved incident can be reopened")
        self._transition(incident, IncidentState.OPEN, now, actor, kind=TimelineKind.REOPENED, reason=reason)
        incident.resolved_at = None
        if not incident.firing:
            self._start_hold(incident, now)
        return {incident_id}

    def close(self, incident_id: str, actor: str, now: datetime, reason: str = "") -> set[str]:
        incident = self.incident(incident_id)
        self._transition(incident, IncidentState.CLOSED, now, actor, reason=reason)
        self._closed.append(incident.id)
        return {incident_id} | self._forget(incident, now)

    def comment(self, incident_id: str, actor: str, now: datetime, text: str) -> set[str]:
        self.incident(incident_id).record(now, TimelineKind.COMMENTED, actor, text=text)
        return {incident_id}

    def assign(self, incident_id: str, actor: str, now: datetime, team: str, tier: int | None = None) -> set[str]:
        incident = self.incident(incident_id)
        incident.team, incident.tier = team, tier or incident.tier
        incident.assignment = Explanation(DecisionReason.OPERATOR, actor, detail=f"assigned by {actor}")
        incident.record(now, TimelineKind.ASSIGNED, actor, team=team, tier=incident.tier)
        return {incident_id}

    def set_priority(self, incident_id: str, actor: str, now: datetime, priority: Priority,
                     reason: str = "") -> set[str]:
        incident = self.incident(incident_id)
        incident.priority = Priority(priority)
        incident.priority_set_by_operator = True
        incident.prioritisation = Explanation(DecisionReason.OPERATOR, actor, detail=reason or f"set by {actor}")
        incident.record(now, TimelineKind.REPRIORITISED, actor, priority=incident.priority, reason=reason)
        self._schedule_escalation(incident, self._facts[incident_id])  # the new priority's escalation time
        return {incident_id}

    def classify(self, incident_id: str, actor: str, now: datetime, category: Category | None = None,
                 service_area: ServiceArea | None = None) -> set[str]:
        """An operator's classification: it stands from now on, and `correlator train --corrections`
        learns from it (the "reclassified" timeline event is the label)."""
        incident = self.incident(incident_id)
        if category is None and service_area is None:
            raise InvalidAction("category", "give a category, a service_area, or both")
        new_category = Category(category) if category is not None else incident.category
        new_area = ServiceArea(service_area) if service_area is not None else incident.service_area
        incident.category, incident.service_area = new_category, new_area
        incident.classification_confidence = {}
        incident.classification = Explanation(DecisionReason.RECLASSIFIED, actor, detail=f"category={new_category}, "
                                                                            f"service_area={new_area}")
        incident.record(now, TimelineKind.RECLASSIFIED, actor, category=new_category, service_area=new_area)
        return {incident_id}

    def escalate(self, incident_id: str, actor: str, now: datetime, team: str | None = None,
                 reason: str = "") -> set[str]:
        incident = self.incident(incident_id)
        self._transition(incident, IncidentState.ESCALATED, now, actor, reason=reason)
        if team:
            incident.team = team
        else:
            incident.tier += 1
        incident.assignment = Explanation(DecisionReason.ESCALATED, actor,
                                          detail=f"team={incident.team}, tier={incident.tier}")
        incident.record(now, TimelineKind.ASSIGNED, actor, team=incident.team, tier=incident.tier)
        return {incident_id}

    def merge(self, incident_id: str, actor: str, now: datetime, other_id: str,
              why: Explanation | None = None) -> set[str]:
        """Move every alert of `other_id` into `incident_id`; the other incident is closed. `why`:
        the grounds of a merge the engine made by itself, recorded on both timelines."""
        target, other = self.incident(incident_id), self.incident(other_id)
        if target is other:
            raise InvalidAction("other_id", "an incident cannot be merged with itself")
        moved = len(other.members)
        for key, member in list(other.members.items()):
            self._move(other, target, key, member, now)
        grounds = {"reason": why.reason, "rule": why.rule, "detail": why.detail} if why is not None else {}
        other.record(now, TimelineKind.MERGED, actor, into=target.id, alerts=moved, **grounds)
        target.record(now, TimelineKind.MERGED, actor, source=other.id, alerts=moved, **grounds)
        other.members.clear()
        return {target.id, other.id} | self._force_close(other, now, actor, f"merged into {target.id}")

    def split(self, incident_id: str, actor: str, now: datetime, fingerprints: list[str]) -> set[str]:
        """Move the alerts with these fingerprints out into a new incident."""
        source = self.incident(incident_id)
        chosen = set(fingerprints)
        moving = [(key, m) for key, m in source.members.items() if m.fingerprint in chosen]
        if not moving:
            raise InvalidAction("fingerprints", "none of them is an alert of this incident")
        if len(moving) == len(source.members):
            raise InvalidAction("fingerprints", "splitting out every alert would leave the incident empty")
        created = self._open(f"split:{source.id}:{moving[0][1].fingerprint}", now)
        for key, member in moving:
            self._move(source, created, key, member, now)
        source.record(now, TimelineKind.SPLIT, actor, into=created.id,
                      fingerprints=sorted(m.fingerprint for _, m in moving))
        created.record(now, TimelineKind.SPLIT, actor, source=source.id)
        self._rederive(source, now)
        if not created.firing:  # alerts that all cleared: it resolves after the hold, as any incident
            self._start_hold(created, now)
        return {source.id, created.id}
