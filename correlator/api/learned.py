"""What the engine learned of the estate, read from the store: `GET /api/v1/learned/topology` and
`GET /api/v1/learned/associations` (as of the last saved snapshot)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from correlator.api.query import limit_param
from correlator.domain import FieldError
from correlator.http_errors import error_response, json_response
from correlator.learning import state
from correlator.store.incidents import IncidentRepository
from correlator.units import rfc3339


def make_learned_handlers(repository: IncidentRepository) -> list[tuple[str, str, object]]:
    def snapshot():
        saved_at, parts = repository.load_learned()
        return saved_at, state.loaded(parts)

    async def respond(request: web.Request, key: str, view, filter_name: str) -> web.Response:
        errors: list[FieldError] = []
        limit = limit_param(request, 100, 10_000, errors)
        if errors:
            return error_response(400, "invalid query", errors)
        saved_at, learner = await asyncio.to_thread(snapshot)
        return json_response({"saved_at": rfc3339(saved_at) if saved_at else None,
                              key: view(learner, limit, request.query.get(filter_name, ""))})

    async def topology(request: web.Request) -> web.Response:
        return await respond(request, "entities", state.topology_view, "entity")

    async def associations(request: web.Request) -> web.Response:
        return await respond(request, "associations", state.associations_view, "alertname")

    return [("GET", "/api/v1/learned/topology", topology), ("GET", "/api/v1/learned/associations", associations)]
