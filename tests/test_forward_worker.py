"""The delivery worker against a real webhook receiver on 127.0.0.1 (tests/webhook_sink.py), driven
round by round with a fake clock: order per incident, backoff and Retry-After, 429 storms, dead
letters and their retry, a timeout after the receiver applied the request (no duplicate), lease
takeover after a worker's crash, coalesced updates, and a stuck destination that holds back no
other. SQLite and PostgreSQL."""

from __future__ import annotations

import random

import aiohttp
import msgspec
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import select

from correlator.forward import webhook
from correlator.forward.changes import snapshot
from correlator.forward.contract import ChangeKind, IncidentChange, Outcome, RemoteRef
from correlator.forward.worker import DeliveryPolicy, DeliveryWorker
from correlator.domain import Incident, IncidentState
from correlator.metrics import ForwardMetrics
from correlator.store.outbox import Outbox, OutboxState, PlannedRow, tickets, write_planned
from correlator.store.schema import forward_refs, incident_events, outbox
from tests.engine_scenarios import at
from tests.engine_store import Clock, open_store
from tests.webhook_sink import SECRET, Fault, WebhookSink, sink  # noqa: F401 (a fixture)

POLICY = DeliveryPolicy(first_retry=1.0, max_retry=60.0, timeout=2.0, lease=30.0, batch=8)
MAX_ROUNDS = 50


@pytest.fixture
def store(db_url):
    store = open_store(db_url)
    yield store
    store.dispose()


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


def change(incident_id: str, kind: ChangeKind, seconds: float = 0, **detail) -> IncidentChange:
    incident = Incident(id=incident_id, state=IncidentState.OPEN, title=f"{incident_id} down", opened_at=at(0),
                        last_alert_at=at(0), group_key="g")
    return IncidentChange(kind, at(seconds), "correlator", snapshot(incident), detail)


def plan(store, *changes: IncidentChange, destination: str = "hook", clock: Clock | None = None) -> None:
    pairs = {(c.incident.id, destination) for c in changes}
    with store.begin() as connection:
        known = {(i, d) for i, d in connection.execute(select(outbox.c.incident_id, outbox.c.destination))}
        write_planned(connection, [PlannedRow(c.incident.id, destination, c) for c in changes], pairs - known,
                      clock.now if clock else at(0))


def worker(store, clock, destinations: dict, owner: str = "w1", policy: DeliveryPolicy = POLICY, **kwargs):
    return DeliveryWorker(Outbox(store, owner), destinations, clock=clock, policy=policy,
                          rng=random.Random(7), **kwargs)


def hook(http, sink, name: str = "hook", **options):
    return webhook.build(name, {"url": sink.url, "secret": SECRET, **options}, http)


async def rounds(worker: DeliveryWorker, destination: str = "hook", clock: Clock | None = None,
                 step: float = 0.0) -> int:
    """Rounds until one finds nothing due (moving `clock` by `step` after each); returns rows finished."""
    total = 0
    for _ in range(MAX_ROUNDS):
        handled = await worker.deliver_due(destination)
        total += handled
        if clock is not None and step:
            clock.move(step)
        elif not handled:
            return total
    return total


def states(store) -> list[tuple[str, str, int]]:
    with store.connect() as connection:
        return [tuple(r) for r in connection.execute(select(outbox.c.kind, outbox.c.state, outbox.c.attempts)
                                                     .order_by(outbox.c.id))]


async def test_changes_are_delivered_signed_and_in_order_per_incident(store, sink, http):
    clock = Clock(at(0))
    plan(store, change("INC-1", ChangeKind.OPENED), change("INC-2", ChangeKind.OPENED),
         change("INC-1", ChangeKind.ACKNOWLEDGED, 1), change("INC-1", ChangeKind.RESOLVED, 2))
    delivering = worker(store, clock, {"hook": hook(http, sink)})
    assert await rounds(delivering) == 4
    assert sink.kinds("INC-1") == ["opened", "acknowledged", "resolved"] and sink.kinds("INC-2") == ["opened"]
    assert {state for _, state, _ in states(store)} == {"done"}
    assert sink.applied[0]["type"] == "incident.opened" and sink.applied[0]["data"]["title"] == "[P5] INC-1 down"


