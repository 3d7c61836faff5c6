"""A ServiceNow instance's Table API for the incident table, as the real one answers it.

Paths `/api/now/table/{table}` (GET with sysparm_query / sysparm_fields / sysparm_limit, POST) and
`/api/now/table/{table}/{sys_id}` (GET, PATCH, PUT), and the journal's own table
`/api/now/table/sys_journal_field` (GET: its entries, `LIKE` conditions too); basic or bearer auth (401 otherwise); the
error body `{"error": {"message", "detail"}, "status": "failure"}`; 404 for an unknown sys_id;
the base data policy refusing Resolved/Closed without close_code and close_notes (403); 429 with
Retry-After and the X-RateLimit-* headers; and faults a test switches on: 5xx answers, and writes
applied whose answer never comes (until the test releases it)."""

from __future__ import annotations

import asyncio
import base64
import itertools
import time
import uuid
from dataclasses import dataclass, field

from aiohttp import web

READ_ONLY = frozenset({"sys_id", "number", "sys_created_on", "sys_updated_on", "sys_mod_count"})
JOURNAL = ("work_notes", "comments")
JOURNAL_TABLE = "sys_journal_field"  # each journal entry (work note, comment) as a row
ENDED_STATES = ("6", "7")


def entry_matches(row: dict):
    """An encoded query condition (`field=value` or `fieldLIKEvalue`, contains) as a test of `row`."""
    def matches(condition: str) -> bool:
        if "LIKE" in condition.partition("=")[0]:
            name, _, value = condition.partition("LIKE")
            return value in str(row.get(name, ""))
        name, _, value = condition.partition("=")
        return str(row.get(name, "")) == value
    return matches


def failure(status: int, message: str, detail: str = "", headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": {"message": message, "detail": detail}, "status": "failure"},
                             status=status, headers=headers)


@dataclass
class Journal:
    element: str
    value: str


