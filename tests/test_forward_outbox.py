"""The outbox is written in the engine step's transaction: each incident change a routed destination
should hear about becomes a row, in order, with the idempotency key stored before any delivery;
a refused save writes neither the change nor its rows; a destination's own changes are not sent
back to it. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import msgspec
import pytest
from sqlalchemy import func, select

from correlator import wiring
from correlator.config import parse_config
from correlator.engine.core import EngineSettings
from correlator.engine_service import EngineService, StepFailed
from correlator.forward.changes import MAX_ALERTS
from correlator.forward.contract import ChangeKind, IncidentChange, IncidentSnapshot, InboundChange
from correlator.forward.inbound import InboundLedger
from correlator.forward.planner import ForwardPlanner
from correlator.forward.routing import parse_route
from correlator.forward.templates import DEFAULT_BODY, Template
from correlator.ingest.sources import parsers
from correlator.store.schema import forward_refs, incidents, outbox
from tests.engine_scenarios import at, rules_from
from tests.engine_store import GROUP_BY_CLUSTER, Clock, drain, open_store, refusing, store_action, store_notification


def forwarding_service(store, tmp_path, clock, *routes) -> EngineService:
    planner = ForwardPlanner(tuple(routes), external_url="https://correlator.example")
    return EngineService(store, rules_from(tmp_path, GROUP_BY_CLUSTER), EngineSettings(), parsers({}),
                         wiring.ingest_policy(parse_config({}, environ={})), clock=clock, planner=planner)


def rows(store, destination: str | None = None) -> list[tuple[str, str, IncidentChange]]:
    query = select(outbox.c.incident_id, outbox.c.destination, outbox.c.payload).order_by(outbox.c.id)
    if destination:
        query = query.where(outbox.c.destination == destination)
    with store.connect() as connection:
        return [(i, d, msgspec.json.decode(p, type=IncidentChange)) for i, d, p in connection.execute(query)]


async def started(store, tmp_path, clock: Clock, *routes, alerts: int = 2) -> EngineService:
    """A forwarding engine service that has stepped through one notification of `alerts` alerts."""
    service = forwarding_service(store, tmp_path, clock, *routes)
    await service.restore()
    store_notification(store, alerts, at(0))
    await drain(service)
    return service


@pytest.fixture
def store(db_url):
    store = open_store(db_url)
    yield store
    store.dispose()


async def test_an_opened_incident_is_in_the_outbox_with_its_key(store, tmp_path):
    service = forwarding_service(store, tmp_path, Clock(at(0)), parse_route("hook", []))
    await service.restore()
    store_notification(store, 3, at(0))
    await drain(service)
    (incident_id, destination, change), = rows(store)
    assert (destination, change.kind, change.actor) == ("hook", ChangeKind.OPENED, "correlator")
    assert len(change.incident.alerts) == 3 and change.incident.url.endswith(f"/api/v1/incidents/{incident_id}")
    with store.connect() as connection:
        key = connection.execute(select(forward_refs.c.idempotency_key)).scalar_one()
    assert incident_id.lower() in key


async def test_a_refused_save_writes_neither_the_incident_nor_its_outbox_rows(store, tmp_path):
    service = forwarding_service(store, tmp_path, Clock(at(0)), parse_route("hook", []))
    await service.restore()
    store_notification(store, 2, at(0))
    with refusing(store):
        with pytest.raises(StepFailed):
            await service.run_step()
        with store.connect() as connection:
            assert connection.execute(select(func.count()).select_from(incidents)).scalar() == 0
        assert rows(store) == []
    await drain(service)
    assert [change.kind for _, _, change in rows(store)] == [ChangeKind.OPENED]


async def test_later_changes_follow_in_order_and_updates_name_what_changed(store, tmp_path):
    clock = Clock(at(0))
    service = await started(store, tmp_path, clock, parse_route("hook", []))
    (incident_id, _, _), = rows(store)
    clock.now = at(10)
    store_notification(store, 3, at(10), first=2)
    store_action(store, incident_id, "acknowledge", {}, at(11))
    store_action(store, incident_id, "comment", {"text": "looking"}, at(12))
    clock.now = at(12)
    await drain(service)
    changes = [change for _, _, change in rows(store)]
    assert [c.kind for c in changes] == [ChangeKind.OPENED, ChangeKind.UPDATED, ChangeKind.ACKNOWLEDGED,
                                         ChangeKind.COMMENTED]
    assert changes[1].detail["alerts"] == {"from": 2, "to": 5} and "title" in changes[1].detail
    assert changes[2].actor == "alice" and changes[3].detail["text"] == "looking"


async def test_a_change_made_by_a_destination_is_not_sent_back_to_it(store, tmp_path):
    clock = Clock(at(0))
    service = await started(store, tmp_path, clock, parse_route("pager", []), parse_route("tickets", []), alerts=1)
    incident_id = rows(store)[0][0]
    store_action(store, incident_id, "acknowledge", {}, at(5), actor="pager")
    clock.now = at(5)
    await drain(service)
    assert [c.kind for _, _, c in rows(store, "pager")] == [ChangeKind.OPENED]
    assert [c.kind for _, _, c in rows(store, "tickets")] == [ChangeKind.OPENED, ChangeKind.ACKNOWLEDGED]


async def test_routes_match_incident_fields_and_shared_labels_and_stick_once_routed(store, tmp_path):
    clock = Clock(at(0))
    service = forwarding_service(store, tmp_path, clock, parse_route("p1-only", ['priority="P1"']),
                                 parse_route("eu", ['cluster="eu"']), parse_route("us", ['cluster="us"']))
    await service.restore()
    store_notification(store, 1, at(0), cluster="eu")
    await drain(service)
    assert {d for _, d, _ in rows(store)} == {"eu"}
    incident_id = rows(store)[0][0]
    store_action(store, incident_id, "priority", {"priority": "P1"}, at(5))
    clock.now = at(5)
    await drain(service)
    assert [c.kind for _, _, c in rows(store, "p1-only")] == [ChangeKind.UPDATED]
    store_action(store, incident_id, "priority", {"priority": "P4"}, at(6))
    clock.now = at(6)
    await drain(service)
    assert [c.detail["priority"]["to"] for _, _, c in rows(store, "p1-only")] == ["P1", "P4"]


async def test_a_restarted_engine_compares_with_the_stored_incident(store, tmp_path):
    clock = Clock(at(0))
    await started(store, tmp_path, clock, parse_route("hook", []))
    restarted = forwarding_service(store, tmp_path, clock, parse_route("hook", []))
    await restarted.restore()
    clock.now = at(10)
    store_notification(store, 1, at(10), first=2)
    await drain(restarted)
    (_, _, update), = rows(store)[1:]
    assert update.kind is ChangeKind.UPDATED and update.detail["alerts"] == {"from": 2, "to": 3}




def test_an_inbound_change_finds_its_incident_by_the_remote_key_of_its_destination(store):
    with store.begin() as connection:
        connection.execute(forward_refs.insert(), [
            {"incident_id": "INC-1", "destination": "jira", "idempotency_key": "k1", "remote_key": "OPS-7"},
            {"incident_id": "INC-2", "destination": "pager", "idempotency_key": "k2", "remote_key": "OPS-7"}])
    ledger = InboundLedger(store)
    assert ledger.incident_of("jira", InboundChange("e1", "acknowledge", {}, remote_key="OPS-7")) == "INC-1"
    assert ledger.incident_of("pager", InboundChange("e1", "acknowledge", {}, remote_key="OPS-7")) == "INC-2"
    assert ledger.incident_of("jira", InboundChange("e1", "acknowledge", {}, remote_key="OPS-8")) is None
    assert not ledger.seen("jira", "e1")
    ledger.record("jira", "e1")
    ledger.record("jira", "e1")  # recorded twice (a retried request): once
    assert ledger.seen("jira", "e1") and not ledger.seen("pager", "e1")


def test_inbound_event_ids_are_forgotten_past_the_retention(store):
    ledger = InboundLedger(store)
    ledger.record("pagerduty", "event-1")
    now = datetime.now(timezone.utc)
    assert ledger.forget_before(now - timedelta(days=1)) == 0 and ledger.seen("pagerduty", "event-1")
    assert ledger.forget_before(now + timedelta(seconds=1)) == 1 and not ledger.seen("pagerduty", "event-1")


async def test_a_storm_incident_lists_its_first_alerts_and_counts_them_all(store, tmp_path):
    await started(store, tmp_path, Clock(at(0)), parse_route("hook", []), alerts=MAX_ALERTS + 50)
    (_, _, change), = rows(store)
    assert len(change.incident.alerts) == MAX_ALERTS and change.incident.alert_count == MAX_ALERTS + 50
    body = Template(DEFAULT_BODY, "hook", "body").render(change)
    assert f"Alerts ({MAX_ALERTS + 50}):" in body and f"... and {MAX_ALERTS} more" in body
    # a change saved before snapshots had the count: its alerts were all of them
    older = msgspec.json.encode(change.incident)
    older = msgspec.json.encode({k: v for k, v in msgspec.json.decode(older).items() if k != "alert_count"})
    assert msgspec.json.decode(older, type=IncidentSnapshot).alert_count == MAX_ALERTS
