"""Operator actions are rows of the engine's input log: the API appends one and answers with the
result the engine saved for it; the engine applies actions in log order with the alerts, exactly
once across restarts; `replay` of a recording with actions reproduces the live daemon."""

import asyncio

import msgspec
import pytest
from sqlalchemy import func, select

from correlator import wiring
from correlator.app import ENGINE, MODEL, RULES, SERVICE, purge_notifications
from correlator.engine.core import Engine
from correlator.engine.views import incident_replay_line
from correlator.offline.replay import replay
from correlator.ingest.sources import parsers
from correlator.store.incidents import IncidentRepository
from correlator.store.schema import action_results, from_us, notifications, to_us
from tests.conftest import CAPTURES, make_config, post_json
from tests.engine_scenarios import T0
from tests.engine_store import Clock, drain, make_service, open_store, store_action, store_notification

AM = "/api/v1/alertmanager"
DISK_FULL = {"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": {
    "alertname": "DiskFull", "instance": "db1:9100"}, "startsAt": "2026-11-23T04:21:56Z",
    "endsAt": "0001-01-01T00:00:00Z"}]}
WAIT_ATTEMPTS = 600  # of 50 ms: a bounded wait for the daemon's engine


async def incident_ids(client) -> list[str]:
    return [i["id"] for i in (await (await client.get("/api/v1/incidents")).json())["incidents"]]


async def posted(client, body) -> None:
    assert (await post_json(client, AM, body)).status == 200
    await drain(client.app[SERVICE])


def action_numbers(store) -> list[int]:
    with store.connect() as connection:
        return connection.execute(select(notifications.c.id).where(notifications.c.source == "action")
                                  .order_by(notifications.c.id)).scalars().all()


async def test_an_action_answers_with_its_result_once_the_engine_passed_it(app_factory, db_url):
    client = await app_factory(url=db_url)
    await posted(client, CAPTURES.joinpath("alertmanager-0.25/webhook-01.json").read_bytes())
    [incident_id] = await incident_ids(client)
    response = await post_json(client, f"/api/v1/incidents/{incident_id}/acknowledge", {"actor": "alice"})
    assert response.status == 200
    answered = await response.json()
    assert answered["state"] == "acknowledged" and answered["timeline"][-1]["actor"] == "alice"
    [number] = action_numbers(client.app[ENGINE])
    assert IncidentRepository(client.app[ENGINE]).load_progress().watermark >= number  # saved with the result
    result = await (await client.get(f"/api/v1/actions/{number}")).json()
    assert result == {"action": number, "status": "applied", "http_status": 200, "result": answered}
    assert answered == await (await client.get(f"/api/v1/incidents/{incident_id}")).json()


async def test_an_action_the_engine_refuses_answers_404_409_or_400_naming_the_field(client):
    await posted(client, CAPTURES.joinpath("alertmanager-0.25/webhook-01.json").read_bytes())
    [incident_id] = await incident_ids(client)
    path = f"/api/v1/incidents/{incident_id}"
    unknown = await post_json(client, "/api/v1/incidents/INC-404/acknowledge", {})
    assert unknown.status == 404
    split = await post_json(client, f"{path}/split", {"fingerprints": ["0000000000000000"]})
    assert split.status == 400 and [d["path"] for d in (await split.json())["details"]] == ["fingerprints"]
    assert (await post_json(client, f"{path}/resolve", {})).status == 200
    assert (await post_json(client, f"{path}/close", {})).status == 200
    closed = await post_json(client, f"{path}/acknowledge", {})
    assert closed.status == 409 and "closed" in (await closed.json())["error"]
    results = [await (await client.get(f"/api/v1/actions/{n}")).json() for n in action_numbers(client.app[ENGINE])]
    assert [(r["status"], r["http_status"]) for r in results] == [
        ("refused", 404), ("refused", 400), ("applied", 200), ("applied", 200), ("refused", 409)]
    assert results[1]["result"]["details"] == (await split.json())["details"]


async def test_past_the_wait_bound_the_answer_is_202_and_the_result_url_shows_the_result_later(app_factory):
    client = await app_factory(api={"action_wait": 0})
    await posted(client, CAPTURES.joinpath("alertmanager-0.25/webhook-01.json").read_bytes())
    [incident_id] = await incident_ids(client)
    service = client.app[SERVICE]
    await service.stop()  # the engine applies nothing until stepped below
    response = await post_json(client, f"/api/v1/incidents/{incident_id}/acknowledge", {})
    assert response.status == 202
    accepted = await response.json()
    number = accepted["action"]
    assert accepted == {"status": "accepted", "action": number, "result_url": f"/api/v1/actions/{number}"}
    assert await (await client.get(accepted["result_url"])).json() == {"action": number, "status": "pending"}
    assert (await client.get(f"/api/v1/actions/{number + 1}")).status == 404
    assert (await client.get("/api/v1/actions/one")).status == 404
    await drain(service)
    result = await (await client.get(accepted["result_url"])).json()
    assert result["status"] == "applied" and result["result"]["state"] == "acknowledged"


