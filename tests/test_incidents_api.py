"""Incidents in the live daemon: the engine fed from the store, the REST API, restarts."""

import json
import time
from datetime import datetime, timedelta

import pytest

from correlator.app import ENGINE, SERVICE
from correlator.cli import main
from correlator.store.schema import problems as problems_table
from correlator.units import rfc3339
from tests.conftest import CAPTURES, post_json
from tests.engine_store import drain

AM = "/api/v1/alertmanager"


async def feed(client, *names: str) -> None:
    for name in names:
        assert (await post_json(client, AM, (CAPTURES / f"alertmanager-0.25/{name}.json").read_bytes())).status == 200
    await drain(client.app[SERVICE])


async def incidents(client, **query) -> list[dict]:
    response = await client.get("/api/v1/incidents", params=query)
    assert response.status == 200, await response.text()
    return (await response.json())["incidents"]


async def detail(client, incident_id: str) -> dict:
    response = await client.get(f"/api/v1/incidents/{incident_id}")
    assert response.status == 200
    return await response.json()


async def test_alerts_become_incidents_with_explanations_and_a_timeline(client):
    await feed(client, "webhook-01", "webhook-02", "webhook-03")
    [incident] = await incidents(client)
    # Led by its likeliest cause, then what else fired (as `replay` titles it: tests/test_replay.py).
    assert incident["title"] == "HighCPU on node1 and 3 more alerts: 2 HighCPU, 1 KubePodCrashLooping (cluster=prod-eu)"
    # Three hosts and a namespace affected (high impact) x critical: P1.
    assert incident["state"] == "open" and incident["priority"] == "P1" and incident["firing"] == 4
    full = await detail(client, incident["id"])
    reasons = {m["labels"].get("instance", m["labels"].get("pod")): m["why"] for m in full["members"]}
    # No rule groups HighCPU: three hosts' HighCPU starting at once, against that name's base rate,
    # are a storm, and say so.
    assert reasons["node2:9100"]["reason"] == "storm" and reasons["node2:9100"]["rule"] == "storm"
    assert reasons["node2:9100"]["detail"].startswith("storm: 2 HighCPU alerts at once")
    crash = next(why for name, why in reasons.items() if name not in ("node1:9100", "node2:9100", "node3:9100"))
    assert crash["reason"] == "link" and crash["rule"] == "node-and-its-workloads"
    assert full["prioritisation"]["detail"].startswith("impact high")
    # Classified from the root alert's words (the lexicon); nothing was left to the model.
    assert full["classification"]["rule"] == "lexicon" and incident["classification_confidence"] == {}
    assert full["classification"]["labels"] == {"alertname": "HighCPU"}
    assert "category=capacity (lexicon, alert HighCPU: cpu" in full["classification"]["detail"]
    kinds = [event["kind"] for event in full["timeline"]]
    assert kinds[0] == "created" and kinds.count("alert_joined") == 4 and "classified" in kinds


async def test_resolutions_reach_the_incident(client):
    await feed(client, "webhook-01", "webhook-03", "webhook-04", "webhook-05")
    [incident] = await incidents(client)
    assert incident["firing"] == 0
    full = await detail(client, incident["id"])
    assert {m["status"] for m in full["members"]} == {"resolved"}


async def test_operator_actions_are_recorded_with_their_actor(client):
    await feed(client, "webhook-01")
    [incident] = await incidents(client)
    path = f"/api/v1/incidents/{incident['id']}"
    steps = [("acknowledge", {"actor": "alice"}), ("comment", {"text": "looking at node1", "actor": "alice"}),
             ("assign", {"team": "infra", "tier": 2}), ("priority", {"priority": "P2", "reason": "customer impact"}),
             ("investigate", {}), ("escalate", {"team": "sre"}), ("resolve", {"reason": "scaled out"}),
             ("close", {})]
    for action, body in steps:
        response = await post_json(client, f"{path}/{action}", body, **{"X-Actor": "bob"})
        assert response.status == 200, (action, await response.text())
    full = await detail(client, incident["id"])
    assert full["state"] == "closed" and full["priority"] == "P2" and full["team"] == "sre"
    by_kind = {event["kind"]: event for event in full["timeline"]}
    assert by_kind["acknowledged"]["actor"] == "alice" and by_kind["commented"]["detail"]["text"] == "looking at node1"
    assert by_kind["resolved"]["actor"] == "bob" and by_kind["resolved"]["detail"]["reason"] == "scaled out"
    assert full["acknowledged_at"] is not None and full["closed_at"] is not None
    assert 0 <= full["time_to_acknowledge_seconds"] <= full["time_to_resolve_seconds"]


