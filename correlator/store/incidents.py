"""Incidents in the store: saved per engine step with the watermark, loaded back at start.

An incident is a header row, one row per member alert and one per timeline event. A step writes
only what changed (new events, changed members, headers), so its cost follows the change, not the
incident's size."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Iterable, Protocol

import msgspec
from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from correlator.domain import (JOIN_KINDS, AlertStatus, Category, DecisionReason, Explanation, Incident, IncidentPage,
                               IncidentState, JoinReason, Level, Member, Priority, Problem, ProblemState, ServiceArea,
                               TimelineEvent, TimelineKind, interned)
from correlator.store.action_log import ActionResult, result_rows
from correlator.store.alert_view import AlertView
from correlator.store.leadership import check_epoch
from correlator.store.schema import (action_results, engine_state, from_us, incident_events, incident_members,
                                     incidents, learned_state, problems, to_us)
from correlator.units import rfc3339

_encode = msgspec.json.Encoder().encode


def _text(value) -> str:
    return _encode(value).decode()


def _us(value: datetime | None) -> int | None:
    return to_us(value) if value is not None else None


def _time(value: int | None) -> datetime | None:
    return from_us(value) if value is not None else None


def _why(why: Explanation | None) -> dict | None:
    if why is None:
        return None
    return {"reason": str(why.reason), "rule": why.rule, "labels": why.labels, "detail": why.detail}


def _why_back(data: dict | None, reasons: type[JoinReason] | type[DecisionReason]) -> Explanation | None:
    return None if data is None else Explanation(reasons(data["reason"]), data["rule"], data["labels"], data["detail"])


def _event(row) -> TimelineEvent:
    """A timeline event as the engine recorded it: the reasons of alert placements as JoinReasons."""
    kind, detail = TimelineKind(row.kind), msgspec.json.decode(row.detail)
    if kind in JOIN_KINDS:
        if "reason" in detail:
            detail["reason"] = JoinReason(detail["reason"])
        if "kept" in detail:
            detail["kept"]["reason"] = JoinReason(detail["kept"]["reason"])
    return TimelineEvent(from_us(row.at_us), kind, row.actor, detail)


class OutboxPlanner(Protocol):
    """What a save asks of forwarding (correlator/forward/planner.py): the outbox rows of the
    incidents it saves, written on its connection, inside its transaction."""

    def plan(self, connection: Connection, saved: list[tuple[Incident, list[TimelineEvent]]],
             now: datetime) -> int: ...

    def committed(self, planned_rows: int) -> None: ...

    def remember(self, incidents: list[Incident]) -> None: ...


@dataclass(frozen=True)
class Progress:
    watermark: int = 0  # the last raw notification processed whole
    # Alerts of the next notification already processed: a step ends inside a large notification
    # (its work is bounded), and this offset is saved with the watermark, in the same transaction.
    alert_offset: int = 0
    incident_sequence: int = 0
    problem_sequence: int = 0


def _upsert_statement(insert, table, keys: list[str]):
    """INSERT ... ON CONFLICT (keys) DO UPDATE of every other column, built once, run with many rows."""
    statement = insert(table)
    return statement.on_conflict_do_update(
        index_elements=keys, set_={c.name: statement.excluded[c.name] for c in table.columns if c.name not in keys})


class IncidentRepository:
    def __init__(self, engine: Engine, epoch: int | None = None, planner: OutboxPlanner | None = None,
                 alert_view: AlertView | None = None):
        """`epoch`: the leadership epoch of the replica saving (every save checks it and raises
        Fenced once a newer one exists); None where one process owns the store (SQLite, tools).
        `planner`: writes each save's forwarding outbox rows in the save's transaction;
        `alert_view`: the alerts view's rows of the alerts read since the last save, likewise."""
        self._engine = engine
        self.epoch = epoch
        self.planner = planner
        self.alert_view = alert_view
        self._saved_events: dict[str, int] = {}
        insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        self._upsert_incidents = _upsert_statement(insert, incidents, ["id"])
        self._upsert_members = _upsert_statement(insert, incident_members, ["incident_id", "fingerprint",
                                                                            "starts_at_us"])
        self._upsert_problems = _upsert_statement(insert, problems, ["id"])
        self._upsert_state = _upsert_statement(insert, engine_state, ["name"])
        self._upsert_learned = _upsert_statement(insert, learned_state, ["name"])

    # -- saving ----------------------------------------------------------------------------------

    def save(self, changed: list[Incident], changed_problems: Iterable[Problem], progress: Progress,
             now: datetime, learned: tuple[datetime, dict[str, bytes]] | None = None,
             results: list[tuple[int, ActionResult]] = ()) -> list[tuple[Incident, list[TimelineEvent]]]:
        """One transaction: the incidents a step changed, the watermark it reached, the results of
        the operator actions it applied, the alerts it read (`alert_view`) and (when due) the
        learned state as of an event time. Each
        table gets one executemany, however many incidents changed. Returns each incident's new events."""
        headers, members, moved, events, saved = [], [], [], [], []
        for incident in changed:
            new_events = incident.timeline[self._saved_events.get(incident.id, 0):]
            saved.append((incident, new_events))
            headers.append(_header_row(incident, now))
            for key in incident.changed_members:
                member = incident.members.get(key)
                if member is None:  # moved to another incident
                    moved.append((incident.id, key))
                else:
                    members.append({"incident_id": incident.id, "fingerprint": member.fingerprint,
                                    "starts_at_us": to_us(member.starts_at), "status": member.status.value,
                                    "document": _text(_member_document(member))})
            events += [{"incident_id": incident.id, "at_us": to_us(event.at), "kind": event.kind.value,
                        "actor": event.actor, "detail": _text(event.detail)} for event in new_events]
        problem_rows = [{"id": p.id, "signature": p.signature, "state": p.state, "opened_at_us": to_us(p.opened_at),
                         "last_seen_us": to_us(p.last_seen), "incident_ids": _text(p.incident_ids)}
                        for p in changed_problems]
        with self._engine.begin() as connection:
            if self.epoch is not None:
                check_epoch(connection, self.epoch)
            for incident_id, (fingerprint, starts_at) in moved:
                connection.execute(delete(incident_members).where(
                    (incident_members.c.incident_id == incident_id) & (incident_members.c.fingerprint == fingerprint)
                    & (incident_members.c.starts_at_us == to_us(starts_at))))
            for statement, rows in ((self._upsert_incidents, headers), (self._upsert_members, members),
                                    (incident_events.insert(), events), (self._upsert_problems, problem_rows),
                                    (action_results.insert(), result_rows(results))):
                if rows:
                    connection.execute(statement, rows)
            if learned is not None:
                connection.execute(self._upsert_learned, [{"name": name, "saved_at_us": to_us(learned[0]),
                                                           "value": value} for name, value in learned[1].items()])
            connection.execute(self._upsert_state, [{"name": f.name, "value": getattr(progress, f.name)}
                                                    for f in fields(Progress)])
            planned = self.planner.plan(connection, saved, now) if self.planner is not None else 0
            if self.alert_view is not None:
                self.alert_view.write(connection)
        if self.planner is not None:
            self.planner.committed(planned)
        if self.alert_view is not None:
            self.alert_view.saved()
        for incident in changed:
            incident.changed_members.clear()
            if incident.state is IncidentState.CLOSED:  # final: it changes no more, and the engine lets it go
                self._saved_events.pop(incident.id, None)
            else:
                self._saved_events[incident.id] = len(incident.timeline)
        return saved

    # -- loading ---------------------------------------------------------------------------------

    def load_progress(self) -> Progress:
        with self._engine.connect() as connection:
            values = dict(connection.execute(select(engine_state.c.name, engine_state.c.value)).all())
        return Progress(**{k: v for k, v in values.items() if k in Progress.__dataclass_fields__})

    def load_learned(self) -> tuple[datetime | None, dict[str, bytes]]:
        """The saved learned state: (its event time, part -> JSON document); (None, {}) if none."""
        with self._engine.connect() as connection:
            rows = connection.execute(select(learned_state.c.name, learned_state.c.saved_at_us,
                                             learned_state.c.value)).all()
        return (from_us(max(r.saved_at_us for r in rows)) if rows else None), {r.name: bytes(r.value) for r in rows}

    def load_unclosed(self) -> list[Incident]:
        """Every incident not closed yet, with members and timeline: the engine's working set."""
        with self._engine.connect() as connection:
            loaded = _load(connection, *(incidents.c.state == s.value for s in IncidentState
                                         if s is not IncidentState.CLOSED))
        if self.planner is not None:
            self.planner.remember(loaded)
        for incident in loaded:
            self._saved_events[incident.id] = len(incident.timeline)
        return loaded

    def load_problems(self, state: ProblemState) -> list[Problem]:
        """The problem records in `state`, in id order."""
        return self._problems(select(problems).where(problems.c.state == state).order_by(problems.c.id))

    def problem(self, problem_id: str) -> Problem | None:
        found = self._problems(select(problems).where(problems.c.id == problem_id))
        return found[0] if found else None

    def latest_problems(self, states: list[ProblemState], limit: int,
                        before: tuple[int, str] | None = None) -> list[Problem]:
        """Up to `limit` problem records in `states` (all when empty), the latest seen first, from
        `before` on (a (last_seen_us, id) of the page before)."""
        query = select(problems).order_by(problems.c.last_seen_us.desc(), problems.c.id.desc()).limit(limit)
        if states:
            query = query.where(problems.c.state.in_(states))
        if before is not None:
            query = query.where((problems.c.last_seen_us < before[0])
                                | ((problems.c.last_seen_us == before[0]) & (problems.c.id < before[1])))
        return self._problems(query)

    def _problems(self, query) -> list[Problem]:
        with self._engine.connect() as connection:
            return [Problem(row.id, row.signature, from_us(row.opened_at_us), from_us(row.last_seen_us),
                            msgspec.json.decode(row.incident_ids), ProblemState(row.state))
                    for row in connection.execute(query)]

    def recent_openings(self, since: datetime) -> list[tuple[datetime, str, str]]:
        """(opened_at, group_key, id) of incidents opened since `since`: for problem detection."""
        with self._engine.connect() as connection:
            rows = connection.execute(select(incidents.c.opened_at_us, incidents.c.group_key, incidents.c.id)
                                      .where(incidents.c.opened_at_us >= to_us(since))
                                      .order_by(incidents.c.opened_at_us, incidents.c.id)).all()
        return [(from_us(opened), group_key, incident_id) for opened, group_key, incident_id in rows]

    def load_closed_since(self, since: datetime) -> list[Incident]:
        """The incidents closed (last saved) since `since`, with members and timelines: what a
        restore needs of the recent past beside the unclosed ones."""
        with self._engine.connect() as connection:
            return _load(connection, (incidents.c.state == IncidentState.CLOSED.value)
                         & (incidents.c.updated_at_us >= to_us(since)))

    def corrections(self) -> list[dict]:
        """Incidents an operator reclassified, as labeled incidents (`correlator train`'s format):
        the latest correction of each is its label."""
        with self._engine.connect() as connection:
            reclassified = select(incident_events.c.incident_id).where(
                incident_events.c.kind == TimelineKind.RECLASSIFIED.value)
            labeled = []
            for incident in _load(connection, incidents.c.id.in_(reclassified)):
                label = [e.detail for e in incident.timeline if e.kind is TimelineKind.RECLASSIFIED][-1]
                labeled.append({"id": incident.id, "category": label["category"],
                                "service_area": label["service_area"],
                                "alerts": [{"labels": m.labels, "annotations": m.annotations,
                                            "startsAt": rfc3339(m.starts_at)} for m in incident.members.values()]})
        return labeled

    def state(self, incident_id: str) -> IncidentState | None:
        """The stored incident's state (None: no such incident)."""
        with self._engine.connect() as connection:
            state = connection.execute(select(incidents.c.state).where(incidents.c.id == incident_id)).scalar()
        return IncidentState(state) if state is not None else None

    def read_page(self, incident_id: str, members_limit: int | None = None,
                  timeline_limit: int | None = None) -> IncidentPage | None:
        """The stored incident's first `members_limit` members in join order and latest
        `timeline_limit` events (None: all), with what the whole holds (None: no such incident).
        Only the page's members are built: a storm's page of 200 is read in tens of milliseconds,
        where building its 10,000 members and events takes most of a second."""
        with self._engine.connect() as connection:
            header = connection.execute(select(incidents).where(incidents.c.id == incident_id)).first()
            if header is None:
                return None
            member_rows = connection.execute(select(*_MEMBER_COLUMNS)
                                             .where(incident_members.c.incident_id == incident_id)).all()
            events = connection.execute(select(func.count()).where(incident_events.c.incident_id == incident_id)
                                        ).scalar_one()
            latest = connection.execute(select(incident_events).where(incident_events.c.incident_id == incident_id)
                                        .order_by(incident_events.c.id.desc()).limit(timeline_limit)).all()
        shown = sorted(member_rows, key=_join_order)[:members_limit]
        fingerprints = sorted({fingerprint for fingerprint, *_ in member_rows})
        return IncidentPage(_incident(header, (), ()), [_member(row) for row in shown],
                            [_event(row) for row in reversed(latest)], fingerprints, len(member_rows), events)


