"""Opsgenie: an incident as an alert through the Alert API, created with `alias` = the incident's
idempotency key, then noted, acknowledged and closed by that alias.

Opsgenie keeps one open alert per alias (creating it again raises its count), so a create retried
after an ambiguous failure makes no duplicate, and a create after a close opens a new alert, which
is what a reopened incident wants. Every call is answered 202 and processed later: the adapter asks
`GET /v2/alerts/requests/{requestId}` how it went before it calls the delivery done, so an
acknowledge never overtakes the create it depends on. A request still processing is retried later
by asking about the same request again, not by sending it twice (while this process lives)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from typing import Annotated, Mapping
from urllib.parse import quote

import aiohttp
import msgspec
from msgspec import Meta

from correlator.forward.contract import (ChangeKind, Delivery, IncidentChange, Outcome, OutcomeKind, RemoteRef,
                                         outcome_of_response, read_options, retry_after)
from correlator.forward.templates import DEFAULT_BODY, DEFAULT_TITLE, Template

TYPE = "opsgenie"

# Opsgenie's field limits: a longer value is refused (422) or cut by Opsgenie
MESSAGE_LIMIT, ALIAS_LIMIT, DESCRIPTION_LIMIT, NOTE_LIMIT = 130, 512, 15000, 25000
SIGNATURE_ROOM = 64  # of NOTE_LIMIT, for the note's last line: the outbox row and a digest of the note
RECENT_NOTES = 50  # the latest notes a retry reads for the one an earlier attempt may have added
TAG_LIMIT, TAGS_LIMIT, USER_LIMIT, SOURCE_LIMIT = 50, 20, 100, 100
DEFAULT_NOTE = """\
{{ kind }} by {{ actor }}{% if "text" in detail %}: {{ detail.text }}{% endif %}

{% for name, value in detail | dictsort if name != "text" %}
{{ name }}: {% if value is mapping %}{{ value["from"] }} -> {{ value["to"] }}{% else %}{{ value }}{% endif %}

