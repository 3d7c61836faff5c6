"""The rules over REST. `GET /api/v1/rules`: the rules in force and the last reload.
`POST /api/v1/rules/reload`: put the rule files in force; a directory with any invalid file is
answered 400 with file, line and message, and the rules in force stay in force; 202 when the engine
process has not taken the rules within a bounded wait (it will). `POST /api/v1/rules/check`: a rule
file checked and run over recent alerts before it is saved (correlator.rule_check)."""

from __future__ import annotations

import asyncio
import time

import msgspec
from aiohttp import web

from correlator.domain import FieldError
from correlator.http_body import read_body
from correlator.http_errors import error_response, json_response
from correlator.rule_check import RuleFileName
from correlator.store.alert_queries import list_alerts

MAX_RULE_FILE = 1 << 20
MAX_CHECKED_ALERTS = 2000


class RuleCheck(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    content: str
    alerts: int = 500  # the most recent stored episodes to run the rules over


def make_rule_handlers(engine, database, check) -> list[tuple[str, str, object]]:
    """`engine`: a LocalEngine or StoredEngine (correlator.engine_view); `check(name, content,
    episodes)`: correlator.rule_check.check_rule_file with its configuration."""
    async def in_force(_request: web.Request) -> web.Response:
        rules = await engine.rules()
        if rules is None:
            return error_response(503, "the engine has not published the rules in force yet; retry")
        return json_response(rules)

    async def reload(_request: web.Request) -> web.Response:
        answer = await engine.reload()
        if answer.status == "rejected":
            return error_response(400, "rules rejected; the rules in force stay in force",
                                  [FieldError(path, reason) for path, reason in answer.errors])
        if answer.status == "requested":
            return json_response({"status": "requested"}, status=202)
        return json_response({"status": "reloaded", "files": answer.files, "rules": answer.rules})

    async def check_rules(request: web.Request) -> web.Response:
        data = await read_body(request)
        if len(data) > MAX_RULE_FILE:
            return error_response(413, "rule file too large", [FieldError("content", f"at most {MAX_RULE_FILE} bytes")])
        try:
            body = msgspec.json.decode(data, type=RuleCheck)
        except msgspec.DecodeError as error:
            return error_response(400, "invalid body", [FieldError("$", str(error))])
        if not 1 <= body.alerts <= MAX_CHECKED_ALERTS:
            return error_response(400, "invalid body", [FieldError("alerts", f"expected 1 to {MAX_CHECKED_ALERTS}")])
        page = await asyncio.to_thread(list_alerts, database, now_us=time.time_ns() // 1000, limit=body.alerts)
        try:
            result = await asyncio.to_thread(check, body.name, body.content, page.alerts)
        except RuleFileName as error:
            return error_response(400, "invalid body", [FieldError("name", str(error))])
        return json_response(result)

    return [("GET", "/api/v1/rules", in_force), ("POST", "/api/v1/rules/reload", reload),
            ("POST", "/api/v1/rules/check", check_rules)]
