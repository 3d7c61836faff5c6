"""Incidents and problems over REST: list and read from the store. An operator action is appended
to the engine's input log; the answer is its result once the engine has applied it (a bounded
wait), else 202 with the address of its result."""

from __future__ import annotations

import asyncio
import base64
import time
from datetime import datetime, timezone

import msgspec
from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from correlator.config import SlaConfig
from correlator.domain import (Category, FieldError, IncidentState, Priority, Problem, ProblemState, RawNotification,
                               Source)
from correlator.domain.actions import ACTIONS, MAX_NAME, ActionBody, decode_action
from correlator.engine.views import incident_detail, problem_summary
from correlator.http_body import read_body
from correlator.http_errors import error_response, json_response, revalidated_json_response
from correlator.api.query import limit_param, matchers_param
from correlator.units import rfc3339
from correlator.rules.matchers import matches_all
from correlator.store.action_log import ActionLog, ActionOutcome, ActionResult, LoggedAction
from correlator.store.incidents import IncidentRepository
from correlator.store.outbox import tickets
from correlator.store.schema import from_us, incident_members, incidents, to_us
from correlator.store.writer import GroupCommitWriter, StoreUnavailable

MAX_LIMIT = 500
MAX_DETAIL_LIMIT = 1_000_000  # members_limit and timeline_limit: without them, all
MAX_SCANNED = 5000  # incidents examined per page when label matchers filter on members
# Polling for an action's result: the first look after this long, then twice as long each time, up
# to the cap (most actions are applied within the engine's next step, a few milliseconds).
FIRST_POLL_SECONDS = 0.002
MAX_POLL_SECONDS = 0.1


def _iso(us: int | None) -> str | None:
    return rfc3339(from_us(us)) if us is not None else None


def _problem_url(problem_id: str | None) -> str | None:
    return f"/api/v1/problems/{problem_id}" if problem_id else None


def _api_view(document: dict, opened_at: datetime, sla: SlaConfig) -> dict:
    """The incident as the API shows it: plus its problem's address and its SLA due times (from its
    priority now)."""
    due = sla.due(opened_at, document["priority"])
    return {**document, "problem_url": _problem_url(document["problem"]),
            "sla": {target: rfc3339(at) if at else None for target, at in due.items()}}


def _summary(row) -> dict:
    header = msgspec.json.decode(row.header)
    return {"id": row.id, "title": header["title"], "state": row.state, "priority": row.priority,
            "impact": header["impact"], "urgency": header["urgency"], "category": row.category,
            "service_area": header["service_area"],
            "classification_confidence": header.get("classification_confidence", {}), "team": row.team, "tier": header["tier"],
            "services": header["services"], "firing": header["firing"], "problem": header["problem_id"],
            "opened_at": _iso(row.opened_at_us), "resolved_at": _iso(row.resolved_at_us),
            "updated_at": _iso(row.updated_at_us)}


def _parse_time(text: str) -> int:
    return to_us(msgspec.convert(text, datetime))


def _choices(request: web.Request, name: str, allowed, errors: list[FieldError]) -> list[str]:
    values = [v for text in request.query.getall(name, []) for v in text.split(",") if v]
    bad = [v for v in values if v not in allowed]
    if bad:
        errors.append(FieldError(name, f"unknown value {bad[0]!r}; expected one of {', '.join(allowed)}"))
    return values


def _filters(request: web.Request, errors: list[FieldError], *, by_state: bool = True) -> list:
    """The where-clauses of the list's query parameters (states only when `by_state`)."""
    conditions = []
    for name, column, allowed in (("status", incidents.c.state, IncidentState),
                                  ("priority", incidents.c.priority, Priority),
                                  ("category", incidents.c.category, Category)):
        values = _choices(request, name, [v.value for v in allowed], errors)
        if values and (by_state or name != "status"):
            conditions.append(column.in_(values))
    if request.query.get("team"):
        conditions.append(incidents.c.team == request.query["team"])
    for name, compare in (("since", "__ge__"), ("until", "__lt__")):
        if name in request.query:
            try:
                conditions.append(getattr(incidents.c.opened_at_us, compare)(_parse_time(request.query[name])))
            except msgspec.ValidationError:
                errors.append(FieldError(name, "expected an RFC 3339 timestamp"))
    return conditions