{% endfor %}"""
MAX_TRACKED = 10_000  # requests awaiting their result, kept per delivery until it is done


class Responder(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    type: Annotated[str, Meta(pattern="^(team|user|escalation|schedule)$")]
    name: str | None = None  # or id; Opsgenie takes either (users by username)
    id: str | None = None
    username: str | None = None


class OpsgenieOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    api_key: Annotated[str, Meta(min_length=1)]  # an API integration's key, sent as `GenieKey <key>`
    api_url: str = "https://api.opsgenie.com"  # EU accounts: https://api.eu.opsgenie.com
    source: Annotated[str, Meta(max_length=SOURCE_LIMIT)] = "correlator"
    responders: list[Responder] = msgspec.field(default_factory=list)  # else the integration's team
    tags: list[Annotated[str, Meta(min_length=1, max_length=TAG_LIMIT)]] = msgspec.field(default_factory=list)
    title: str = DEFAULT_TITLE  # the alert message (cut at 130 characters)
    body: str = DEFAULT_BODY  # the alert description
    note: str = DEFAULT_NOTE  # the note an update, comment, assignment or escalation adds
    request_checks: Annotated[int, Meta(ge=1, le=20)] = 5  # asks about a request's result per attempt
    request_check_interval_seconds: Annotated[float, Meta(ge=0)] = 0.2
    timeout_seconds: Annotated[float, Meta(gt=0)] = 10.0


@dataclass(frozen=True)
class Call:
    what: str  # for error messages: "create", "note", ...
    method: str
    path: str
    body: dict


class Opsgenie:
    def __init__(self, name: str, options: OpsgenieOptions, http: aiohttp.ClientSession):
        self.name, self._options, self._http = name, options, http
        self._title = Template(options.title, name, "title")
        self._body = Template(options.body, name, "body")
        self._note = Template(options.note, name, "note")
        self._api = options.api_url.rstrip("/")
        self._headers = {"Authorization": f"GenieKey {options.api_key}"}
        self._timeout = aiohttp.ClientTimeout(total=options.timeout_seconds)
        # outbox id -> call index -> requestId awaiting its result, or None once it succeeded
        self._requests: dict[int, dict[int, str | None]] = {}

    async def deliver(self, delivery: Delivery) -> Outcome:
        kind, alias = delivery.change.kind, self._alias(delivery)
        if delivery.remote is None and kind in ENDING:
            return Outcome.skipped("no Opsgenie alert to close")
        calls = self._calls(delivery, alias)
        if not calls:
            return Outcome.skipped(f"nothing to tell Opsgenie about {kind.value}")
        progress = self._requests.setdefault(delivery.outbox_id, {})
        alert_id = delivery.remote.extra.get("alert_id", "") if delivery.remote else ""
        for index, call in enumerate(calls):
            if index in progress and progress[index] is None:
                continue  # done by an earlier attempt
            request_id = progress.get(index)
            if request_id is None and call.what == "note" and delivery.attempt > 1:
                # an earlier attempt (before a restart, or whose answer was lost) may have added it
                noted = await self._noted(alias, call.body["note"])
                if isinstance(noted, Outcome):
                    return noted
                if noted:
                    progress[index] = None
                    continue
            if request_id is None:
                sent = await self._send(call)
                if isinstance(sent, Outcome):
                    return self._finished(delivery, sent)
                request_id = progress[index] = sent
                self._forget_oldest()
            result = await self._result(request_id)
            if result is None:
                return Outcome(OutcomeKind.RETRY,
                               f"Opsgenie has not processed the {call.what} request {request_id} yet")
            if isinstance(result, Outcome):
                if result.kind is OutcomeKind.DEAD:
                    result = Outcome(OutcomeKind.DEAD, f"Opsgenie {call.what}: {result.reason}")
                    return self._finished(delivery, result)
                return result  # retried: ask about the same request next time
            progress[index] = None
            alert_id = result.get("alertId") or alert_id
        remote = RemoteRef(alias, extra={"alert_id": alert_id} if alert_id else {})
        return self._finished(delivery, Outcome.delivered(remote))

    def _finished(self, delivery: Delivery, outcome: Outcome) -> Outcome:
        if outcome.kind is not OutcomeKind.RETRY:
            self._requests.pop(delivery.outbox_id, None)
        return outcome

    def _forget_oldest(self) -> None:
        while len(self._requests) > MAX_TRACKED:
            del self._requests[next(iter(self._requests))]

    @staticmethod
    def _alias(delivery: Delivery) -> str:
        if delivery.remote is not None:
            return delivery.remote.key
        key = delivery.idempotency_key
        return key if len(key) <= ALIAS_LIMIT else hashlib.sha256(key.encode()).hexdigest()

    async def _noted(self, alias: str, note: str) -> bool | Outcome:
        """Whether the alert's latest notes hold `note`, by its last line (the outbox row and a
        digest of the note); an alert Opsgenie does not know has none."""
        signature = note.rpartition("\n")[2]
        async with self._http.get(f"{self._api}/v2/alerts/{quote(alias, safe='')}/notes", headers=self._headers,
                                  params={"identifierType": "alias", "order": "desc", "limit": str(RECENT_NOTES)},
                                  timeout=self._timeout) as response:
            status, headers, text = response.status, response.headers, await response.text()
        if status == 404:
            return False
        failed = outcome_of_response(status, headers, text, "Opsgenie list notes")
        if failed is not None:
            return self._rate_limited(failed, headers) if status == 429 else failed
        notes = _json_object(text).get("data")
        return any(isinstance(found, dict) and str(found.get("note", "")).endswith(signature)
                   for found in notes or [])

    def _calls(self, delivery: Delivery, alias: str) -> list[Call]:
        change, create = delivery.change, delivery.remote is None
        kind = change.kind
        target = f"/v2/alerts/{quote(alias, safe='')}"
        who = {"user": change.actor[:USER_LIMIT], "source": self._options.source}
        if create or kind in (ChangeKind.OPENED, ChangeKind.REOPENED):
            return [Call("create", "POST", "/v2/alerts", self._alert(change, alias))]
        if kind is ChangeKind.ACKNOWLEDGED:
            return [Call("acknowledge", "POST", f"{target}/acknowledge", who)]
        if kind in (ChangeKind.RESOLVED, ChangeKind.MERGED):
            return [Call("close", "POST", f"{target}/close", who | {"note": self._note.render(change)[:NOTE_LIMIT]})]
        if kind in NOTED:
            text = self._note.render(change)[:NOTE_LIMIT - SIGNATURE_ROOM]
            signed = f"{text}\n({delivery.signature(text)})"
            calls = [Call("note", "POST", f"{target}/notes", who | {"note": signed})]
            if "priority" in change.detail:
                calls.append(Call("priority", "PUT", f"{target}/priority", {"priority": change.incident.priority}))
            return calls
        return []  # closed: the close on resolve ended the alert

    def _alert(self, change: IncidentChange, alias: str) -> dict:
        incident = change.incident
        tags = [*self._options.tags, incident.priority, incident.category or "",
                f"team:{incident.team}" if incident.team else "", *(f"service:{s}" for s in incident.services)]
        details = {
            "priority": f"{incident.priority} (impact {incident.impact} x urgency {incident.urgency})",
            "category": incident.category or "unclassified",
            "service_area": incident.service_area or "-",
            "services": ", ".join(incident.services) or "-",
            "team": incident.team or "-",
            "tier": str(incident.tier),
            "alerts": str(incident.alert_count),
            "incident": incident.id,
        }
        if incident.url:
            details["link"] = incident.url
        alert = {
            "message": self._title.render(change)[:MESSAGE_LIMIT],
            "alias": alias,
            "description": self._body.render(change)[:DESCRIPTION_LIMIT],
            "priority": incident.priority,
            "tags": list(dict.fromkeys(tag[:TAG_LIMIT] for tag in tags if tag))[:TAGS_LIMIT],
            "details": details,
            "source": self._options.source,
            "user": change.actor[:USER_LIMIT],
        }
        if incident.services:
            alert["entity"] = incident.services[0]
        if self._options.responders:
            alert["responders"] = msgspec.to_builtins(self._options.responders)
        return alert

    async def _send(self, call: Call) -> str | Outcome:
        """The request id Opsgenie answered 202 with, or the outcome of any other answer."""
        params = {} if call.path == "/v2/alerts" else {"identifierType": "alias"}
        async with self._http.request(call.method, self._api + call.path, params=params, json=call.body,
                                      headers=self._headers, timeout=self._timeout) as response:
            status, headers, text = response.status, response.headers, await response.text()
        failed = outcome_of_response(status, headers, text, f"Opsgenie {call.what}")
        if failed is not None:
            return self._rate_limited(failed, headers) if status == 429 else failed
        request_id = _json_object(text).get("requestId")
        if not isinstance(request_id, str) or not request_id:
            # accepted without saying which request: nothing to check, so send it again (alias-safe)
            return Outcome(OutcomeKind.RETRY, f"Opsgenie {call.what}: HTTP {status} without a requestId: {text[:200]}")
        return request_id

    async def _result(self, request_id: str) -> dict | Outcome | None:
        """The processed request's data (alertId, alias...), an outcome if it failed or could not be
        asked about, None while Opsgenie answers 404 "might not be processed, yet"."""
        for check in range(self._options.request_checks):
            if check:
                await asyncio.sleep(self._options.request_check_interval_seconds)
            async with self._http.get(f"{self._api}/v2/alerts/requests/{quote(request_id, safe='')}",
                                      headers=self._headers, timeout=self._timeout) as response:
                status, headers, text = response.status, response.headers, await response.text()
            if status == 404:
                continue
            failed = outcome_of_response(status, headers, text, "Opsgenie request status")
            if failed is not None:
                # asking failed, not the request: ask again next attempt
                return self._rate_limited(failed, headers) if status == 429 else \
                    Outcome(OutcomeKind.RETRY, failed.reason, retry_after=failed.retry_after)
            data = _json_object(text).get("data") or {}
            if data.get("isSuccess"):
                return data
            # processed and refused ("Alert does not exist", ...): sending it again fails the same way
            return Outcome(OutcomeKind.DEAD, f"request {request_id} failed: {data.get('status') or 'no status'}")
        return None

    @staticmethod
    def _rate_limited(failed: Outcome, headers: Mapping[str, str]) -> Outcome:
        # Opsgenie throttles with X-RateLimit-State: THROTTLED and the bucket's period, no Retry-After
        wait = retry_after(headers)
        if wait is None:
            try:
                wait = float(headers.get("X-RateLimit-Period-In-Sec", ""))
            except ValueError:
                wait = None
        return Outcome(OutcomeKind.RETRY, failed.reason, retry_after=wait)

    async def close(self) -> None:
        pass  # the HTTP session is the worker's


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


ENDING = frozenset({ChangeKind.RESOLVED, ChangeKind.CLOSED, ChangeKind.MERGED})
NOTED = frozenset({ChangeKind.UPDATED, ChangeKind.COMMENTED, ChangeKind.ASSIGNED, ChangeKind.ESCALATED})


def build(name: str, options: Mapping[str, object], http: aiohttp.ClientSession) -> Opsgenie:
    return Opsgenie(name, read_options(OpsgenieOptions, name, options), http)
