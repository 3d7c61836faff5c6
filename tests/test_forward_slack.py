"""The Slack adapter against a local incoming webhook: which changes become messages and what they
say, spacing per webhook, Retry-After holding every message back, Slack's error answers, options."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from correlator.forward import slack
from correlator.forward.contract import ChangeKind, OutcomeKind, RemoteRef
from tests.fake_slack import FakeSlack
from tests.forward_cases import (EXAMPLES, KEY, ambiguous_retry, change, delivery, example_destinations,
                                 http, option_error, running)  # noqa: F401 (http: a fixture)

SECRET = "XXXXXXXXXXXXXXXXXXXXXXXX"


@pytest.fixture
async def fake(aiohttp_server):
    fake = FakeSlack(SECRET)
    async with running(fake, aiohttp_server, fake.path()):
        yield fake


def destination(fake, http, **options):
    return slack.build("stakeholders", {"webhook_url": fake.url, "min_interval_seconds": 0} | options, http)


async def test_openings_priority_changes_and_resolutions_are_announced(fake, http):
    channel = destination(fake, http)
    opened = await channel.deliver(delivery(change(ChangeKind.OPENED)))
    assert opened.kind is OutcomeKind.DELIVERED and opened.remote == RemoteRef(KEY)
    remote = opened.remote
    for kind, detail in [(ChangeKind.ACKNOWLEDGED, {}), (ChangeKind.COMMENTED, {"text": "x"}),
                         (ChangeKind.UPDATED, {"alerts": {"from": 2, "to": 3}}), (ChangeKind.CLOSED, {}),
                         (ChangeKind.ASSIGNED, {"team": "db"})]:
        assert (await channel.deliver(delivery(change(kind, detail), remote))).kind is OutcomeKind.SKIPPED
    raised = delivery(change(ChangeKind.UPDATED, {"priority": {"from": "P2", "to": "P1"}}, priority="P1"), remote)
    assert (await channel.deliver(raised)).kind is OutcomeKind.DELIVERED
    lowered = delivery(change(ChangeKind.UPDATED, {"priority": {"from": "P1", "to": "P3"}}, priority="P3"), remote)
    assert (await channel.deliver(lowered)).kind is OutcomeKind.DELIVERED
    assert (await channel.deliver(delivery(change(ChangeKind.RESOLVED, state="resolved"), remote))).kind \
        is OutcomeKind.DELIVERED

    assert [m["text"] for m in fake.messages] == [
        "Incident opened: [P2] checkout latency and 5xx https://correlator.example.com/incidents/inc-7f3a9c",
        "Priority raised P2 → P1: [P1] checkout latency and 5xx https://correlator.example.com/incidents/inc-7f3a9c",
        "Priority lowered P1 → P3: [P3] checkout latency and 5xx https://correlator.example.com/incidents/inc-7f3a9c",
        "Incident resolved: [P2] checkout latency and 5xx https://correlator.example.com/incidents/inc-7f3a9c"]
    header, section, context = fake.messages[0]["blocks"]
    assert header["text"]["text"] == "Incident opened: [P2] checkout latency and 5xx"
    assert "P2 (impact high x urgency medium)" in section["text"]["text"]
    assert context["elements"][0]["text"] == \
        "<https://correlator.example.com/incidents/inc-7f3a9c|Open incident inc-7f3a9c>"


async def test_a_resolution_never_opened_in_slack_is_skipped(fake, http):
    assert (await destination(fake, http).deliver(delivery(change(ChangeKind.RESOLVED)))).kind is OutcomeKind.SKIPPED
    assert fake.messages == []


async def test_text_is_escaped_and_cut_to_block_kit_limits(fake, http):
    channel = destination(fake, http, title="{{ incident.title * 20 }}", body="<@U123> & {{ incident.title * 200 }}")
    assert (await channel.deliver(delivery(change(ChangeKind.OPENED)))).kind is OutcomeKind.DELIVERED
    header, section, _ = fake.messages[0]["blocks"]
    assert len(header["text"]["text"]) == 150 and len(section["text"]["text"]) == 3000
    assert section["text"]["text"].startswith("&lt;@U123&gt; &amp; ")


async def test_messages_to_one_webhook_are_spaced(fake, http):
    fake.min_spacing = 0.05
    channel = destination(fake, http, min_interval_seconds=0.1)
    outcomes = await asyncio.gather(*(channel.deliver(delivery(change(ChangeKind.OPENED), outbox_id=n))
                                      for n in range(4)))
    assert [o.kind for o in outcomes] == [OutcomeKind.DELIVERED] * 4
    assert all(later - earlier >= 0.05 for earlier, later in zip(fake.arrivals, fake.arrivals[1:]))


async def test_retry_after_holds_back_every_message_to_the_webhook(fake, http):
    fake.min_spacing, fake.retry_after = 60, 30
    channel = destination(fake, http)
    assert (await channel.deliver(delivery(change(ChangeKind.OPENED), outbox_id=1))).kind is OutcomeKind.DELIVERED
    limited = await channel.deliver(delivery(change(ChangeKind.OPENED), outbox_id=2))
    assert limited.kind is OutcomeKind.RETRY and limited.retry_after == 30.0 and "rate_limited" in limited.reason
    held = await channel.deliver(delivery(change(ChangeKind.OPENED), outbox_id=3))
    assert held.kind is OutcomeKind.RETRY and 25 < held.retry_after <= 30
    assert len(fake.messages) == 1


@pytest.mark.parametrize("setup, status, error", [
    (lambda fake: setattr(fake, "archived", True), 410, "channel_is_archived"),
    (lambda fake: setattr(fake, "secret", "revoked"), 404, "no_service"),
    (lambda fake: fake.answers.append(aiohttp.web.Response(status=403, text="invalid_token")), 403, "invalid_token"),
    (lambda fake: fake.answers.append(aiohttp.web.Response(status=400, text="invalid_payload")), 400,
     "invalid_payload"),
])
async def test_slack_errors_are_dead_letters_naming_them(fake, http, setup, status, error):
    channel = destination(fake, http)
    setup(fake)
    refused = await channel.deliver(delivery(change(ChangeKind.OPENED)))
    assert refused.kind is OutcomeKind.DEAD and refused.reason == f"Slack webhook: HTTP {status} {error}"


async def test_server_errors_are_retried(fake, http):
    fake.answers.append(aiohttp.web.Response(status=500, text="rollup_error"))
    failed = await destination(fake, http).deliver(delivery(change(ChangeKind.OPENED)))
    assert failed.kind is OutcomeKind.RETRY and "rollup_error" in failed.reason


async def test_an_ambiguous_retry_posts_again(fake, http):
    # Slack has no key to find a message by: at least once, never lost
    channel = destination(fake, http, timeout_seconds=0.2)
    first = delivery(change(ChangeKind.OPENED))
    fake.stall_after_post = 1
    with pytest.raises(asyncio.TimeoutError):
        await channel.deliver(first)
    assert (await channel.deliver(ambiguous_retry(first))).kind is OutcomeKind.DELIVERED
    assert len(fake.messages) == 2


@pytest.mark.parametrize("options, field", [
    ({"webhook_url": "hooks.slack.com/services/x"}, "webhook_url"),
    ({"min_interval_seconds": -1}, "min_interval_seconds"),
    ({"channel": "#general"}, "channel"),
    ({"body": "{{ incident.title }"}, "body"),
])
def test_option_errors_name_the_option(options, field):
    url = "https://hooks.slack.com/services/T/B/X"
    assert option_error(slack, "stakeholders", {"webhook_url": url} | options).field.startswith(field)


def test_option_webhook_url_is_required():
    assert option_error(slack, "stakeholders", {}).field == "webhook_url"


def test_the_shipped_example_builds():
    [example] = example_destinations(EXAMPLES / "forwarding-slack.yaml", "https://hooks.slack.com/services/T/B/X")
    assert example["type"] == slack.TYPE
    assert slack.build(example["name"], example["options"], None).name == example["name"]