@pytest.mark.parametrize("action, body, status, field", [
    ("close", {}, 409, None),  # open -> closed is not a transition
    ("comment", {}, 400, "text"),
    ("priority", {"priority": "P9"}, 400, "priority"),
    ("assign", {"team": "x", "colour": "red"}, 400, "colour"),
    ("assign", {"team": "x", "tier": "two"}, 400, "tier"),
    ("explode", {}, 404, None),
])
async def test_invalid_actions_get_clear_errors(client, action, body, status, field):
    await feed(client, "webhook-01")
    [incident] = await incidents(client)
    response = await post_json(client, f"/api/v1/incidents/{incident['id']}/{action}", body)
    assert response.status == status
    payload = await response.json()
    if field:
        assert payload["details"][0]["path"] == field
    else:
        assert payload["error"]


async def test_a_storm_incident_is_read_and_acted_on_in_bounded_pages(client):
    started = "2026-11-23T04:21:56Z"
    storm = [{"labels": {"alertname": "KubePodNotReady", "cluster": "prod", "namespace": f"ns{n % 7}",
                         "pod": f"web-{n}-x2b9k", "severity": "warning"},
              "annotations": {}, "startsAt": started, "endsAt": "0001-01-01T00:00:00Z", "status": "firing"}
             for n in range(300)]
    webhook = json.loads((CAPTURES / "alertmanager-0.25/webhook-01.json").read_text())
    for part in (storm[:150], storm[150:]):  # two posts: join order is not the fingerprints' order
        assert (await post_json(client, AM, {**webhook, "alerts": part})).status == 200
        await drain(client.app[SERVICE])
    [incident] = await incidents(client)
    full = await detail(client, incident["id"])
    assert len(full["members"]) == full["alerts"] == 300 and full["members_omitted"] == full["timeline_omitted"] == 0
    first_pods = {a["labels"]["pod"] for a in storm[:150]}
    first_post = {m["fingerprint"] for m in full["members"] if m["labels"]["pod"] in first_pods}
    assert {m["fingerprint"] for m in full["members"][:150]} == first_post
    assert [m["fingerprint"] for m in full["members"]] != sorted(m["fingerprint"] for m in full["members"])
    path = f"/api/v1/incidents/{incident['id']}"
    response = await client.get(path, params={"members_limit": "10", "timeline_limit": "5"})
    page = await response.json()
    # the first members in join order, the latest events; the incident's own figures are whole
    assert page["members"] == full["members"][:10] and page["members_omitted"] == 290
    assert page["timeline"] == full["timeline"][-5:] and page["timeline_omitted"] == len(full["timeline"]) - 5
    assert page["alerts"] == 300 and len(page["fingerprints"]) == 300
    # a poller asking again with the ETag gets a 304 while nothing changed
    again = await client.get(path, params={"members_limit": "10", "timeline_limit": "5"},
                             headers={"If-None-Match": response.headers["ETag"]})
    assert again.status == 304 and not await again.read()
    refused = await client.get(path, params={"members_limit": "-1"})
    assert refused.status == 400
    assert (await refused.json())["details"] == [{"path": "members_limit",
                                                  "reason": "expected an integer from 0 to 1000000"}]
    # an action answers with the incident's first 200 members and latest 200 events, not the whole storm
    answer = await (await post_json(client, f"{path}/acknowledge", {})).json()
    assert answer["state"] == "acknowledged" and answer["alerts"] == 300
    assert answer["members"] == full["members"][:200] and answer["members_omitted"] == 100
    assert answer["timeline"][-1]["kind"] == "acknowledged" and len(answer["timeline"]) == 200


