"""Incidents as JSON documents: the replay output line and the API's detail view."""

from __future__ import annotations

from datetime import datetime

from correlator.domain import Candidate, Explanation, Incident, IncidentPage, Problem
from correlator.units import rfc3339


def _explanation(why: Explanation | None) -> dict | None:
    if why is None:
        return None
    return {"reason": str(why.reason), "rule": why.rule, "labels": why.labels, "detail": why.detail}


def _seconds(start: datetime, end: datetime | None) -> float | None:
    return (end - start).total_seconds() if end is not None else None


def incident_summary(incident: Incident) -> dict:
    """One line of replay output (DESIGN.md "Replay output")."""
    return _summary(incident, _fingerprints(incident), len(incident.members))


def _fingerprints(incident: Incident) -> list[str]:
    return sorted({fingerprint for fingerprint, _ in incident.members})


def _summary(incident: Incident, fingerprints: list[str], alerts: int) -> dict:
    return {
        "id": incident.id,
        "title": incident.title,
        "state": incident.state.value,
        "fingerprints": fingerprints,
        "alerts": alerts,
        "firing": incident.firing,
        "category": incident.category,
        "service_area": incident.service_area,
        "classification_confidence": incident.classification_confidence,
        "priority": incident.priority,
        "impact": incident.impact,
        "urgency": incident.urgency,
        "services": list(incident.services),
        "team": incident.team,
        "tier": incident.tier,
        "problem": incident.problem_id,
        "opened_at": rfc3339(incident.opened_at),
        "acknowledged_at": rfc3339(incident.acknowledged_at),
        "resolved_at": rfc3339(incident.resolved_at),
        "closed_at": rfc3339(incident.closed_at),
        "time_to_acknowledge_seconds": _seconds(incident.opened_at, incident.acknowledged_at),
        "time_to_resolve_seconds": _seconds(incident.opened_at, incident.resolved_at),
    }


def incident_replay_line(incident: Incident) -> dict:
    """The summary plus each member episode as [fingerprint, startsAt, joinedAt, reason, rule], in
    the order they joined: what `--truth` scores, and which join placed each episode there."""
    members = sorted(incident.members.values(), key=join_order)
    return {**incident_summary(incident),
            "episodes": [[m.fingerprint, rfc3339(m.starts_at), rfc3339(m.joined_at), str(m.why.reason), m.why.rule]
                         for m in members]}


def join_order(member) -> tuple:
    """Members in the order they joined, as the store loads them: an incident reads the same from either."""
    return member.joined_at, member.fingerprint, member.starts_at


# What an operator action answers with (and the log keeps) of an incident's members and timeline: a
# storm's ten thousand alerts would make every acknowledgement megabytes.
ACTION_RESULT_LIMIT = 200


def incident_page(incident: Incident, members_limit: int | None = None,
                  timeline_limit: int | None = None) -> IncidentPage:
    """The first `members_limit` members in join order and the latest `timeline_limit` events
    (None: all) of an incident held whole (the store reads a page itself: IncidentRepository.read_page)."""
    timeline = incident.timeline if timeline_limit is None \
        else incident.timeline[max(len(incident.timeline) - timeline_limit, 0):]
    return IncidentPage(incident, sorted(incident.members.values(), key=join_order)[:members_limit], timeline,
                        _fingerprints(incident), len(incident.members), len(incident.timeline))


def incident_detail(page: IncidentPage) -> dict:
    """Everything about one incident, with why each alert is a member and why it is classified,
    prioritised and assigned as it is: the page's members and events, and how many of each it leaves out."""
    incident = page.incident
    return {
        **_summary(incident, page.fingerprints, page.alerts),
        "group_key": incident.group_key,
        "last_alert_at": rfc3339(incident.last_alert_at),
        "classification": _explanation(incident.classification),
        "prioritisation": _explanation(incident.prioritisation),
        "assignment": _explanation(incident.assignment),
        "members": [{
            "fingerprint": m.fingerprint, "startsAt": rfc3339(m.starts_at), "endsAt": rfc3339(m.ends_at),
            "status": m.status.value, "labels": m.labels, "annotations": m.annotations,
            "services": list(m.services), "joinedAt": rfc3339(m.joined_at), "why": _explanation(m.why),
        } for m in page.members],
        "members_omitted": page.alerts - len(page.members),
        "timeline": [{"at": rfc3339(e.at), "kind": e.kind, "actor": e.actor, "detail": e.detail}
                     for e in page.timeline],
        "timeline_omitted": page.events - len(page.timeline),
    }


def candidates_view(candidates: tuple[Candidate, ...]) -> list[dict]:
    """Alerts held below their group rule's min_alerts, each with how many alerts its group has."""
    alerts: dict[str, set[str]] = {}
    for candidate in candidates:
        alerts.setdefault(candidate.group_key, set()).add(candidate.alert.fingerprint)
    return [{
        "fingerprint": c.alert.fingerprint, "labels": dict(c.alert.labels), "annotations": dict(c.alert.annotations),
        "startsAt": rfc3339(c.alert.starts_at), "endsAt": rfc3339(c.alert.ends_at), "source": c.alert.source,
        "rule": c.rule, "group": c.group_labels, "arrivedAt": rfc3339(c.arrived_at),
        "alerts": len(alerts[c.group_key]), "min_alerts": c.min_alerts,
    } for c in candidates]


def problem_summary(problem: Problem) -> dict:
    return {"id": problem.id, "signature": problem.signature, "state": problem.state,
            "opened_at": rfc3339(problem.opened_at), "last_seen": rfc3339(problem.last_seen),
            "incidents": list(problem.incident_ids)}
