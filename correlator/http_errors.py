"""The one JSON error shape of every endpoint: {"error": ..., "details": [{"path", "reason"}]}."""

from __future__ import annotations

import msgspec
from aiohttp import web

from correlator.domain import FieldError

MAX_BODY = web.AppKey("max_body", int)

_encode = msgspec.json.encode


def json_response(body, status: int = 200, headers=None) -> web.Response:
    """aiohttp's json_response with msgspec's encoder (the stdlib one shows up in ingest profiles)."""
    return web.Response(body=_encode(body), status=status, headers=headers, content_type="application/json")


def error_response(status: int, message: str, details=(), **extra) -> web.Response:
    body = {"error": message, "details": [detail.as_json() for detail in details], **extra}
    return json_response(body, status=status)


def body_too_large(limit: int) -> web.Response:
    return error_response(413, "Request Entity Too Large",
                          [FieldError("$", f"body larger than the limit of {limit} bytes (server.max_body_size)")])


def http_error_response(request: web.Request, error: web.HTTPException) -> web.Response:
    """aiohttp's own errors (404, 405, 413...) in the same JSON shape."""
    if error.status == 413:
        return body_too_large(request.app[MAX_BODY])
    return error_response(error.status, error.reason)