async def test_a_failing_change_holds_back_its_incident_only_and_is_retried_after_a_backoff(store, sink, http):
    clock = Clock(at(0))
    plan(store, change("INC-1", ChangeKind.OPENED), change("INC-1", ChangeKind.COMMENTED, 1, text="x"),
         change("INC-2", ChangeKind.OPENED))
    sink.faults = [Fault(503, body="maintenance")]
    delivering = worker(store, clock, {"hook": hook(http, sink)})
    await rounds(delivering)
    assert sink.kinds() == ["opened"] and sink.kinds("INC-2") == ["opened"]  # INC-1 waits for its retry
    with store.connect() as connection:
        row = connection.execute(select(outbox).where(outbox.c.incident_id == "INC-1").order_by(outbox.c.id)).first()
    assert "HTTP 503 maintenance" in row.last_error
    assert 0.5 <= (row.next_attempt_us - row.created_us) / 1e6 <= 1.0  # first backoff, jittered
    clock.move(1)
    await rounds(delivering)
    assert sink.kinds("INC-1") == ["opened", "commented"]


async def test_a_429_storm_pauses_the_destination_for_its_retry_after(store, sink, http):
    clock = Clock(at(0))
    plan(store, *(change(f"INC-{i}", ChangeKind.OPENED) for i in range(5)))
    sink.faults = [Fault(429, {"Retry-After": "30"}, "slow down")] * 3
    delivering = worker(store, clock, {"hook": hook(http, sink)}, policy=DeliveryPolicy(batch=1))
    assert await rounds(delivering) == 1  # the first answer pauses every row of the destination
    requests = sink.requests
    clock.move(29)
    assert await rounds(delivering) == 0 and sink.requests == requests
    for _ in range(3):  # the storm goes on twice more, then passes
        clock.move(30)
        await rounds(delivering)
    assert sorted(sink.kinds()) == ["opened"] * 5 and sink.requests == 5 + 3


async def test_a_permanent_refusal_is_dead_lettered_with_its_error_and_retried_on_request(store, sink, http):
    clock = Clock(at(0))
    plan(store, change("INC-1", ChangeKind.OPENED), change("INC-1", ChangeKind.RESOLVED, 1))
    sink.faults = [Fault(400, body='{"error": "unknown field"}')]
    delivering = worker(store, clock, {"hook": hook(http, sink)})
    await rounds(delivering)
    assert states(store) == [("opened", "dead", 1), ("resolved", "done", 1)]  # a dead letter holds nothing back
    box = Outbox(store)
    dead, = box.list(OutboxState.DEAD)
    assert "HTTP 400" in dead.last_error and "unknown field" in dead.last_error
    with store.connect() as connection:
        failed = connection.execute(select(incident_events.c.detail).where(
            incident_events.c.kind == "delivery_failed")).scalar_one()
    assert msgspec.json.decode(failed)["destination"] == "hook"
    assert box.retry(clock.now, [dead.id]) == [dead.id]
    await rounds(delivering)
    assert states(store)[0][:2] == ("opened", "done") and sorted(sink.kinds()) == ["opened", "resolved"]


async def test_delivered_rows_past_retention_are_purged_and_tickets_dead_letters_and_later_ones_stay(
        store, sink, http):
    clock = Clock(at(0))
    plan(store, change("INC-1", ChangeKind.OPENED), change("INC-2", ChangeKind.OPENED))
    sink.faults = [Fault(400, body="refused")]  # INC-1's opening: a dead letter
    delivering = worker(store, clock, {"hook": hook(http, sink)})
    await rounds(delivering)
    clock.move(3600)
    plan(store, change("INC-2", ChangeKind.RESOLVED, 3600), clock=clock)
    await rounds(delivering)
    assert states(store) == [("opened", "dead", 1), ("opened", "done", 1), ("resolved", "done", 1)]
    box = Outbox(store)
    assert box.purge_delivered(at(1800)) == 1  # delivered at 0; the one delivered at 3600 is kept
    assert states(store) == [("opened", "dead", 1), ("resolved", "done", 1)]
    with store.connect() as connection:  # where each incident is in the destination stays
        assert connection.execute(select(forward_refs.c.incident_id).order_by(forward_refs.c.incident_id)) \
            .scalars().all() == ["INC-1", "INC-2"]
    assert box.purge_delivered(at(1800)) == 0


async def test_a_timeout_after_the_receiver_applied_the_request_delivers_no_duplicate(store, sink, http):
    clock = Clock(at(0))
    plan(store, change("INC-1", ChangeKind.OPENED))
    sink.hold_after_applying = 1
    delivering = worker(store, clock, {"hook": hook(http, sink)},
                        policy=DeliveryPolicy(first_retry=1, timeout=0.3, lease=30))
    await rounds(delivering)
    assert states(store) == [("opened", "pending", 1)]
    with store.connect() as connection:
        assert connection.execute(select(outbox.c.create_sent_us)).scalar() is not None  # create in flight
    clock.move(2)
    await rounds(delivering)
    assert states(store) == [("opened", "done", 2)]
    assert sink.kinds() == ["opened"] and sink.requests == 2  # the retry carried the same message id


