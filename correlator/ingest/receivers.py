"""HTTP receivers: authenticate, parse, store, and only then answer 2xx.

Everything the headers can decide is decided before the body is read (credentials, content type,
declared size, the body memory budget), so unauthenticated or oversized posts cost no memory; a
client sending `Expect: 100-continue` is refused before it sends the body at all."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone

from aiohttp import HttpVersion11, web

from correlator.domain import AlertStatus, FieldError, PayloadError, RawNotification, Source
from correlator.http_body import read_body
from correlator.http_errors import body_too_large, content_coding, error_response, json_response
from correlator.ingest.auth import Authenticator
from correlator.ingest.bodies import BodyBudget
from correlator.ingest.generic import FieldMapping
from correlator.ingest.normalize import IngestPolicy
from correlator.ingest.sources import Parser, parsers
from correlator.metrics import Metrics
from correlator.store.writer import GroupCommitWriter, StoreUnavailable

log = logging.getLogger(__name__)

# Bodies larger than this are verified and parsed in a worker thread, so the event loop keeps
# answering (health, readiness, small posts) meanwhile; smaller ones cost less than the hand-off.
PARSE_ON_LOOP_MAX_BYTES = 256 * 2**10
RETRY_AFTER_SECONDS = "1"
MULTI_STATUS = 207  # some alerts of the body stored, the others rejected (the body says which)


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


def _share(bodies: BodyBudget, request: web.Request) -> int:
    return bodies.share_for(request.content_length, content_coding(request) != "identity")


async def _off_loop_if_large(body: bytes, function, *args):
    """`function(*args)`, in a worker thread when `body` is large (see PARSE_ON_LOOP_MAX_BYTES)."""
    if len(body) > PARSE_ON_LOOP_MAX_BYTES:
        return await asyncio.to_thread(function, *args)
    return function(*args)


class Receiver:
    """One ingest endpoint: its auth, its parser and where its alerts go."""

    def __init__(self, endpoint: str, source: str, parse: Parser, authenticator: Authenticator,
                 writer: GroupCommitWriter, policy: IngestPolicy, metrics: Metrics, bodies: BodyBudget,
                 recorder=None):
        self.endpoint, self.source, self.parse, self.recorder = endpoint, source, parse, recorder
        self.authenticator, self.writer, self.policy, self.bodies = authenticator, writer, policy, bodies
        # Metric children resolved once: a labels() lookup per request shows up in profiles.
        self._firing = metrics.ingest_alerts.labels(source, "firing")
        self._resolved = metrics.ingest_alerts.labels(source, "resolved")
        self._invalid = metrics.ingest_invalid_alerts.labels(source)
        self._truncated = metrics.ingest_truncated_alerts.labels(source)
        self._requests = metrics.ingest_requests
        self._answered: dict[int, object] = {}

    async def handle(self, request: web.Request) -> web.Response:
        return self._counted(await self._handle(request))

    async def expect(self, request: web.Request) -> web.Response | None:
        """aiohttp's `Expect: 100-continue` hook: refuse from the headers, before the body is sent."""
        refused = self._refusal(request)
        if refused is None and not self.bodies.fits(_share(self.bodies, request)):
            refused = self._busy()
        if refused is not None:
            return self._counted(refused)
        if request.version != HttpVersion11 or request.headers.get("Expect", "").lower() != "100-continue":
            raise web.HTTPExpectationFailed(text=f"unknown Expect: {request.headers.get('Expect')}")
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # the interim answer is not part of the response
        return None

    def _counted(self, response: web.Response) -> web.Response:
        counter = self._answered.get(response.status)
        if counter is None:
            counter = self._answered[response.status] = self._requests.labels(self.endpoint, str(response.status))
        counter.inc()
        return response

    def _refusal(self, request: web.Request) -> web.Response | None:
        """The answer the headers alone call for, or None when the body may be read."""
        denied = self.authenticator.check_headers(request.headers)
        if denied:
            return self._unauthorized(request, denied)
        if not _is_json(request.content_type):
            return error_response(415, f"unsupported content type {request.content_type!r}",
                                  [FieldError("Content-Type", "expected application/json")])
        if request.content_length is not None and request.content_length > self.bodies.max_body_size:
            return body_too_large(self.bodies.max_body_size)
        return None

    def _unauthorized(self, request: web.Request, reason: str) -> web.Response:
        log.warning("unauthenticated request", extra={"endpoint": self.endpoint, "reason": reason,
                                                      "remote": request.remote})
        return json_response({"error": "unauthorized", "details": []}, status=401,
                             headers={"WWW-Authenticate": 'Bearer realm="correlator"'})

    def _busy(self) -> web.Response:
        response = error_response(503, "too many request bodies in memory (server.max_body_memory); retry later")
        response.headers["Retry-After"] = RETRY_AFTER_SECONDS
        return response

    async def _handle(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)
        if refused is not None:
            return refused
        share = _share(self.bodies, request)
        if not self.bodies.reserve(share):
            return self._busy()
        try:
            return await self._accept(request, await read_body(request))
        finally:
            self.bodies.release(share)

    async def _accept(self, request: web.Request, body: bytes) -> web.Response:
        if self.authenticator.signs_bodies:
            denied = await _off_loop_if_large(body, self.authenticator.check_body, request.headers, body)
            if denied:
                return self._unauthorized(request, denied)
        received_at = datetime.now(timezone.utc)
        try:
            parsed = await _off_loop_if_large(body, self.parse, body, received_at, self.policy)
        except PayloadError as error:
            return error_response(400, error.message, error.details)
        try:
            await self.writer.write(parsed.alerts, RawNotification(self.source, received_at, body))
        except StoreUnavailable as error:
            log.warning("store unavailable, answering 503", extra={"endpoint": self.endpoint,
                                                                   "reason": str(error)})
            return error_response(503, f"store unavailable ({error}); retry later")
        resolved = sum(1 for alert in parsed.alerts if alert.status is AlertStatus.RESOLVED)
        self._firing.inc(len(parsed.alerts) - resolved)
        self._resolved.inc(resolved)
        if self.recorder is not None:
            self.recorder.write(received_at, self.source, body)
        if parsed.truncated is not None:
            self._truncated.inc(parsed.truncated.alerts)
            log.warning("alerts left out by the sender", extra={
                "endpoint": self.endpoint, "remote": request.remote, "truncated": parsed.truncated.alerts,
                "group": parsed.truncated.group_key,
                "hint": "the receiver's max_alerts in alertmanager.yml cuts the same alerts from every "
                        "notification of the group: raise it or remove it"})
        if not parsed.errors:
            return json_response({"status": "success", "accepted": len(parsed.alerts)})
        rejected = len({error.path.split(".")[0] for error in parsed.errors})
        self._invalid.inc(rejected)
        # The sender shows nothing of a 207 (and Alertmanager logs no 4xx body): say here who sends what.
        first = parsed.errors[0]
        log.warning("alerts rejected", extra={"endpoint": self.endpoint, "source": self.source,
                                              "remote": request.remote, "accepted": len(parsed.alerts),
                                              "rejected": rejected, "first": f"{first.path}: {first.reason}"})
        if not parsed.alerts:
            return error_response(400, "invalid alerts", parsed.errors, accepted=0)
        # Some alerts stored, some not: a 2xx, since every sender reads any other answer as "nothing
        # stored" (and Alertmanager would count a failed notification that in fact delivered them).
        return json_response({"status": "partial", "accepted": len(parsed.alerts),
                              "rejected": [error.as_json() for error in parsed.errors]}, status=MULTI_STATUS)


def receivers(*, writer: GroupCommitWriter, policy: IngestPolicy, metrics: Metrics, bodies: BodyBudget,
              authenticators: dict[str, Authenticator], mappings: dict[str, FieldMapping],
              recorder=None) -> list[tuple[str, Receiver]]:
    """(path, receiver) for every ingest endpoint, mapped ones included."""
    table = parsers(mappings)

    def make(endpoint: str, source: str) -> Receiver:
        return Receiver(endpoint, source, table[source], authenticators[endpoint], writer, policy, metrics, bodies,
                        recorder)

    routes = [
        ("/api/v1/alertmanager", make("alertmanager", Source.ALERTMANAGER)),
        ("/api/v2/alerts", make("prometheus", Source.PROMETHEUS)),
        ("/api/v1/alerts", make("generic", Source.GENERIC)),
    ]
    routes += [(f"/api/v1/alerts/{name}", make("generic", name)) for name in sorted(mappings)]
    return routes
