"""The ServiceNow adapter against a local instance speaking the Table API (tests/fake_servicenow.py):
create with impact/urgency and correlation_id, work notes, resolve/close/reopen through the data
policy, no duplicate after a lost answer, status handling, auth, options, and inbound parsing."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import unquote
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp
import pytest
import yaml

from correlator.domain import FieldError
from correlator.domain.actions import ACTIONS, decode_action
from correlator.forward import servicenow
from correlator.forward.contract import (AlertSummary, ChangeKind, Delivery, DestinationError, IncidentChange,
                                         IncidentSnapshot, InboundRejected, OutcomeKind, RemoteRef)
from tests.fake_servicenow import FakeServiceNow

NOW = datetime(2026, 12, 3, 1, 0, tzinfo=timezone.utc)
KEY = "corr-inc-42-snow"
TOKEN = "inbound-token-0123456789"


def snapshot(**fields) -> IncidentSnapshot:
    values = dict(id="inc-42", title="checkout latency", state="open", priority="P2", impact="high",
                  urgency="medium", category="performance", service_area="application", services=("checkout",),
                  team="payments", tier=1, opened_at=NOW, resolved_at=None,
                  alerts=(AlertSummary("HighLatency", "firing", {"service": "checkout"}, "rule:same-service",
                                       "p99 above 2s"),),
                  url="https://correlator.example/incidents/inc-42")
    return IncidentSnapshot(**{**values, **fields})


def delivery(kind: ChangeKind, remote: RemoteRef | None = None, detail: dict | None = None, attempt: int = 1,
             create_sent_at: datetime | None = None, **incident) -> Delivery:
    change = IncidentChange(kind, NOW, "alice", snapshot(**incident), detail or {})
    return Delivery(1, "snow", change, KEY, remote, attempt, NOW, create_sent_at)


@pytest.fixture
async def instance(aiohttp_server):
    fake = FakeServiceNow()
    server = await aiohttp_server(fake.app())
    fake.url = str(server.make_url("")).rstrip("/")
    yield fake
    fake.release()  # a held answer returns before the server closes


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


def destination(instance, http, **options):
    base = {"instance_url": instance.url, "username": "correlator", "password": "s3cret",
            "assignment_group": "Payments L1", "caller_id": "correlator.integration", "category": "software",
            "inbound_token": TOKEN, "timeout_seconds": 2}
    return servicenow.build("snow", {**base, **options}, http)


async def test_opened_creates_an_incident_with_impact_urgency_and_the_correlation_id(instance, http):
    outcome = await destination(instance, http).deliver(delivery(ChangeKind.OPENED))

    assert outcome.kind is OutcomeKind.DELIVERED
    record = instance.records[outcome.remote.key]
    assert record["short_description"] == "[P2] checkout latency"
    assert "HighLatency" in record["description"] and "p99 above 2s" in record["description"]
    assert "https://correlator.example/incidents/inc-42" in record["description"]
    assert (record["impact"], record["urgency"]) == ("1", "2")
    assert (record["correlation_id"], record["correlation_display"]) == (KEY, "correlator")
    assert (record["assignment_group"], record["caller_id"], record["category"]) == (
        "Payments L1", "correlator.integration", "software")
    assert outcome.remote.extra["number"] == record["number"]
    assert outcome.remote.url == f"{instance.url}/incident.do?sys_id={record['sys_id']}"
    # the lookup by correlation_id came first, even on a first attempt
    assert [method for method, _ in instance.calls] == ["GET", "POST"]
    assert f"sysparm_query=correlation_id={KEY}" in unquote(instance.calls[0][1])


async def test_impact_and_urgency_maps_override_the_defaults(instance, http):
    snow = destination(instance, http, impact={"high": 2}, urgency={"medium": 1})
    outcome = await snow.deliver(delivery(ChangeKind.OPENED))
    record = instance.records[outcome.remote.key]
    assert (record["impact"], record["urgency"]) == ("2", "1")


async def test_oauth_bearer_token_authenticates(instance, http):
    snow = servicenow.build("snow", {"instance_url": instance.url, "oauth_token": instance.token}, http)
    assert (await snow.deliver(delivery(ChangeKind.OPENED))).kind is OutcomeKind.DELIVERED


async def test_wrong_credentials_are_a_dead_letter_with_servicenow_error(instance, http):
    outcome = await destination(instance, http, password="wrong").deliver(delivery(ChangeKind.OPENED))
    assert outcome.kind is OutcomeKind.DEAD
    assert "HTTP 401" in outcome.reason and "User Not Authenticated" in outcome.reason
    assert instance.records == {}


async def created(instance, http) -> tuple[servicenow.ServiceNowDestination, RemoteRef]:
    snow = destination(instance, http)
    outcome = await snow.deliver(delivery(ChangeKind.OPENED))
    return snow, outcome.remote


async def test_updates_write_work_notes_marked_as_ours(instance, http):
    snow, remote = await created(instance, http)
    changes = [
        (ChangeKind.UPDATED, {"priority": {"from": "P3", "to": "P2"}, "alerts": {"from": 1, "to": 3}}),
        (ChangeKind.ACKNOWLEDGED, {}),
        (ChangeKind.ASSIGNED, {"team": "payments"}),
        (ChangeKind.ESCALATED, {"team": "sre", "reason": "no progress"}),
        (ChangeKind.COMMENTED, {"text": "rolled back 1.4.2"}),
    ]
    for kind, detail in changes:
        outcome = await snow.deliver(delivery(kind, remote, detail, title="checkout latency and errors"))
        assert outcome.kind is OutcomeKind.DELIVERED and outcome.remote == remote

    notes = instance.notes(remote.key)
    assert all(note.startswith(servicenow.WORK_NOTE_MARKER) for note in notes)
    assert "priority P3 -> P2" in notes[0] and "alerts 1 -> 3" in notes[0]
    assert "Acknowledged by alice" in notes[1]
    assert "Assigned to team payments" in notes[2]
    assert "Escalated to team sre" in notes[3] and "no progress" in notes[3]
    assert "rolled back 1.4.2" in notes[4]
    # an update re-renders the record from the snapshot
    assert instance.records[remote.key]["short_description"] == "[P2] checkout latency and errors"


async def test_resolve_close_and_reopen_pass_the_data_policy(instance, http):
    snow, remote = await created(instance, http)
    record = instance.records[remote.key]

    resolved = await snow.deliver(delivery(ChangeKind.RESOLVED, remote, {"reason": "deploy fixed"}, state="resolved"))
    assert resolved.kind is OutcomeKind.DELIVERED
    assert (record["state"], record["close_code"]) == ("6", "Solution provided")
    assert "deploy fixed" in record["close_notes"] and "incidents/inc-42" in record["close_notes"]

    await snow.deliver(delivery(ChangeKind.REOPENED, remote, {"reason": "came back"}))
    assert record["state"] == "2"
    assert "came back" in instance.notes(remote.key)[-1]

    await snow.deliver(delivery(ChangeKind.CLOSED, remote))
    assert record["state"] == "7"


async def test_merged_resolves_the_record_naming_the_other_incident(instance, http):
    snow, remote = await created(instance, http)
    assert (await snow.deliver(delivery(ChangeKind.MERGED, remote, {"into": "inc-7"}))).kind is OutcomeKind.DELIVERED
    record = instance.records[remote.key]
    assert record["state"] == "6" and "inc-7" in record["close_notes"]


async def test_the_fake_refuses_a_resolve_without_close_fields_as_the_instance_does(instance, http):
    """What the adapter avoids: the base data policy's 403, which must be a dead letter, not a retry."""
    snow = destination(instance, http, close_notes_template="{{ '' }}")  # a template rendering nothing
    remote = (await snow.deliver(delivery(ChangeKind.OPENED))).remote
    outcome = await snow.deliver(delivery(ChangeKind.RESOLVED, remote))
    assert outcome.kind is OutcomeKind.DEAD
    assert "HTTP 403" in outcome.reason and "Data Policy Exception" in outcome.reason
    assert "Resolution notes" in outcome.reason and instance.records[remote.key]["state"] == "1"