def _list_query(request: web.Request):
    errors: list[FieldError] = []
    query = (select(incidents).where(*_filters(request, errors))
             .order_by(incidents.c.opened_at_us.desc(), incidents.c.id.desc()))
    matchers = matchers_param(request, errors)
    limit = limit_param(request, 50, MAX_LIMIT, errors)
    return errors, query, matchers, limit, _cursor_param(request, errors)


def _cursor_param(request: web.Request, errors: list[FieldError]) -> tuple[int, str] | None:
    """The `cursor` parameter: the (microseconds, id) of the last row of the page before."""
    if not request.query.get("cursor"):
        return None
    try:
        us, _, row_id = base64.urlsafe_b64decode(request.query["cursor"] + "==").decode().partition("|")
        if not -2**63 <= int(us) < 2**63:  # what the store's integer columns hold
            raise ValueError(us)
        return int(us), row_id
    except (ValueError, UnicodeDecodeError):
        errors.append(FieldError("cursor", "not a cursor returned by this API"))
        return None


def _cursor(us: int, row_id: str) -> str:
    return base64.urlsafe_b64encode(f"{us}|{row_id}".encode()).decode().rstrip("=")


class _Labeled(msgspec.Struct):
    labels: dict[str, str]


_decode_labels = msgspec.json.Decoder(_Labeled).decode  # a member's labels alone
MATCH_CHUNK = 500  # incidents whose members one query reads


def _with_matching_member(connection, incident_ids: list[str], matchers) -> set[str]:
    """The incidents among these that hold a member alert the matchers select. Their members are
    read for a chunk of incidents per query: one query per incident made a filtered count of the
    newest 5,000 incidents cost 5,000 queries, every poll."""
    found: set[str] = set()
    for start in range(0, len(incident_ids), MATCH_CHUNK):
        chunk = incident_ids[start:start + MATCH_CHUNK]
        for incident_id, document in connection.execute(select(incident_members.c.incident_id,
                                                               incident_members.c.document)
                                                        .where(incident_members.c.incident_id.in_(chunk))):
            if incident_id not in found and matches_all(matchers, _decode_labels(document).labels):
                found.add(incident_id)
    return found


def _counts(database, conditions: list, matchers) -> dict:
    """Incidents per state under the filters; with label matchers, of the newest MAX_SCANNED
    incidents (`complete` says whether that was all of them)."""
    counts = {state.value: 0 for state in IncidentState}
    with database.connect() as connection:
        if not matchers:
            for state, number in connection.execute(select(incidents.c.state, func.count())
                                                    .where(*conditions).group_by(incidents.c.state)):
                counts[state] += number
            return {"counts": counts, "complete": True}
        rows = connection.execute(select(incidents.c.id, incidents.c.state).where(*conditions)
                                  .order_by(incidents.c.opened_at_us.desc()).limit(MAX_SCANNED + 1)).all()
        matching = _with_matching_member(connection, [row.id for row in rows[:MAX_SCANNED]], matchers)
        for row in rows[:MAX_SCANNED]:
            if row.id in matching:
                counts[row.state] += 1
    return {"counts": counts, "complete": len(rows) <= MAX_SCANNED}


def _list(database, query, matchers, limit: int, cursor, sla: SlaConfig):
    found, scanned = [], 0
    with database.connect() as connection:
        while len(found) < limit and scanned < MAX_SCANNED:
            page = query
            if cursor is not None:
                page = page.where((incidents.c.opened_at_us < cursor[0])
                                  | ((incidents.c.opened_at_us == cursor[0]) & (incidents.c.id < cursor[1])))
            rows = connection.execute(page.limit(limit if not matchers else 200)).all()
            if not rows:
                return found, None
            matching = _with_matching_member(connection, [row.id for row in rows], matchers) if matchers else set()
            for row in rows:
                scanned += 1
                cursor = (row.opened_at_us, row.id)
                if matchers and row.id not in matching:
                    continue
                found.append(_api_view(_summary(row), from_us(row.opened_at_us), sla))
                if len(found) == limit:
                    break
    return found, _cursor(*cursor)