async def test_a_crashed_workers_lease_is_taken_over_when_it_expires(store, sink, http):
    clock = Clock(at(0))
    plan(store, change("INC-1", ChangeKind.OPENED), change("INC-1", ChangeKind.CLOSED, 1))
    crashed = Outbox(store, "crashed")
    assert len(crashed.claim("hook", clock.now, 8, lease_seconds=30)) == 1  # then the worker dies
    survivor = worker(store, clock, {"hook": hook(http, sink)}, owner="w2")
    assert await rounds(survivor) == 0
    clock.move(31)
    assert await rounds(survivor) == 2
    assert sink.kinds() == ["opened", "closed"]


async def test_pending_updates_are_coalesced_into_one_delivery(store, sink, http):
    clock = Clock(at(0))
    plan(store, change("INC-1", ChangeKind.OPENED),
         change("INC-1", ChangeKind.UPDATED, 1, priority={"from": "P3", "to": "P2"}),
         change("INC-1", ChangeKind.UPDATED, 2, priority={"from": "P2", "to": "P1"}, alerts={"from": 1, "to": 4}),
         change("INC-1", ChangeKind.RESOLVED, 3))
    delivering = worker(store, clock, {"hook": hook(http, sink)})
    await rounds(delivering)
    assert sink.kinds() == ["opened", "updated", "resolved"]
    assert sink.applied[1]["data"]["detail"] == {"priority": {"from": "P3", "to": "P1"}, "alerts": {"from": 1, "to": 4}}


async def test_a_destination_down_then_up_gets_everything_in_order(store, http):
    clock = Clock(at(0))
    sink = WebhookSink()
    url = await sink.start()
    port = url.split(":")[2].split("/")[0]
    await sink.stop()  # down: connections refused
    plan(store, *(change("INC-1", kind, i) for i, kind in enumerate(
        [ChangeKind.OPENED, ChangeKind.ACKNOWLEDGED, ChangeKind.COMMENTED, ChangeKind.RESOLVED])))
    delivering = worker(store, clock, {"hook": webhook.build("hook", {"url": url, "secret": SECRET}, http)})
    for _ in range(4):
        await rounds(delivering)
        clock.move(60)
    assert states(store)[0][1:] == ("pending", 4)
    up = WebhookSink()
    await up.start(int(port))
    try:
        clock.move(60)
        await rounds(delivering)
        assert up.kinds() == ["opened", "acknowledged", "commented", "resolved"]
    finally:
        await up.stop()


async def test_a_stuck_destination_holds_back_no_other(store, sink, http):
    stuck = WebhookSink()
    await stuck.start()
    stuck.hold_after_applying = 100
    plan(store, change("INC-1", ChangeKind.OPENED), destination="stuck")
    plan(store, *(change(f"INC-{i}", ChangeKind.OPENED) for i in range(2, 6)), destination="hook")
    delivering = worker(store, None, {"hook": hook(http, sink), "stuck": hook(http, stuck, "stuck")},
                        policy=DeliveryPolicy(timeout=60, lease=120))
    await delivering.start()
    try:
        await stuck.wait_applied(1)  # and held: its answer never comes
        await sink.wait_applied(4)
    finally:
        await delivering.stop()
        await stuck.stop()


class ScriptedDesk:
    """A destination answering from a script (an outcome, or an exception to raise), keeping what
    it was handed: the worker's side of the contract, seen from an adapter."""

    def __init__(self, *script):
        self.name, self.script, self.deliveries = "desk", list(script), []

    async def deliver(self, delivery):
        self.deliveries.append(delivery)
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step

    async def close(self) -> None:
        pass


