"""The generic webhook: each change POSTed as JSON, signed the Standard Webhooks way.

Headers (https://www.standardwebhooks.com/): `webhook-id` (the same for every attempt of one
change, so a receiver drops a retry it already processed), `webhook-timestamp` (Unix seconds of
the attempt) and, with a `secret` (`whsec_` + base64 key), `webhook-signature: v1,<base64 of
HMAC-SHA256 over "id.timestamp.body">`; `Idempotency-Key` repeats the id for receivers that look
for that header.

The body is `{"type": "incident.<kind>", "timestamp", "data": {...the change, rendered title and
text...}}`, or what the `payload` template renders (it must render JSON).

With `inbound_secret`, the receiver can call back `POST /api/v1/inbound/<name>`, signed the same way
with that secret: `{"events": [{"id", "action", "body", "incident_id" | "remote_key"}]}`."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Annotated, Mapping

import aiohttp
import msgspec

from correlator.domain import from_msgspec
from correlator.forward.contract import (ChangeKind, Delivery, DestinationError, InboundChange, InboundRejected, Outcome,
                                         outcome_of_response, read_options)
from correlator.forward.templates import DEFAULT_BODY, DEFAULT_TITLE, Template
from correlator.units import rfc3339

TYPE = "webhook"
SIGNATURE_TOLERANCE = 300  # seconds an inbound request's timestamp may differ from our clock (the spec's 5 min)
SECRET_PREFIX = "whsec_"


class WebhookOptions(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    url: str
    secret: str = ""  # whsec_<base64>: sign each request
    headers: dict[str, str] = {}
    timeout: float = 10.0
    kinds: list[ChangeKind] = []  # the changes sent (empty: all)
    title: str = DEFAULT_TITLE
    text: str = DEFAULT_BODY
    payload: str = ""  # a template rendering the whole JSON body (default: the document above)
    inbound_secret: str = ""  # whsec_<base64>: accept signed callbacks


def signing_key(secret: str, destination: str, option: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        raise DestinationError(destination, option, f"expected a Standard Webhooks secret: {SECRET_PREFIX} then base64")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except binascii.Error:
        raise DestinationError(destination, option, f"the part after {SECRET_PREFIX} is not valid base64") from None
    if len(key) < 16:
        raise DestinationError(destination, option, "the key is shorter than 16 bytes")
    return key


def signature(key: bytes, message_id: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


class _InboundEvent(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    id: Annotated[str, msgspec.Meta(min_length=1)]  # what a repeat is known by: an empty one would match every other
    action: str
    body: dict = {}
    incident_id: str | None = None
    remote_key: str | None = None


class _InboundBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    events: list[_InboundEvent]


_decode_inbound = msgspec.json.Decoder(_InboundBody).decode


class Webhook:
    def __init__(self, name: str, options: WebhookOptions, http: aiohttp.ClientSession):
        self.name, self._options, self._http = name, options, http
        if not options.url.startswith(("http://", "https://")):
            raise DestinationError(name, "url", f"expected an http:// or https:// URL, got {options.url!r}")
        self._key = signing_key(options.secret, name, "secret") if options.secret else None
        self._inbound_key = (signing_key(options.inbound_secret, name, "inbound_secret")
                             if options.inbound_secret else None)
        self._title = Template(options.title, name, "title")
        self._text = Template(options.text, name, "text")
        self._payload = Template(options.payload, name, "payload") if options.payload else None
        self._kinds = frozenset(options.kinds)

    def body(self, delivery: Delivery) -> bytes:
        change = delivery.change
        if self._payload is not None:
            text = self._payload.render(change)
            try:
                json.loads(text)
            except ValueError as error:
                raise DestinationError(self.name, "payload", f"the template did not render JSON: {error}") from None
            return text.encode()
        return msgspec.json.encode({
            "type": f"incident.{change.kind.value}", "timestamp": rfc3339(change.at),
            "data": {"idempotency_key": delivery.idempotency_key, "kind": change.kind.value, "actor": change.actor,
                     "title": self._title.render(change), "text": self._text.render(change), "detail": change.detail,
                     "incident": change.incident}})

    async def deliver(self, delivery: Delivery) -> Outcome:
        if self._kinds and delivery.change.kind not in self._kinds:
            return Outcome.skipped(f"{delivery.change.kind.value} is not in kinds")
        body = self.body(delivery)
        # One id per change: the same for every attempt and after a restart.
        message_id = f"{delivery.idempotency_key}.{delivery.outbox_id}"
        timestamp = str(int(delivery.now.timestamp()))
        headers = {**self._options.headers, "Content-Type": "application/json", "Idempotency-Key": message_id,
                   "webhook-id": message_id, "webhook-timestamp": timestamp}
        if self._key is not None:
            headers["webhook-signature"] = signature(self._key, message_id, timestamp, body)
        async with self._http.post(self._options.url, data=body, headers=headers,
                                   timeout=aiohttp.ClientTimeout(total=self._options.timeout)) as response:
            text = await response.text(errors="replace")
            return outcome_of_response(response.status, response.headers, text, "webhook POST") or Outcome.delivered()

    def parse_inbound(self, headers: Mapping[str, str], body: bytes) -> list[InboundChange]:
        if self._inbound_key is None:  # a receiver that takes no callbacks: nothing to find here
            raise InboundRejected(404, "inbound_secret", f"destination {self.name} takes no inbound changes: "
                                                         "set its inbound_secret")
        verify(self._inbound_key, headers, body, time.time())
        try:
            document = _decode_inbound(body)
        except (msgspec.ValidationError, msgspec.DecodeError) as error:
            found = from_msgspec(error)
            raise InboundRejected(400, "body" if found.path == "$" else found.path, found.reason) from None
        changes = []
        for index, event in enumerate(document.events):
            if (event.incident_id is None) == (event.remote_key is None):
                raise InboundRejected(400, f"events[{index}]", "name the incident by incident_id or remote_key")
            changes.append(InboundChange(event.id, event.action, event.body, event.remote_key, event.incident_id))
        return changes

    async def close(self) -> None:
        pass


def verify(key: bytes, headers: Mapping[str, str], body: bytes, now: float) -> None:
    """Raises InboundRejected unless `headers` carry a valid, recent Standard Webhooks signature."""
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        if not headers.get(name):
            raise InboundRejected(401, name, "missing")
    timestamp = headers["webhook-timestamp"]
    try:
        sent = int(timestamp)
    except ValueError:
        raise InboundRejected(401, "webhook-timestamp", "expected Unix seconds") from None
    if abs(now - sent) > SIGNATURE_TOLERANCE:
        raise InboundRejected(401, "webhook-timestamp", f"more than {SIGNATURE_TOLERANCE}s from our clock")
    expected = signature(key, headers["webhook-id"], timestamp, body)
    if not any(hmac.compare_digest(expected, given) for given in headers["webhook-signature"].split()):
        raise InboundRejected(401, "webhook-signature", "no signature matches")


def build(name: str, options: Mapping[str, object], http: aiohttp.ClientSession) -> Webhook:
    return Webhook(name, read_options(WebhookOptions, name, options), http)