async def test_unknown_incidents_are_404(client):
    assert (await client.get("/api/v1/incidents/INC-999999")).status == 404
    assert (await post_json(client, "/api/v1/incidents/INC-999999/acknowledge", {})).status == 404


async def test_merge_and_split(client):
    await feed(client, "webhook-01")
    body = {"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": {
        "alertname": "DiskFull", "instance": "db1:9100"}, "startsAt": "2026-11-23T04:21:56Z",
        "endsAt": "0001-01-01T00:00:00Z"}]}
    assert (await post_json(client, AM, body)).status == 200
    await drain(client.app[SERVICE])
    cpu, disk = sorted(await incidents(client), key=lambda i: i["title"])[::-1][:2]
    merged = await post_json(client, f"/api/v1/incidents/{cpu['id']}/merge", {"other_id": disk["id"]})
    assert merged.status == 200 and len((await merged.json())["members"]) == 3
    assert (await detail(client, disk["id"]))["state"] == "closed"
    fingerprint = next(m["fingerprint"] for m in (await merged.json())["members"] if m["labels"]["alertname"] == "DiskFull")
    split = await post_json(client, f"/api/v1/incidents/{cpu['id']}/split", {"fingerprints": [fingerprint]})
    assert split.status == 200 and len((await split.json())["members"]) == 2
    opened = [i for i in await incidents(client, status="open")]
    assert {len((await detail(client, i["id"]))["members"]) for i in opened} == {2, 1}


async def test_list_filters_and_pages(client):
    await feed(client, "webhook-01", "webhook-02")
    body = {"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": {
        "alertname": "TLSHandshakeErrors", "severity": "warning", "cluster": "us"}, "startsAt": "2026-11-23T04:21:56Z",
        "endsAt": "0001-01-01T00:00:00Z"}]}
    await post_json(client, AM, body)
    await drain(client.app[SERVICE])
    assert len(await incidents(client)) == 2
    assert [i["category"] for i in await incidents(client, category="security")] == ["security"]
    assert len(await incidents(client, priority="P1")) == 1
    assert len(await incidents(client, filter='instance="node1:9100"')) == 1
    assert len(await incidents(client, status="resolved")) == 0
    first = await (await client.get("/api/v1/incidents", params={"limit": "1"})).json()
    second = await (await client.get("/api/v1/incidents", params={"limit": "1", "cursor": first["next"]})).json()
    assert first["incidents"][0]["id"] != second["incidents"][0]["id"]
    bad = await client.get("/api/v1/incidents", params={"priority": "P7"})
    assert bad.status == 400 and (await bad.json())["details"][0]["path"] == "priority"


async def test_a_restart_resumes_where_processing_stopped_without_duplicates(app_factory, db_url):
    first = await app_factory(url=db_url)
    await feed(first, "webhook-01")
    # Stored but not yet processed when the daemon stops:
    assert (await post_json(first, AM, (CAPTURES / "alertmanager-0.25/webhook-03.json").read_bytes())).status == 200
    await first.close()
    second = await app_factory(url=db_url)
    await drain(second.app[SERVICE])
    await feed(second, "webhook-04")
    [incident] = await incidents(second)
    full = await detail(second, incident["id"])
    assert len(full["members"]) == 3
    assert [e["kind"] for e in full["timeline"]].count("alert_joined") == 3
    assert [e["kind"] for e in full["timeline"]].count("created") == 1


