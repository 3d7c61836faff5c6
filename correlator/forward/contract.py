"""What the delivery worker and a destination adapter say to each other.

The worker hands an adapter one `Delivery` at a time, in order per (incident, destination); the
adapter makes the calls its system needs and answers with an `Outcome`. It raises nothing for an
HTTP answer: `outcome_of_response` turns a status into delivered, retry or dead letter. Exceptions
an adapter lets out (timeouts, connection resets) are the worker's: it retries them, and when a
create was in flight it marks the next attempt `ambiguous`, so the adapter looks the ticket up by
the idempotency key before it creates again."""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Mapping, Protocol

import msgspec


class ChangeKind(enum.StrEnum):
    """An incident change a destination may hear about."""

    OPENED = "opened"
    # priority, title or member alerts changed; detail names what changed, each as {"from": old, "to": new}:
    # {"priority": {"from": "P3", "to": "P2"}, "title": {...}, "alerts": {"from": 3, "to": 5}} (alert counts)
    UPDATED = "updated"
    ACKNOWLEDGED = "acknowledged"
    ASSIGNED = "assigned"
    ESCALATED = "escalated"
    COMMENTED = "commented"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    CLOSED = "closed"
    MERGED = "merged"  # into another incident (detail: into)


class AlertSummary(msgspec.Struct, frozen=True):
    alertname: str
    status: str
    labels: dict[str, str]
    reason: str  # why it joined (a JoinReason value)
    summary: str = ""  # its summary or description annotation


class IncidentSnapshot(msgspec.Struct, frozen=True):
    """The incident as it was when the change was saved: a delivery renders from this, not from the
    live incident, so a retried delivery says what the change said."""

    id: str
    title: str
    state: str
    priority: str  # P1..P5
    impact: str
    urgency: str
    category: str | None
    service_area: str | None
    services: tuple[str, ...]
    team: str
    tier: int
    opened_at: datetime
    resolved_at: datetime | None
    alerts: tuple[AlertSummary, ...]  # its first alerts (changes.MAX_ALERTS): a storm holds thousands
    url: str = ""  # the incident's page (forwarding.external_url + path); empty when not configured
    alert_count: int | None = None  # all its alerts

    def __post_init__(self) -> None:
        if self.alert_count is None:  # a snapshot saved before it had the count (all its alerts then)
            msgspec.structs.force_setattr(self, "alert_count", len(self.alerts))


class IncidentChange(msgspec.Struct, frozen=True):
    kind: ChangeKind
    at: datetime
    actor: str  # who made it: "correlator", an operator, or "<destination>" for an inbound change
    incident: IncidentSnapshot
    detail: dict = msgspec.field(default_factory=dict)  # e.g. {"text": ...} for a comment, {"into": id}


class RemoteRef(msgspec.Struct, frozen=True):
    """Where the incident lives in a destination: a ticket key, a sys_id, a dedup key, an alias."""

    key: str
    url: str = ""
    extra: dict[str, str] = msgspec.field(default_factory=dict)


@dataclass(frozen=True)
class Delivery:
    outbox_id: int
    destination: str
    change: IncidentChange
    idempotency_key: str  # stable per (incident, destination), stored before the first call
    remote: RemoteRef | None  # what earlier deliveries of this incident stored, None before the first
    attempt: int  # 1 for the first
    now: datetime  # the worker's clock
    # The local record of a create in flight: when an earlier attempt sent a create and its outcome is
    # unknown (a timeout after sending, a crash), when it was sent. The adapter then looks the object up
    # by the idempotency key before creating again, and while the lookup finds nothing but the create is
    # younger than the system's search lag (Jira Cloud's search is eventually consistent), it answers
    # RETRY instead of creating a duplicate.
    create_sent_at: datetime | None = None

    @property
    def ambiguous(self) -> bool:
        return self.create_sent_at is not None

    def signature(self, content: str) -> str:
        """`change 42, 1f2e3d4c`: the outbox row and a digest of what a comment or note written for
        it says. Written into it, it lets a retry (an earlier attempt's answer may have been lost
        after the system applied it) find it instead of writing it twice; a row whose change grew
        meanwhile (later updates coalesced into it) has another digest, and is written."""
        return f"change {self.outbox_id}, {hashlib.sha256(content.encode()).hexdigest()[:8]}"