async def test_a_lost_create_answer_is_found_by_correlation_id_not_created_again(instance, http):
    snow = destination(instance, http, timeout_seconds=0.3)
    instance.hang_writes = True
    with pytest.raises(asyncio.TimeoutError):
        await snow.deliver(delivery(ChangeKind.OPENED))
    assert len(instance.by_correlation(KEY)) == 1  # applied, answer lost

    instance.hang_writes = False
    instance.release()
    retried = await snow.deliver(delivery(ChangeKind.OPENED, attempt=2, create_sent_at=NOW - timedelta(seconds=1)))
    assert retried.kind is OutcomeKind.DELIVERED
    assert len(instance.by_correlation(KEY)) == 1
    assert retried.remote.key == instance.by_correlation(KEY)[0]["sys_id"]


async def test_a_lost_update_answer_is_retried_to_the_same_state(instance, http):
    snow, remote = await created(instance, http)
    snow = destination(instance, http, timeout_seconds=0.3)
    instance.hang_writes = True
    with pytest.raises(asyncio.TimeoutError):
        await snow.deliver(delivery(ChangeKind.RESOLVED, remote, {"reason": "fixed"}))
    instance.hang_writes = False
    instance.release()
    again = await snow.deliver(delivery(ChangeKind.RESOLVED, remote, {"reason": "fixed"}, attempt=2))
    assert again.kind is OutcomeKind.DELIVERED and instance.records[remote.key]["state"] == "6"
    assert len(instance.records) == 1
    assert [note.split(" (change")[0] for note in instance.notes(remote.key)] == \
        ["[correlator] Resolved by alice: fixed"]  # found in the journal: not written twice
    assert ("GET", "/api/now/table/sys_journal_field") in {(m, path.split("?")[0]) for m, path in instance.calls}