@pytest.fixture
def store(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield store
    store.dispose()


def engine_service(store, tmp_path):
    return make_service(store, tmp_path, Clock(T0.replace(minute=1)))


async def one_incident(service, store) -> str:
    """The id of the incident `service` opens for a notification of two alerts stored in `store`."""
    await service.restore()
    store_notification(store, 2, T0)
    await drain(service)
    [incident_id] = service.engine.incidents
    return incident_id


async def test_an_acknowledge_appended_before_an_alert_applies_before_it(store, tmp_path):
    service = engine_service(store, tmp_path)
    incident_id = await one_incident(service, store)
    store_action(store, incident_id, "acknowledge", {}, T0.replace(second=30))
    store_notification(store, 1, T0.replace(second=40), first=2)
    assert await service.run_step() is False  # the action and the alert in one step
    kinds = [e.kind for e in IncidentRepository(store).read_page(incident_id).timeline]
    assert kinds[-2:] == ["acknowledged", "alert_joined"]


async def test_an_action_appended_before_a_crash_is_applied_exactly_once(store, tmp_path):
    incident_id = await one_incident(engine_service(store, tmp_path), store)
    store_action(store, incident_id, "comment", {"text": "looking"}, T0.replace(second=30))
    for _ in range(2):  # the service dies before applying it; each restart resumes from the store
        service = engine_service(store, tmp_path)
        await service.restore()
        await drain(service)
    kinds = [e.kind for e in IncidentRepository(store).read_page(incident_id).timeline]
    assert kinds.count("commented") == 1
    with store.connect() as connection:
        assert connection.execute(select(func.count()).select_from(action_results)).scalar() == 1


def incident_lines(found) -> list:
    """Every incident as replay writes it, with its timeline, as JSON shows them."""
    lines = [(incident_replay_line(i), [(e.at, e.kind, e.detail) for e in i.timeline])
             for i in sorted(found, key=lambda i: i.id)]
    return msgspec.json.decode(msgspec.json.encode(lines))


async def test_replay_of_a_recording_with_operator_actions_equals_the_live_daemon(app_factory, tmp_path):
    recording = tmp_path / "recording.jsonl"
    client = await app_factory(server={"record": str(recording)})  # the daemon steps its engine itself

    async def act(path: str, body: dict) -> dict:
        response = await post_json(client, path, body)
        assert response.status == 200, await response.text()
        return await response.json()

    for body in (CAPTURES.joinpath("alertmanager-0.25/webhook-01.json").read_bytes(), DISK_FULL):
        assert (await post_json(client, AM, body)).status == 200
    for _ in range(WAIT_ATTEMPTS):  # until the engine has processed both
        if len(found := await incident_ids(client)) == 2:
            break
        await asyncio.sleep(0.05)
    assert len(found) == 2, "the daemon's engine did not process the alerts"
    second, first = found  # newest first
    path = f"/api/v1/incidents/{first}"
    await act(f"{path}/acknowledge", {"actor": "alice"})
    merged = await act(f"{path}/merge", {"other_id": second})
    fingerprint = next(m["fingerprint"] for m in merged["members"] if m["labels"]["alertname"] == "DiskFull")
    await act(f"{path}/split", {"fingerprints": [fingerprint]})
    repository = IncidentRepository(client.app[ENGINE])
    live = incident_lines(repository.load_unclosed() + repository.load_closed_since(from_us(0)))
    config = make_config(tmp_path)
    replayed = Engine(client.app[RULES], wiring.engine_settings(config), model=client.app[MODEL])
    summary = replay(replayed, recording, parsers({}), wiring.ingest_policy(config))
    assert summary.actions == 3 and len(live) == 3
    assert incident_lines(replayed.incidents.values()) == live


async def test_retention_keeps_actions_the_engine_has_not_applied_and_drops_applied_ones_with_results(store,
                                                                                                     tmp_path):
    service = engine_service(store, tmp_path)
    incident_id = await one_incident(service, store)
    store_action(store, incident_id, "comment", {"text": "one"}, T0)
    store_action(store, incident_id, "comment", {"text": "two"}, T0)
    await drain(service)
    unapplied = store_action(store, incident_id, "comment", {"text": "three"}, T0)
    purge_notifications(store, to_us(T0.replace(year=2027)), service.progress.watermark)
    with store.connect() as connection:
        assert connection.execute(select(action_results.c.notification_id)).scalars().all() == [unapplied - 1]
    assert action_numbers(store) == [unapplied - 1, unapplied]  # the watermark's own, and the unapplied one
    await drain(service)
    timeline = IncidentRepository(store).read_page(incident_id).timeline
    texts = [e.detail["text"] for e in timeline if e.kind == "commented"]
    assert texts == ["one", "two", "three"]
