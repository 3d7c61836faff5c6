"""A local Opsgenie Alert API: `GenieKey` auth, create (one open alert per alias: a repeat raises its
count), notes (added and listed), acknowledge, close and priority by alias, every call answered 202 with a requestId
and its result read from `GET /v2/alerts/requests/{requestId}` (404 "might not be processed, yet"
until it is), 422 for a body Opsgenie cannot process, 429 with Opsgenie's rate-limit headers.
Faults: queued answers, a number of status checks answered 404, and a stall after a request was
applied."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field

from aiohttp import web

PRIORITIES = {"P1", "P2", "P3", "P4", "P5"}


@dataclass
class Alert:
    id: str
    alias: str
    message: str
    priority: str
    description: str = ""
    tags: list[str] = field(default_factory=list)
    details: dict[str, str] = field(default_factory=dict)
    status: str = "open"  # or closed
    acknowledged: bool = False
    count: int = 1
    notes: list[str] = field(default_factory=list)


@dataclass
class FakeOpsgenie:
    api_key: str
    alerts: list[Alert] = field(default_factory=list)  # oldest first
    results: dict[str, dict] = field(default_factory=dict)  # requestId -> processing result
    posts: list[tuple[str, str, dict]] = field(default_factory=list)  # (method, path, body) accepted
    answers: list[web.Response] = field(default_factory=list)  # answered instead, in order
    route_answers: dict[tuple[str, str], list[web.Response]] = field(default_factory=dict)  # per (method, path)
    status_answers: list[web.Response] = field(default_factory=list)  # answered to status checks instead
    unprocessed_checks: int = 0  # status checks answered 404 for each request before its result shows
    stall_after_apply: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    _checks: dict[str, int] = field(default_factory=dict)

    def by_alias(self, alias: str) -> list[Alert]:
        return [alert for alert in self.alerts if alert.alias == alias]

    def rate_limit(self, period: int = 60) -> None:
        self.answers.append(_error(429, "You are making too many requests! To avoid errors, we recommend you limit "
                                        "requests.", headers={"X-RateLimit-State": "THROTTLED",
                                                              "X-RateLimit-Reason": "INTEGRATION",
                                                              "X-RateLimit-Period-In-Sec": str(period)}))

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        app.router.add_post("/v2/alerts", self.create)
        app.router.add_get("/v2/alerts/requests/{request_id}", self.request_status)
        app.router.add_post("/v2/alerts/{identifier}/notes", self.add_note)
        app.router.add_get("/v2/alerts/{identifier}/notes", self.list_notes)
        app.router.add_post("/v2/alerts/{identifier}/acknowledge", self.acknowledge)
        app.router.add_post("/v2/alerts/{identifier}/close", self.close)
        app.router.add_put("/v2/alerts/{identifier}/priority", self.set_priority)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler):
        if request.headers.get("Authorization") != f"GenieKey {self.api_key}":
            return _error(401, "Could not authenticate")
        queued = self.route_answers.get((request.method, request.path)) or self.answers
        if queued:
            return queued.pop(0)
        return await handler(request)

    async def create(self, request: web.Request) -> web.Response:
        body = await _body(request)
        errors = {}
        if not str(body.get("message", "")).strip():
            errors["message"] = "Message can not be empty."
        elif len(body["message"]) > 130:
            errors["message"] = "Message can not be longer than 130 characters."
        if len(body.get("alias", "")) > 512:
            errors["alias"] = "Alias can not be longer than 512 characters."
        if body.get("priority", "P3") not in PRIORITIES:
            errors["priority"] = "Priority should be one of [P1, P2, P3, P4, P5]"
        if not all(isinstance(value, str) for value in (body.get("details") or {}).values()):
            errors["details"] = "Details values should be strings"
        if errors:
            return _error(422, "Request body is not processable. Please check the errors.", errors=errors)

        def apply() -> dict:
            alias = body.get("alias") or uuid.uuid4().hex
            alert = next((a for a in self.by_alias(alias) if a.status == "open"), None)
            if alert is not None:  # deduplicated: the open alert's count rises
                alert.count += 1
            else:
                alert = Alert(uuid.uuid4().hex, alias, body["message"], body.get("priority", "P3"),
                              body.get("description", ""), body.get("tags", []), body.get("details", {}))
                self.alerts.append(alert)
            return _success("Create", "Created alert", alert)
        return await self._accepted(request, body, apply)

    async def add_note(self, request: web.Request) -> web.Response:
        body = await _body(request)
        if not str(body.get("note", "")).strip():
            return _error(422, "Request body is not processable. Please check the errors.",
                          errors={"note": "Note can not be empty."})
        return await self._on_alert(request, body, "AddNote", "Added note",
                                    lambda alert: alert.notes.append(body["note"]))

    async def list_notes(self, request: web.Request) -> web.Response:
        """The latest alert of the identifier's notes, `order=desc` newest first, at most `limit`."""
        identifier, by_alias = request.match_info["identifier"], request.query.get("identifierType") == "alias"
        matching = [alert for alert in self.alerts if (alert.alias if by_alias else alert.id) == identifier]
        if not matching:
            return _error(404, "Alert does not exist")
        notes = [{"note": note, "owner": "correlator", "createdAt": "2026-12-03T01:06:00.000Z", "offset": str(i)}
                 for i, note in enumerate(matching[-1].notes)]
        if request.query.get("order") == "desc":
            notes.reverse()
        limit = min(int(request.query.get("limit", 20)), 100)
        return web.json_response({"data": notes[:limit], "paging": {}, "took": 0.003, "requestId": str(uuid.uuid4())})

    async def acknowledge(self, request: web.Request) -> web.Response:
        body = await _body(request)
        return await self._on_alert(request, body, "Acknowledge", "Acknowledged alert",
                                    lambda alert: setattr(alert, "acknowledged", True))

    async def close(self, request: web.Request) -> web.Response:
        body = await _body(request)

        def closing(alert: Alert) -> None:
            alert.status = "closed"
            if body.get("note"):
                alert.notes.append(body["note"])
        return await self._on_alert(request, body, "Close", "Closed alert", closing)

    async def set_priority(self, request: web.Request) -> web.Response:
        body = await _body(request)
        if body.get("priority") not in PRIORITIES:
            return _error(422, "Request body is not processable. Please check the errors.",
                          errors={"priority": "Priority should be one of [P1, P2, P3, P4, P5]"})
        return await self._on_alert(request, body, "UpdatePriority", "Updated priority",
                                    lambda alert: setattr(alert, "priority", body["priority"]))

    async def _on_alert(self, request: web.Request, body: dict, action: str, status: str, change) -> web.Response:
        identifier_type = request.query.get("identifierType", "id")
        if identifier_type not in ("id", "tiny", "alias"):
            return _error(422, "Invalid identifier type. Should be one of [id, tiny, alias]")
        identifier = request.match_info["identifier"]

        def apply() -> dict:
            matching = [a for a in self.alerts if (a.alias if identifier_type == "alias" else a.id) == identifier]
            alert = next((a for a in reversed(matching) if a.status == "open"), matching[-1] if matching else None)
            if alert is None:
                return {"action": action, "isSuccess": False, "status": "Alert does not exist", "alertId": "",
                        "alias": identifier if identifier_type == "alias" else ""}
            change(alert)
            return _success(action, status, alert)
        return await self._accepted(request, body, apply)

    async def _accepted(self, request: web.Request, body: dict, apply) -> web.Response:
        request_id = str(uuid.uuid4())
        self.results[request_id] = apply()
        self.posts.append((request.method, request.path, body))
        if self.stall_after_apply:
            self.stall_after_apply -= 1
            await asyncio.wait_for(self.release.wait(), 10)
        return web.json_response({"result": "Request will be processed", "took": 0.01, "requestId": request_id},
                                 status=202)

    async def request_status(self, request: web.Request) -> web.Response:
        if self.status_answers:
            return self.status_answers.pop(0)
        request_id = request.match_info["request_id"]
        seen = self._checks[request_id] = self._checks.get(request_id, 0) + 1
        if request_id not in self.results or seen <= self.unprocessed_checks:
            return _error(404, "Request not found. It might not be processed, yet.")
        return web.json_response({"data": self.results[request_id], "took": 0.002, "requestId": str(uuid.uuid4())})


async def _body(request: web.Request) -> dict:
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError:
        raise web.HTTPBadRequest(text=json.dumps({"message": "Could not parse request body", "took": 0.0}),
                                 content_type="application/json") from None
    return body if isinstance(body, dict) else {}


def _success(action: str, status: str, alert: Alert) -> dict:
    return {"success": True, "action": action, "processedAt": "2026-12-03T01:06:00.000Z",
            "integrationId": "8f8defde-3239-4e62-808b-8f638cd429c2", "isSuccess": True, "status": status,
            "alertId": alert.id, "alias": alert.alias}


def _error(status: int, message: str, errors: dict | None = None, headers: dict | None = None) -> web.Response:
    body = {"message": message, "took": 0.001, "requestId": str(uuid.uuid4())}
    if errors:
        body["errors"] = errors
    return web.json_response(body, status=status, headers=headers)
