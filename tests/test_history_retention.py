"""The history retention on both real backends: closed incidents past it go with everything of
theirs, what is still open, in flight or held stays, and the engine restores and numbers on."""

import asyncio
import time
from datetime import timedelta

import msgspec
import pytest
from sqlalchemy import func, select

from correlator.domain import IncidentState
from correlator.store import history
from correlator.store.history import purge_history
from correlator.store.incidents import IncidentRepository
from correlator.store.schema import (alerts, forward_refs, incident_events, incident_members, incidents,
                                     notifications, outbox, problems, to_us)
from tests.engine_scenarios import at
from tests.engine_store import Clock, drain, make_service, open_store, stored_row

CLOSED_BY = 2 * 86400  # seconds after which an incident resolved near the start is closed
DAY_US = 86_400_000_000


@pytest.fixture
def store(db_url):
    store = open_store(db_url)
    yield store
    store.dispose()


def webhook(cluster: str, pods: int, resolved_at: str | None = None, starts_at: str = "2026-11-23T03:00:00Z") -> bytes:
    status = "resolved" if resolved_at else "firing"
    return msgspec.json.encode({
        "version": "4", "status": status, "receiver": "correlator", "groupLabels": {}, "commonLabels": {},
        "commonAnnotations": {}, "externalURL": "http://am", "groupKey": "{}",
        "alerts": [{"status": status, "labels": {"alertname": "PodCrash", "pod": f"{cluster}-{n}", "cluster": cluster},
                    "annotations": {}, "startsAt": starts_at,
                    "endsAt": resolved_at or "0001-01-01T00:00:00Z"} for n in range(pods)]})


def receive(store, t: float, body: bytes) -> None:
    with store.begin() as connection:
        connection.execute(notifications.insert().values(stored_row("alertmanager", at(t), body)))


def rows(store, table, **equal) -> int:
    query = select(func.count()).select_from(table)
    for column, value in equal.items():
        query = query.where(table.c[column] == value)
    with store.connect() as connection:
        return connection.execute(query).scalar()


def outbox_row(incident_id: str, state: str) -> dict:
    return {"incident_id": incident_id, "destination": "jira", "kind": "create", "payload": b"{}", "state": state,
            "attempts": 1, "next_attempt_us": to_us(at(0)), "created_us": to_us(at(0))}


async def test_closed_incidents_past_the_retention_go_with_their_rows_and_the_rest_stays(store, tmp_path):
    clock = Clock(at(0))
    service = make_service(store, tmp_path, clock)
    await service.restore()
    receive(store, 0, webhook("old", 3))
    receive(store, 0, webhook("sent", 2))
    await drain(service)
    old, sent = sorted(service.engine.incidents)  # in the order they opened
    receive(store, 60, webhook("old", 3, resolved_at="2026-11-23T04:01:00Z"))
    receive(store, 60, webhook("sent", 2, resolved_at="2026-11-23T04:01:00Z"))
    clock.now = at(CLOSED_BY)
    await drain(service)
    receive(store, CLOSED_BY, webhook("new", 2))  # still firing at the cutoff
    await drain(service)
    [new] = service.engine.incidents  # the closed ones left memory once saved
    repository = IncidentRepository(store)
    assert [repository.state(i) for i in (old, sent, new)] == [IncidentState.CLOSED, IncidentState.CLOSED,
                                                               IncidentState.OPEN]
    with store.begin() as connection:
        connection.execute(outbox.insert(), [outbox_row(old, "done"), outbox_row(old, "dead"),
                                             outbox_row(sent, "pending")])  # `sent`: a change still in flight
        connection.execute(forward_refs.insert(), [{"incident_id": old, "destination": "jira",
                                                    "idempotency_key": "k-old", "remote_key": "OPS-1"}])
        connection.execute(problems.insert(), [
            {"id": f"PRB-{n}", "signature": f"s{n}", "state": state, "opened_at_us": to_us(at(0)),
             "last_seen_us": to_us(at(0)), "incident_ids": "[]"} for n, state in ((1, "inactive"), (2, "open"))])
    assert rows(store, incident_members, incident_id=old) == 3 and rows(store, incident_events, incident_id=old) > 0

    purged = purge_history(store, to_us(clock.now + timedelta(seconds=1)))

    assert (purged.incidents, purged.alerts, purged.problems) == (1, 3, 1)
    assert repository.state(old) is None
    assert [rows(store, table, incident_id=old) for table in (incident_members, incident_events, outbox, forward_refs)] \
        == [0, 0, 0, 0]
    assert repository.state(sent) is IncidentState.CLOSED and rows(store, incident_members, incident_id=sent) == 2
    assert rows(store, incident_members, incident_id=new) == 2
    with store.connect() as connection:
        kept_pods = sorted(msgspec.json.decode(labels)["pod"] for labels in
                           connection.execute(select(alerts.c.labels)).scalars())
        kept_problems = connection.execute(select(problems.c.id)).scalars().all()
    assert kept_pods == ["new-0", "new-1", "sent-0", "sent-1"]
    assert kept_problems == ["PRB-2"]
    assert not purge_history(store, to_us(clock.now + timedelta(seconds=1)))  # nothing more to let go

    restarted = make_service(store, tmp_path, clock)  # a restart after the sweep: restores, numbers on
    await restarted.restore()
    assert set(restarted.engine.incidents) == {new}
    receive(store, CLOSED_BY + 60, webhook("old", 1, starts_at="2026-11-25T04:00:00Z"))
    clock.now = at(CLOSED_BY + 60)
    await drain(restarted)
    [reopened] = [i for i in restarted.engine.incidents.values() if i.id != new]
    assert int(reopened.id.split("-")[1]) > max(int(i.split("-")[1]) for i in (old, sent, new))


def test_chunks_are_bounded_per_sweep_and_the_next_sweep_goes_on(store, monkeypatch):
    with store.begin() as connection:
        connection.execute(alerts.insert(), [
            {"fingerprint": f"{n:016x}", "starts_at_us": to_us(at(0)), "ends_at_us": to_us(at(60)), "status": "resolved",
             "labels": "{}", "annotations": "{}", "generator_url": "", "source": "alertmanager",
             "first_seen_us": to_us(at(0)), "last_seen_us": to_us(at(60)), "notifications": 1, "flapping": False}
            for n in range(12)])
    monkeypatch.setattr(history, "ALERT_CHUNK", 5)
    assert purge_history(store, to_us(at(120)), max_chunks=2).alerts == 10
    assert purge_history(store, to_us(at(120)), max_chunks=2).alerts == 2
    assert rows(store, alerts) == 0


async def test_the_daemons_sweep_applies_the_configured_retention(app_factory, db_url):
    store = open_store(db_url)
    now_us = int(time.time() * 1e6)
    with store.begin() as connection:
        connection.execute(incidents.insert(), [
            {"id": incident_id, "state": "closed", "priority": "P4", "category": None, "team": "",
             "opened_at_us": updated, "updated_at_us": updated, "resolved_at_us": updated, "group_key": incident_id,
             "header": "{}"} for incident_id, updated in (("INC-000001", now_us - 31 * DAY_US),
                                                          ("INC-000002", now_us - 29 * DAY_US))])
    await app_factory(url=db_url, store={"history_retention": "30d"})
    repository = IncidentRepository(store)
    for _ in range(1000):  # the sweep runs at start, in a thread
        if repository.state("INC-000001") is None:
            break
        await asyncio.sleep(0.01)
    assert repository.state("INC-000001") is None and repository.state("INC-000002") is IncidentState.CLOSED
    store.dispose()