@dataclass
class FakeServiceNow:
    user: str = "correlator"
    password: str = "s3cret"
    token: str = "oauth-token"
    rate_limited: int = 0  # answer the next N requests 429
    rate_limited_methods: tuple[str, ...] = ("GET", "POST", "PATCH", "PUT")  # ... of these methods
    retry_after_header: bool = True  # else only X-RateLimit-Reset says when
    failing: int = 0  # answer the next N requests 503
    hang_writes: bool = False  # apply POST/PATCH, then hold the answer until `release`
    records: dict[str, dict] = field(default_factory=dict)
    journal: dict[str, list[Journal]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)  # (method, path?query) of each authorised call
    _numbers: itertools.count = field(default_factory=lambda: itertools.count(10001))
    _release: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/now/table/{table}", self.list_records)
        app.router.add_post("/api/now/table/{table}", self.insert)
        app.router.add_get("/api/now/table/{table}/{sys_id}", self.get_record)
        app.router.add_patch("/api/now/table/{table}/{sys_id}", self.update)
        app.router.add_put("/api/now/table/{table}/{sys_id}", self.update)
        return app

    def release(self) -> None:
        self._release.set()

    def by_correlation(self, key: str) -> list[dict]:
        return [record for record in self.records.values() if record.get("correlation_id") == key]

    def notes(self, sys_id: str) -> list[str]:
        return [entry.value for entry in self.journal.get(sys_id, []) if entry.element == "work_notes"]

    # --- the gate every request passes

    def _refused(self, request: web.Request) -> web.Response | None:
        authorization = request.headers.get("Authorization", "")
        basic = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        if authorization not in (basic, f"Bearer {self.token}"):
            return failure(401, "User Not Authenticated", "Required to provide Auth information")
        self.calls.append((request.method, request.path_qs))
        table = request.match_info["table"]
        if table != "incident" and not (table == JOURNAL_TABLE and request.method == "GET"):
            return failure(400, "Invalid table " + table)
        if self.rate_limited and request.method in self.rate_limited_methods:
            self.rate_limited -= 1
            headers = {"X-RateLimit-Limit": "1000", "X-RateLimit-Rule": "correlator integration",
                       "X-RateLimit-Reset": str(int(time.time()) + 7)}
            if self.retry_after_header:
                headers["Retry-After"] = "7"
            return failure(429, "Rate limit exceeded", "Too many requests for rule: correlator integration",
                           headers=headers)
        if self.failing:
            self.failing -= 1
            return web.Response(status=503, text="<html>Service Unavailable</html>", content_type="text/html")
        return None

    async def _answer(self, response: web.Response) -> web.Response:
        if self.hang_writes:
            await asyncio.wait_for(self._release.wait(), timeout=30)
        return response

    @staticmethod
    def _shown(record: dict, request: web.Request) -> dict:
        fields = request.query.get("sysparm_fields")
        return {name: record.get(name, "") for name in fields.split(",")} if fields else dict(record)

    async def _body(self, request: web.Request) -> dict | web.Response:
        if not request.content_type == "application/json":
            return failure(415, "Unsupported Media Type", f"{request.content_type} is not supported")
        try:
            body = await request.json()
        except ValueError:
            return failure(400, "Exception while reading request", "The payload is not valid JSON.")
        if not isinstance(body, dict):
            return failure(400, "Exception while reading request", "The payload is not a JSON object.")
        return body

    def _write(self, record: dict, body: dict) -> None:
        for name, value in body.items():
            if name in JOURNAL:  # journal fields append an entry and read back empty
                if value:
                    self.journal.setdefault(record["sys_id"], []).append(Journal(name, str(value)))
            elif name not in READ_ONLY:
                record[name] = str(value)

    # --- handlers

    async def list_records(self, request: web.Request) -> web.Response:
        if refused := self._refused(request):
            return refused
        conditions = [c for c in request.query.get("sysparm_query", "").split("^") if c and not c.startswith("ORDERBY")]
        limit = int(request.query.get("sysparm_limit", "10000"))
        if request.match_info["table"] == JOURNAL_TABLE:
            entries = [entry for entry in self._journal_entries() if all(map(entry_matches(entry), conditions))]
            return web.json_response({"result": [self._shown(entry, request) for entry in entries[:limit]]},
                                     headers={"X-Total-Count": str(len(entries))})
        matched = []
        for record in self.records.values():
            if all(record.get(name, "") == value for name, _, value in (c.partition("=") for c in conditions)):
                matched.append(self._shown(record, request))
        return web.json_response({"result": matched[:limit]}, headers={"X-Total-Count": str(len(matched))})

    def _journal_entries(self) -> list[dict]:
        """The journal as its table shows it: one row per entry, naming its record and field."""
        return [{"sys_id": f"{sys_id}-{number}", "element_id": sys_id, "element": entry.element, "name": "incident",
                 "value": entry.value} for sys_id, entries in self.journal.items()
                for number, entry in enumerate(entries)]

    def _record(self, request: web.Request) -> dict | web.Response:
        """The record the path names, or the answer refusing the request."""
        if refused := self._refused(request):
            return refused
        record = self.records.get(request.match_info["sys_id"])
        if record is None:
            return failure(404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval")
        return record

    async def get_record(self, request: web.Request) -> web.Response:
        record = self._record(request)
        if isinstance(record, web.Response):
            return record
        return web.json_response({"result": self._shown(record, request)})

    async def insert(self, request: web.Request) -> web.Response:
        if refused := self._refused(request):
            return refused
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        sys_id = uuid.uuid4().hex
        record = {"sys_id": sys_id, "number": f"INC{next(self._numbers):07d}", "state": "1", "impact": "3",
                  "urgency": "3", "sys_mod_count": "0", "short_description": "", "description": "",
                  "correlation_id": "", "correlation_display": "", "close_code": "", "close_notes": ""}
        if refused := self._data_policy({**record, **body}):
            return refused
        self.records[sys_id] = record
        self._write(record, body)
        return await self._answer(web.json_response({"result": self._shown(record, request)}, status=201,
                                                    headers={"Location": f"{request.url}/{sys_id}"}))

    async def update(self, request: web.Request) -> web.Response:
        record = self._record(request)
        if isinstance(record, web.Response):
            return record
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        if refused := self._data_policy({**record, **body}):
            return refused
        self._write(record, body)
        record["sys_mod_count"] = str(int(record["sys_mod_count"]) + 1)
        return await self._answer(web.json_response({"result": self._shown(record, request)}))

    @staticmethod
    def _data_policy(merged: dict) -> web.Response | None:
        """The base system's: an incident Resolved or Closed needs a resolution code and notes (and this
        instance's, as many have: a short description always)."""
        mandatory = [("short_description", "Short description")]
        if str(merged.get("state")) in ENDED_STATES:
            mandatory += [("close_code", "Resolution code"), ("close_notes", "Resolution notes")]
        missing = [label for name, label in mandatory if not str(merged.get(name) or "").strip()]
        if missing:
            return failure(403, "Operation Failed",
                           f"Data Policy Exception: \n\tThe following fields are mandatory: {', '.join(missing)}\n")
        return None