def _is_utf8(text: str) -> bool:
    """Whether a header's text was UTF-8 (aiohttp keeps the bytes that were not as lone surrogates)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _problem_detail(problem: Problem) -> dict:
    return {**problem_summary(problem),
            "incident_urls": [f"/api/v1/incidents/{incident_id}" for incident_id in problem.incident_ids]}


async def _wait_for_result(log: ActionLog, number: int, seconds: float) -> ActionResult | None:
    """The action's result once the engine has saved it, or None after `seconds`."""
    deadline, delay = time.monotonic() + seconds, FIRST_POLL_SECONDS
    while True:
        result = await asyncio.to_thread(log.result, number)
        if result is not None or time.monotonic() >= deadline:
            return result
        await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, MAX_POLL_SECONDS)


def _action_url(number: int) -> str:
    return f"/api/v1/actions/{number}"


class ActionSubmitter:
    """An operator action appended to the engine's log, answered with its result once the engine
    applied it (a bounded wait) or 202 with its address: for the incident actions and inbound changes."""

    def __init__(self, writer: GroupCommitWriter, log: ActionLog, action_wait: float, result_view, recorder=None):
        self._writer, self._log, self._wait, self._view, self._recorder = writer, log, action_wait, result_view, recorder

    async def __call__(self, incident_id: str, action: str, fields: dict, actor: str) -> tuple[int, dict]:
        """(HTTP status, JSON document)."""
        received_at = datetime.now(timezone.utc)
        logged = msgspec.json.encode(LoggedAction(incident_id=incident_id, action=action, body=fields, actor=actor,
                                                  requested_at=received_at))
        try:
            number = await self._writer.append(RawNotification(Source.ACTION, received_at, logged))
        except StoreUnavailable:
            return 503, {"error": "the store did not save the action; nothing changed; retry later", "details": []}
        if self._recorder is not None:
            self._recorder.write(received_at, Source.ACTION, logged)
        try:
            result = await _wait_for_result(self._log, number, self._wait)
        except SQLAlchemyError:  # a read failed: the action is in the log all the same
            result = None
        if result is None:
            return 202, {"status": "accepted", "action": number, "result_url": _action_url(number)}
        return result.status, await asyncio.to_thread(self._view, result)


