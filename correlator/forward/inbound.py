"""Changes made in a destination, coming back (`POST /api/v1/inbound/{destination}`): which incident
each names (by the remote reference the outbox stored, or our id) and which the store has applied
already (by the destination's event id), so a change delivered twice is applied once."""

from __future__ import annotations

import time
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from correlator.forward.contract import InboundChange
from correlator.store.schema import forward_refs, inbound_events, to_us


class InboundLedger:
    def __init__(self, database: Engine):
        self._database = database
        insert = postgresql.insert if database.dialect.name == "postgresql" else sqlite.insert
        self._record = insert(inbound_events).on_conflict_do_nothing(
            index_elements=[inbound_events.c.destination, inbound_events.c.event_id])

    def incident_of(self, destination: str, change: InboundChange) -> str | None:
        if change.incident_id is not None:
            return change.incident_id
        with self._database.connect() as connection:
            return connection.execute(select(forward_refs.c.incident_id).where(
                (forward_refs.c.destination == destination) & (forward_refs.c.remote_key == change.remote_key))
                .limit(1)).scalar()

    def seen(self, destination: str, event_id: str) -> bool:
        with self._database.connect() as connection:
            return connection.execute(select(inbound_events.c.event_id).where(
                (inbound_events.c.destination == destination) & (inbound_events.c.event_id == event_id))).first() \
                is not None

    def forget_before(self, older_than: datetime) -> int:
        """Drop the event ids received before `older_than` (a destination resends within hours,
        not days); returns how many."""
        with self._database.begin() as connection:
            return connection.execute(delete(inbound_events).where(
                inbound_events.c.received_us < to_us(older_than))).rowcount

    def record(self, destination: str, event_id: str) -> None:
        """After the change's action is in the engine's log: a crash before this applies it again
        when the destination resends (a duplicate comment at worst), never loses it."""
        with self._database.begin() as connection:
            connection.execute(self._record.values(destination=destination, event_id=event_id[:200],
                                                   received_us=time.time_ns() // 1000))