class _Joined(msgspec.Struct):
    joined_at_us: int


_decode_joined = msgspec.json.Decoder(_Joined).decode  # reads one field of a member's document


_MEMBER_COLUMNS = (incident_members.c.fingerprint, incident_members.c.starts_at_us, incident_members.c.status,
                   incident_members.c.document)


def _join_order(member_row) -> tuple:
    """A stored member's place in join order (engine/views.py `join_order`), read without building
    it (unpacked: a row's attributes cost more than decoding the field)."""
    fingerprint, starts_at_us, _, document = member_row
    return _decode_joined(document).joined_at_us, fingerprint, starts_at_us


# Incidents whose members and events one query reads: a rebuild loads thousands of incidents.
LOAD_CHUNK = 500


def _load(connection: Connection, *conditions) -> list[Incident]:
    """The incidents that meet any of `conditions` (disjoint), with members and timelines, in id
    order. Each condition is its own query, sorted here, so that each reads by an index (SQLite
    keeps one average count per state: an IN of five states, or an order by id, makes it scan every
    incident). Members and events are read by incident id, a chunk at a time: joined to the
    condition, they were read by scanning every member and event ever stored (a restart with
    200,000 incidents kept: 2 s)."""
    headers = sorted((row for condition in conditions
                      for row in connection.execute(select(incidents).where(condition))), key=lambda row: row.id)
    members: dict[str, list] = defaultdict(list)
    events: dict[str, list] = defaultdict(list)
    for start in range(0, len(headers), LOAD_CHUNK):
        chunk = [row.id for row in headers[start:start + LOAD_CHUNK]]
        for row in connection.execute(select(incident_members).where(incident_members.c.incident_id.in_(chunk))):
            members[row.incident_id].append(row)
        for row in connection.execute(select(incident_events).where(incident_events.c.incident_id.in_(chunk))
                                      .order_by(incident_events.c.id)):
            events[row.incident_id].append(row)
    return [_incident(row, members[row.id], events[row.id]) for row in headers]


