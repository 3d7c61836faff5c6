"""Retention of the incident history (`store.history_retention`): without it every incident, member
row, timeline event and alert episode ever stored stays, and a busy estate's store grows by
gigabytes a year.

What goes, in chunks so that the engine's saves never wait long:
- closed incidents last changed before the cutoff, with their members, timeline, outbox rows and
  destination references; not one with a change still pending delivery (it goes at a later sweep);
- alert episodes that ended before the cutoff and no incident kept holds (a long-open incident
  keeps its alerts' rows);
- problems inactive since before the cutoff (the engine holds open problems only).

A closed incident is final and the engine lets it go once saved, so deleting it races with no save.
The incident and problem numbering lives in `engine_state`: a number is never handed out twice."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, delete, exists, select
from sqlalchemy.engine import Connection, Engine

from correlator.domain import IncidentState, ProblemState
from correlator.store.outbox import OutboxState
from correlator.store.schema import (alerts, forward_refs, incident_events, incident_members, incidents, outbox,
                                     problems)

INCIDENT_CHUNK = 200  # incidents (with their members and events) per transaction
ALERT_CHUNK = 5000  # alert episodes per transaction


@dataclass(frozen=True)
class HistoryPurged:
    incidents: int = 0
    alerts: int = 0
    problems: int = 0

    def __bool__(self) -> bool:
        return bool(self.incidents or self.alerts or self.problems)


def purge_history(engine: Engine, older_than_us: int, max_chunks: int = 10_000) -> HistoryPurged:
    """Delete what the history retention lets go (see the module); `older_than_us` is the cutoff.
    At most `max_chunks` transactions of each kind per call: a first sweep over years of history
    continues at the next."""
    return HistoryPurged(_chunked(engine, lambda c: _purge_incidents(c, older_than_us), max_chunks),
                         _chunked(engine, lambda c: _purge_alerts(c, older_than_us), max_chunks),
                         _chunked(engine, lambda c: _purge_problems(c, older_than_us), max_chunks))


def _chunked(engine: Engine, purge_chunk, max_chunks: int) -> int:
    total = 0
    for _ in range(max_chunks):
        with engine.begin() as connection:
            deleted, full = purge_chunk(connection)
        total += deleted
        if not full:
            break
    return total


def _purge_incidents(connection: Connection, older_than_us: int) -> tuple[int, bool]:
    in_flight = exists().where(outbox.c.incident_id == incidents.c.id, outbox.c.state == OutboxState.PENDING.value)
    ids = connection.execute(
        select(incidents.c.id)
        .where(incidents.c.state == IncidentState.CLOSED.value, incidents.c.updated_at_us < older_than_us, ~in_flight)
        .limit(INCIDENT_CHUNK)).scalars().all()
    if ids:
        for table in (incident_members, incident_events, outbox, forward_refs):
            connection.execute(delete(table).where(table.c.incident_id.in_(ids)))
        connection.execute(delete(incidents).where(incidents.c.id.in_(ids)))
    return len(ids), len(ids) == INCIDENT_CHUNK


def _purge_alerts(connection: Connection, older_than_us: int) -> tuple[int, bool]:
    """Episodes whose end (resolved, or the endsAt a firing one passed unrenewed) is before the
    cutoff; a firing episode without endsAt is still firing, whatever its age."""
    held = exists().where(incident_members.c.fingerprint == alerts.c.fingerprint,
                          incident_members.c.starts_at_us == alerts.c.starts_at_us)
    ids = connection.execute(select(alerts.c.id).where(alerts.c.ends_at_us < older_than_us, ~held)
                             .limit(ALERT_CHUNK)).scalars().all()
    if ids:
        connection.execute(delete(alerts).where(alerts.c.id.in_(ids)))
    return len(ids), len(ids) == ALERT_CHUNK


def _purge_problems(connection: Connection, older_than_us: int) -> tuple[int, bool]:
    deleted = connection.execute(delete(problems).where(and_(problems.c.state == ProblemState.INACTIVE.value,
                                                             problems.c.last_seen_us < older_than_us))).rowcount
    return deleted, False
