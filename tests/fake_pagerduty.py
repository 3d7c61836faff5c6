"""A local PagerDuty: the Events API v2 (`POST /v2/enqueue`) as PagerDuty documents it (routing key
check, required payload fields, 202 {status, message, dedup_key}, 400 invalid event with errors, 429
without a body), deduplicating alerts by dedup_key, and v3 webhook bodies signed the way PagerDuty
signs them. Faults: queued answers, and a stall after the event was applied (a timeout the sender
cannot tell from a lost request)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass, field

from aiohttp import web

SEVERITIES = {"critical", "error", "warning", "info"}
ACTIONS = {"trigger", "acknowledge", "resolve"}


@dataclass
class Alert:
    dedup_key: str
    status: str  # triggered, acknowledged, resolved
    events: list[dict] = field(default_factory=list)


@dataclass
class FakePagerDuty:
    routing_keys: set[str]
    alerts: list[Alert] = field(default_factory=list)  # every alert ever opened, oldest first
    requests: list[dict] = field(default_factory=list)  # every event accepted
    answers: list[web.Response] = field(default_factory=list)  # answered instead, in order, before applying
    stall_after_apply: int = 0  # the next N accepted events hang after being applied
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def open_alert(self, dedup_key: str) -> Alert | None:
        return next((alert for alert in reversed(self.alerts)
                     if alert.dedup_key == dedup_key and alert.status != "resolved"), None)

    def alerts_for(self, dedup_key: str) -> list[Alert]:
        return [alert for alert in self.alerts if alert.dedup_key == dedup_key]

    def rate_limit(self, times: int = 1) -> None:
        self.answers.extend(web.Response(status=429) for _ in range(times))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v2/enqueue", self.enqueue)
        return app

    async def enqueue(self, request: web.Request) -> web.Response:
        if self.answers:
            return self.answers.pop(0)
        try:
            event = json.loads(await request.read())
        except ValueError:
            return web.json_response({"status": "unrecognized object", "message": "Event object format is unrecognized",
                                      "errors": ["JSON parse error"]}, status=400)
        errors = self._errors(event)
        if errors:
            return web.json_response({"status": "invalid event", "message": "Event object is invalid",
                                      "errors": errors}, status=400)
        dedup_key = event.get("dedup_key") or uuid.uuid4().hex
        self._apply(event, dedup_key)
        self.requests.append(event)
        if self.stall_after_apply:
            self.stall_after_apply -= 1
            await asyncio.wait_for(self.release.wait(), 10)
        return web.json_response({"status": "success", "message": "Event processed", "dedup_key": dedup_key},
                                 status=202)

    def _errors(self, event: dict) -> list[str]:
        errors = []
        routing_key = event.get("routing_key")
        if not isinstance(routing_key, str) or len(routing_key) != 32:
            errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
        elif routing_key not in self.routing_keys:
            errors.append("Invalid routing key")
        if event.get("event_action") not in ACTIONS:
            errors.append("'event_action' is invalid (must be one of: trigger, acknowledge, resolve)")
        if len(event.get("dedup_key") or "") > 255:
            errors.append("'dedup_key' is too long (maximum is 255 characters)")
        if event.get("event_action") != "trigger":
            if not event.get("dedup_key"):
                errors.append("'dedup_key' is missing or blank")
            return errors
        payload = event.get("payload") or {}
        for name in ("summary", "source", "severity"):
            if not payload.get(name):
                errors.append(f"'payload.{name}' is missing or blank")
        if len(payload.get("summary") or "") > 1024:
            errors.append("'payload.summary' is too long (maximum is 1024 characters)")
        if payload.get("severity") and payload["severity"] not in SEVERITIES:
            errors.append("'payload.severity' is invalid (must be one of: critical, error, warning, info)")
        if not isinstance(payload.get("custom_details", {}), dict):
            errors.append("'payload.custom_details' must be an object")
        return errors

    def _apply(self, event: dict, dedup_key: str) -> None:
        # a trigger appends to the open alert or opens one; acknowledge and resolve of no open alert are dropped
        alert = self.open_alert(dedup_key)
        action = event["event_action"]
        if action == "trigger" and alert is None:
            alert = Alert(dedup_key, "triggered")
            self.alerts.append(alert)
        if alert is None:
            return
        alert.events.append(event)
        if action == "acknowledge":
            alert.status = "acknowledged"
        elif action == "resolve":
            alert.status = "resolved"


def webhook(event_type: str, incident_key: str | None, *secrets: str, event_id: str | None = None,
            agent: str = "Ana Oncall") -> tuple[dict[str, str], bytes]:
    """A v3 webhook delivery about the PagerDuty incident our alert opened: (headers, raw body)."""
    body = json.dumps({"event": {
        "id": event_id or str(uuid.uuid4()), "event_type": event_type, "resource_type": "incident",
        "occurred_at": "2026-12-03T01:10:00.000Z",
        "agent": {"id": "PXPGF42", "type": "user_reference", "summary": agent,
                  "html_url": "https://acme.pagerduty.com/users/PXPGF42"},
        "client": None,
        "data": {"id": "PT4KHLK", "type": "incident", "html_url": "https://acme.pagerduty.com/incidents/PT4KHLK",
                 "number": 1234, "status": event_type.rpartition(".")[2], "incident_key": incident_key,
                 "title": "[P2] checkout latency and 5xx",
                 "service": {"id": "PIJ90N7", "type": "service_reference", "summary": "checkout"}}}}).encode()
    return {"Content-Type": "application/json", "X-PagerDuty-Signature": signature(body, *secrets),
            "X-Webhook-Subscription": "PY1OL64"}, body


def signature(body: bytes, *secrets: str) -> str:
    """X-PagerDuty-Signature: a v1 HMAC-SHA256 per secret, comma-separated."""
    return ",".join("v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest() for secret in secrets)
