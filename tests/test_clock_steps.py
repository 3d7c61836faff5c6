"""The wall clock steps (NTP, a resumed VM): the engine's time never goes back, so timelines stay in
order, timers fire once and at the right time, and dedup holds. On the engine with an explicit
clock, and in the daemon's engine service fed by a clock that steps."""

from __future__ import annotations

from datetime import timedelta

import msgspec
import pytest
from sqlalchemy import select

from correlator.domain import IncidentState, RawNotification
from correlator.engine.core import Engine, EngineSettings, Outcome
from correlator.engine_service import EngineService
from correlator.ingest.normalize import IngestPolicy
from correlator.ingest.sources import parsers
from correlator.store.database import create_engine, upgrade
from correlator.store.schema import alerts, to_us
from correlator.store.writer import RECEIVE_TO_COMMIT, GroupCommitWriter
from tests.engine_scenarios import Scenario, T0, alert, at, rules_from
from tests.engine_store import drain

HOUR = 3600
GROUP_BY_NAMESPACE = {"name": "by-namespace", "kind": "group", "matchers": ['namespace!=""'],
                      "group_by": ["namespace"], "window": "10m", "max_duration": "1h"}
HOLD = EngineSettings().resolve_hold.total_seconds()


def in_order(incident) -> bool:
    times = [event.at for event in incident.timeline]
    return times == sorted(times)


def test_a_clock_stepping_back_does_not_resolve_before_the_incident_opened(tmp_path):
    scenario = Scenario(rules_from(tmp_path)).push(0, alert("Disk", instance="a"))
    scenario.push(-HOUR, alert("Disk", instance="a", ends=-HOUR))  # resolved, stamped an hour back
    scenario.advance(-HOUR + HOLD + 1)
    incident = scenario.only()
    assert incident.state is IncidentState.OPEN, "the hold ran from a time before the incident opened"
    scenario.advance(HOLD)
    assert incident.state is IncidentState.RESOLVED
    assert incident.resolved_at == at(HOLD) >= incident.opened_at
    assert in_order(incident)


def test_an_alert_received_after_a_step_back_is_stamped_at_the_latest_time(tmp_path):
    scenario = Scenario(rules_from(tmp_path, GROUP_BY_NAMESPACE)).push(0, alert("Disk", namespace="shop"))
    scenario.push(-HOUR, alert("Cpu", namespace="shop"))
    incident = scenario.only()
    assert incident.last_alert_at == T0
    assert in_order(incident)


def test_a_forward_step_fires_due_timers_once_and_dedup_holds_after_the_step_back(tmp_path):
    scenario = Scenario(rules_from(tmp_path)).push(0, alert("Disk", instance="a"))
    scenario.push(60, alert("Disk", instance="a", ends=60))
    scenario.advance(HOUR)  # forward an hour: the hold has passed
    incident = scenario.only()
    assert incident.state is IncidentState.RESOLVED and incident.resolved_at == at(60 + HOLD)
    events = len(incident.timeline)
    scenario.advance(120).push(120, alert("Disk", instance="a", ends=60))  # the clock is back
    scenario.advance(HOUR + 60)
    assert scenario.engine.outcomes[Outcome.REPEAT] == 1
    assert len(incident.timeline) == events and scenario.incidents == [incident]
    assert in_order(incident)


def test_a_restored_engine_resumes_from_the_latest_recorded_time(tmp_path):
    rules = rules_from(tmp_path)
    before = Scenario(rules).push(0, alert("Disk", instance="a"))
    restored = Engine(rules)
    restored.restore(before.incidents, [], [], *before.engine.sequences)
    assert restored.event_time(at(-HOUR)) == T0


class SteppingClock:
    """The wall clock as the daemon reads it, set by the test."""

    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def store(tmp_path):
    database = create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(database)
    clock = SteppingClock(T0)
    writer = GroupCommitWriter(database, clock=clock)
    writer.start()
    yield database, writer, clock
    writer.close()
    database.dispose()


async def test_the_engine_service_keeps_time_monotonic_when_the_wall_clock_steps_back(tmp_path, store):
    database, writer, clock = store
    policy, table = IngestPolicy(resolve_timeout=timedelta(minutes=5)), parsers({})
    service = EngineService(database, rules_from(tmp_path), EngineSettings(), table, policy, clock=clock)

    async def receive(received_at, **alert):
        """A notification as the receiver stores it, stamped by the (stepped) wall clock."""
        clock.now = received_at
        body = msgspec.json.encode([{"labels": {"alertname": "Disk"}, "startsAt": "2026-11-23T01:00:00Z",
                                     **alert}])
        await writer.write(table["prometheus"](body, received_at, policy).alerts,
                           RawNotification("prometheus", received_at, body))
        await run_until_idle()

    async def run_until_idle():
        for _ in range(100):
            if not await service.run_step():
                return
        raise AssertionError("the engine service never became idle")

    await receive(T0)
    await receive(at(-HOUR), endsAt="2026-11-23T02:59:00Z")  # resolved, received after a step back
    clock.now = at(-HOUR + HOLD + 1)
    await run_until_idle()
    [incident] = service.engine.incidents.values()
    assert incident.state is IncidentState.OPEN
    clock.now = at(HOLD) + RECEIVE_TO_COMMIT  # the engine keeps that far behind the clock
    await run_until_idle()
    assert incident.state is IncidentState.RESOLVED and incident.resolved_at == at(HOLD)
    assert in_order(incident)


async def test_a_repeat_received_after_a_step_back_keeps_the_latest_last_seen(tmp_path, store):
    database, writer, clock = store
    policy, table = IngestPolicy(resolve_timeout=timedelta(minutes=5)), parsers({})
    service = EngineService(database, rules_from(tmp_path), EngineSettings(), table, policy, clock=clock)
    body = msgspec.json.encode([{"labels": {"alertname": "Disk"}, "startsAt": "2026-11-23T01:00:00Z"}])
    for received_at in (T0, at(-HOUR)):  # each read by a step of its own: the view's upsert keeps the latest
        clock.now = received_at
        await writer.write(table["prometheus"](body, received_at, policy).alerts,
                           RawNotification("prometheus", received_at, body))
        await drain(service)
    with database.connect() as connection:
        [(first_seen, last_seen, count)] = connection.execute(
            select(alerts.c.first_seen_us, alerts.c.last_seen_us, alerts.c.notifications)).all()
    assert (first_seen, last_seen, count) == (to_us(T0), to_us(T0), 2)