class OutcomeKind(enum.StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    DEAD = "dead"  # permanent: kept in the dead letters with its error, retried only by an operator
    SKIPPED = "skipped"  # nothing to send for this change (e.g. Slack hears only some kinds)


@dataclass(frozen=True)
class Outcome:
    kind: OutcomeKind
    reason: str = ""
    remote: RemoteRef | None = None  # stored with the row marked done (replaces the previous one)
    retry_after: float | None = None  # seconds the destination asked us to wait

    @classmethod
    def delivered(cls, remote: RemoteRef | None = None) -> Outcome:
        return cls(OutcomeKind.DELIVERED, remote=remote)

    @classmethod
    def skipped(cls, reason: str) -> Outcome:
        return cls(OutcomeKind.SKIPPED, reason)


class Destination(Protocol):
    """One configured destination. `deliver` may be called again for the same delivery (a retry, or
    after a crash): it must not create a second remote object for the idempotency key. With no
    `remote` yet it creates the object whatever the change's kind (an incident may start matching a
    route after it opened), except that a resolve or close of an object never created is skipped.
    (The worker records the create in flight before it calls `deliver` with no `remote`, and clears
    the record only with the delivered outcome, so any attempt after a failed one is `ambiguous`.)

    Each adapter module has `TYPE` (the `type:` in the configuration) and
    `build(name, options, http) -> Destination`, which reads `options` with `read_options` (errors
    name the option) and keeps the shared `aiohttp.ClientSession`."""

    name: str

    async def deliver(self, delivery: Delivery) -> Outcome: ...

    async def close(self) -> None: ...


def read_options(struct: type[msgspec.Struct], destination: str, options: Mapping[str, object]):
    """`options` as the adapter's struct (declare it `forbid_unknown_fields=True`), or DestinationError
    naming the offending option."""
    try:
        return msgspec.convert(dict(options), struct)
    except msgspec.ValidationError as error:
        message = str(error)
        path = message.rpartition(" - at `$")[2].rstrip("`").lstrip(".") if " - at `$" in message else ""
        field = path or (message.split("`")[1] if message.count("`") >= 2 else "options")
        raise DestinationError(destination, field, message.partition(" - at ")[0]) from None


RETRIED_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds from `Retry-After` (delta-seconds or an HTTP date) or `X-RateLimit-Reset` (ISO 8601 as
    Jira sends it, or Unix epoch seconds as ServiceNow and others do), if either says; None otherwise."""
    value = headers.get("Retry-After")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                when = parsedate_to_datetime(value)
            except (TypeError, ValueError):
                when = None
            if when is not None:
                return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())
    reset = headers.get("X-RateLimit-Reset")
    if reset:
        try:
            when = datetime.fromtimestamp(float(reset), timezone.utc)
        except ValueError:
            try:
                when = datetime.fromisoformat(reset.replace("Z", "+00:00"))
            except ValueError:
                return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())
    return None


def outcome_of_response(status: int, headers: Mapping[str, str], body: str, what: str) -> Outcome | None:
    """None for a 2xx (the adapter reads the body on); retry for 408/425/429/5xx, honouring the
    rate-limit headers; a dead letter naming `what` failed, the status and the start of the body for
    any other answer (a 4xx will fail the same way again)."""
    if 200 <= status < 300:
        return None
    reason = f"{what}: HTTP {status} {body[:500]}".strip()
    if status in RETRIED_STATUSES or status >= 500:
        return Outcome(OutcomeKind.RETRY, reason, retry_after=retry_after(headers))
    return Outcome(OutcomeKind.DEAD, reason)


@dataclass(frozen=True)
class InboundChange:
    """A change made in the destination, to be applied as an operator action (api action name and
    body, as `POST /api/v1/incidents/{id}/{action}` takes them), with the destination as actor."""

    event_id: str  # the destination's id for this change: a change seen twice is applied once
    action: str  # "acknowledge", "resolve", "comment", "reopen", ...
    body: dict
    remote_key: str | None = None  # the incident found by the reference the outbox stored
    incident_id: str | None = None  # or named directly (a payload that carries our id)


@dataclass(eq=False)  # not frozen: raising sets __traceback__ and __cause__ on the instance
class InboundRejected(Exception):
    """An inbound request refused as a whole: answered with `status` and a JSON body naming `field`."""

    status: int
    field: str
    reason: str


class InboundDestination(Protocol):
    """A destination whose system calls back (`POST /api/v1/inbound/{name}`). `parse_inbound`
    verifies the request (signature, token) and reads its changes; it does no I/O."""

    def parse_inbound(self, headers: Mapping[str, str], body: bytes) -> list[InboundChange]: ...


@dataclass(eq=False)  # not frozen: raising sets __traceback__ and __cause__ on the instance
class DestinationError(Exception):
    """A destination's configuration is wrong: `field` names the option, as config errors do."""

    destination: str
    field: str
    reason: str

    def __str__(self) -> str:
        return f"forwarding.destinations[{self.destination}].{self.field}: {self.reason}"


__all__ = ["AlertSummary", "ChangeKind", "Delivery", "Destination", "DestinationError", "IncidentChange",
           "IncidentSnapshot", "InboundChange", "InboundDestination", "InboundRejected", "Outcome", "OutcomeKind", "RemoteRef", "outcome_of_response", "read_options", "retry_after",
           "RETRIED_STATUSES"]
