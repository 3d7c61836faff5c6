"""What a saved incident says to destinations: its new timeline events (and what changed since its
last save) as IncidentChanges, each with the incident as it was saved.

An incident saved for the first time is OPENED (its classification, priority and assignment are
part of the opening); later saves give one UPDATED when priority, title or alert count changed, and
one change per operator-visible event: acknowledged, assigned, escalated, commented, resolved,
reopened, closed, merged into another incident."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import msgspec

from correlator.domain import Incident, TimelineEvent, TimelineKind
from correlator.forward.contract import AlertSummary, ChangeKind, IncidentChange, IncidentSnapshot

MAX_ALERTS = 200  # alerts a snapshot lists (an incident may hold thousands; the counts tell the rest)
ENGINE_ACTOR = "correlator"

_EVENT_CHANGES = {
    TimelineKind.ACKNOWLEDGED: ChangeKind.ACKNOWLEDGED,
    TimelineKind.ASSIGNED: ChangeKind.ASSIGNED,
    TimelineKind.ESCALATED: ChangeKind.ESCALATED,
    TimelineKind.COMMENTED: ChangeKind.COMMENTED,
    TimelineKind.RESOLVED: ChangeKind.RESOLVED,
    TimelineKind.REOPENED: ChangeKind.REOPENED,
    TimelineKind.CLOSED: ChangeKind.CLOSED,
    TimelineKind.MERGED: ChangeKind.MERGED,
}
_OPENING = frozenset({TimelineKind.ASSIGNED})  # part of the opening when in the first save


@dataclass(frozen=True)
class Facts:
    """What an UPDATED change compares: as of the incident's last save."""

    priority: str
    title: str
    alerts: int

    @classmethod
    def of(cls, incident: Incident) -> Facts:
        return cls(incident.priority.value, incident.title, len(incident.members))


def snapshot(incident: Incident, url: str = "") -> IncidentSnapshot:
    alerts = tuple(AlertSummary(alertname=m.labels.get("alertname", ""), status=m.status.value, labels=dict(m.labels),
                                reason=str(m.why.reason) if m.why is not None else "",
                                summary=m.annotations.get("summary") or m.annotations.get("description", ""))
                   for m in list(incident.members.values())[:MAX_ALERTS])
    return IncidentSnapshot(
        id=incident.id, title=incident.title, state=incident.state.value, priority=incident.priority.value,
        impact=str(incident.impact), urgency=str(incident.urgency),
        category=incident.category.value if incident.category else None,
        service_area=str(incident.service_area) if incident.service_area else None, services=tuple(incident.services),
        team=incident.team, tier=incident.tier, opened_at=incident.opened_at, resolved_at=incident.resolved_at,
        alerts=alerts, url=url, alert_count=len(incident.members))


def _detail(event: TimelineEvent) -> dict:
    if event.kind is TimelineKind.MERGED:
        return {"into": event.detail["into"]}
    return msgspec.to_builtins(event.detail)


def _updated(before: Facts, after: Facts) -> dict:
    return {name: {"from": getattr(before, name), "to": getattr(after, name)}
            for name in ("priority", "title", "alerts") if getattr(before, name) != getattr(after, name)}


def changes_of(incident: Incident, new_events: Iterable[TimelineEvent], before: Facts | None,
               url: str = "") -> list[IncidentChange]:
    """The changes of one save of `incident`: `new_events` its events since its last save, `before`
    its facts then (None: its first save)."""
    new_events = list(new_events)
    if before is not None and not new_events and Facts.of(incident) == before:
        return []
    state = snapshot(incident, url)
    changes: list[IncidentChange] = []
    if before is None:
        first = new_events[0] if new_events else None
        changes.append(IncidentChange(ChangeKind.OPENED, first.at if first else incident.opened_at,
                                      first.actor if first else ENGINE_ACTOR, state))
    else:
        detail = _updated(before, Facts.of(incident))
        if detail:
            cause = next((e for e in new_events if e.kind in (TimelineKind.REPRIORITISED, TimelineKind.PRIORITISED)),
                         new_events[-1] if new_events else None)
            changes.append(IncidentChange(ChangeKind.UPDATED, cause.at if cause else incident.last_alert_at,
                                          cause.actor if cause else ENGINE_ACTOR, state, detail))
    for event in new_events:
        kind = _EVENT_CHANGES.get(event.kind)
        if kind is None or (before is None and event.kind in _OPENING):
            continue
        if event.kind is TimelineKind.MERGED and "into" not in event.detail:
            continue  # the incident that received the alerts: its UPDATED says so
        changes.append(IncidentChange(kind, event.at, event.actor, state, _detail(event)))
    return changes