async def test_live_and_replay_give_the_same_incidents(app_factory, tmp_path):
    recording = tmp_path / "live.jsonl"
    client = await app_factory(server={"record": str(recording)})
    await feed(client, "webhook-01", "webhook-02", "webhook-03", "webhook-04", "webhook-05", "webhook-06")
    for name in ("api-v2-alerts-00", "api-v2-alerts-01"):
        assert (await post_json(client, "/api/v2/alerts",
                                (CAPTURES / f"prometheus-2.42/{name}.json").read_bytes())).status == 200
    await drain(client.app[SERVICE])
    live = {}
    for incident in await incidents(client):
        live[incident["id"]] = sorted(m["fingerprint"] for m in (await detail(client, incident["id"]))["members"])
    out = tmp_path / "replayed.jsonl"
    assert main(["replay", str(recording), "--out", str(out)]) == 0
    replayed = {line["id"]: line["fingerprints"] for line in map(json.loads, out.read_text().splitlines())}
    assert live == replayed


async def test_the_merge_event_counts_the_alerts_it_moved(client):
    await feed(client, "webhook-01")
    body = {"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": {
        "alertname": "DiskFull", "instance": instance}, "startsAt": "2026-11-23T04:21:56Z",
        "endsAt": "0001-01-01T00:00:00Z"} for instance in ("db1:9100", "db2:9100")]}
    assert (await post_json(client, AM, body)).status == 200
    await drain(client.app[SERVICE])
    cpu = next(i for i in await incidents(client) if "HighCPU" in i["title"])
    disk = next(i for i in await incidents(client) if i["id"] != cpu["id"])
    moving = len((await detail(client, disk["id"]))["members"])
    assert (await post_json(client, f"/api/v1/incidents/{cpu['id']}/merge", {"other_id": disk["id"]})).status == 200
    [into] = [e["detail"] for e in (await detail(client, cpu["id"]))["timeline"] if e["kind"] == "merged"]
    [out] = [e["detail"] for e in (await detail(client, disk["id"]))["timeline"] if e["kind"] == "merged"]
    assert into == {"source": disk["id"], "alerts": moving} and out == {"into": cpu["id"], "alerts": moving}


async def test_a_resolved_incident_can_be_reopened_by_hand(client):
    await feed(client, "webhook-01")
    [incident] = await incidents(client)
    path = f"/api/v1/incidents/{incident['id']}"
    refused = await post_json(client, f"{path}/reopen", {})
    assert refused.status == 409 and "only a resolved incident can be reopened" in (await refused.json())["error"]
    assert (await post_json(client, f"{path}/resolve", {})).status == 200
    reopened = await post_json(client, f"{path}/reopen", {"reason": "the fix did not hold"}, **{"X-Actor": "alice"})
    assert reopened.status == 200
    full = await reopened.json()
    assert full["state"] == "open" and full["resolved_at"] is None
    assert full["timeline"][-1] == {"at": full["timeline"][-1]["at"], "kind": "reopened", "actor": "alice",
                                    "detail": {"previous": "resolved", "reason": "the fix did not hold"}}
    text = await (await client.get("/metrics")).text()
    labels = f'category="{incident["category"]}",priority="{incident["priority"]}"'
    assert f"correlator_incidents_reopened_total{{{labels}}} 1.0" in text


async def test_a_closed_incident_is_final(client):
    await feed(client, "webhook-01")
    [incident] = await incidents(client)
    path = f"/api/v1/incidents/{incident['id']}"
    for action in ("resolve", "close"):
        assert (await post_json(client, f"{path}/{action}", {})).status == 200
    refused = await post_json(client, f"{path}/reopen", {})
    assert refused.status == 409 and "is closed: a closed incident is final" in (await refused.json())["error"]
    assert (await detail(client, incident["id"]))["state"] == "closed"


