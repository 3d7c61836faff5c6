"""ServiceNow: one incident record per correlator incident, through the Table API.

The Table API has no server-side deduplication, so the record carries our idempotency key in
`correlation_id` and every first insert looks it up first (`sysparm_query=correlation_id=<key>`):
a create whose answer was lost (a timeout after the instance applied it) is found and reused, not
made twice. The lookup reads the database the insert wrote, so there is no search lag to wait out.
Updates are PATCHes of the record by sys_id: journal work notes, and the state for resolve (6),
close (7) and reopen (2, In Progress), with the close code and notes the base data policy demands.

Changes made in ServiceNow come back through `parse_inbound`, called by the inbound route with what
a business rule (docs/destinations/servicenow.md) posts: the record's state and newest journal entry."""

from __future__ import annotations

import base64
import hmac
from typing import Annotated, Mapping

import aiohttp
import msgspec
from msgspec import Meta

from correlator.domain import from_msgspec
from correlator.domain.classification import Level
from correlator.forward.contract import (ChangeKind, Delivery, DestinationError, IncidentChange, InboundChange,
                                         InboundRejected, Outcome, OutcomeKind, RemoteRef, outcome_of_response,
                                         read_options)
from correlator.forward.templates import DEFAULT_BODY, DEFAULT_TITLE, Template

TYPE = "servicenow"

# incident.state values of the base system
STATE_NEW, STATE_IN_PROGRESS, STATE_RESOLVED, STATE_CLOSED = "1", "2", "6", "7"
ENDED_STATES = frozenset({STATE_RESOLVED, STATE_CLOSED})
# Starts every work note we write, so the business rule's echo of it is not taken for a person's note.
WORK_NOTE_MARKER = "[correlator]"
SHORT_DESCRIPTION_LENGTH = 160  # the base system's incident.short_description max length
DEFAULT_CLOSE_NOTES = "{{ kind | capitalize }} in correlator by {{ actor }}"\
    "{% if detail.get('reason') %}: {{ detail.reason }}{% endif %}"\
    "{% if detail.get('into') %}: merged into incident {{ detail.into }}{% endif %}"\
    "{% if incident.url %}\n{{ incident.url }}{% endif %}"

ItilLevel = Annotated[int, Meta(ge=1, le=3)]  # 1 High, 2 Medium, 3 Low
DEFAULT_LEVELS = {Level.HIGH: 1, Level.MEDIUM: 2, Level.LOW: 3}


class ServiceNowOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    instance_url: Annotated[str, Meta(pattern=r"^https?://[^/\s]+")]  # https://example.service-now.com
    username: str | None = None  # basic auth, with password
    password: str | None = None
    oauth_token: str | None = None  # or an OAuth bearer token
    table: Annotated[str, Meta(pattern=r"^[a-z0-9_]+$")] = "incident"
    assignment_group: str | None = None  # sys_id or name of a sys_user_group
    caller_id: str | None = None  # sys_id or user name of the caller
    category: str | None = None  # an incident.category choice, e.g. "software"
    close_code: Annotated[str, Meta(min_length=1)] = "Solution provided"
    impact: dict[str, ItilLevel] = msgspec.field(default_factory=dict)  # ours -> ServiceNow's, over the default
    urgency: dict[str, ItilLevel] = msgspec.field(default_factory=dict)
    inbound_token: str | None = None  # the bearer token the business rule sends; inbound refused without one
    title_template: str = DEFAULT_TITLE
    body_template: str = DEFAULT_BODY
    close_notes_template: str = DEFAULT_CLOSE_NOTES
    timeout_seconds: Annotated[float, Meta(gt=0)] = 30.0


class InboundRecord(msgspec.Struct):
    """What the business rule posts (unknown fields are ignored, so a flow may send more)."""

    sys_id: Annotated[str, Meta(min_length=1)]
    sys_mod_count: int  # the record's update count: with the field, a stable id for this change
    number: str = ""
    correlation_id: str = ""
    state: str = ""
    previous_state: str = ""
    work_notes: str = ""  # the newest work note's text, when this update added one
    comments: str = ""  # the newest additional comment's text, when this update added one
    close_notes: str = ""
    updated_by: str = ""


