"""Operator actions check their whole body before anything changes, and a save the store refuses
leaves the engine as the store says."""

import asyncio
import json

import msgspec
import yaml

from correlator.domain.actions import ACTIONS
from correlator.app import ENGINE, SERVICE
from tests.conftest import CAPTURES, post_json
from tests.engine_store import drain, refusing

AM = "/api/v1/alertmanager"


async def an_incident(client) -> str:
    assert (await post_json(client, AM, (CAPTURES / "alertmanager-0.25/webhook-01.json").read_bytes())).status == 200
    await drain(client.app[SERVICE])
    [incident] = (await (await client.get("/api/v1/incidents")).json())["incidents"]
    return incident["id"]


async def stored(client, incident_id: str) -> dict:
    response = await client.get(f"/api/v1/incidents/{incident_id}")
    assert response.status == 200
    return await response.json()


BAD_BODIES = [  # (action, body, the field the 400 names)
    ("acknowledge", {"actor": 5}, "actor"),
    ("acknowledge", [], "$"),
    ("investigate", {"colour": "red"}, "colour"),
    ("assign", {"team": ["x"]}, "team"),
    ("assign", {"team": "x", "tier": 0}, "tier"),
    ("assign", {"team": "x", "tier": True}, "tier"),
    ("assign", {"team": "x" * 201}, "team"),
    ("comment", {"text": 123}, "text"),
    ("comment", {"text": "  "}, "text"),
    ("priority", {"priority": 1}, "priority"),
    ("priority", {"priority": "P1", "reason": 5}, "reason"),
    ("classify", {"category": "weather"}, "category"),
    ("classify", {"service_area": 3}, "service_area"),
    ("escalate", {"team": ["x"]}, "team"),
    ("escalate", {"team": ""}, "team"),
    ("escalate", {"reason": {}}, "reason"),
    ("resolve", {"reason": 1}, "reason"),
    ("close", {"reason": []}, "reason"),
    ("merge", {"other_id": 7}, "other_id"),
    ("merge", {}, "other_id"),
    ("split", {"fingerprints": "3b9ec23fc045c9f4"}, "fingerprints"),
    ("split", {"fingerprints": [1]}, "fingerprints[0]"),
    ("split", {"fingerprints": []}, "fingerprints"),
]


async def test_a_wrongly_typed_field_is_400_naming_it_and_changes_nothing(client):
    incident_id = await an_incident(client)
    before = await stored(client, incident_id)
    answers = []
    for action, body, _ in BAD_BODIES:
        response = await post_json(client, f"/api/v1/incidents/{incident_id}/{action}", body)
        answers.append((action, body, response.status, [d["path"] for d in (await response.json())["details"]]))
    assert answers == [(action, body, 400, [path]) for action, body, path in BAD_BODIES]
    assert await stored(client, incident_id) == before


async def test_an_actor_header_too_long_for_the_timeline_is_400(client):
    incident_id = await an_incident(client)
    response = await post_json(client, f"/api/v1/incidents/{incident_id}/acknowledge", {}, **{"X-Actor": "a" * 201})
    assert response.status == 400 and (await response.json())["details"][0]["path"] == "X-Actor"


async def test_an_actor_header_is_utf8_text_or_400(client):
    incident_id = await an_incident(client)

    async def comment_as(actor: bytes) -> tuple[int, dict]:
        # raw bytes: an HTTP header is bytes on the wire, and a client may send Latin-1
        reader, writer = await asyncio.open_connection("127.0.0.1", client.server.port)
        body = b'{"text": "looking"}'
        writer.write(b"POST /api/v1/incidents/%s/comment HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     b"Content-Type: application/json\r\nX-Actor: %s\r\nContent-Length: %d\r\n\r\n%s"
                     % (incident_id.encode(), actor, len(body), body))
        answer = await reader.read()
        writer.close()
        head, _, payload = answer.partition(b"\r\n\r\n")
        return int(head.split()[1]), json.loads(payload)

    status, answer = await comment_as("\u00c9ric".encode())
    assert status == 200 and answer["timeline"][-1]["actor"] == "\u00c9ric"
    status, answer = await comment_as("\u00c9ric".encode("latin-1"))
    assert status == 400 and answer["details"] == [{"path": "X-Actor", "reason": "not UTF-8 text"}]


async def test_a_rejected_escalation_leaves_later_actions_working(client):
    incident_id = await an_incident(client)
    path = f"/api/v1/incidents/{incident_id}"
    assert (await post_json(client, f"{path}/escalate", {"team": ["x"]})).status == 400
    for action, body in (("acknowledge", {}), ("comment", {"text": "on it"}), ("escalate", {"team": "sre"})):
        response = await post_json(client, f"{path}/{action}", body)
        assert response.status == 200, (action, await response.text())
    assert (await stored(client, incident_id))["team"] == "sre"


async def test_an_action_the_store_refuses_is_503_and_leaves_nothing_behind(app_factory, db_url):
    client = await app_factory(url=db_url)
    incident_id = await an_incident(client)
    path = f"/api/v1/incidents/{incident_id}"
    before = await stored(client, incident_id)
    with refusing(client.app[ENGINE], kind="escalated"):
        assert (await post_json(client, f"{path}/escalate", {"team": "sre"})).status == 503
    assert await stored(client, incident_id) == before
    # The engine holds what the store holds: acknowledging an open incident works, and so does a
    # later escalation, once (not twice) in the timeline.
    assert (await post_json(client, f"{path}/acknowledge", {})).status == 200
    escalated = await post_json(client, f"{path}/escalate", {"team": "sre"})
    assert escalated.status == 200
    detail = await escalated.json()
    assert detail["state"] == "escalated" and detail["team"] == "sre"
    assert [e["kind"] for e in detail["timeline"]].count("escalated") == 1


async def test_a_merge_the_store_refuses_leaves_both_incidents_as_stored(client):
    first = await an_incident(client)
    body = {"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": {
        "alertname": "DiskFull", "instance": "db1:9100"}, "startsAt": "2026-11-23T04:21:56Z",
        "endsAt": "0001-01-01T00:00:00Z"}]}
    assert (await post_json(client, AM, body)).status == 200
    await drain(client.app[SERVICE])
    [second] = [i["id"] for i in (await (await client.get("/api/v1/incidents")).json())["incidents"] if i["id"] != first]
    with refusing(client.app[ENGINE], kind="merged"):
        assert (await post_json(client, f"/api/v1/incidents/{first}/merge", {"other_id": second})).status == 503
    assert (await stored(client, second))["state"] == "open"
    # The alert that did not move is still the second incident's: splitting it off the first is refused.
    fingerprint = (await stored(client, second))["members"][0]["fingerprint"]
    response = await post_json(client, f"/api/v1/incidents/{first}/split", {"fingerprints": [fingerprint]})
    assert response.status == 400
    merged = await post_json(client, f"/api/v1/incidents/{first}/merge", {"other_id": second})
    assert merged.status == 200 and fingerprint in {m["fingerprint"] for m in (await merged.json())["members"]}


def test_the_openapi_document_gives_each_action_its_body_schema():
    document = yaml.safe_load((CAPTURES.parents[2] / "correlator/api/openapi.yaml").read_text())
    bodies = {body for _, body in ACTIONS.values()}
    _, schemas = msgspec.json.schema_components(bodies, ref_template="#/components/schemas/{name}")
    for name, schema in schemas.items():
        assert document["components"]["schemas"][name] == schema, name
    for action, (_, body) in ACTIONS.items():
        request = document["paths"][f"/api/v1/incidents/{{id}}/{action}"]["post"]["requestBody"]
        assert request["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{body.__name__}"}