async def test_a_retried_update_is_written_again_when_the_journal_lacks_it(instance, http):
    """The first attempt never reached the instance (or the integration user may not read the
    journal): the update is written."""
    snow, remote = await created(instance, http)
    again = await snow.deliver(delivery(ChangeKind.ACKNOWLEDGED, remote, attempt=2))
    assert again.kind is OutcomeKind.DELIVERED
    assert [note.split(" (change")[0] for note in instance.notes(remote.key)] == ["[correlator] Acknowledged by alice"]


async def test_a_change_that_routes_a_new_incident_creates_it_then_writes_the_change(instance, http):
    snow = destination(instance, http)
    outcome = await snow.deliver(delivery(ChangeKind.ESCALATED, detail={"team": "sre"}))
    assert outcome.kind is OutcomeKind.DELIVERED
    assert "Escalated to team sre" in instance.notes(outcome.remote.key)[0]
    # retried after its answer was lost: the same record, one more note, no second incident
    again = await snow.deliver(delivery(ChangeKind.ESCALATED, detail={"team": "sre"}, attempt=2, create_sent_at=NOW))
    assert again.remote.key == outcome.remote.key and len(instance.records) == 1


async def test_a_create_whose_change_failed_to_follow_is_completed_on_the_same_record(instance, http):
    """The create landed, the change's PATCH was rate limited: the retry finds the record and patches it."""
    snow = destination(instance, http)
    instance.rate_limited, instance.rate_limited_methods = 1, ("PATCH",)
    outcome = await snow.deliver(delivery(ChangeKind.COMMENTED, detail={"text": "db failover"}))
    assert outcome.kind is OutcomeKind.RETRY and outcome.retry_after == 7
    assert len(instance.records) == 1 and instance.notes(next(iter(instance.records))) == []

    retried = await snow.deliver(delivery(ChangeKind.COMMENTED, detail={"text": "db failover"}, attempt=2,
                                          create_sent_at=NOW))
    assert retried.kind is OutcomeKind.DELIVERED and len(instance.records) == 1
    assert ["db failover" in note for note in instance.notes(retried.remote.key)] == [True]


async def test_resolving_an_incident_never_sent_is_skipped(instance, http):
    outcome = await destination(instance, http).deliver(delivery(ChangeKind.RESOLVED))
    assert outcome.kind is OutcomeKind.SKIPPED and instance.records == {}


async def test_429_is_retried_after_the_instance_says(instance, http):
    instance.rate_limited = 1
    outcome = await destination(instance, http).deliver(delivery(ChangeKind.OPENED))
    assert outcome.kind is OutcomeKind.RETRY and outcome.retry_after == 7
    assert "Rate limit exceeded" in outcome.reason


async def test_rate_limit_reset_epoch_is_honoured_without_retry_after(instance, http):
    instance.rate_limited, instance.retry_after_header = 1, False
    outcome = await destination(instance, http).deliver(delivery(ChangeKind.OPENED))
    assert outcome.kind is OutcomeKind.RETRY
    assert 5 < outcome.retry_after <= 7  # the reset is a whole epoch second, 7 s ahead of the fake's clock


