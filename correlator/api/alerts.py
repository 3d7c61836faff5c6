"""`GET /api/v1/alerts`: stored alerts, newest first, filterable by status and label matchers."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from correlator.domain import AlertStatus
from correlator.ingest.errors import FieldError
from correlator.http_errors import error_response, json_response
from correlator.rules.matchers import MatcherError, parse_matchers
from correlator.store.alert_queries import CursorError, StoredAlert, list_alerts

MAX_LIMIT = 1000


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def alert_json(alert: StoredAlert) -> dict:
    return {
        "fingerprint": alert.fingerprint,
        "status": alert.status.value,
        "labels": alert.labels,
        "annotations": alert.annotations,
        "startsAt": _iso(alert.starts_at),
        "endsAt": _iso(alert.ends_at),
        "generatorURL": alert.generator_url,
        "source": alert.source,
        "firstSeen": _iso(alert.first_seen),
        "lastSeen": _iso(alert.last_seen),
        "notifications": alert.notifications,
        "flapping": alert.flapping,
    }


def _query_errors(request: web.Request):
    errors, matchers = [], []
    status = request.query.get("status")
    if status is not None and status not in ("firing", "resolved"):
        errors.append(FieldError("status", "expected firing or resolved"))
    limit_text = request.query.get("limit", "100")
    limit = int(limit_text) if limit_text.isdigit() else 0
    if not 1 <= limit <= MAX_LIMIT:
        errors.append(FieldError("limit", f"expected an integer from 1 to {MAX_LIMIT}"))
    for text in request.query.getall("filter", []):
        try:
            matchers.extend(parse_matchers(text))
        except MatcherError as error:
            errors.append(FieldError("filter", str(error)))
    return errors, (AlertStatus(status) if status in ("firing", "resolved") else None), limit, matchers


def make_list_alerts_handler(engine):
    async def handle(request: web.Request) -> web.Response:
        errors, status, limit, matchers = _query_errors(request)
        if errors:
            return error_response(400, "invalid query", errors)
        now_us = time.time_ns() // 1000
        try:
            page = await asyncio.to_thread(list_alerts, engine, now_us=now_us, status=status,
                                           matchers=matchers, limit=limit, cursor=request.query.get("cursor"))
        except CursorError as error:
            return error_response(400, "invalid query", [FieldError("cursor", str(error))])
        return json_response({"alerts": [alert_json(a) for a in page.alerts], "next": page.next_cursor})
    return handle