async def test_the_remote_reference_is_stored_with_done_and_the_create_in_flight_makes_retries_ambiguous(store):
    clock = Clock(at(0))
    plan(store, change("INC-1", ChangeKind.OPENED), change("INC-1", ChangeKind.ACKNOWLEDGED, 1), destination="desk")
    desk = ScriptedDesk(ConnectionResetError("reset after sending"),
                        Outcome.delivered(RemoteRef("T-1", "https://desk.example/T-1")), Outcome.delivered())
    delivering = worker(store, clock, {"desk": desk})
    await rounds(delivering, "desk")
    clock.move(5)
    await rounds(delivering, "desk")
    first, retried, acknowledged = desk.deliveries
    assert first.remote is None and not first.ambiguous
    assert retried.ambiguous and retried.create_sent_at == at(0) and retried.idempotency_key == first.idempotency_key
    assert acknowledged.remote == RemoteRef("T-1", "https://desk.example/T-1") and not acknowledged.ambiguous
    assert tickets(store, "INC-1") == [{"destination": "desk", "key": "T-1", "url": "https://desk.example/T-1"}]
    with store.connect() as connection:
        linked = connection.execute(select(incident_events.c.actor, incident_events.c.detail).where(
            incident_events.c.kind == "ticket_linked")).all()
    assert [(actor, msgspec.json.decode(detail)["key"]) for actor, detail in linked] == [("desk", "T-1")]


async def test_metrics_count_outcomes_and_show_the_outbox_depth_and_age(store, sink, http):
    clock = Clock(at(0))
    registry = CollectorRegistry()
    metrics = ForwardMetrics(registry)
    metrics.known(["hook"])
    plan(store, change("INC-1", ChangeKind.OPENED), change("INC-2", ChangeKind.OPENED),
         change("INC-3", ChangeKind.OPENED))
    sink.faults = [Fault(500), Fault(400)]
    delivering = worker(store, clock, {"hook": hook(http, sink)}, metrics=metrics, policy=DeliveryPolicy(batch=1))
    await rounds(delivering)
    clock.move(42)
    delivering.stats()
    value = registry.get_sample_value
    assert value("correlator_forward_deliveries_total", {"destination": "hook", "outcome": "retry"}) == 1
    assert value("correlator_forward_deliveries_total", {"destination": "hook", "outcome": "dead"}) == 1
    assert value("correlator_forward_deliveries_total", {"destination": "hook", "outcome": "delivered"}) == 1
    assert value("correlator_forward_delivery_duration_seconds_count", {"destination": "hook"}) == 3
    assert value("correlator_forward_outbox_pending", {"destination": "hook"}) == 1
    assert value("correlator_forward_outbox_oldest_pending_seconds", {"destination": "hook"}) == 42
    assert value("correlator_forward_dead_letters", {"destination": "hook"}) == 1


async def test_a_sole_worker_takes_over_a_crashed_predecessors_leases_at_once(store, sink, http):
    clock = Clock(at(0))
    plan(store, change("INC-1", ChangeKind.OPENED))
    assert len(Outbox(store, "crashed").claim("hook", clock.now, 8, lease_seconds=300)) == 1
    restarted = worker(store, clock, {"hook": hook(http, sink)}, owner="w2")
    await restarted.start(sole_worker=True)
    try:
        await sink.wait_applied(1)
    finally:
        await restarted.stop()


async def test_a_destinations_rate_limit_spaces_its_deliveries(store, sink, http):
    clock = Clock(at(0))
    plan(store, *(change(f"INC-{i}", ChangeKind.OPENED) for i in range(6)))
    delivering = worker(store, clock, {"hook": hook(http, sink)}, rates={"hook": 2.0})
    assert await rounds(delivering) == 2  # a burst of one second's worth
    clock.move(0.4)
    assert await rounds(delivering) == 0
    clock.move(0.1)
    assert await rounds(delivering) == 1
    clock.move(10)
    assert await rounds(delivering) == 2 and len(sink.applied) == 5  # the bucket holds a burst at most


async def test_changes_for_a_destination_no_longer_configured_become_dead_letters_saying_so(store, sink, http):
    clock = Clock(at(0))
    plan(store, change("INC-1", ChangeKind.OPENED), destination="removed")
    plan(store, change("INC-1", ChangeKind.OPENED))
    restarted = worker(store, clock, {"hook": hook(http, sink)})
    await restarted.start(sole_worker=True)
    try:
        await sink.wait_applied(1)
    finally:
        await restarted.stop()
    [dead] = Outbox(store).list(OutboxState.DEAD)
    assert dead.destination == "removed" and "'removed' is not configured" in dead.last_error
    assert Outbox(store).retry(clock.now, all_dead=True, destination="removed") == [dead.id]  # once it is back


async def test_with_every_destination_removed_what_was_planned_for_them_becomes_a_dead_letter(store, db_url,
                                                                                               app_factory):
    plan(store, change("INC-1", ChangeKind.OPENED), destination="removed")
    await app_factory(db_url)  # no forwarding section: no delivery worker starts
    [dead] = Outbox(store).list(OutboxState.DEAD)
    assert dead.destination == "removed" and "'removed' is not configured" in dead.last_error
