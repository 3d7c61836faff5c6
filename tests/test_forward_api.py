"""Forwarding in the daemon: incidents reach a webhook receiver on 127.0.0.1, dead letters are listed
and retried through the API, inbound changes are applied as operator actions once each and never
sent back to their source, and the incident shows its tickets. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import time

import msgspec
import pytest

from correlator.app import SERVICE
from correlator.forward.webhook import signature
from tests.conftest import CAPTURES, post_json
from tests.engine_store import drain
from tests.webhook_sink import SECRET, Fault, sink  # noqa: F401 (a fixture)

AM = "/api/v1/alertmanager"
INBOUND_SECRET = "whsec_" + base64.b64encode(b"inbound-secret-of-the-test-0123").decode()
TOKEN = {"Authorization": "Bearer api-token"}


@pytest.fixture
async def daemon(app_factory, sink, db_url):
    return await app_factory(url=db_url, auth={"api": {"bearer_tokens": ["api-token"]}}, forwarding={
        "external_url": "https://correlator.example",
        "destinations": [{"name": "hook", "type": "webhook", "url": sink.url, "secret": SECRET,
                          "inbound_secret": INBOUND_SECRET},
                         # takes no callbacks, and hears only closures (none here)
                         {"name": "quiet", "type": "webhook", "url": sink.url, "kinds": ["closed"]}]})


async def open_incident(client) -> str:
    body = (CAPTURES / "alertmanager-0.25/webhook-01.json").read_bytes()
    assert (await post_json(client, AM, body)).status == 200
    await drain(client.app[SERVICE])
    response = await client.get("/api/v1/incidents", headers=TOKEN)
    return (await response.json())["incidents"][0]["id"]


async def dead_letters(client, tries: int = 200) -> list[dict]:
    """The dead letters once there are some (polled a bounded number of times: the worker records
    the receiver's refusal right after it)."""
    for _ in range(tries):
        response = await client.get("/api/v1/deliveries", params={"state": "dead"}, headers=TOKEN)
        found = (await response.json())["deliveries"]
        if found:
            return found
        await asyncio.sleep(0.02)
    raise AssertionError("no dead letter")


def signed(body: dict, message_id: str = "msg-1") -> tuple[bytes, dict]:
    data, timestamp = msgspec.json.encode(body), str(int(time.time()))
    key = base64.b64decode(INBOUND_SECRET.removeprefix("whsec_"))
    return data, {"webhook-id": message_id, "webhook-timestamp": timestamp,
                  "webhook-signature": signature(key, message_id, timestamp, data), "Content-Type": "application/json"}


async def test_an_incident_reaches_the_webhook_with_a_link_back(daemon, sink):
    incident_id = await open_incident(daemon)
    await sink.wait_applied(1)
    opened = sink.applied[0]["data"]
    assert opened["kind"] == "opened" and opened["incident"]["id"] == incident_id
    assert opened["incident"]["url"] == f"https://correlator.example/api/v1/incidents/{incident_id}"


async def test_a_dead_letter_is_listed_and_retried_through_the_api(daemon, sink):
    sink.faults = [Fault(422, body='{"error": "schema"}')]
    await open_incident(daemon)
    dead = await dead_letters(daemon)
    assert dead[0]["kind"] == "opened" and "HTTP 422" in dead[0]["last_error"]
    assert (await daemon.post(f"/api/v1/deliveries/{dead[0]['id']}/retry")).status == 401  # API writes need the token
    response = await daemon.post(f"/api/v1/deliveries/{dead[0]['id']}/retry", headers=TOKEN)
    assert response.status == 200 and (await response.json())["retried"] == [dead[0]["id"]]
    await sink.wait_applied(1)
    response = await daemon.get("/api/v1/deliveries", params={"state": "bogus"}, headers=TOKEN)
    assert response.status == 400 and (await response.json())["details"][0]["path"] == "state"


async def test_an_inbound_change_is_applied_once_and_not_echoed(daemon, sink):
    incident_id = await open_incident(daemon)
    await sink.wait_applied(1)
    event = {"events": [{"id": "ev-1", "action": "acknowledge", "incident_id": incident_id},
                        {"id": "ev-2", "action": "comment", "body": {"text": "on it"}, "incident_id": incident_id}]}
    data, headers = signed(event)
    response = await daemon.post("/api/v1/inbound/hook", data=data, headers=headers)
    assert response.status == 200, await response.text()
    assert [r["status"] for r in (await response.json())["results"]] == ["applied", "applied"]
    data, headers = signed(event, "msg-2")  # the system sends the same changes again
    response = await daemon.post("/api/v1/inbound/hook", data=data, headers=headers)
    assert [r["status"] for r in (await response.json())["results"]] == ["duplicate", "duplicate"]
    detail = await (await daemon.get(f"/api/v1/incidents/{incident_id}", headers=TOKEN)).json()
    assert detail["state"] == "acknowledged"
    assert [(e["kind"], e["actor"]) for e in detail["timeline"] if e["kind"] in ("acknowledged", "commented")] == [
        ("acknowledged", "hook"), ("commented", "hook")]
    await drain(daemon.app[SERVICE])
    assert sink.kinds() == ["opened"]  # not sent back to where it came from
    assert detail["tickets"] == []  # a webhook keeps no ticket


async def test_inbound_requests_are_authenticated_by_the_destination(daemon):
    data, headers = signed({"events": []})
    response = await daemon.post("/api/v1/inbound/hook", data=data + b" ", headers=headers)
    assert response.status == 401
    assert (await response.json())["details"] == [{"path": "webhook-signature", "reason": "no signature matches"}]
    for name in ("nowhere", "quiet"):
        response = await daemon.post(f"/api/v1/inbound/{name}", data=data, headers=headers)
        assert response.status == 404
    assert (await response.json())["details"][0]["path"] == "inbound_secret"  # the receiver takes no callbacks
    data, headers = signed({"events": [{"id": "x", "action": "acknowledge"}]})
    response = await daemon.post("/api/v1/inbound/hook", data=data, headers=headers)
    assert response.status == 400 and (await response.json())["details"][0]["path"] == "events[0]"
    data, headers = signed({"events": [{"id": "", "action": "acknowledge", "incident_id": "INC-000001"}]})
    response = await daemon.post("/api/v1/inbound/hook", data=data, headers=headers)
    assert response.status == 400  # an empty id would make every later event with one a repeat
    [detail] = (await response.json())["details"]
    assert detail["path"] == "events[0].id" and "length >= 1" in detail["reason"]
