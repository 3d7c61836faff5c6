"""The one JSON error shape of every endpoint: {"error": ..., "details": [{"path", "reason"}]}."""

from __future__ import annotations

import hashlib

import msgspec
from aiohttp import web

from correlator.domain import FieldError

MAX_BODY = web.AppKey("max_body", int)
# The content codings a request body may come in (decoded by correlator/http_body.py).
READABLE_CODINGS = ("identity", "gzip", "deflate")

_encode = msgspec.json.encode


def json_response(body, status: int = 200, headers=None) -> web.Response:
    """aiohttp's json_response with msgspec's encoder (the stdlib one shows up in ingest profiles)."""
    return web.Response(body=_encode(body), status=status, headers=headers, content_type="application/json")


def revalidated_json_response(request: web.Request, body) -> web.Response:
    """The JSON answer with an ETag of its bytes; 304 without a body when the client's
    If-None-Match already names it (pollers such as the board then transfer nothing new)."""
    encoded = _encode(body)
    tag = f'"{hashlib.blake2b(encoded, digest_size=16).hexdigest()}"'
    headers = {"ETag": tag, "Cache-Control": "no-cache"}
    if tag in (value.strip() for value in request.headers.get("If-None-Match", "").split(",")):
        return web.Response(status=304, headers=headers)
    return web.Response(body=encoded, headers=headers, content_type="application/json")


def error_response(status: int, message: str, details=(), **extra) -> web.Response:
    body = {"error": message, "details": [detail.as_json() for detail in details], **extra}
    return json_response(body, status=status)


def body_too_large(limit: int) -> web.Response:
    """Closes the connection: the rest of an oversized body is not worth reading to keep it open."""
    response = error_response(413, "Request Entity Too Large",
                              [FieldError("$", f"body larger than the limit of {limit} bytes (server.max_body_size)")])
    response.force_close()
    return response


def http_error_response(request: web.Request, error: web.HTTPException) -> web.Response:
    """aiohttp's own errors (404, 405, 413...) in the same JSON shape."""
    if error.status == 413:
        return body_too_large(request.app[MAX_BODY])
    return error_response(error.status, error.reason)


def content_coding(request: web.Request) -> str:
    return request.headers.get("Content-Encoding", "identity").strip().lower() or "identity"


def unreadable_coding(request: web.Request) -> web.Response | None:
    """415 naming the codings read (RFC 9110, 15.5.16) for a body in any other: Brotli, Zstandard,
    compress or a list of codings."""
    coding = content_coding(request)
    if coding in READABLE_CODINGS or not request.body_exists:
        return None
    response = error_response(415, f"unsupported content coding {coding!r}", [FieldError(
        "Content-Encoding", f"expected one of {', '.join(READABLE_CODINGS)}, got {coding!r}")])
    response.headers["Accept-Encoding"] = ", ".join(READABLE_CODINGS[1:])
    response.force_close()  # the body is not read
    return response
