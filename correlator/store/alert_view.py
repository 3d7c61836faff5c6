"""The `alerts` table: every episode the log holds, as the engine has read it.

Ingest appends notifications to the log and nothing else (a 2xx means that row is committed). The
engine, the log's one reader in order, keeps this view: each alert it reads is an upsert of its
episode (first and last seen, how many notifications carried it, resolved once resolved,
flapping), written in the transaction of the step that read it, so the view is exactly the log up to
the engine's watermark. The alerts of one step that repeat an episode (Alertmanager re-sends a
group's alerts every group_interval) make one row write, with what upserting them one by one gives.
"""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import bindparam, case, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from correlator.domain import Alert, AlertStatus
from correlator.ingest.flapping import FlapDetector
from correlator.store.database import driver_sql
from correlator.store.schema import alerts, to_us

_json_encoder = msgspec.json.Encoder(order="sorted")
_COLUMNS = ("fingerprint", "starts_at_us", "ends_at_us", "status", "labels", "annotations", "generator_url",
            "source", "first_seen_us", "last_seen_us", "notifications", "flapping")
_RESOLVED = AlertStatus.RESOLVED.value
FORGET_EVERY = 4096  # alerts read between drops of the flap state of alerts that stopped changing


def _json_text(value) -> str:
    return _json_encoder.encode(value).decode()


def _upsert(engine: Engine) -> str:
    """The upsert of one episode's row, as the DBAPI's SQL (executemany without per-row bind
    processing)."""
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    statement = insert(alerts).values({name: bindparam(name) for name in _COLUMNS})
    new = statement.excluded
    stored_resolved = alerts.c.status == literal_column(f"'{_RESOLVED}'")
    # Monotonic per episode: a late "firing" snapshot never reopens a resolved episode.
    return driver_sql(statement.on_conflict_do_update(
        index_elements=[alerts.c.fingerprint, alerts.c.starts_at_us],
        set_={
            "status": case((stored_resolved, alerts.c.status), else_=new.status),
            "ends_at_us": case((stored_resolved, alerts.c.ends_at_us), else_=new.ends_at_us),
            "annotations": new.annotations,
            "generator_url": new.generator_url,
            # A wall clock stepped back must not make an episode look older than it was seen.
            "last_seen_us": case((new.last_seen_us > alerts.c.last_seen_us, new.last_seen_us),
                                 else_=alerts.c.last_seen_us),
            "notifications": alerts.c.notifications + new.notifications,
            "flapping": new.flapping,
        },
    ), engine)


class AlertView:
    """The rows the engine's reading since the last save adds to the view, and the flap detector
    that marks them."""

    def __init__(self, engine: Engine, flaps: FlapDetector):
        self._upsert = _upsert(engine)
        self.flaps = flaps
        self._pending: dict[tuple[str, int], dict[str, Any]] = {}
        self._read = 0

    def add(self, alert: Alert) -> None:
        """One alert the engine read (seen when it was received)."""
        starts = to_us(alert.starts_at)
        ends = to_us(alert.ends_at) if alert.ends_at is not None else None
        seen, resolved = to_us(alert.received_at), alert.status is AlertStatus.RESOLVED
        flapping = self.flaps.observe(alert.fingerprint, starts, ends, resolved)
        self._read += 1
        if self._read % FORGET_EVERY == 0:
            self.flaps.forget_idle()
        row = self._pending.get((alert.fingerprint, starts))
        if row is None:
            self._pending[alert.fingerprint, starts] = {
                "fingerprint": alert.fingerprint, "starts_at_us": starts, "ends_at_us": ends,
                "status": alert.status.value, "labels": _json_text(alert.labels),
                "annotations": _json_text(alert.annotations), "generator_url": alert.generator_url,
                "source": str(alert.source), "first_seen_us": seen, "last_seen_us": seen, "notifications": 1,
                "flapping": flapping}
            return
        # As the upsert of this alert after the row's would leave it (the stored row's part is the
        # upsert's: first seen, labels and source stay the first's).
        if row["status"] != _RESOLVED:
            row["status"], row["ends_at_us"] = alert.status.value, ends
        row["annotations"], row["generator_url"] = _json_text(alert.annotations), alert.generator_url
        row["last_seen_us"] = max(row["last_seen_us"], seen)
        row["notifications"] += 1
        row["flapping"] = flapping

    @property
    def pending(self) -> int:
        return len(self._pending)

    def write(self, connection: Connection) -> None:
        """Upsert the pending rows in `connection`'s transaction (`saved` once it committed)."""
        if self._pending:
            connection.exec_driver_sql(self._upsert, list(self._pending.values()))

    def saved(self) -> None:
        self._pending.clear()

    def rebuild(self, connection: Connection) -> None:
        """Forget what no save wrote, and replay the recent episodes into the flap detector (after
        a restart, or when the engine is rebuilt from the store)."""
        self._pending.clear()
        flaps = self.flaps = FlapDetector(self.flaps.max_changes, self.flaps.window_us)
        latest = connection.execute(select(alerts.c.last_seen_us).order_by(alerts.c.last_seen_us.desc())
                                    .limit(1)).scalar()
        if latest is None:
            return
        horizon = latest - flaps.window_us
        recent = connection.execute(
            select(alerts.c.fingerprint, alerts.c.starts_at_us, alerts.c.ends_at_us, alerts.c.status)
            .where((alerts.c.starts_at_us > horizon) | (alerts.c.ends_at_us > horizon)
                   | (alerts.c.status == AlertStatus.FIRING.value))
            .order_by(alerts.c.starts_at_us))
        for fingerprint, starts, ends, status in recent:
            flaps.observe(fingerprint, starts, ends, status == _RESOLVED)
