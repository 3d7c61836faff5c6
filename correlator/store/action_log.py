"""Operator actions in the engine's input log: a `notifications` row of source "action" whose body
is a LoggedAction, and the engine's result for it in `action_results`.

The API appends the row and reads the result; the engine applies the action in log order with the
alerts and saves the result in the transaction of its step. So the API needs the store only."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.engine import Engine

from correlator.domain import Source
from correlator.store.schema import action_results, notifications


class LoggedAction(msgspec.Struct, frozen=True, kw_only=True):
    """One operator action as the log (and a recording line's body) holds it."""

    incident_id: str
    action: str  # as in the URL: acknowledge, assign, merge, ... (domain/actions.py ACTIONS)
    body: dict[str, Any]  # the action's checked body, the actor left out
    actor: str
    requested_at: datetime


class ActionOutcome(enum.StrEnum):
    APPLIED = "applied"
    REFUSED = "refused"


class ActionResult(msgspec.Struct, frozen=True):
    outcome: ActionOutcome
    status: int  # the HTTP status the API answers with
    result: dict[str, Any]  # the incident's detail once applied, else the error body


_decode_action = msgspec.json.Decoder(LoggedAction).decode
_decode_result = msgspec.json.Decoder(dict[str, Any]).decode


def decode_logged_action(body: bytes) -> LoggedAction:
    """Raises msgspec.ValidationError or DecodeError when `body` is not a LoggedAction."""
    return _decode_action(body)


def result_rows(results: list[tuple[int, ActionResult]]) -> list[dict]:
    return [{"notification_id": number, "outcome": result.outcome.value, "status": result.status,
             "result": msgspec.json.encode(result.result)} for number, result in results]


class ActionLog:
    """What the API reads of the log: an action's result, or whether it is still pending."""

    def __init__(self, engine: Engine):
        self._engine = engine

    def result(self, number: int) -> ActionResult | None:
        with self._engine.connect() as connection:
            row = connection.execute(select(action_results).where(
                action_results.c.notification_id == number)).one_or_none()
        if row is None:
            return None
        return ActionResult(ActionOutcome(row.outcome), row.status, _decode_result(row.result))

    def is_action(self, number: int) -> bool:
        """Whether the log holds an action numbered `number` (its result may still be pending)."""
        with self._engine.connect() as connection:
            return connection.execute(select(notifications.c.id).where(
                (notifications.c.id == number) & (notifications.c.source == Source.ACTION.value))).first() is not None
