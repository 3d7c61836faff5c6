"""Deliveries over REST: the outbox's pending and dead-lettered rows, and retrying dead letters."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from aiohttp import web

from correlator.api.query import limit_param
from correlator.domain import FieldError
from correlator.http_errors import error_response, json_response
from correlator.store.outbox import Outbox, OutboxState

LISTED_STATES = (OutboxState.PENDING.value, OutboxState.DEAD.value)


def _number(text: str) -> int | None:
    """A delivery id as the store numbers them, None for anything else."""
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else None


def make_delivery_handlers(database) -> list[tuple[str, str, object]]:
    box = Outbox(database)

    async def list_deliveries(request: web.Request) -> web.Response:
        errors: list[FieldError] = []
        state = request.query.get("state", OutboxState.PENDING.value)
        if state not in LISTED_STATES:
            errors.append(FieldError("state", f"unknown value {state!r}; expected one of {', '.join(LISTED_STATES)}"))
        after = _number(request.query.get("after", "0"))
        if after is None:
            errors.append(FieldError("after", "expected a delivery id"))
        limit = limit_param(request, 100, 1000, errors)
        if errors:
            return error_response(400, "invalid query", errors)
        rows = await asyncio.to_thread(box.list, OutboxState(state), request.query.get("destination") or None,
                                       limit, after)
        return json_response({"deliveries": [row.document() for row in rows],
                              "next": str(rows[-1].id) if len(rows) == limit else None})

    async def retry(request: web.Request) -> web.Response:
        text = request.match_info["id"]
        number = _number(text)
        retried = await asyncio.to_thread(box.retry, datetime.now(timezone.utc), [number]) if number is not None else []
        if not retried:
            return error_response(404, f"no dead-lettered delivery {text!r}")
        return json_response({"retried": retried})

    return [("GET", "/api/v1/deliveries", list_deliveries), ("POST", "/api/v1/deliveries/{id}/retry", retry)]