async def test_incidents_show_their_sla_due_times_from_their_priority(client):
    await feed(client, "webhook-01")
    [listed] = await incidents(client)
    opened = datetime.fromisoformat(listed["opened_at"])
    # engine.sla's defaults (ITIL-style targets per priority): acknowledge, resolve.
    targets = {"P1": (timedelta(minutes=15), timedelta(hours=4)), "P2": (timedelta(minutes=30), timedelta(hours=8)),
               "P3": (timedelta(hours=4), timedelta(days=3))}

    def due(priority: str) -> dict:
        acknowledge, resolve = targets[priority]
        return {"acknowledge_due": rfc3339(opened + acknowledge), "resolve_due": rfc3339(opened + resolve)}
    assert listed["sla"] == due(listed["priority"])
    assert (await detail(client, listed["id"]))["sla"] == due(listed["priority"])
    changed = await post_json(client, f"/api/v1/incidents/{listed['id']}/priority", {"priority": "P3"})
    assert (await changed.json())["sla"] == due("P3")


async def test_an_incident_links_the_problem_it_recurs_under(app_factory):
    client = await app_factory(learning={"enabled": False}, engine={"problems": {"recurrences": 2}})
    # An outage an operator resolved and closed, and the same one again an hour later.
    for starts in ("2026-11-23T04:00:00Z", "2026-11-23T05:00:00Z"):
        episode = {"status": "firing", "labels": {"alertname": "QuuxFrobbed", "instance": "db1:9100"},
                   "startsAt": starts, "endsAt": "0001-01-01T00:00:00Z"}
        assert (await post_json(client, AM, {"version": "4", "status": "firing", "alerts": [episode]})).status == 200
        await drain(client.app[SERVICE])
        if starts.startswith("2026-11-23T04"):
            (first,) = await incidents(client)
            for action in ("resolve", "close"):
                assert (await post_json(client, f"/api/v1/incidents/{first['id']}/{action}", {})).status == 200
    found = await incidents(client)
    # The recurrence links the problem; the closed incident is final and stays as it was closed.
    assert len(found) == 2 and (found[0]["problem"], found[0]["problem_url"]) == (
        "PRB-000001", "/api/v1/problems/PRB-000001")
    assert (await detail(client, found[0]["id"]))["problem_url"] == "/api/v1/problems/PRB-000001"
    response = await client.get("/api/v1/problems/PRB-000001")
    assert response.status == 200
    problem = await response.json()
    assert sorted(problem["incidents"]) == sorted(i["id"] for i in found)
    assert problem["incident_urls"] == [f"/api/v1/incidents/{i}" for i in problem["incidents"]]
    assert (await client.get("/api/v1/problems/PRB-999999")).status == 404


async def test_problems_are_listed_latest_seen_first_in_pages_by_state(client):
    hour_ago = int((time.time() - 3600) * 1e6)  # within the history retention, which the daemon sweeps
    rows = [{"id": f"PRB-00000{n}", "signature": f"sig-{n}", "state": "inactive" if n % 3 == 0 else "open",
             "opened_at_us": hour_ago, "last_seen_us": hour_ago + [5, 3, 9, 9, 1, 7][n] * 1_000_000,
             "incident_ids": "[]"}
            for n in range(6)]
    with client.app[ENGINE].begin() as connection:
        connection.execute(problems_table.insert(), rows)

    async def listed(**params) -> dict:
        response = await client.get("/api/v1/problems", params=params)
        assert response.status == 200
        return await response.json()

    everything = await listed()
    assert [p["id"] for p in everything["problems"]] == [
        "PRB-000003", "PRB-000002", "PRB-000005", "PRB-000000", "PRB-000001", "PRB-000004"]
    assert everything["next"] is None
    first = await listed(state="open", limit="2")
    assert [p["id"] for p in first["problems"]] == ["PRB-000002", "PRB-000005"]
    rest = await listed(state="open", limit="2", cursor=first["next"])
    assert [p["id"] for p in rest["problems"]] == ["PRB-000001", "PRB-000004"]
    assert (await listed(state="open", limit="2", cursor=rest["next"]))["problems"] == []
    assert [p["state"] for p in (await listed(state="inactive"))["problems"]] == ["inactive", "inactive"]
    refused = await client.get("/api/v1/problems", params={"state": "closed"})
    assert refused.status == 400 and (await refused.json())["details"][0]["path"] == "state"
