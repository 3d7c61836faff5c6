"""`GET /api/v1/alerts`: stored alerts, newest first, filterable by status and label matchers."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from correlator.domain import AlertStatus, FieldError
from correlator.http_errors import error_response, json_response
from correlator.api.query import limit_param, matchers_param
from correlator.units import rfc3339
from correlator.store.alert_queries import CursorError, StoredAlert, list_alerts

MAX_LIMIT = 1000


def alert_json(alert: StoredAlert) -> dict:
    return {
        "fingerprint": alert.fingerprint,
        "status": alert.status.value,
        "labels": alert.labels,
        "annotations": alert.annotations,
        "startsAt": rfc3339(alert.starts_at),
        "endsAt": rfc3339(alert.ends_at),
        "generatorURL": alert.generator_url,
        "source": alert.source,
        "firstSeen": rfc3339(alert.first_seen),
        "lastSeen": rfc3339(alert.last_seen),
        "notifications": alert.notifications,
        "flapping": alert.flapping,
    }


def _query_errors(request: web.Request):
    errors: list[FieldError] = []
    status = request.query.get("status")
    if status is not None and status not in ("firing", "resolved"):
        errors.append(FieldError("status", "expected firing or resolved"))
    limit = limit_param(request, 100, MAX_LIMIT, errors)
    matchers = matchers_param(request, errors)
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