def _incident(row, member_rows: list, event_rows: list) -> Incident:
    header = msgspec.json.decode(row.header)
    incident = Incident(
        id=row.id, state=IncidentState(row.state), title=header["title"], opened_at=from_us(row.opened_at_us),
        last_alert_at=from_us(header["last_alert_at_us"]), group_key=row.group_key,
        category=Category(row.category) if row.category else None,
        service_area=ServiceArea(header["service_area"]) if header["service_area"] else None,
        classification=_why_back(header["classification"], DecisionReason),
        classification_confidence=header.get("classification_confidence", {}), priority=Priority(row.priority),
        impact=Level(header["impact"]), urgency=Level(header["urgency"]),
        prioritisation=_why_back(header["prioritisation"], DecisionReason), services=tuple(header["services"]),
        team=row.team, tier=header["tier"], assignment=_why_back(header["assignment"], DecisionReason),
        acknowledged_at=_time(header["acknowledged_at_us"]), resolved_at=_time(row.resolved_at_us),
        closed_at=_time(header["closed_at_us"]), problem_id=header["problem_id"], firing=header["firing"],
        priority_set_by_operator=header["priority_set_by_operator"], placement=header.get("placement", 0))
    for member in map(_member, member_rows):
        incident.members[(member.fingerprint, member.starts_at)] = member
    incident.members = dict(sorted(incident.members.items(), key=lambda item: (item[1].placement, item[1].joined_at, item[0])))
    incident.timeline = [_event(row) for row in event_rows]
    return incident


