"""Both ways through the daemon: an incident forwarded to PagerDuty, Jira and ServiceNow (local
servers speaking their contracts), then changed in each of them. Each change comes back through
`POST /api/v1/inbound/{destination}` with that system's own authentication and body, is applied as an
operator action by that destination, reaches the other destinations and is not sent back to its
source. SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from correlator.app import SERVICE
from tests.engine_store import drain
from tests.fake_jira import ACCOUNT_ID, API_TOKEN, EMAIL, PROJECT, FakeJira, webhook as jira_webhook
from tests.fake_pagerduty import FakePagerDuty, webhook as pagerduty_webhook
from tests.fake_servicenow import FakeServiceNow
from tests.forward_cases import running
from tests.processes import until
from tests.test_forward_api import TOKEN, open_incident

ROUTING_KEY = "R0ut1ngKeyR0ut1ngKeyR0ut1ngKey00"
PD_SECRET, JIRA_SECRET, SNOW_TOKEN = "whsec-pagerduty", "jira-webhook-secret", "snow-inbound-token-0123456789"


@pytest.fixture
async def systems(aiohttp_server):
    async with running(FakePagerDuty({ROUTING_KEY}), aiohttp_server) as pagerduty:
        jira, servicenow = FakeJira("cloud"), FakeServiceNow()
        jira.base_url = str((await aiohttp_server(jira.app())).make_url("/")).rstrip("/")
        servicenow.url = str((await aiohttp_server(servicenow.app())).make_url("")).rstrip("/")
        yield pagerduty, jira, servicenow
        jira.release()
        servicenow.release()


@pytest.fixture
async def daemon(app_factory, systems, db_url):
    pagerduty, jira, servicenow = systems
    return await app_factory(url=db_url, auth={"api": {"bearer_tokens": ["api-token"]}}, forwarding={
        "external_url": "https://correlator.example",
        "destinations": [
            {"name": "pd", "type": "pagerduty", "options": {
                "routing_key": ROUTING_KEY, "events_url": pagerduty.url, "webhook_secrets": [PD_SECRET]}},
            {"name": "jira", "type": "jira", "options": {
                "base_url": jira.base_url, "flavor": "cloud", "project": PROJECT, "account_id": ACCOUNT_ID,
                "auth": {"email": EMAIL, "api_token": API_TOKEN}, "webhook_secret": JIRA_SECRET}},
            {"name": "snow", "type": "servicenow", "options": {
                "instance_url": servicenow.url, "username": "correlator", "password": "s3cret",
                "inbound_token": SNOW_TOKEN}}]})


async def tickets_of(client, incident_id: str, count: int) -> dict[str, str]:
    """destination -> remote key, once `count` destinations hold a ticket (the worker stores each
    reference as it delivers)."""
    async def linked() -> dict[str, str] | None:
        detail = await (await client.get(f"/api/v1/incidents/{incident_id}", headers=TOKEN)).json()
        return {t["destination"]: t["key"] for t in detail["tickets"]} if len(detail["tickets"]) >= count else None
    return await until(linked, f"{count} tickets of {incident_id}")


def transitions(jira: FakeJira) -> int:
    return sum(1 for method, path in jira.requests if method == "POST" and path.endswith("/transitions"))


async def inbound(client, name: str, headers: dict, body: bytes) -> list[dict]:
    response = await client.post(f"/api/v1/inbound/{name}", data=body, headers=headers)
    assert response.status == 200, await response.text()
    return (await response.json())["results"]


async def state_and_actors(client, incident_id: str) -> tuple[str, list[tuple[str, str]]]:
    await drain(client.app[SERVICE])
    detail = await (await client.get(f"/api/v1/incidents/{incident_id}", headers=TOKEN)).json()
    return detail["state"], [(event["kind"], event["actor"]) for event in detail["timeline"]
                             if event["actor"] in ("pd", "jira", "snow") and event["kind"] != "ticket_linked"]


async def test_changes_made_in_each_system_come_back_once_and_go_only_elsewhere(daemon, systems):
    pagerduty, jira, servicenow = systems
    incident_id = await open_incident(daemon)
    keys = await tickets_of(daemon, incident_id, 3)
    sys_id = keys["snow"]
    assert sys_id in servicenow.records and keys["jira"] in jira.issues and pagerduty.open_alert(keys["pd"])

    # PagerDuty: the responder acknowledges there
    headers, body = pagerduty_webhook("incident.acknowledged", keys["pd"], PD_SECRET)
    assert [r["status"] for r in await inbound(daemon, "pd", headers, body)] == ["applied"]
    assert [r["status"] for r in await inbound(daemon, "pd", headers, body)] == ["duplicate"]  # PagerDuty retries
    assert await state_and_actors(daemon, incident_id) == ("acknowledged", [("acknowledged", "pd")])
    await until(lambda: any("Acknowledged by pd" in note for note in servicenow.notes(sys_id)),
                "ServiceNow hears of the acknowledgement")
    assert [event["event_action"] for event in pagerduty.requests] == ["trigger"]  # not echoed to PagerDuty

    # Jira: a person comments, then moves the issue to Done
    headers, body = jira_webhook(jira.comment_as(keys["jira"], "failover done"), JIRA_SECRET)
    assert [r["status"] for r in await inbound(daemon, "jira", headers, body)] == ["applied"]
    headers, body = jira_webhook(jira.move(keys["jira"], "Done"), JIRA_SECRET)
    assert [r["status"] for r in await inbound(daemon, "jira", headers, body)] == ["applied"]
    state, actors = await state_and_actors(daemon, incident_id)
    assert state == "resolved" and actors[1:] == [("commented", "jira"), ("resolved", "jira")]
    await until(lambda: [e["event_action"] for e in pagerduty.requests] == ["trigger", "resolve"],
                "PagerDuty hears of the resolution")
    await until(lambda: servicenow.records[sys_id]["state"] == "6", "ServiceNow resolves its record")
    await drain(daemon.app[SERVICE])
    assert transitions(jira) == 0  # not echoed to Jira

    # ServiceNow: the business rule reports the record reopened, then its bearer token is checked
    record = servicenow.records[sys_id]
    update = {"sys_id": sys_id, "number": record["number"], "sys_mod_count": 9, "correlation_id":
              record["correlation_id"], "state": "2", "previous_state": "6", "updated_by": "bob"}
    headers = {"Authorization": f"Bearer {SNOW_TOKEN}", "Content-Type": "application/json"}
    assert [r["status"] for r in await inbound(daemon, "snow", headers, json.dumps(update).encode())] == ["applied"]
    state, actors = await state_and_actors(daemon, incident_id)
    assert state == "open" and actors[-1] == ("reopened", "snow")
    await until(lambda: [e["event_action"] for e in pagerduty.requests][-1:] == ["trigger"]
                and len(pagerduty.requests) == 3, "PagerDuty triggers again on the reopen")
    await until(lambda: transitions(jira) == 1, "Jira reopens the issue")
    assert jira.issues[keys["jira"]]["fields"]["status"]["name"] == "To Do"
    assert transitions(jira) == 1  # the reopen alone: the resolve made in Jira was never sent back
    response = await daemon.post("/api/v1/inbound/snow", data=json.dumps(update).encode(),
                                 headers={"Authorization": "Bearer wrong"})
    assert response.status == 401 and (await response.json())["details"][0]["path"] == "Authorization"
