"""HTTP receivers: authenticate, parse, store, and only then answer 2xx."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from aiohttp import web

from correlator.domain import AlertStatus, RawNotification, Source
from correlator.http_errors import error_response, json_response
from correlator.ingest.auth import Authenticator
from correlator.ingest.errors import FieldError, PayloadError
from correlator.ingest.generic import FieldMapping
from correlator.ingest.normalize import IngestPolicy
from correlator.ingest.sources import Parser, parsers
from correlator.metrics import Metrics
from correlator.store.writer import GroupCommitWriter, StoreUnavailable

log = logging.getLogger(__name__)

def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


class Receiver:
    """One ingest endpoint: its auth, its parser and where its alerts go."""

    def __init__(self, endpoint: str, source: str, parse: Parser, authenticator: Authenticator,
                 writer: GroupCommitWriter, policy: IngestPolicy, metrics: Metrics, recorder=None):
        self.endpoint, self.source, self.parse, self.recorder = endpoint, source, parse, recorder
        self.authenticator, self.writer, self.policy = authenticator, writer, policy
        # Metric children resolved once: a labels() lookup per request shows up in profiles.
        self._firing = metrics.ingest_alerts.labels(source, "firing")
        self._resolved = metrics.ingest_alerts.labels(source, "resolved")
        self._invalid = metrics.ingest_invalid_alerts.labels(source)
        self._requests = metrics.ingest_requests
        self._answered: dict[int, object] = {}

    async def handle(self, request: web.Request) -> web.Response:
        response = await self._handle(request)
        counter = self._answered.get(response.status)
        if counter is None:
            counter = self._answered[response.status] = self._requests.labels(self.endpoint, str(response.status))
        counter.inc()
        return response

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        denied = self.authenticator.check(request.headers, body)
        if denied:
            log.warning("unauthenticated request", extra={"endpoint": self.endpoint, "reason": denied,
                                                          "remote": request.remote})
            return json_response({"error": "unauthorized", "details": []}, status=401,
                                     headers={"WWW-Authenticate": 'Bearer realm="correlator"'})
        if not _is_json(request.content_type):
            return error_response(415, f"unsupported content type {request.content_type!r}",
                                  [FieldError("Content-Type", "expected application/json")])
        received_at = datetime.now(timezone.utc)
        try:
            parsed = self.parse(body, received_at, self.policy)
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
        if parsed.errors:
            self._invalid.inc(len({error.path.split(".")[0] for error in parsed.errors}))
            # Best effort, as Alertmanager's own API: the valid alerts are stored, the rest reported.
            return error_response(400, "invalid alerts", parsed.errors, accepted=len(parsed.alerts))
        return json_response({"status": "success", "accepted": len(parsed.alerts)})


def receivers(*, writer: GroupCommitWriter, policy: IngestPolicy, metrics: Metrics,
              authenticators: dict[str, Authenticator], mappings: dict[str, FieldMapping],
              recorder=None) -> list[tuple[str, Receiver]]:
    """(path, receiver) for every ingest endpoint, mapped ones included."""
    table = parsers(mappings)

    def make(endpoint: str, source: str) -> Receiver:
        return Receiver(endpoint, source, table[source], authenticators[endpoint], writer, policy, metrics, recorder)

    routes = [
        ("/api/v1/alertmanager", make("alertmanager", Source.ALERTMANAGER)),
        ("/api/v2/alerts", make("prometheus", Source.PROMETHEUS)),
        ("/api/v1/alerts", make("generic", Source.GENERIC)),
    ]
    routes += [(f"/api/v1/alerts/{name}", make("generic", name)) for name in sorted(mappings)]
    return routes
