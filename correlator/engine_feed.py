"""The engine's input: the stored notifications in id order, read in batches of bounded work.
The log holds operator actions too (source "action"): they come in the same order, as ActionEntry;
and where pods run (source "placement", correlator/placements.py), as PlacementEntry.

Each notification's alerts are the ones ingest parsed at receive time, stored beside its body
(store/notification_alerts.py): the engine sees what ingest accepted, under the mappings and
policy in force then. A batch holds at most `step_alerts` alerts, so a step ends inside a
notification too large for one step and the next batch resumes at the alert offset where it
stopped. Reading only touches the store, never the engine, so it runs outside the engine's lock;
a large notification is decoded once and kept until the engine has processed all of its alerts.

Rows stored before the alerts were (store revision 0006, or by a replica of an older version
during an upgrade) hold only the body: those are parsed here, with the parsers of today."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

import msgspec
from sqlalchemy import select
from sqlalchemy.engine import Engine as DatabaseEngine

from correlator.domain import Alert, FieldError, PayloadError, Source, from_msgspec
from correlator.domain.placements import Placements, decode_placements
from correlator.ingest.normalize import IngestPolicy
from correlator.ingest.sources import Parser
from correlator.store.action_log import LoggedAction, decode_logged_action
from correlator.store.notification_alerts import decode_alerts
from correlator.store.schema import from_us, notifications

log = logging.getLogger(__name__)
_NO_ALERTS = (Source.ACTION, Source.PLACEMENT)  # rows whose body the engine reads itself


@dataclass(frozen=True)
class Chunk:
    """Alerts `start` up to `end` of one notification; `complete` when they end it."""

    notification: int
    received_at: datetime
    alerts: Sequence[Alert]
    end: int
    complete: bool


@dataclass(frozen=True)
class ActionEntry:
    """An operator action of the log, or why its stored body is not one."""

    notification: int
    received_at: datetime
    action: LoggedAction | FieldError


@dataclass(frozen=True)
class PlacementEntry:
    """Where pods run, as the log holds it, or why its stored body is not that."""

    notification: int
    received_at: datetime
    placements: Placements | FieldError


@dataclass(frozen=True)
class Batch:
    watermark: int  # where it starts: after notification `watermark`, at alert `alert_offset` of the next
    alert_offset: int
    chunks: list[Chunk | ActionEntry | PlacementEntry]
    more: bool  # notifications (or alerts of the last one) remain after this batch
    oldest_received_at: datetime | None  # of the first notification not processed whole


class NotificationFeed:
    def __init__(self, database: DatabaseEngine, parsers: dict[str, Parser], policy: IngestPolicy,
                 step_alerts: int, step_notifications: int):
        self._database = database
        self._parsers = parsers
        self._policy = policy
        self.step_alerts = step_alerts
        self.step_notifications = step_notifications
        self._parsed: tuple[int, list[Alert]] | None = None  # the notification a batch ended inside

    def read(self, watermark: int, alert_offset: int) -> Batch:
        parsed = self._parsed
        with self._database.connect() as connection:
            heads = connection.execute(
                select(notifications.c.id, notifications.c.received_at_us, notifications.c.source,
                       notifications.c.alert_count)
                .where(notifications.c.id > watermark).order_by(notifications.c.id)
                .limit(self.step_notifications + 1)).all()
            # The alerts only of the notifications this batch can take (their stored alert counts fit).
            budget, wanted = self.step_alerts + alert_offset, []
            for head in heads[:self.step_notifications]:
                if budget <= 0:
                    break
                wanted.append(head)
                budget -= head.alert_count
            stored = dict(connection.execute(
                select(notifications.c.id, notifications.c.alerts)
                .where(notifications.c.id.in_([h.id for h in wanted if parsed is None or h.id != parsed[0]]))).all())
            # Bodies only of actions, placements and rows stored without their alerts.
            unparsed = [h.id for h in wanted if h.id in stored and (h.source in _NO_ALERTS or stored[h.id] is None)]
            bodies = dict(connection.execute(select(notifications.c.id, notifications.c.body)
                                             .where(notifications.c.id.in_(unparsed))).all()) if unparsed else {}
        chunks, budget, offset = [], self.step_alerts, alert_offset
        for head in wanted:
            if budget <= 0:
                break
            received_at = from_us(head.received_at_us)
            if head.source == Source.ACTION:
                chunks.append(ActionEntry(head.id, received_at, _action(bytes(bodies[head.id]))))
                continue
            if head.source == Source.PLACEMENT:
                chunks.append(PlacementEntry(head.id, received_at, _placements(bytes(bodies[head.id]))))
                continue
            if parsed is not None and parsed[0] == head.id:
                alerts = parsed[1]
            elif stored[head.id] is not None:
                alerts = decode_alerts(stored[head.id])
            else:
                alerts = self._parse(head.id, head.source, bodies[head.id], received_at)
            offset = min(offset, len(alerts))  # an old row parsed again, to fewer alerts: its mapping changed
            end = min(len(alerts), offset + budget)
            chunks.append(Chunk(head.id, received_at, alerts[offset:end], end, end == len(alerts)))
            self._parsed = None if end == len(alerts) else (head.id, alerts)
            budget -= end - offset
            offset = 0
        last = chunks[-1] if chunks else None
        more = len(chunks) < len(heads) or isinstance(last, Chunk) and not last.complete
        oldest = from_us(heads[0].received_at_us) if heads else None
        return Batch(watermark, alert_offset, chunks, more, oldest)

    def _parse(self, notification: int, source: str, body: bytes, received_at: datetime) -> list[Alert]:
        """The alerts of a row stored without them (see the module docstring)."""
        parse = self._parsers.get(source)
        if parse is None:
            log.warning("stored notification from a source no longer configured; skipped",
                        extra={"notification": notification, "source": source})
            return []
        try:
            return list(parse(bytes(body), received_at, self._policy).alerts)
        except PayloadError:  # stored bodies were valid when received; a mapping may have changed since
            log.warning("stored notification no longer parses", extra={"notification": notification})
            return []


def _placements(body: bytes) -> Placements | FieldError:
    try:
        return decode_placements(body)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:  # not written by this daemon
        return from_msgspec(error)


def _action(body: bytes) -> LoggedAction | FieldError:
    try:
        return decode_logged_action(body)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:  # not written by this API
        return from_msgspec(error)
