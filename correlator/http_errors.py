"""The one JSON error shape of every endpoint: {"error": ..., "details": [{"path", "reason"}]}."""

from __future__ import annotations

from aiohttp import web

from correlator.ingest.errors import FieldError


def error_response(status: int, message: str, details=(), **extra) -> web.Response:
    body = {"error": message, "details": [detail.as_json() for detail in details], **extra}
    return web.json_response(body, status=status)


@web.middleware
async def json_errors(request: web.Request, handler):
    """aiohttp's own errors (404, 405, 413...) as JSON too."""
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        reason = error.reason
        details = []
        if error.status == 413:
            details = [FieldError("$", f"body larger than the limit of {request.app[MAX_BODY]} bytes "
                                       "(server.max_body_size)")]
        return error_response(error.status, reason, details)


MAX_BODY = web.AppKey("max_body", int)
