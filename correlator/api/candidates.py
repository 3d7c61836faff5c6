"""`GET /api/v1/candidates`: alerts a group rule holds below its `min_alerts`, which open no
incident yet (as of the engine's last step)."""

from __future__ import annotations

from aiohttp import web

from correlator.api.query import limit_param
from correlator.domain import FieldError
from correlator.http_errors import error_response, json_response


def make_candidate_handlers(engine) -> list[tuple[str, str, object]]:
    """`engine`: a LocalEngine or StoredEngine (correlator.engine_view)."""
    async def candidates(request: web.Request) -> web.Response:
        errors: list[FieldError] = []
        limit = limit_param(request, 100, 1000, errors)
        if errors:
            return error_response(400, "invalid query", errors)
        return json_response({"candidates": await engine.candidates(limit)})

    return [("GET", "/api/v1/candidates", candidates)]