class ServiceNowDestination:
    def __init__(self, name: str, options: ServiceNowOptions, http: aiohttp.ClientSession):
        self.name = name
        self._options = options
        self._http = http
        self._records = f"{options.instance_url.rstrip('/')}/api/now/table/{options.table}"
        self._journal = f"{options.instance_url.rstrip('/')}/api/now/table/sys_journal_field"
        self._title = Template(options.title_template, name, "title_template")
        self._body = Template(options.body_template, name, "body_template")
        self._close_notes = Template(options.close_notes_template, name, "close_notes_template")
        self._impact = {**DEFAULT_LEVELS, **options.impact}
        self._urgency = {**DEFAULT_LEVELS, **options.urgency}
        if options.oauth_token:
            authorization = f"Bearer {options.oauth_token}"
        else:
            credentials = f"{options.username}:{options.password}".encode()
            authorization = f"Basic {base64.b64encode(credentials).decode()}"
        self._headers = {"Authorization": authorization, "Accept": "application/json",
                         "Content-Type": "application/json"}
        self._timeout = aiohttp.ClientTimeout(total=options.timeout_seconds)

    async def close(self) -> None:
        pass  # the session is shared and closed by its owner

    async def deliver(self, delivery: Delivery) -> Outcome:
        change = delivery.change
        remote = delivery.remote
        if remote is None:
            # Before every first insert, not only an ambiguous one: the record may exist from a create
            # whose answer was lost before the worker could note it in flight (a crash mid-call).
            found = await self._request("GET", self._records, "look up by correlation_id", params={
                "sysparm_query": f"correlation_id={delivery.idempotency_key}^ORDERBYsys_created_on",
                "sysparm_fields": "sys_id,number,state", "sysparm_limit": "1"})
            if isinstance(found, Outcome):
                return found
            records = found.get("result") or []
            if records:
                remote = self._remote_ref(records[0])
            elif change.kind in (ChangeKind.RESOLVED, ChangeKind.CLOSED):
                return Outcome.skipped(f"{change.kind.value} of an incident never sent to {self.name}")
            else:
                created = await self._request("POST", self._records, "create incident",
                                              json=self._create_fields(change, delivery.idempotency_key))
                if isinstance(created, Outcome):
                    return created
                remote = self._remote_ref(created["result"])
            if change.kind is ChangeKind.OPENED:
                return Outcome.delivered(remote)
        # An incident that started matching a route after it opened was just created from the
        # snapshot; the change that brought it here is still written on the record.
        fields = self._update_fields(delivery)
        if delivery.attempt > 1:  # an earlier attempt's answer may have been lost after the instance applied it
            noted = await self._noted(remote.key, fields["work_notes"])
            if isinstance(noted, Outcome):
                return noted
            if noted:  # the work note and the fields beside it are one update: all of it is there
                return Outcome.delivered(remote)
        updated = await self._request("PATCH", f"{self._records}/{remote.key}", f"{change.kind.value} incident",
                                      json=fields)
        return updated if isinstance(updated, Outcome) else Outcome.delivered(remote)

    async def _noted(self, sys_id: str, note: str) -> bool | Outcome:
        """Whether the record's journal holds `note` (by its last words, which name the outbox row
        and the update's digest). A journal the integration user may not read (ACL) says nothing:
        False, and the update is written again, as without this look."""
        signature = note[note.rindex("(change "):]
        found = await self._request("GET", self._journal, "look up the work note", params={
            "sysparm_query": f"element_id={sys_id}^element=work_notes^valueLIKE{signature}",
            "sysparm_fields": "sys_id", "sysparm_limit": "1"})
        if isinstance(found, Outcome):
            return found if found.kind is OutcomeKind.RETRY else False
        return bool(found.get("result"))

    async def _request(self, method: str, url: str, what: str, **kwargs) -> dict | Outcome:
        """The answer's JSON for a 2xx, else the outcome its status means (ServiceNow's error body kept)."""
        async with self._http.request(method, url, headers=self._headers, timeout=self._timeout, **kwargs) as response:
            text = await response.text()
            outcome = outcome_of_response(response.status, response.headers, text, f"{self.name}: {what}")
            if outcome is not None:
                return outcome
            try:
                answer = msgspec.json.decode(text) if text else {}
            except msgspec.DecodeError:
                answer = None
            if not isinstance(answer, dict):  # a hibernating instance answers 200 with its HTML wake-up page
                return Outcome(OutcomeKind.RETRY, f"{self.name}: {what}: HTTP {response.status} not JSON: {text[:200]}")
            return answer

    def _remote_ref(self, record: dict) -> RemoteRef:
        sys_id = record["sys_id"]
        url = f"{self._options.instance_url.rstrip('/')}/{self._options.table}.do?sys_id={sys_id}"
        return RemoteRef(sys_id, url=url, extra={"number": record.get("number", "")})

    def _create_fields(self, change: IncidentChange, key: str) -> dict[str, str]:
        options = self._options
        fields = {**self._described(change), "correlation_id": key, "correlation_display": "correlator"}
        for field, value in (("assignment_group", options.assignment_group), ("caller_id", options.caller_id),
                             ("category", options.category)):
            if value:
                fields[field] = value
        return fields

    def _described(self, change: IncidentChange) -> dict[str, str]:
        """The fields rendered from the snapshot; ServiceNow derives its priority from impact x urgency."""
        incident = change.incident
        return {"short_description": self._title.render(change)[:SHORT_DESCRIPTION_LENGTH],
                "description": self._body.render(change),
                "impact": str(self._impact.get(incident.impact, DEFAULT_LEVELS[Level.LOW])),
                "urgency": str(self._urgency.get(incident.urgency, DEFAULT_LEVELS[Level.LOW]))}

    def _update_fields(self, delivery: Delivery) -> dict[str, str]:
        """The PATCH: its work note ends with the outbox row and a digest of the whole update
        (`_noted` looks for them)."""
        change = delivery.change
        kind = change.kind
        fields = {"work_notes": f"{WORK_NOTE_MARKER} {work_note(change)}"}
        if kind is ChangeKind.UPDATED:
            fields.update(self._described(change))
        elif kind in (ChangeKind.RESOLVED, ChangeKind.MERGED, ChangeKind.CLOSED):
            # the base data policy refuses Resolved or Closed without both
            fields.update(state=STATE_CLOSED if kind is ChangeKind.CLOSED else STATE_RESOLVED,
                          close_code=self._options.close_code, close_notes=self._close_notes.render(change))
        elif kind is ChangeKind.REOPENED:
            fields["state"] = STATE_IN_PROGRESS
        fields["work_notes"] += f" ({delivery.signature(msgspec.json.encode(fields, order='sorted').decode())})"
        return fields

    def parse_inbound(self, headers: Mapping[str, str], body: bytes) -> list[InboundChange]:
        expected = self._options.inbound_token
        if not expected:
            raise InboundRejected(403, "inbound_token", f"destination {self.name} accepts no inbound calls: "
                                                        "set its options.inbound_token")
        scheme, _, token = headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected.encode()):
            raise InboundRejected(401, "Authorization", "expected Authorization: Bearer <the inbound_token>")
        try:
            record = msgspec.json.decode(body, type=InboundRecord, strict=False)  # a rule may send numbers as strings
        except (msgspec.ValidationError, msgspec.DecodeError) as error:
            found = from_msgspec(error)
            missing = found.reason.startswith("Object missing required field")
            raise InboundRejected(400, found.reason.split("`")[1] if missing else found.path, found.reason) from None
        if self._options.username and record.updated_by == self._options.username:
            return []  # our own write, echoed by a business rule that does not filter the integration user
        return inbound_changes(record)


