"""The Opsgenie adapter against a local Alert API: create by alias, notes, priority, acknowledge,
close and reopen; asynchronous request results (processing, failed); no duplicate after a timeout;
rate limits, errors, auth and options."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from correlator.forward import opsgenie
from correlator.forward.contract import ChangeKind, OutcomeKind, RemoteRef
from tests.fake_opsgenie import FakeOpsgenie
from tests.forward_cases import (EXAMPLES, KEY, ambiguous_retry, change, delivery, example_destinations,
                                 http, option_error, running)  # noqa: F401 (http: a fixture)

API_KEY = "eb243592-faa2-4ba2-a551q-1afdf565c889"


@pytest.fixture
async def fake(aiohttp_server):
    async with running(FakeOpsgenie(API_KEY), aiohttp_server) as fake:
        yield fake


def read(notes: list[str]) -> list[str]:
    """The notes as people read them, without their last line (the outbox row and a digest)."""
    return [note.rpartition("\n(change ")[0] for note in notes]


def destination(fake, http, **options):
    return opsgenie.build("og", {"api_key": API_KEY, "api_url": fake.url, "request_check_interval_seconds": 0,
                                 "tags": ["correlator"], "responders": [{"type": "team", "name": "payments"}]}
                          | options, http)


async def test_lifecycle_is_one_alert_under_the_alias(fake, http):
    og = destination(fake, http)
    opened = await og.deliver(delivery(change(ChangeKind.OPENED)))
    assert opened.kind is OutcomeKind.DELIVERED
    [alert] = fake.alerts
    assert opened.remote == RemoteRef(KEY, extra={"alert_id": alert.id})
    assert (alert.alias, alert.message, alert.priority) == (KEY, "[P2] checkout latency and 5xx", "P2")
    assert alert.tags == ["correlator", "P2", "availability", "team:payments", "service:checkout",
                          "service:payments-api"]
    assert alert.details["priority"] == "P2 (impact high x urgency medium)"
    assert alert.details["link"] == "https://correlator.example.com/incidents/inc-7f3a9c"
    assert "HighLatency [firing]" in alert.description and "(rule:checkout)" in alert.description
    _, _, created = fake.posts[0]
    assert created["responders"] == [{"type": "team", "name": "payments"}] and created["source"] == "correlator"

    remote = opened.remote
    raised = await og.deliver(delivery(change(ChangeKind.UPDATED, {"priority": {"from": "P2", "to": "P1"}},
                                              priority="P1"), remote))
    assert raised.kind is OutcomeKind.DELIVERED and raised.remote == remote
    assert alert.priority == "P1" and read(alert.notes) == ["updated by correlator\npriority: P2 -> P1\n"]
    await og.deliver(delivery(change(ChangeKind.COMMENTED, {"text": "rolling back"}, actor="alice"), remote))
    assert read(alert.notes)[-1] == "commented by alice: rolling back\n"
    await og.deliver(delivery(change(ChangeKind.ACKNOWLEDGED, actor="alice"), remote))
    assert alert.acknowledged
    closed = await og.deliver(delivery(change(ChangeKind.RESOLVED), remote))
    assert closed.kind is OutcomeKind.DELIVERED and alert.status == "closed"
    assert (await og.deliver(delivery(change(ChangeKind.CLOSED), remote))).kind is OutcomeKind.SKIPPED

    assert (await og.deliver(delivery(change(ChangeKind.REOPENED), remote))).kind is OutcomeKind.DELIVERED
    assert [a.status for a in fake.by_alias(KEY)] == ["closed", "open"]
    assert [(method, path) for method, path, _ in fake.posts] == [
        ("POST", "/v2/alerts"), ("POST", f"/v2/alerts/{KEY}/notes"), ("PUT", f"/v2/alerts/{KEY}/priority"),
        ("POST", f"/v2/alerts/{KEY}/notes"), ("POST", f"/v2/alerts/{KEY}/acknowledge"),
        ("POST", f"/v2/alerts/{KEY}/close"), ("POST", "/v2/alerts")]


async def test_first_delivery_of_any_kind_creates_and_an_unknown_close_is_skipped(fake, http):
    og = destination(fake, http)
    assert (await og.deliver(delivery(change(ChangeKind.RESOLVED)))).kind is OutcomeKind.SKIPPED
    assert (await og.deliver(delivery(change(ChangeKind.ACKNOWLEDGED)))).kind is OutcomeKind.DELIVERED
    assert [a.alias for a in fake.alerts] == [KEY] and fake.posts[0][1] == "/v2/alerts"


async def test_no_duplicate_alert_after_a_timeout_once_the_create_was_applied(fake, http):
    og = destination(fake, http, timeout_seconds=0.2)
    first = delivery(change(ChangeKind.OPENED))
    fake.stall_after_apply = 1
    with pytest.raises(asyncio.TimeoutError):
        await og.deliver(first)
    retried = await og.deliver(ambiguous_retry(first))
    assert retried.kind is OutcomeKind.DELIVERED
    [alert] = fake.alerts
    assert alert.count == 2 and retried.remote.key == KEY


async def test_a_request_still_processing_is_asked_about_again_not_sent_again(fake, http):
    og = destination(fake, http, request_checks=2)
    fake.unprocessed_checks = 3
    first = delivery(change(ChangeKind.OPENED))
    pending = await og.deliver(first)
    assert pending.kind is OutcomeKind.RETRY and "not processed" in pending.reason
    done = await og.deliver(delivery(first.change, attempt=2))
    assert done.kind is OutcomeKind.DELIVERED and done.remote.extra["alert_id"] == fake.alerts[0].id
    assert len(fake.posts) == 1


async def test_a_status_check_refused_is_retried_by_asking_again(fake, http):
    og = destination(fake, http)
    fake.rate_limit(period=1)
    fake.status_answers.append(fake.answers.pop())
    first = delivery(change(ChangeKind.OPENED))
    limited = await og.deliver(first)
    assert limited.kind is OutcomeKind.RETRY and limited.retry_after == 1.0
    assert (await og.deliver(delivery(first.change, attempt=2))).kind is OutcomeKind.DELIVERED
    assert len(fake.posts) == 1 and fake.alerts[0].count == 1


async def test_only_the_unfinished_calls_of_a_delivery_are_sent_again(fake, http):
    og = destination(fake, http)
    remote = (await og.deliver(delivery(change(ChangeKind.OPENED)))).remote
    update = delivery(change(ChangeKind.UPDATED, {"priority": {"from": "P2", "to": "P1"}}, priority="P1"), remote,
                      outbox_id=2)
    fake.route_answers[("PUT", f"/v2/alerts/{KEY}/priority")] = [
        aiohttp.web.json_response({"message": "Internal error"}, status=500)]
    failed = await og.deliver(update)
    assert failed.kind is OutcomeKind.RETRY
    assert fake.alerts[0].notes and fake.alerts[0].priority == "P2"
    assert (await og.deliver(update)).kind is OutcomeKind.DELIVERED
    assert read(fake.alerts[0].notes) == ["updated by correlator\npriority: P2 -> P1\n"]
    assert fake.alerts[0].priority == "P1"


async def test_a_note_added_before_a_restart_is_not_added_again(fake, http):
    remote = (await destination(fake, http).deliver(delivery(change(ChangeKind.OPENED)))).remote
    comment = change(ChangeKind.COMMENTED, {"text": "rolling back"}, actor="alice")
    fake.unprocessed_checks = 10  # added, but the result never shows before the daemon stops
    assert (await destination(fake, http).deliver(delivery(comment, remote, outbox_id=3))).kind is OutcomeKind.RETRY
    fake.unprocessed_checks = 0
    restarted = destination(fake, http)  # the request ids awaiting their result were in memory
    assert (await restarted.deliver(delivery(comment, remote, outbox_id=3, attempt=2))).kind is OutcomeKind.DELIVERED
    assert read(fake.alerts[0].notes) == ["commented by alice: rolling back\n"]
    # a note of another row (or whose text changed) is added
    other = change(ChangeKind.COMMENTED, {"text": "rolled back"}, actor="alice")
    assert (await restarted.deliver(delivery(other, remote, outbox_id=4, attempt=2))).kind is OutcomeKind.DELIVERED
    assert len(fake.alerts[0].notes) == 2


async def test_a_request_that_failed_in_processing_is_a_dead_letter(fake, http):
    og = destination(fake, http)
    refused = await og.deliver(delivery(change(ChangeKind.ACKNOWLEDGED), RemoteRef("never-created")))
    assert refused.kind is OutcomeKind.DEAD and refused.reason.startswith("Opsgenie acknowledge: request ")
    assert refused.reason.endswith("failed: Alert does not exist")


async def test_rate_limits_server_errors_and_refusals(fake, http):
    og = destination(fake, http)
    fake.rate_limit(period=60)
    limited = await og.deliver(delivery(change(ChangeKind.OPENED)))
    assert limited.kind is OutcomeKind.RETRY and limited.retry_after == 60.0 and "HTTP 429" in limited.reason
    fake.answers.append(aiohttp.web.Response(status=503))
    assert (await og.deliver(delivery(change(ChangeKind.OPENED)))).kind is OutcomeKind.RETRY
    assert fake.alerts == []
    unprocessable = await destination(fake, http, title="{{ ' ' }}").deliver(delivery(change(ChangeKind.OPENED)))
    assert unprocessable.kind is OutcomeKind.DEAD and "HTTP 422" in unprocessable.reason
    assert "Message can not be empty." in unprocessable.reason
    unauthorised = await destination(fake, http, api_key="wrong").deliver(delivery(change(ChangeKind.OPENED)))
    assert unauthorised.kind is OutcomeKind.DEAD and "HTTP 401" in unauthorised.reason
    assert "Could not authenticate" in unauthorised.reason


async def test_long_fields_are_cut_to_opsgenie_limits(fake, http):
    og = destination(fake, http, title="{{ incident.title * 20 }}")
    assert (await og.deliver(delivery(change(ChangeKind.OPENED), key="k" * 600))).kind is OutcomeKind.DELIVERED
    [alert] = fake.alerts
    assert len(alert.message) == 130 and len(alert.alias) == 64


@pytest.mark.parametrize("options, field", [
    ({"api_key": ""}, "api_key"),
    ({"responders": [{"type": "squad", "name": "x"}]}, "responders"),
    ({"tags": ["x" * 51]}, "tags"),
    ({"request_checks": 0}, "request_checks"),
    ({"region": "eu"}, "region"),
    ({"note": "{% if %}"}, "note"),
])
def test_option_errors_name_the_option(options, field):
    assert option_error(opsgenie, "og", {"api_key": API_KEY} | options).field.startswith(field)


def test_the_shipped_example_builds():
    [example] = example_destinations(EXAMPLES / "forwarding-opsgenie.yaml", API_KEY)
    assert example["type"] == opsgenie.TYPE
    assert opsgenie.build(example["name"], example["options"], None).name == example["name"]


async def test_a_storm_incident_counts_all_its_alerts_beside_the_first_listed(fake, http):
    await destination(fake, http).deliver(delivery(change(ChangeKind.OPENED, alert_count=4000)))
    [alert] = fake.alerts
    assert alert.details["alerts"] == "4000" and "Alerts (4000):" in alert.description
