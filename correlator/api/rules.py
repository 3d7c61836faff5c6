"""`POST /api/v1/rules/reload`: put the rule files in force. A directory with any invalid file is
answered 400 with file, line and message, and the rules in force stay in force; 202 when the engine
process has not taken the rules within a bounded wait (it will)."""

from __future__ import annotations

from aiohttp import web

from correlator.domain import FieldError
from correlator.http_errors import error_response, json_response


def make_rule_handlers(engine) -> list[tuple[str, str, object]]:
    """`engine`: a LocalEngine or StoredEngine (correlator.engine_view)."""
    async def reload(_request: web.Request) -> web.Response:
        answer = await engine.reload()
        if answer.status == "rejected":
            return error_response(400, "rules rejected; the rules in force stay in force",
                                  [FieldError(path, reason) for path, reason in answer.errors])
        if answer.status == "requested":
            return json_response({"status": "requested"}, status=202)
        return json_response({"status": "reloaded", "files": answer.files, "rules": answer.rules})

    return [("POST", "/api/v1/rules/reload", reload)]