async def test_5xx_is_retried_and_a_later_attempt_creates_once(instance, http):
    snow = destination(instance, http)
    instance.failing = 1
    assert (await snow.deliver(delivery(ChangeKind.OPENED))).kind is OutcomeKind.RETRY
    assert (await snow.deliver(delivery(ChangeKind.OPENED, attempt=2))).kind is OutcomeKind.DELIVERED
    assert len(instance.records) == 1


async def test_update_of_a_deleted_record_is_dead_with_servicenow_error(instance, http):
    snow = destination(instance, http)
    outcome = await snow.deliver(delivery(ChangeKind.COMMENTED, RemoteRef("0" * 32), {"text": "hi"}))
    assert outcome.kind is OutcomeKind.DEAD
    assert "HTTP 404" in outcome.reason and "No Record found" in outcome.reason


async def test_a_non_json_success_is_retried(aiohttp_server, http):
    from aiohttp import web
    app = web.Application()
    async def hibernating(request):
        return web.Response(text="<html>Your instance is hibernating</html>", content_type="text/html")

    app.router.add_get("/api/now/table/incident", hibernating)
    server = await aiohttp_server(app)
    snow = servicenow.build("snow", {"instance_url": str(server.make_url("")), "oauth_token": "t"}, http)
    outcome = await snow.deliver(delivery(ChangeKind.OPENED))
    assert outcome.kind is OutcomeKind.RETRY and "not JSON" in outcome.reason


@pytest.mark.parametrize("options, field", [
    ({"instance_url": "example.service-now.com", "oauth_token": "t"}, "instance_url"),
    ({"instance_url": "https://x.service-now.com"}, "username"),
    ({"instance_url": "https://x.service-now.com", "username": "u"}, "password"),
    ({"instance_url": "https://x.service-now.com", "oauth_token": "t", "username": "u", "password": "p"},
     "oauth_token"),
    ({"instance_url": "https://x.service-now.com", "oauth_token": "t", "impact": {"high": 4}}, "impact"),
    ({"instance_url": "https://x.service-now.com", "oauth_token": "t", "urgency": {"critical": 1}}, "urgency"),
    ({"instance_url": "https://x.service-now.com", "oauth_token": "t", "assignment": "x"}, "assignment"),
    ({"instance_url": "https://x.service-now.com", "oauth_token": "t", "title_template": "{{ x"}, "title_template"),
    ({"instance_url": "https://x.service-now.com", "oauth_token": "t", "table": "incident; drop"}, "table"),
])
async def test_option_errors_name_the_option(options, field, http):
    with pytest.raises(DestinationError) as raised:
        servicenow.build("snow", options, http)
    assert raised.value.field.startswith(field), raised.value


# --- inbound

def inbound(snow, payload: dict, token: str = TOKEN):
    return snow.parse_inbound({"Authorization": f"Bearer {token}"}, json.dumps(payload).encode())


def record_update(**fields) -> dict:
    return {"sys_id": "a1b2", "number": "INC0010001", "sys_mod_count": 4, "correlation_id": KEY,
            "state": "2", "previous_state": "2", "updated_by": "bob", **fields}


async def test_inbound_resolve_reopen_acknowledge_and_comments(instance, http):
    snow = destination(instance, http)
    [resolve] = inbound(snow, record_update(state="6", close_notes="restarted pods"))
    assert (resolve.action, resolve.remote_key, resolve.event_id) == ("resolve", "a1b2", "a1b2:4:state")
    assert "INC0010001" in resolve.body["reason"] and "restarted pods" in resolve.body["reason"]

    assert inbound(snow, record_update(state="7", previous_state="6")) == []  # closed after resolved: already done
    [closed] = inbound(snow, record_update(state="7", previous_state="2"))
    assert closed.action == "resolve"
    [reopen] = inbound(snow, record_update(state="2", previous_state="6"))
    assert reopen.action == "reopen"
    [ack] = inbound(snow, record_update(state="2", previous_state="1"))
    assert (ack.action, ack.body) == ("acknowledge", {})

    note, comment = inbound(snow, record_update(work_notes="checked the DB", comments="users see errors"))
    assert (note.action, note.event_id) == ("comment", "a1b2:4:work_notes")
    assert "checked the DB" in note.body["text"] and "bob" in note.body["text"]
    assert (comment.event_id, "users see errors" in comment.body["text"]) == ("a1b2:4:comments", True)


