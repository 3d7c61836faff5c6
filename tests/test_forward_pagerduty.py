"""The PagerDuty adapter against a local Events API v2: trigger, update, acknowledge, resolve and
reopen under one dedup_key, no duplicate alert after a timeout, status handling, options, and the
v3 webhooks coming back (signature, mapping to our incident)."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from correlator.forward import pagerduty
from correlator.forward.contract import ChangeKind, InboundRejected, OutcomeKind, RemoteRef
from tests.fake_pagerduty import FakePagerDuty, signature, webhook
from tests.forward_cases import (EXAMPLES, KEY, ambiguous_retry, change, delivery, example_destinations,
                                 http, option_error, running)  # noqa: F401 (http: a fixture)

ROUTING_KEY = "R0ut1ngKeyR0ut1ngKeyR0ut1ngKey00"
SECRET, NEXT_SECRET = "whsec-current", "whsec-next"


@pytest.fixture
async def fake(aiohttp_server):
    async with running(FakePagerDuty({ROUTING_KEY}), aiohttp_server) as fake:
        yield fake


def destination(fake, http, **options):
    return pagerduty.build("pd", {"routing_key": ROUTING_KEY, "events_url": fake.url,
                                  "webhook_secrets": [SECRET]} | options, http)


async def test_lifecycle_is_one_alert_under_the_incident_key(fake, http):
    pd = destination(fake, http)
    opened = await pd.deliver(delivery(change(ChangeKind.OPENED)))
    assert opened.kind is OutcomeKind.DELIVERED and opened.remote == RemoteRef(KEY)
    trigger = fake.requests[0]
    assert trigger["dedup_key"] == KEY and trigger["event_action"] == "trigger"
    payload = trigger["payload"]
    assert payload["summary"] == "[P2] checkout latency and 5xx" and payload["severity"] == "error"
    assert payload["source"] == "correlator" and payload["component"] == "checkout" and payload["group"] == "payments"
    details = payload["custom_details"]
    assert details["priority"] == "P2 (impact high x urgency medium)" and details["category"] == "availability"
    assert details["services"] == ["checkout", "payments-api"] and details["team"] == "payments"
    assert [(alert["alertname"], alert["reason"]) for alert in details["alerts"]] == [
        ("HighLatency", "rule:checkout"), ("Http5xx", "learned")]
    assert details["link"] == "https://correlator.example.com/incidents/inc-7f3a9c"
    assert trigger["links"] == [{"href": details["link"], "text": "correlator incident inc-7f3a9c"}]

    remote = opened.remote
    raised = await pd.deliver(delivery(change(ChangeKind.UPDATED, {"priority": {"from": "P2", "to": "P1"}},
                                              priority="P1"), remote))
    assert raised.kind is OutcomeKind.DELIVERED
    assert fake.requests[-1]["payload"]["severity"] == "critical"
    assert (await pd.deliver(delivery(change(ChangeKind.ACKNOWLEDGED), remote))).kind is OutcomeKind.DELIVERED
    assert fake.open_alert(KEY).status == "acknowledged"
    assert (await pd.deliver(delivery(change(ChangeKind.COMMENTED, {"text": "looking"}), remote))).kind \
        is OutcomeKind.SKIPPED
    assert (await pd.deliver(delivery(change(ChangeKind.RESOLVED), remote))).kind is OutcomeKind.DELIVERED
    assert len(fake.alerts_for(KEY)) == 1 and fake.alerts_for(KEY)[0].status == "resolved"
    assert (await pd.deliver(delivery(change(ChangeKind.CLOSED), remote))).kind is OutcomeKind.SKIPPED

    assert (await pd.deliver(delivery(change(ChangeKind.REOPENED), remote))).kind is OutcomeKind.DELIVERED
    assert [alert.status for alert in fake.alerts_for(KEY)] == ["resolved", "triggered"]


async def test_first_delivery_of_any_kind_triggers_and_an_unknown_resolve_is_skipped(fake, http):
    pd = destination(fake, http)
    skipped = await pd.deliver(delivery(change(ChangeKind.RESOLVED)))
    assert skipped.kind is OutcomeKind.SKIPPED and fake.requests == []
    assert (await pd.deliver(delivery(change(ChangeKind.ESCALATED)))).kind is OutcomeKind.DELIVERED
    assert fake.requests[0]["event_action"] == "trigger"


async def test_no_duplicate_alert_after_a_timeout_once_the_event_was_applied(fake, http):
    pd = destination(fake, http, timeout_seconds=0.2)
    first = delivery(change(ChangeKind.OPENED))
    fake.stall_after_apply = 1
    with pytest.raises(asyncio.TimeoutError):
        await pd.deliver(first)
    retried = await pd.deliver(ambiguous_retry(first))
    assert retried.kind is OutcomeKind.DELIVERED and retried.remote == RemoteRef(KEY)
    assert len(fake.alerts_for(KEY)) == 1 and len(fake.alerts_for(KEY)[0].events) == 2


async def test_rate_limit_and_server_errors_are_retried(fake, http):
    pd = destination(fake, http)
    fake.rate_limit()
    limited = await pd.deliver(delivery(change(ChangeKind.OPENED)))
    assert limited.kind is OutcomeKind.RETRY and limited.retry_after == pagerduty.RATE_LIMITED_WAIT
    fake.answers.append(aiohttp.web.Response(status=429, headers={"Retry-After": "7"}))
    assert (await pd.deliver(delivery(change(ChangeKind.OPENED)))).retry_after == 7.0
    fake.answers.append(aiohttp.web.Response(status=503, text="upstream unavailable"))
    unavailable = await pd.deliver(delivery(change(ChangeKind.OPENED)))
    assert unavailable.kind is OutcomeKind.RETRY and "HTTP 503" in unavailable.reason
    assert fake.alerts == []


async def test_an_invalid_event_is_a_dead_letter_naming_the_errors(fake, http):
    pd = destination(fake, http, routing_key="X" * 32)
    refused = await pd.deliver(delivery(change(ChangeKind.OPENED)))
    assert refused.kind is OutcomeKind.DEAD and refused.reason == "PagerDuty refused the event: Invalid routing key"


async def test_severities_override_the_defaults_by_priority(fake, http):
    pd = destination(fake, http, severities={"P2": "critical"})
    await pd.deliver(delivery(change(ChangeKind.OPENED)))
    await pd.deliver(delivery(change(ChangeKind.OPENED, priority="P3"), key="other"))
    assert [event["payload"]["severity"] for event in fake.requests] == ["critical", "warning"]


async def test_a_long_title_is_cut_to_the_summary_limit(fake, http):
    pd = destination(fake, http, title="{{ incident.title * 200 }}")
    assert (await pd.deliver(delivery(change(ChangeKind.OPENED)))).kind is OutcomeKind.DELIVERED
    assert len(fake.requests[0]["payload"]["summary"]) == 1024


@pytest.mark.parametrize("options, field", [
    ({"routing_key": "short"}, "routing_key"),
    ({"severities": {"P1": "sev1"}}, "severities"),
    ({"timeout_seconds": 0}, "timeout_seconds"),
    ({"urgency": "high"}, "urgency"),
    ({"title": "{{ incident.title"}, "title"),
])
def test_option_errors_name_the_option(options, field):
    assert option_error(pagerduty, "pd", {"routing_key": ROUTING_KEY} | options).field.startswith(field)


def test_webhooks_map_back_to_the_incident_by_its_key():
    pd = pagerduty.build("pd", {"routing_key": ROUTING_KEY, "webhook_secrets": [SECRET]}, None)
    acknowledged = pd.parse_inbound(*webhook("incident.acknowledged", KEY, SECRET, event_id="01DEV1"))
    assert [(c.event_id, c.action, c.body, c.remote_key) for c in acknowledged] == [("01DEV1", "acknowledge", {}, KEY)]
    [resolved] = pd.parse_inbound(*webhook("incident.resolved", KEY, SECRET))
    assert resolved.action == "resolve" and "Ana Oncall" in resolved.body["reason"]
    [reopened] = pd.parse_inbound(*webhook("incident.reopened", KEY, SECRET))
    assert reopened.action == "reopen"
    # other event types, and incidents our alerts did not open, are not ours to apply
    assert pd.parse_inbound(*webhook("incident.escalated", KEY, SECRET)) == []
    assert pd.parse_inbound(*webhook("incident.resolved", None, SECRET)) == []


def test_webhook_signatures_are_verified_through_a_secret_rotation():
    pd = pagerduty.build("pd", {"routing_key": ROUTING_KEY, "webhook_secrets": [NEXT_SECRET]}, None)
    assert len(pd.parse_inbound(*webhook("incident.resolved", KEY, SECRET, NEXT_SECRET))) == 1
    headers, body = webhook("incident.resolved", KEY, SECRET)
    for offered in (headers["X-PagerDuty-Signature"], "", "v0=" + "0" * 64):
        with pytest.raises(InboundRejected) as refused:
            pd.parse_inbound(headers | {"X-PagerDuty-Signature": offered}, body)
        assert (refused.value.status, refused.value.field) == (401, "X-PagerDuty-Signature")
    headers, body = webhook("incident.resolved", KEY, NEXT_SECRET)
    with pytest.raises(InboundRejected) as tampered:
        pd.parse_inbound(headers, body.replace(b"Ana", b"Eve"))
    assert tampered.value.status == 401
    not_json = b"not json"
    with pytest.raises(InboundRejected) as malformed:
        pd.parse_inbound(headers | {"X-PagerDuty-Signature": signature(not_json, NEXT_SECRET)}, not_json)
    assert (malformed.value.status, malformed.value.field) == (400, "event")


def test_inbound_is_off_without_a_secret():
    pd = pagerduty.build("pd", {"routing_key": ROUTING_KEY}, None)
    with pytest.raises(InboundRejected) as refused:
        pd.parse_inbound(*webhook("incident.resolved", KEY, SECRET))
    assert (refused.value.status, refused.value.field) == (403, "webhook_secrets")



def test_the_shipped_example_builds():
    [example] = example_destinations(EXAMPLES / "forwarding-pagerduty.yaml", ROUTING_KEY)
    assert example["type"] == pagerduty.TYPE
    assert pagerduty.build(example["name"], example["options"], None).parse_inbound(
        *webhook("incident.resolved", KEY, ROUTING_KEY))[0].action == "resolve"


async def test_a_storm_incident_counts_all_its_alerts_beside_the_first_listed(fake, http):
    await destination(fake, http).deliver(delivery(change(ChangeKind.OPENED, alert_count=4000)))
    details = fake.requests[0]["payload"]["custom_details"]
    assert details["alert_count"] == 4000 and len(details["alerts"]) == 2
    assert "Alerts (4000):" in details["body"]
