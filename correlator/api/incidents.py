"""Incidents and problems over REST: list and read from the store; actions go to the engine."""

from __future__ import annotations

import asyncio
import base64
from datetime import datetime

import msgspec
from aiohttp import web
from sqlalchemy import select

from correlator.config import SlaConfig
from correlator.domain import (Category, FieldError, Incident, IncidentState, InvalidAction, Priority, Problem,
                               TransitionError, UnknownIncident)
from correlator.engine.views import incident_detail, problem_summary
from correlator.engine_service import ActionNotSaved, EngineService, StepFailed
from correlator.api.actions import ACTIONS, MAX_NAME, ActionBody, decode_action
from correlator.http_errors import error_response, json_response
from correlator.api.query import limit_param, matchers_param
from correlator.units import rfc3339
from correlator.rules.matchers import matches_all
from correlator.store.schema import from_us, incident_members, incidents, to_us

MAX_LIMIT = 500
MAX_SCANNED = 5000  # incidents examined per page when label matchers filter on members


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


def _list_query(request: web.Request):
    errors: list[FieldError] = []
    query = select(incidents).order_by(incidents.c.opened_at_us.desc(), incidents.c.id.desc())
    states = _choices(request, "status", [s.value for s in IncidentState], errors)
    if states:
        query = query.where(incidents.c.state.in_(states))
    priorities = _choices(request, "priority", [p.value for p in Priority], errors)
    if priorities:
        query = query.where(incidents.c.priority.in_(priorities))
    categories = _choices(request, "category", [c.value for c in Category], errors)
    if categories:
        query = query.where(incidents.c.category.in_(categories))
    if request.query.get("team"):
        query = query.where(incidents.c.team == request.query["team"])
    for name, column, compare in (("since", incidents.c.opened_at_us, "__ge__"),
                                  ("until", incidents.c.opened_at_us, "__lt__")):
        if name in request.query:
            try:
                query = query.where(getattr(column, compare)(_parse_time(request.query[name])))
            except msgspec.ValidationError:
                errors.append(FieldError(name, "expected an RFC 3339 timestamp"))
    matchers = matchers_param(request, errors)
    limit = limit_param(request, 50, MAX_LIMIT, errors)
    cursor = None
    if request.query.get("cursor"):
        try:
            opened, _, incident_id = base64.urlsafe_b64decode(request.query["cursor"] + "==").decode().partition("|")
            cursor = (int(opened), incident_id)
            if not -2**63 <= cursor[0] < 2**63:  # what the store's integer columns hold
                raise ValueError(opened)
        except (ValueError, UnicodeDecodeError):
            errors.append(FieldError("cursor", "not a cursor returned by this API"))
    return errors, query, matchers, limit, cursor


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
            for row in rows:
                scanned += 1
                cursor = (row.opened_at_us, row.id)
                if matchers and not any(
                        matches_all(matchers, msgspec.json.decode(document)["labels"])
                        for document in connection.execute(select(incident_members.c.document).where(
                            incident_members.c.incident_id == row.id)).scalars()):
                    continue
                found.append(_api_view(_summary(row), from_us(row.opened_at_us), sla))
                if len(found) == limit:
                    break
    return found, base64.urlsafe_b64encode(f"{cursor[0]}|{cursor[1]}".encode()).decode().rstrip("=")


def _problem_detail(problem: Problem) -> dict:
    return {**problem_summary(problem),
            "incident_urls": [f"/api/v1/incidents/{incident_id}" for incident_id in problem.incident_ids]}


def make_incident_handlers(service: EngineService, database, sla: SlaConfig) -> list[tuple[str, str, object]]:
    def detail(incident: Incident) -> dict:
        return _api_view(incident_detail(incident), incident.opened_at, sla)

    async def list_incidents(request: web.Request) -> web.Response:
        errors, query, matchers, limit, cursor = _list_query(request)
        if errors:
            return error_response(400, "invalid query", errors)
        found, next_cursor = await asyncio.to_thread(_list, database, query, matchers, limit, cursor, sla)
        return json_response({"incidents": found, "next": next_cursor})

    async def get_incident(request: web.Request) -> web.Response:
        incident = await asyncio.to_thread(service.repository.get, request.match_info["id"])
        if incident is None:
            return error_response(404, f"no incident {request.match_info['id']!r}")
        return json_response(detail(incident))

    async def list_problems(_request: web.Request) -> web.Response:
        found = await asyncio.to_thread(service.repository.load_problems)
        return json_response({"problems": [problem_summary(p) for p in found]})

    async def get_problem(request: web.Request) -> web.Response:
        found = await asyncio.to_thread(service.repository.load_problems, request.match_info["id"])
        if not found:
            return error_response(404, f"no problem {request.match_info['id']!r}")
        return json_response(_problem_detail(found[0]))

    def act(method: str, body_type: type[ActionBody]):
        async def handle(request: web.Request) -> web.Response:
            incident_id = request.match_info["id"]
            body = decode_action(body_type, await request.read())
            if isinstance(body, FieldError):
                return error_response(400, "invalid body", [body])
            actor = body.actor or request.headers.get("X-Actor") or "api"
            if len(actor) > MAX_NAME:
                return error_response(400, "invalid header", [FieldError("X-Actor", f"at most {MAX_NAME} characters")])
            fields = {name: getattr(body, name) for name in body.__struct_fields__ if name != "actor"}
            try:
                await service.apply(lambda engine, now: getattr(engine, method)(incident_id, actor, now, **fields))
            except UnknownIncident as error:
                stored = await asyncio.to_thread(service.repository.get, incident_id)
                if stored is not None and stored.state is IncidentState.CLOSED:  # out of the engine, not unknown
                    return error_response(409, f"{incident_id} is closed: a closed incident is final and changes "
                                               "no more (a recurrence opens a new incident)")
                return error_response(404, str(error))
            except TransitionError as error:
                return error_response(409, str(error))
            except InvalidAction as error:
                return error_response(400, "invalid action", [FieldError(error.field, error.reason)])
            except (ActionNotSaved, StepFailed):  # logged by the engine service
                return error_response(503, "the store did not save the action; nothing changed; retry later")
            return json_response(detail(await asyncio.to_thread(service.repository.get, incident_id)))
        return handle

    return [("GET", "/api/v1/incidents", list_incidents), ("GET", "/api/v1/incidents/{id}", get_incident),
            ("GET", "/api/v1/problems", list_problems), ("GET", "/api/v1/problems/{id}", get_problem),
            *[("POST", f"/api/v1/incidents/{{id}}/{action}", act(method, body_type))
              for action, (method, body_type) in ACTIONS.items()]]

