"""`POST /api/v1/inbound/{destination}`: changes made in a ticketing or paging system, applied as the
operator actions of the API with the destination as actor (so the outbox does not send them back to
it). The destination's adapter authenticates the request (its signature or token) and reads its
changes; this route finds each change's incident, skips changes already applied and submits the
others as `POST /api/v1/incidents/{id}/{action}` would."""

from __future__ import annotations

import asyncio
from typing import Mapping

import msgspec
from aiohttp import web

from correlator.domain import FieldError
from correlator.domain.actions import ACTIONS, decode_action
from correlator.forward.contract import InboundChange, InboundRejected
from correlator.forward.inbound import InboundLedger
from correlator.http_body import read_body
from correlator.http_errors import error_response, json_response


def make_inbound_handler(database, destinations: Mapping[str, object], submit):
    """`destinations`: name -> built adapter (those without `parse_inbound` answer 404); `submit`:
    the API's ActionSubmitter."""
    ledger = InboundLedger(database)

    async def apply(name: str, index: int, change: InboundChange) -> dict | None:
        """The change's result, or None when the store did not take its action."""
        outcome = {"event_id": change.event_id}
        if await asyncio.to_thread(ledger.seen, name, change.event_id):
            return {**outcome, "status": "duplicate"}
        known = ACTIONS.get(change.action)
        if known is None:
            return {**outcome, "status": "refused", "http_status": 400,
                    "error": FieldError(f"events[{index}].action", f"unknown action {change.action!r}").as_json()}
        body = decode_action(known[1], msgspec.json.encode(change.body))
        if isinstance(body, FieldError):
            return {**outcome, "status": "refused", "http_status": 400, "error": body.as_json()}
        incident_id = await asyncio.to_thread(ledger.incident_of, name, change)
        if incident_id is None:
            return {**outcome, "status": "refused", "http_status": 404, "error": FieldError(
                f"events[{index}].remote_key", f"no incident linked to {change.remote_key!r}").as_json()}
        fields = {k: v for k, v in msgspec.to_builtins(body).items() if k != "actor"}
        status, document = await submit(incident_id, change.action, fields, name)
        if status == 503:
            return None
        await asyncio.to_thread(ledger.record, name, change.event_id)
        state = "applied" if status < 300 else "refused"
        return {**outcome, "status": "accepted" if status == 202 else state, "http_status": status,
                "incident_id": incident_id, **({"error": document} if status >= 400 else {})}

    async def handle(request: web.Request) -> web.Response:
        name = request.match_info["destination"]
        parse = getattr(destinations.get(name), "parse_inbound", None)
        if parse is None:
            return error_response(404, f"no destination {name!r} accepting inbound changes")
        body = await read_body(request)
        try:
            changes = parse(request.headers, body)
        except InboundRejected as rejected:
            return error_response(rejected.status, "inbound request rejected",
                                  [FieldError(rejected.field, rejected.reason)])
        results = []
        for index, change in enumerate(changes):
            result = await apply(name, index, change)
            if result is None:  # the sender retries the whole request; those applied are duplicates then
                return error_response(503, "the store did not save a change; retry later")
            results.append(result)
        return json_response({"results": results})

    return handle