def make_incident_handlers(database, writer: GroupCommitWriter, sla: SlaConfig, action_wait: float,
                           recorder=None, destination_types: dict[str, str] | None = None
                           ) -> tuple[list[tuple[str, str, object]], ActionSubmitter]:
    """`recorder`: `serve --record`'s, which records each action appended, as ingest does alerts;
    `destination_types`: forwarding destination -> type, for the tickets an incident shows. Returns
    the routes and what submits an action (inbound changes submit theirs the same way)."""
    repository, log = IncidentRepository(database), ActionLog(database)
    destination_types = destination_types or {}

    def linked(incident_id: str) -> list[dict]:
        """The incident's tickets, with each destination's type (reads the store)."""
        return [{"destination": t["destination"], "type": destination_types.get(t["destination"], ""), "key": t["key"],
                 "url": t["url"]} for t in tickets(database, incident_id)]

    def result_view(result: ActionResult) -> dict:
        """The action's answer: the incident as GET shows it once applied (reads the store), else the error."""
        if result.outcome is ActionOutcome.APPLIED:
            document = result.result
            return {**_api_view(document, msgspec.convert(document["opened_at"], datetime), sla),
                    "tickets": linked(document["id"])}
        return result.result

    async def list_incidents(request: web.Request) -> web.Response:
        errors, query, matchers, limit, cursor = _list_query(request)
        if errors:
            return error_response(400, "invalid query", errors)
        found, next_cursor = await asyncio.to_thread(_list, database, query, matchers, limit, cursor, sla)
        return revalidated_json_response(request, {"incidents": found, "next": next_cursor})

    async def count_incidents(request: web.Request) -> web.Response:
        errors: list[FieldError] = []
        conditions = _filters(request, errors, by_state=False)
        matchers = matchers_param(request, errors)
        if errors:
            return error_response(400, "invalid query", errors)
        return revalidated_json_response(request, await asyncio.to_thread(_counts, database, conditions, matchers))

    async def get_incident(request: web.Request) -> web.Response:
        errors: list[FieldError] = []
        members_limit, timeline_limit = (limit_param(request, None, MAX_DETAIL_LIMIT, errors, name, minimum=0)
                                         for name in ("members_limit", "timeline_limit"))
        if errors:
            return error_response(400, "invalid query", errors)
        page = await asyncio.to_thread(repository.read_page, request.match_info["id"], members_limit, timeline_limit)
        if page is None:
            return error_response(404, f"no incident {request.match_info['id']!r}")
        return revalidated_json_response(request, {**_api_view(incident_detail(page), page.incident.opened_at, sla),
                                                   "tickets": await asyncio.to_thread(linked, page.incident.id)})

    async def list_problems(request: web.Request) -> web.Response:
        errors: list[FieldError] = []
        states = _choices(request, "state", [s.value for s in ProblemState], errors)
        limit = limit_param(request, 100, MAX_LIMIT, errors)
        cursor = _cursor_param(request, errors)
        if errors:
            return error_response(400, "invalid query", errors)
        found = await asyncio.to_thread(repository.latest_problems, states, limit, cursor)
        last = found[-1] if len(found) == limit else None
        return revalidated_json_response(request, {
            "problems": [problem_summary(p) for p in found],
            "next": _cursor(to_us(last.last_seen), last.id) if last is not None else None})

    async def get_problem(request: web.Request) -> web.Response:
        found = await asyncio.to_thread(repository.problem, request.match_info["id"])
        if found is None:
            return error_response(404, f"no problem {request.match_info['id']!r}")
        return json_response(_problem_detail(found))

    async def get_action(request: web.Request) -> web.Response:
        text = request.match_info["id"]
        number = int(text) if text.isascii() and text.isdigit() and len(text) < 19 else None  # the store's ids
        result = await asyncio.to_thread(log.result, number) if number is not None else None
        if result is not None:
            return json_response({"action": number, "status": result.outcome.value, "http_status": result.status,
                                  "result": await asyncio.to_thread(result_view, result)})
        if number is None or not await asyncio.to_thread(log.is_action, number):
            return error_response(404, f"no action {text!r}")
        return json_response({"action": number, "status": "pending"})

    submit = ActionSubmitter(writer, log, action_wait, result_view, recorder)

    def act(action: str, body_type: type[ActionBody]):
        async def handle(request: web.Request) -> web.Response:
            body = decode_action(body_type, await read_body(request))
            if isinstance(body, FieldError):
                return error_response(400, "invalid body", [body])
            actor = body.actor or request.headers.get("X-Actor") or "api"
            if len(actor) > MAX_NAME:
                return error_response(400, "invalid header", [FieldError("X-Actor", f"at most {MAX_NAME} characters")])
            if not actor.isascii() and not _is_utf8(actor):
                return error_response(400, "invalid header", [FieldError("X-Actor", "not UTF-8 text")])
            fields = {name: value for name, value in msgspec.to_builtins(body).items() if name != "actor"}
            status, document = await submit(request.match_info["id"], action, fields, actor)
            return json_response(document, status=status)
        return handle

    # The counts before `{id}`: routes match in the order they were added.
    return ([("GET", "/api/v1/incidents", list_incidents), ("GET", "/api/v1/incidents/counts", count_incidents),
             ("GET", "/api/v1/incidents/{id}", get_incident),
            ("GET", "/api/v1/problems", list_problems), ("GET", "/api/v1/problems/{id}", get_problem),
            ("GET", "/api/v1/actions/{id}", get_action),
            *[("POST", f"/api/v1/incidents/{{id}}/{action}", act(action, body_type))
              for action, (_, body_type) in ACTIONS.items()]], submit)
