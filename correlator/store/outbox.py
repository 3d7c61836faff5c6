"""The forwarding outbox in the store: rows written in the engine step's transaction, claimed by the
delivery worker with a lease, finished (done with the remote reference, rescheduled, dead) in one
transaction each.

Order per (incident, destination): a row is claimed only when no earlier row of its pair is still
pending, so a slow or failing change holds back the later changes of its incident at that
destination and nothing else. A dead row holds nothing back (a change refused for good must not
stall the incident's later changes; an operator retries it). A lease that expires (a crashed or
stopped worker) leaves the row pending again: the next claim takes it over."""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

import msgspec
from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine

from correlator.domain import TimelineKind
from correlator.forward.contract import ChangeKind, IncidentChange, RemoteRef
from correlator.store.leadership import check_epoch
from correlator.store.schema import forward_refs, from_us, incident_events, outbox, to_us

_encode = msgspec.json.Encoder().encode
_decode_change = msgspec.json.Decoder(IncidentChange).decode
_IN_CHUNK = 500  # ids per IN (...) list
PURGE_CHUNK = 5000  # rows deleted per transaction: writers never wait long


class OutboxState(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"
    DEAD = "dead"


def new_idempotency_key(incident_id: str) -> str:
    """Stable per (incident, destination) once stored; random so that a store started afresh (whose
    incident ids start again) never finds the tickets of an earlier one."""
    return f"correlator-{incident_id}-{secrets.token_hex(8)}".lower()


@dataclass(frozen=True)
class PlannedRow:
    incident_id: str
    destination: str
    change: IncidentChange


def routed_pairs(connection: Connection, incident_ids: Iterable[str]) -> set[tuple[str, str]]:
    """(incident, destination) pairs already routed: a destination keeps hearing about an incident
    once routed to it, whether or not the incident still matches its route."""
    ids, found = sorted(set(incident_ids)), set()
    for start in range(0, len(ids), _IN_CHUNK):
        found.update((incident_id, destination) for incident_id, destination in connection.execute(
            select(forward_refs.c.incident_id, forward_refs.c.destination).where(
                forward_refs.c.incident_id.in_(ids[start:start + _IN_CHUNK]))))
    return found


def write_planned(connection: Connection, rows: list[PlannedRow], new_pairs: set[tuple[str, str]],
                  now: datetime) -> None:
    """Inside the engine step's transaction: the idempotency keys of pairs routed for the first time
    (stored before any call), then the outbox rows."""
    if new_pairs:
        connection.execute(insert(forward_refs), [
            {"incident_id": incident_id, "destination": destination,
             "idempotency_key": new_idempotency_key(incident_id)} for incident_id, destination in sorted(new_pairs)])
    if rows:
        now_us = to_us(now)
        connection.execute(insert(outbox), [
            {"incident_id": row.incident_id, "destination": row.destination, "kind": row.change.kind.value,
             "payload": _encode(row.change), "state": OutboxState.PENDING.value, "attempts": 0,
             "next_attempt_us": now_us, "created_us": now_us} for row in rows])


@dataclass(frozen=True)
class Claimed:
    """A row leased to this worker, with what its delivery needs."""

    id: int
    incident_id: str
    destination: str
    change: IncidentChange
    idempotency_key: str
    remote: RemoteRef | None
    attempt: int  # this attempt's number (1 for the first)
    create_sent_at: datetime | None  # as before this claim: set by an earlier attempt's create
    claimed_at: datetime
    coalesced: int = 0  # superseded updates folded into this one


@dataclass(frozen=True)
class Finish:
    """What to make of a claimed row: done (with the remote reference the delivery returned),
    pending again from `next_attempt`, or dead; `error` kept with the last two."""

    state: OutboxState
    remote: RemoteRef | None = None
    next_attempt: datetime | None = None
    error: str = ""


@dataclass(frozen=True)
class DestinationStats:
    pending: int = 0
    oldest_pending: datetime | None = None
    dead: int = 0


@dataclass(frozen=True)
class OutboxRow:
    """A row as the API and CLI list it."""

    id: int
    incident_id: str
    destination: str
    kind: str
    state: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    done_at: datetime | None

    def document(self) -> dict:
        return {"id": self.id, "incident_id": self.incident_id, "destination": self.destination, "kind": self.kind,
                "state": self.state, "attempts": self.attempts, "next_attempt_at": self.next_attempt_at,
                "last_error": self.last_error, "created_at": self.created_at, "done_at": self.done_at}


def _remote(row) -> RemoteRef | None:
    if row.remote_key is None:
        return None
    return RemoteRef(row.remote_key, row.remote_url or "", msgspec.json.decode(row.remote_extra or "{}"))


def _merged_update(first: IncidentChange, later: IncidentChange) -> IncidentChange:
    """Two UPDATED changes as one: each field's first `from` and last `to`, the later snapshot."""
    detail = {name: dict(value) for name, value in first.detail.items()}
    for name, value in later.detail.items():
        detail[name] = {"from": detail[name]["from"], "to": value["to"]} if name in detail else dict(value)
    return msgspec.structs.replace(later, detail=detail)


class Outbox:
    """The worker's side (claim, finish) and the operators' (list, retry) of the outbox. `owner`
    names the worker in its leases; `epoch`, when set, is checked by every write (replicas)."""

    def __init__(self, database: Engine, owner: str = "", epoch: int | None = None):
        self._database, self.owner, self.epoch = database, owner, epoch

    def _fence(self, connection: Connection) -> None:
        if self.epoch is not None:
            check_epoch(connection, self.epoch)

    # -- the worker ------------------------------------------------------------------------------

    def claim(self, destination: str, now: datetime, limit: int, lease_seconds: float) -> list[Claimed]:
        """Lease up to `limit` due rows of `destination`, each the first pending row of its incident
        there. A claimed UPDATED row absorbs the UPDATED rows right behind it (coalescing), and a
        row whose incident has no remote object yet records the create in flight."""
        now_us = to_us(now)
        pending = (outbox.c.state == OutboxState.PENDING.value) & (outbox.c.destination == destination)
        # The first pending row of each incident here: one grouped pass over the destination's
        # pending rows (an anti-join on "no earlier pending row" is planned as a nested loop when
        # the statistics lag behind a growing backlog: quadratic).
        heads = select(func.min(outbox.c.id).label("id")).where(pending).group_by(outbox.c.incident_id).subquery()
        due = (select(outbox.c.id).join(heads, heads.c.id == outbox.c.id)
               .where((outbox.c.next_attempt_us <= now_us)
                      & or_(outbox.c.lease_until_us.is_(None), outbox.c.lease_until_us < now_us))
               .order_by(outbox.c.next_attempt_us, outbox.c.id).limit(limit))
        claimed = []
        with self._database.begin() as connection:
            self._fence(connection)
            for row_id in connection.execute(due).scalars().all():
                found = self._claim_row(connection, row_id, now, lease_seconds)
                if found is not None:
                    claimed.append(found)
        return claimed

    def _claim_row(self, connection: Connection, row_id: int, now: datetime, lease_seconds: float) -> Claimed | None:
        now_us = to_us(now)
        joined = outbox.join(forward_refs, and_(forward_refs.c.incident_id == outbox.c.incident_id,
                                                forward_refs.c.destination == outbox.c.destination))
        row = connection.execute(select(outbox, forward_refs.c.idempotency_key, forward_refs.c.remote_key,
                                        forward_refs.c.remote_url, forward_refs.c.remote_extra)
                                 .select_from(joined).where(outbox.c.id == row_id)).one()
        remote = _remote(row)
        values = {"lease_owner": self.owner, "lease_until_us": now_us + int(lease_seconds * 1e6),
                  "attempts": outbox.c.attempts + 1}
        if remote is None and row.create_sent_us is None:
            values["create_sent_us"] = now_us
        # Compare and set: of two workers that read the row due, one leases it.
        taken = connection.execute(update(outbox).where(
            (outbox.c.id == row_id) & (outbox.c.state == OutboxState.PENDING.value)
            & or_(outbox.c.lease_until_us.is_(None), outbox.c.lease_until_us < now_us)).values(values)).rowcount
        if not taken:
            return None
        change, coalesced = _decode_change(row.payload), 0
        if change.kind is ChangeKind.UPDATED:
            change, coalesced = self._coalesce(connection, row, change, now_us)
        return Claimed(row.id, row.incident_id, row.destination, change, row.idempotency_key, remote,
                       row.attempts + 1, from_us(row.create_sent_us) if row.create_sent_us is not None else None,
                       now, coalesced)

    def _coalesce(self, connection: Connection, row, change: IncidentChange, now_us: int) -> tuple[IncidentChange, int]:
        """Fold the pending UPDATED rows that directly follow `row` in its pair into it: a
        destination that was down hears the latest state once, not every step of the way."""
        following = connection.execute(select(outbox.c.id, outbox.c.kind, outbox.c.payload).where(
            (outbox.c.incident_id == row.incident_id) & (outbox.c.destination == row.destination)
            & (outbox.c.state == OutboxState.PENDING.value) & (outbox.c.id > row.id))
            .order_by(outbox.c.id).limit(100)).all()
        absorbed = []
        for later in following:
            if later.kind != ChangeKind.UPDATED.value:
                break
            change = _merged_update(change, _decode_change(later.payload))
            absorbed.append(later.id)
        if absorbed:
            connection.execute(update(outbox).where(outbox.c.id.in_(absorbed)).values(
                state=OutboxState.DONE.value, done_us=now_us, last_error=f"coalesced into #{row.id}"))
            connection.execute(update(outbox).where(outbox.c.id == row.id).values(payload=_encode(change)))
        return change, len(absorbed)

    def _mine(self, claimed: Claimed):
        return (outbox.c.id == claimed.id) & (outbox.c.lease_owner == self.owner) & (
            outbox.c.state == OutboxState.PENDING.value)

    def finish(self, finished: list[tuple[Claimed, Finish]], now: datetime) -> list[bool]:
        """What became of claimed rows, in one transaction (one commit for a whole round): done with
        the remote reference, due again later, or dead. Returns for each whether this worker still
        held it (False: its lease was taken over; the new holder delivers again, idempotently)."""
        with self._database.begin() as connection:
            self._fence(connection)
            return [self._finish(connection, claimed, how, to_us(now)) for claimed, how in finished]

    def _finish(self, connection: Connection, claimed: Claimed, how: Finish, now_us: int) -> bool:
        released = {"lease_owner": None, "lease_until_us": None}
        if how.state is OutboxState.PENDING:
            return bool(connection.execute(update(outbox).where(self._mine(claimed)).values(
                next_attempt_us=to_us(how.next_attempt), last_error=how.error[:2000], **released)).rowcount)
        if how.state is OutboxState.DEAD:
            if not connection.execute(update(outbox).where(self._mine(claimed)).values(
                    state=OutboxState.DEAD.value, done_us=now_us, last_error=how.error[:2000], **released)).rowcount:
                return False
            _record(connection, claimed, now_us, TimelineKind.DELIVERY_FAILED,
                    {"destination": claimed.destination, "change": claimed.change.kind.value, "outbox_id": claimed.id,
                     "error": how.error[:500]})
            return True
        if not connection.execute(update(outbox).where(self._mine(claimed)).values(
                state=OutboxState.DONE.value, done_us=now_us, create_sent_us=None, last_error=None,
                **released)).rowcount:
            return False
        remote = how.remote
        if remote is not None and remote != claimed.remote:
            connection.execute(update(forward_refs).where(
                (forward_refs.c.incident_id == claimed.incident_id)
                & (forward_refs.c.destination == claimed.destination)).values(
                remote_key=remote.key, remote_url=remote.url, remote_extra=_encode(remote.extra).decode(),
                linked_us=func.coalesce(forward_refs.c.linked_us, now_us)))
            if claimed.remote is None or claimed.remote.key != remote.key:  # a new object: say so on the timeline
                _record(connection, claimed, now_us, TimelineKind.TICKET_LINKED,
                        {"destination": claimed.destination, "key": remote.key, "url": remote.url})
        return True

    def release_leases(self) -> int:
        """End every lease: for a worker that knows no other one can be running (one daemon per
        store), what a crashed predecessor held is due again at once, not when its lease expires."""
        with self._database.begin() as connection:
            self._fence(connection)
            return connection.execute(update(outbox).where(
                (outbox.c.state == OutboxState.PENDING.value) & outbox.c.lease_owner.is_not(None)).values(
                lease_owner=None, lease_until_us=None)).rowcount

    def dead_letter_unconfigured(self, configured: Iterable[str], now: datetime) -> dict[str, int]:
        """Pending rows of destinations no longer configured become dead letters saying so: no
        worker would ever deliver them, and they would hold the backlog alert up forever. Retried
        once the destination is configured again. Returns rows per destination."""
        condition = (outbox.c.state == OutboxState.PENDING.value) & outbox.c.destination.not_in(list(configured))
        with self._database.begin() as connection:
            self._fence(connection)
            found = dict(connection.execute(select(outbox.c.destination, func.count()).where(condition)
                                            .group_by(outbox.c.destination)).all())
            for name in found:
                connection.execute(update(outbox).where(condition & (outbox.c.destination == name)).values(
                    state=OutboxState.DEAD.value, done_us=to_us(now), lease_owner=None, lease_until_us=None,
                    last_error=f"destination {name!r} is not configured: add it back to forwarding.destinations "
                               f"and retry (correlator forward retry --all-dead --destination {name})"))
        return found

    def stats(self, now: datetime) -> dict[str, DestinationStats]:
        """Per destination: pending rows, the oldest one's creation, dead letters (one query)."""
        pending = outbox.c.state == OutboxState.PENDING.value
        with self._database.connect() as connection:
            rows = connection.execute(select(
                outbox.c.destination, func.count().filter(pending),
                func.min(outbox.c.created_us).filter(pending),
                func.count().filter(outbox.c.state == OutboxState.DEAD.value))
                # IN rather than `!= done`: the (state, ...) index then skips the delivered rows,
                # which a busy week holds hundreds of thousands of (76 ms a read at 500,000).
                .where(outbox.c.state.in_([OutboxState.PENDING.value, OutboxState.DEAD.value]))
                .group_by(outbox.c.destination)).all()
        return {name: DestinationStats(count, from_us(oldest) if oldest is not None else None, dead)
                for name, count, oldest, dead in rows}

    def next_due(self, destination: str) -> datetime | None:
        """When the earliest pending row of `destination` is due (None: none pending)."""
        with self._database.connect() as connection:
            value = connection.execute(select(func.min(outbox.c.next_attempt_us)).where(
                (outbox.c.state == OutboxState.PENDING.value) & (outbox.c.destination == destination))).scalar()
        return from_us(value) if value is not None else None

    def purge_delivered(self, older_than: datetime) -> int:
        """Delete the rows delivered before `older_than`, in chunks; returns how many. What each
        incident is in each destination stays (`forward_refs`), and so do dead letters, until an
        operator retries them. Safe on any replica: a delivered row holds back no later one (order is
        kept among pending rows), and only the deliveries listing reads it."""
        condition, total = (outbox.c.state == OutboxState.DONE.value) & (outbox.c.done_us < to_us(older_than)), 0
        while True:
            with self._database.begin() as connection:
                ids = connection.execute(select(outbox.c.id).where(condition).limit(PURGE_CHUNK)).scalars().all()
                if ids:
                    connection.execute(delete(outbox).where(outbox.c.id.in_(ids)))
            total += len(ids)
            if len(ids) < PURGE_CHUNK:
                return total

    # -- operators -------------------------------------------------------------------------------

    def list(self, state: OutboxState, destination: str | None = None, limit: int = 100,
             after: int = 0) -> list[OutboxRow]:
        query = select(outbox).where((outbox.c.state == state.value) & (outbox.c.id > after))
        if destination:
            query = query.where(outbox.c.destination == destination)
        with self._database.connect() as connection:
            rows = connection.execute(query.order_by(outbox.c.id).limit(limit)).all()
        return [OutboxRow(r.id, r.incident_id, r.destination, r.kind, r.state, r.attempts,
                          from_us(r.next_attempt_us), r.last_error, from_us(r.created_us),
                          from_us(r.done_us) if r.done_us is not None else None) for r in rows]

    def retry(self, now: datetime, ids: Iterable[int] = (), all_dead: bool = False,
              destination: str | None = None) -> list[int]:
        """Dead letters (`ids`, or every one, of `destination` if given) pending again, due now;
        returns the ids made pending."""
        condition = outbox.c.state == OutboxState.DEAD.value
        if not all_dead:
            condition &= outbox.c.id.in_(list(ids))
        if destination:
            condition &= outbox.c.destination == destination
        with self._database.begin() as connection:
            found = connection.execute(select(outbox.c.id).where(condition).order_by(outbox.c.id)).scalars().all()
            if found:
                connection.execute(update(outbox).where(outbox.c.id.in_(found)).values(
                    state=OutboxState.PENDING.value, next_attempt_us=to_us(now), done_us=None))
        return list(found)


def _record(connection: Connection, claimed: Claimed, at_us: int, kind: TimelineKind, detail: dict) -> None:
    connection.execute(insert(incident_events).values(incident_id=claimed.incident_id, at_us=at_us, kind=kind.value,
                                                      actor=claimed.destination, detail=_encode(detail).decode()))


def tickets(database: Engine, incident_id: str) -> list[dict]:
    """The incident's objects in destinations (those created so far): for the incident's API view."""
    with database.connect() as connection:
        rows = connection.execute(select(forward_refs).where(
            (forward_refs.c.incident_id == incident_id) & forward_refs.c.remote_key.is_not(None))
            .order_by(forward_refs.c.destination)).all()
    return [{"destination": r.destination, "key": r.remote_key, "url": r.remote_url or ""} for r in rows]
