"""`GET /api/v1/alerts`: stored alerts, newest first, filterable by status and label matchers;
`GET /api/v1/alerts/{fingerprint}/history`: one alert's episodes and the incidents that held them."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from correlator.domain import AlertStatus, FieldError
from correlator.http_errors import error_response, json_response
from correlator.api.query import limit_param, matchers_param
from correlator.units import rfc3339
from correlator.store.alert_queries import CursorError, StoredAlert, alert_history, list_alerts, log_read

MAX_LIMIT = 1000
FINGERPRINT_LENGTH = 16


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


# While the engine reads what was stored before a request, the request polls this often (doubling).
FIRST_POLL_SECONDS = 0.002
MAX_POLL_SECONDS = 0.1


async def _read_through(engine, seconds: float) -> None:
    """Wait (at most `seconds`, as an operator action does) until the engine has read every log row
    stored before now: the alerts view is the engine's, so an alert that was answered 2xx is listed
    once this returns, unless the engine lags by more than `seconds` (busy, still starting, or not
    running: then the view as it is)."""
    deadline, delay = time.monotonic() + seconds, FIRST_POLL_SECONDS
    latest, read = await asyncio.to_thread(log_read, engine)
    while read < latest and time.monotonic() < deadline:
        await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, MAX_POLL_SECONDS)
        read = (await asyncio.to_thread(log_read, engine))[1]


def make_list_alerts_handler(engine, read_wait: float):
    """`read_wait`: how long a listing waits for the engine to read what was stored before it."""
    async def handle(request: web.Request) -> web.Response:
        errors, status, limit, matchers = _query_errors(request)
        if errors:
            return error_response(400, "invalid query", errors)
        await _read_through(engine, read_wait)
        now_us = time.time_ns() // 1000
        try:
            page = await asyncio.to_thread(list_alerts, engine, now_us=now_us, status=status,
                                           matchers=matchers, limit=limit, cursor=request.query.get("cursor"))
        except CursorError as error:
            return error_response(400, "invalid query", [FieldError("cursor", str(error))])
        return json_response({"alerts": [alert_json(a) for a in page.alerts], "next": page.next_cursor})
    return handle


def make_alert_history_handler(engine, read_wait: float):
    async def handle(request: web.Request) -> web.Response:
        fingerprint = request.match_info["fingerprint"]
        errors: list[FieldError] = []
        limit = limit_param(request, 100, MAX_LIMIT, errors)
        if len(fingerprint) != FINGERPRINT_LENGTH or fingerprint.strip("0123456789abcdef"):
            errors.append(FieldError("fingerprint", "expected 16 lowercase hexadecimal digits"))
        if errors:
            return error_response(400, "invalid query", errors)
        await _read_through(engine, read_wait)
        episodes, memberships = await asyncio.to_thread(alert_history, engine, fingerprint,
                                                        now_us=time.time_ns() // 1000, limit=limit)
        if not episodes and not memberships:
            return error_response(404, f"no alert {fingerprint!r}")
        return json_response({
            "fingerprint": fingerprint, "episodes": [alert_json(a) for a in episodes],
            "incidents": [{"id": m.incident_id, "startsAt": rfc3339(m.starts_at), "state": m.state,
                           "title": m.title, "priority": m.priority, "url": f"/api/v1/incidents/{m.incident_id}"}
                          for m in memberships]})
    return handle