def _member(row) -> Member:
    document = msgspec.json.decode(row.document)
    return Member(row.fingerprint, from_us(row.starts_at_us), interned(document["labels"]),
                  interned(document["annotations"]), AlertStatus(row.status), _time(document["ends_at_us"]),
                  from_us(document["joined_at_us"]), _why_back(document["why"], JoinReason),
                  tuple(document["services"]), document.get("placement", 0), document.get("moved", False))


def _header_row(incident: Incident, now: datetime) -> dict:
    return {"id": incident.id, "state": incident.state.value, "priority": incident.priority.value,
            "category": incident.category.value if incident.category else None, "team": incident.team,
            "opened_at_us": to_us(incident.opened_at), "updated_at_us": to_us(now),
            "resolved_at_us": _us(incident.resolved_at), "group_key": incident.group_key,
            "header": _text(_header(incident))}


def _header(incident: Incident) -> dict:
    return {
        "title": incident.title, "service_area": incident.service_area, "classification": _why(incident.classification),
        "classification_confidence": incident.classification_confidence,
        "impact": incident.impact, "urgency": incident.urgency, "prioritisation": _why(incident.prioritisation),
        "services": list(incident.services), "tier": incident.tier, "assignment": _why(incident.assignment),
        "acknowledged_at_us": _us(incident.acknowledged_at), "closed_at_us": _us(incident.closed_at),
        "last_alert_at_us": to_us(incident.last_alert_at), "problem_id": incident.problem_id,
        "firing": incident.firing, "priority_set_by_operator": incident.priority_set_by_operator,
        "placement": incident.placement,
    }


def _member_document(member: Member) -> dict:
    return {"labels": member.labels, "annotations": member.annotations, "ends_at_us": _us(member.ends_at),
            "joined_at_us": to_us(member.joined_at), "why": _why(member.why), "services": list(member.services),
            "placement": member.placement, "moved": member.moved}
