"""PagerDuty: incidents as alerts through the Events API v2, and acknowledgements and resolutions
made in PagerDuty back through its v3 webhooks.

Every event carries `dedup_key` = the incident's idempotency key, and PagerDuty deduplicates on it
server-side: a repeated trigger updates the open alert instead of opening another, so a retry after
an ambiguous failure simply sends the event again. After a resolve, a trigger with the same key
opens a new alert, which is what a reopened incident wants."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Annotated, Literal, Mapping

import aiohttp
import msgspec
from msgspec import Meta

from correlator.domain.classification import Priority
from correlator.forward.contract import (ChangeKind, Delivery, IncidentChange, InboundChange, InboundRejected,
                                         Outcome, OutcomeKind, RemoteRef, outcome_of_response, read_options)
from correlator.forward.templates import DEFAULT_BODY, DEFAULT_TITLE, Template

TYPE = "pagerduty"

Severity = Literal["critical", "error", "warning", "info"]
DEFAULT_SEVERITIES: dict[str, Severity] = {
    Priority.P1: "critical", Priority.P2: "error", Priority.P3: "warning", Priority.P4: "info", Priority.P5: "info"}
SUMMARY_LIMIT = 1024  # PagerDuty refuses a longer payload.summary
DEDUP_KEY_LIMIT = 255
ALERTS_LIMIT = 100  # in custom_details: the whole event must stay under PagerDuty's 512 KB
# PagerDuty sends no Retry-After with its 429 and asks for "a backoff of a few minutes" (its
# Rate-Limits page suggests retrying 30 s apart); the worker's backoff grows from this.
RATE_LIMITED_WAIT = 30.0


class PagerDutyOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    routing_key: Annotated[str, Meta(min_length=32, max_length=32)]  # the Events API v2 integration key
    events_url: str = "https://events.pagerduty.com"  # EU accounts: https://events.eu.pagerduty.com
    source: str = "correlator"  # payload.source: where the problem is, as PagerDuty shows it
    severities: dict[Priority, Severity] = msgspec.field(default_factory=dict)  # over DEFAULT_SEVERITIES
    title: str = DEFAULT_TITLE  # payload.summary (cut at 1024 characters)
    body: str = DEFAULT_BODY  # custom_details.body
    # v3 webhook subscription secrets; two while a secret is rotated. None: inbound refused.
    webhook_secrets: list[Annotated[str, Meta(min_length=1)]] = msgspec.field(default_factory=list)
    timeout_seconds: Annotated[float, Meta(gt=0)] = 10.0


# change kind -> Events API event_action; kinds left out are not sent (the Events API has no notes
# or assignees: PagerDuty's own escalation policy assigns).
EVENT_ACTIONS: dict[ChangeKind, str] = {
    ChangeKind.OPENED: "trigger",
    ChangeKind.UPDATED: "trigger",  # same dedup_key: updates the open alert's summary, severity, details
    ChangeKind.ESCALATED: "trigger",
    ChangeKind.REOPENED: "trigger",  # a new alert under the same key
    ChangeKind.ACKNOWLEDGED: "acknowledge",
    ChangeKind.RESOLVED: "resolve",
    ChangeKind.MERGED: "resolve",  # the incident it merged into has its own alert
}
# closed follows resolved, whose resolve already ended the alert
ENDING = frozenset({ChangeKind.RESOLVED, ChangeKind.CLOSED, ChangeKind.MERGED})

# v3 webhook event type -> our operator action
INBOUND_ACTIONS = {"incident.acknowledged": "acknowledge", "incident.resolved": "resolve",
                   "incident.reopened": "reopen"}


class PagerDuty:
    def __init__(self, name: str, options: PagerDutyOptions, http: aiohttp.ClientSession):
        self.name, self._options, self._http = name, options, http
        self._title = Template(options.title, name, "title")
        self._body = Template(options.body, name, "body")
        self._url = options.events_url.rstrip("/") + "/v2/enqueue"
        self._timeout = aiohttp.ClientTimeout(total=options.timeout_seconds)
        self._secrets = [secret.encode() for secret in options.webhook_secrets]
        self._severities = DEFAULT_SEVERITIES | options.severities

    async def deliver(self, delivery: Delivery) -> Outcome:
        kind = delivery.change.kind
        if delivery.remote is None and kind in ENDING:
            return Outcome.skipped("no PagerDuty alert to resolve")
        action = "trigger" if delivery.remote is None else EVENT_ACTIONS.get(kind)
        if action is None:
            return Outcome.skipped(f"PagerDuty's Events API has nothing for {kind.value}")
        dedup_key = delivery.remote.key if delivery.remote else self._dedup_key(delivery.idempotency_key)
        event = {"routing_key": self._options.routing_key, "event_action": action, "dedup_key": dedup_key}
        if action == "trigger":
            event |= self._trigger_fields(delivery.change)
        async with self._http.post(self._url, json=event, timeout=self._timeout) as response:
            text = await response.text()
            headers = response.headers
            status = response.status
        failed = outcome_of_response(status, headers, text, f"PagerDuty {action}")
        if failed is not None:
            return self._explained(failed, status, text)
        try:  # 202 {"status": "success", "message": "Event processed", "dedup_key": ...}
            dedup_key = json.loads(text).get("dedup_key") or dedup_key
        except (ValueError, AttributeError):
            pass  # accepted all the same; our key is the one we sent
        return Outcome.delivered(RemoteRef(dedup_key))

    @staticmethod
    def _dedup_key(key: str) -> str:
        return key if len(key) <= DEDUP_KEY_LIMIT else hashlib.sha256(key.encode()).hexdigest()

    def _trigger_fields(self, change: IncidentChange) -> dict:
        incident = change.incident
        details = {
            "priority": f"{incident.priority} (impact {incident.impact} x urgency {incident.urgency})",
            "state": incident.state,
            "category": incident.category or "unclassified",
            "service_area": incident.service_area,
            "services": list(incident.services),
            "team": incident.team,
            "tier": incident.tier,
            "alerts": [{"alertname": alert.alertname, "status": alert.status, "labels": alert.labels,
                        "reason": alert.reason, "summary": alert.summary} for alert in incident.alerts[:ALERTS_LIMIT]],
            "alert_count": incident.alert_count,
            "link": incident.url,
            "body": self._body.render(change),
        }
        fields = {
            "payload": {
                "summary": self._title.render(change)[:SUMMARY_LIMIT],
                "source": self._options.source,
                "severity": self._severities[incident.priority],
                "timestamp": change.at.isoformat(),
                "component": incident.services[0] if incident.services else None,
                "group": incident.team or None,
                "class": incident.category,
                "custom_details": details,
            },
            "client": "correlator",
        }
        fields["payload"] = {key: value for key, value in fields["payload"].items() if value is not None}
        if incident.url:
            fields["client_url"] = incident.url
            fields["links"] = [{"href": incident.url, "text": f"correlator incident {incident.id}"}]
        return fields

    @staticmethod
    def _explained(failed: Outcome, status: int, text: str) -> Outcome:
        if status == 429 and failed.retry_after is None:
            return Outcome(OutcomeKind.RETRY, failed.reason, retry_after=RATE_LIMITED_WAIT)
        if status == 400:  # {"status": "invalid event", "message": ..., "errors": [...]}
            try:
                answer = json.loads(text)
                errors = "; ".join(answer.get("errors") or [answer.get("message", "")])
            except (ValueError, AttributeError, TypeError):
                return failed
            return Outcome(OutcomeKind.DEAD, f"PagerDuty refused the event: {errors}")
        return failed

    def parse_inbound(self, headers: Mapping[str, str], body: bytes) -> list[InboundChange]:
        """A v3 webhook delivery: one event, signed with each subscription secret. Events about an
        incident our alert did not open (no incident_key of ours) and other event types are ignored."""
        self._verify(headers.get("X-PagerDuty-Signature", ""), body)
        try:
            event = json.loads(body)["event"]
            event_type, event_id, data = event["event_type"], event["id"], event.get("data") or {}
        except (ValueError, KeyError, TypeError):
            raise InboundRejected(400, "event",
                                  "expected a PagerDuty v3 webhook body {event: {id, event_type, data}}") from None
        action = INBOUND_ACTIONS.get(event_type)
        incident_key = data.get("incident_key") if isinstance(data, dict) else None
        if action is None or not incident_key:
            return []
        who = (event.get("agent") or {}).get("summary") or "PagerDuty"
        reference = data.get("html_url") or data.get("id") or ""
        reason = f"{event_type} by {who} in PagerDuty {reference}".strip()
        action_body = {} if action == "acknowledge" else {"reason": reason}
        return [InboundChange(event_id=event_id, action=action, body=action_body, remote_key=incident_key)]

    def _verify(self, header: str, body: bytes) -> None:
        if not self._secrets:
            raise InboundRejected(403, "webhook_secrets",
                                  f"destination {self.name} has no webhook secret: inbound is off")
        if not header:
            raise InboundRejected(401, "X-PagerDuty-Signature", "missing")
        offered = [part.strip()[3:] for part in header.split(",") if part.strip().startswith("v1=")]
        expected = [hmac.new(secret, body, hashlib.sha256).hexdigest() for secret in self._secrets]
        if not any(hmac.compare_digest(mine, theirs) for mine in expected for theirs in offered):
            raise InboundRejected(401, "X-PagerDuty-Signature", "no v1 signature matches a configured webhook secret")

    async def close(self) -> None:
        pass  # the HTTP session is the worker's


def build(name: str, options: Mapping[str, object], http: aiohttp.ClientSession) -> PagerDuty:
    return PagerDuty(name, read_options(PagerDutyOptions, name, options), http)