async def test_inbound_bodies_are_valid_operator_action_bodies(instance, http):
    snow = destination(instance, http)
    payloads = [record_update(state="6", previous_state="2", close_notes="done"),
                record_update(state="1", previous_state="7"),
                record_update(state="2", previous_state="1", work_notes="a", comments="b")]
    changes = [change for payload in payloads for change in inbound(snow, payload)]
    assert [change.action for change in changes] == ["resolve", "reopen", "acknowledge", "comment", "comment"]
    for change in changes:
        decoded = decode_action(ACTIONS[change.action][1], json.dumps(change.body).encode())
        assert not isinstance(decoded, FieldError), decoded


async def test_inbound_skips_our_own_work_notes_and_keeps_event_ids_stable(instance, http):
    snow = destination(instance, http)
    assert inbound(snow, record_update(work_notes=f"{servicenow.WORK_NOTE_MARKER} Acknowledged by alice")) == []
    # everything in an update the integration user made is ours
    assert inbound(snow, record_update(state="6", previous_state="2", updated_by="correlator")) == []
    payload = record_update(state="6", work_notes="fixed")
    assert [c.event_id for c in inbound(snow, payload)] == [c.event_id for c in inbound(snow, payload)]


async def test_the_adapters_own_work_note_round_trips_as_skipped(instance, http):
    """A note we wrote, as the business rule would echo it back, is not a new comment."""
    snow, remote = await created(instance, http)
    await snow.deliver(delivery(ChangeKind.COMMENTED, remote, {"text": "looking"}))
    [echo] = instance.notes(remote.key)
    assert inbound(snow, record_update(sys_id=remote.key, work_notes=echo)) == []


@pytest.mark.parametrize("headers, status, field", [
    ({}, 401, "Authorization"),
    ({"Authorization": "Bearer wrong"}, 401, "Authorization"),
    ({"Authorization": f"Basic {TOKEN}"}, 401, "Authorization"),
])
async def test_inbound_without_the_token_is_refused(instance, http, headers, status, field):
    with pytest.raises(InboundRejected) as raised:
        destination(instance, http).parse_inbound(headers, json.dumps(record_update()).encode())
    assert (raised.value.status, raised.value.field) == (status, field)


async def test_inbound_is_refused_when_no_token_is_configured(instance, http):
    snow = destination(instance, http, inbound_token=None)
    with pytest.raises(InboundRejected) as raised:
        inbound(snow, record_update())
    assert (raised.value.status, raised.value.field) == (403, "inbound_token")


@pytest.mark.parametrize("body, field", [
    (b"not json", "$"),
    (json.dumps({"number": "INC1", "sys_mod_count": 1}).encode(), "sys_id"),
    (json.dumps({"sys_id": "a", "sys_mod_count": "x"}).encode(), "sys_mod_count"),
])
async def test_inbound_bad_bodies_name_the_field(instance, http, body, field):
    with pytest.raises(InboundRejected) as raised:
        destination(instance, http).parse_inbound({"Authorization": f"Bearer {TOKEN}"}, body)
    assert (raised.value.status, raised.value.field) == (400, field)


async def test_the_shipped_example_builds_and_delivers(instance, http):
    """config/examples/forwarding-servicenow.yaml, its secrets standing in for the environment's."""
    document = yaml.safe_load((Path(__file__).parent.parent / "config/examples/forwarding-servicenow.yaml").read_text())
    [spec] = document["forwarding"]["destinations"]
    instance.user = spec["options"]["username"]
    secrets = {"SERVICENOW_PASSWORD": instance.password, "SERVICENOW_INBOUND_TOKEN": TOKEN}
    options = {name: secrets[value["env"]] if isinstance(value, dict) and "env" in value else value
               for name, value in spec["options"].items()}
    snow = servicenow.build(spec["name"], {**options, "instance_url": instance.url}, http)
    created = await snow.deliver(delivery(ChangeKind.OPENED))
    resolved = await snow.deliver(delivery(ChangeKind.RESOLVED, created.remote, {"reason": "fixed"}))
    assert resolved.kind is OutcomeKind.DELIVERED
    record = instance.records[created.remote.key]
    assert record["short_description"] == "[P2] checkout latency (checkout)"
    assert record["close_notes"].startswith("Resolved in correlator by alice: fixed")