def work_note(change: IncidentChange) -> str:
    """What a person reading the record's journal needs to know about `change`."""
    detail, actor = change.detail, change.actor
    reason = f": {detail['reason']}" if detail.get("reason") else ""
    match change.kind:
        case ChangeKind.UPDATED:
            changed = [f"{field} {value.get('from')} -> {value.get('to')}" for field, value in detail.items()
                       if isinstance(value, dict)]
            return f"Updated: {'; '.join(changed) or 'details changed'}"
        case ChangeKind.ACKNOWLEDGED:
            return f"Acknowledged by {actor}"
        case ChangeKind.ASSIGNED:
            tier = f" (tier {change.incident.tier})"
            return f"Assigned to team {detail.get('team') or change.incident.team}{tier} by {actor}"
        case ChangeKind.ESCALATED:
            return f"Escalated to team {detail.get('team') or change.incident.team} by {actor}{reason}"
        case ChangeKind.COMMENTED:
            return f"Comment by {actor}: {detail.get('text', '')}"
        case ChangeKind.MERGED:
            return f"Merged into incident {detail.get('into', '?')} by {actor}"
        case _:
            return f"{change.kind.value.capitalize()} by {actor}{reason}"


def inbound_changes(record: InboundRecord) -> list[InboundChange]:
    """The operator actions one business-rule call stands for. Each event id is the record's
    sys_id, its update count and the field, so a call sent twice is applied once."""
    where = f"ServiceNow {record.number or record.sys_id}"
    by = f" by {record.updated_by}" if record.updated_by else ""
    changes = []

    def add(field: str, action: str, body: dict) -> None:
        changes.append(InboundChange(f"{record.sys_id}:{record.sys_mod_count}:{field}", action, body,
                                     remote_key=record.sys_id))

    ended, was_ended = record.state in ENDED_STATES, record.previous_state in ENDED_STATES
    if record.state != record.previous_state:
        if ended and not was_ended:
            verb = "Resolved" if record.state == STATE_RESOLVED else "Closed"
            notes = f": {record.close_notes}" if record.close_notes else ""
            add("state", "resolve", {"reason": f"{verb} in {where}{by}{notes}"})
        elif was_ended and not ended:  # back to New, In Progress or On Hold
            add("state", "reopen", {"reason": f"Reopened in {where}{by}"})
        elif record.state == STATE_IN_PROGRESS and record.previous_state == STATE_NEW:
            add("state", "acknowledge", {})
    for field, label in (("work_notes", "work note"), ("comments", "comment")):
        text = getattr(record, field).strip()
        if text and WORK_NOTE_MARKER not in text:
            add(field, "comment", {"text": f"{where} {label}{by}: {text}"})
    return changes


def build(name: str, options: Mapping[str, object], http: aiohttp.ClientSession) -> ServiceNowDestination:
    read = read_options(ServiceNowOptions, name, options)
    if read.oauth_token and (read.username or read.password):
        raise DestinationError(name, "oauth_token", "give either oauth_token or username and password, not both")
    if not read.oauth_token and not (read.username and read.password):
        missing = "password" if read.username else "username"
        raise DestinationError(name, missing, "basic auth needs username and password (or give oauth_token)")
    for option in ("impact", "urgency"):
        unknown = set(getattr(read, option)) - set(Level)
        if unknown:
            raise DestinationError(name, f"{option}.{sorted(unknown)[0]}",
                                   f"not one of ours: expected {', '.join(Level)}")
    return ServiceNowDestination(name, read, http)
