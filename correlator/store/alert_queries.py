"""Reading stored alert episodes: newest first (most recently first stored), filtered, with keyset
pagination on the monotonic id."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime

import msgspec
from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.engine import Engine

from correlator.domain import Alert, AlertStatus
from correlator.rules.matchers import Matcher, matches_all
from correlator.store.notification_alerts import decode_alerts
from correlator.store.schema import alerts, engine_state, from_us, incident_members, incidents, notifications, to_us

# Label matchers are evaluated in Python (the same code as rules); a page scans at most this many rows
# and hands back a cursor to go on, so a selective filter never turns into an unbounded scan.
MAX_SCANNED_ROWS = 10_000


@dataclass(frozen=True, slots=True)
class StoredAlert:
    fingerprint: str
    status: AlertStatus
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None
    generator_url: str
    source: str
    first_seen: datetime
    last_seen: datetime
    notifications: int
    flapping: bool


@dataclass(frozen=True, slots=True)
class Page:
    alerts: list[StoredAlert]
    next_cursor: str | None


class CursorError(ValueError):
    pass


def _encode_cursor(row_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{row_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        prefix, _, row_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().partition(":")
        if prefix != "id" or not row_id.isdecimal() or int(row_id) >= 2**63:  # ids are int64
            raise ValueError(cursor)
        return int(row_id)
    except (ValueError, UnicodeDecodeError):
        raise CursorError("not a cursor returned by this API") from None


def _active(now_us: int):
    return and_(alerts.c.status == AlertStatus.FIRING.value,
                or_(alerts.c.ends_at_us.is_(None), alerts.c.ends_at_us > now_us))


def list_alerts(engine: Engine, *, now_us: int, status: AlertStatus | None = None,
                matchers: list[Matcher] = (), limit: int = 100, cursor: str | None = None) -> Page:
    """A firing episode whose endsAt has passed without a resolve is reported resolved (timed out)."""
    query = select(alerts).order_by(alerts.c.id.desc())
    if status is AlertStatus.FIRING:
        query = query.where(_active(now_us))
    elif status is AlertStatus.RESOLVED:
        query = query.where(~_active(now_us))
    position = _decode_cursor(cursor) if cursor else None
    found: list[StoredAlert] = []
    scanned = 0
    with engine.connect() as connection:
        while len(found) < limit and scanned < MAX_SCANNED_ROWS:
            chunk = query
            if position is not None:
                chunk = chunk.where(alerts.c.id < position)
            rows = connection.execute(chunk.limit(min(max(limit * 2, 100), MAX_SCANNED_ROWS))).all()
            if not rows:
                return Page(found, None)
            for row in rows:
                scanned += 1
                position = row.id
                labels = msgspec.json.decode(row.labels)
                if matches_all(matchers, labels):
                    found.append(_stored(row, labels, now_us))
                    if len(found) == limit:
                        break
    return Page(found, _encode_cursor(position))


def _stored(row, labels: dict[str, str], now_us: int) -> StoredAlert:
    active = row.status == AlertStatus.FIRING.value and (row.ends_at_us is None or row.ends_at_us > now_us)
    return StoredAlert(
        fingerprint=row.fingerprint,
        status=AlertStatus.FIRING if active else AlertStatus.RESOLVED,
        labels=labels,
        annotations=msgspec.json.decode(row.annotations),
        starts_at=from_us(row.starts_at_us),
        ends_at=from_us(row.ends_at_us) if row.ends_at_us is not None else None,
        generator_url=row.generator_url,
        source=row.source,
        first_seen=from_us(row.first_seen_us),
        last_seen=from_us(row.last_seen_us),
        notifications=row.notifications,
        flapping=bool(row.flapping),
    )


def log_read(engine: Engine) -> tuple[int, int]:
    """(the latest log row stored, the latest the engine has read whole): the alerts view (the
    engine's, store/alert_view.py) holds every alert the log held up to the second."""
    with engine.connect() as connection:
        latest = connection.execute(select(func.max(notifications.c.id))).scalar() or 0
        read = connection.execute(select(engine_state.c.value).where(engine_state.c.name == "watermark")).scalar()
    return latest, read or 0


def firing_without_incident(engine: Engine, processed: int) -> list[Alert]:
    """The episodes the engine recorded without incident (candidates below a group rule's
    min_alerts, alerts in maintenance) as of notification `processed` (the watermark): firing alerts
    first stored by then, no incident holds (open or closed), still active then. In arrival order,
    each as its latest snapshot, `received_at` when it arrived. "By then" is by receive time,
    which replicas make only roughly follow the log's order: an episode first stored by a
    notification after `processed` is input still, whatever its receive time."""
    with engine.connect() as connection:
        until_us = connection.execute(select(func.max(notifications.c.received_at_us))
                                      .where(notifications.c.id <= processed)).scalar()
        if until_us is None:
            return []
        held = exists().where(incident_members.c.fingerprint == alerts.c.fingerprint,
                              incident_members.c.starts_at_us == alerts.c.starts_at_us)
        rows = connection.execute(select(alerts).where(_active(until_us), alerts.c.first_seen_us <= until_us, ~held)
                                  .order_by(alerts.c.first_seen_us, alerts.c.id)).all()
        unprocessed = _first_stored_after(connection, processed, until_us)
    rows = [row for row in rows if (row.fingerprint, row.first_seen_us, row.starts_at_us) not in unprocessed]
    return [Alert(row.fingerprint, msgspec.json.decode(row.labels), msgspec.json.decode(row.annotations),
                  AlertStatus.FIRING, from_us(row.starts_at_us),
                  from_us(row.ends_at_us) if row.ends_at_us is not None else None, row.generator_url, row.source,
                  from_us(row.first_seen_us)) for row in rows]


def _first_stored_after(connection, processed: int, until_us: int) -> set[tuple[str, int, int]]:
    """(fingerprint, first_seen_us, starts_at_us) of the episodes that notifications after
    `processed` received by `until_us` may have stored first: an episode's first_seen is the receive
    time of the notification that stored it first."""
    found = set()
    for received_at_us, stored in connection.execute(
            select(notifications.c.received_at_us, notifications.c.alerts)
            .where(notifications.c.id > processed, notifications.c.received_at_us <= until_us)):
        if stored is not None:  # None: an operator action (or a row stored before revision 0006)
            found.update((alert.fingerprint, received_at_us, to_us(alert.starts_at))
                         for alert in decode_alerts(bytes(stored)))
    return found


@dataclass(frozen=True, slots=True)
class Membership:
    incident_id: str
    starts_at: datetime
    state: str
    title: str
    priority: str


def alert_history(engine: Engine, fingerprint: str, *, now_us: int, limit: int) -> tuple[list[StoredAlert],
                                                                                      list[Membership]]:
    """An alert's episodes, newest first, and the incidents that held any of them (the latest
    `limit` of each)."""
    with engine.connect() as connection:
        rows = connection.execute(select(alerts).where(alerts.c.fingerprint == fingerprint)
                                  .order_by(alerts.c.starts_at_us.desc()).limit(limit)).all()
        memberships = connection.execute(
            select(incident_members.c.incident_id, incident_members.c.starts_at_us, incidents.c.state,
                   incidents.c.priority, incidents.c.header)
            .join(incidents, incidents.c.id == incident_members.c.incident_id)
            .where(incident_members.c.fingerprint == fingerprint)
            .order_by(incident_members.c.starts_at_us.desc(), incident_members.c.incident_id).limit(limit)).all()
    return ([_stored(row, msgspec.json.decode(row.labels), now_us) for row in rows],
            [Membership(row.incident_id, from_us(row.starts_at_us), row.state,
                        msgspec.json.decode(row.header)["title"], row.priority) for row in memberships])
