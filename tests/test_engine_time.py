"""The engine's time never passes input that is not committed yet: a request waits at most
RECEIVE_TO_COMMIT between its receive time and its commit (the writer refuses it otherwise), and the
engine service moves its time on to the wall clock less that bound. So a request committed after a
step is processed at its receive time, as replay processes it."""

from __future__ import annotations

import itertools

import msgspec
import pytest
from sqlalchemy import func, select

from correlator import wiring
from correlator.config import parse_config
from correlator.domain import IncidentState, RawNotification
from correlator.engine.core import EngineSettings
from correlator.ingest.sources import parsers
from correlator.store.schema import notifications
from correlator.store.writer import RECEIVE_TO_COMMIT, GroupCommitWriter, StoreUnavailable
from tests.engine_scenarios import T0, at, rules_from
from tests.engine_store import (GROUP_BY_CLUSTER, Clock, incident_lines, make_service, open_store, replayed_engine,
                                stored_row)

HOLD = EngineSettings().resolve_hold.total_seconds()
POLICY = wiring.ingest_policy(parse_config({}, environ={}))


def webhook(pod: str, resolved_at: str | None = None) -> bytes:
    """An Alertmanager webhook of one alert of cluster eu, firing or resolved at `resolved_at`."""
    alert = {"status": "resolved" if resolved_at else "firing", "annotations": {},
             "labels": {"alertname": "PodCrash", "pod": pod, "cluster": "eu"},
             "startsAt": "2026-11-23T03:00:00Z", "endsAt": resolved_at or "0001-01-01T00:00:00Z"}
    return msgspec.json.encode({"version": "4", "status": alert["status"], "receiver": "correlator",
                                "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
                                "externalURL": "http://am", "groupKey": "{}", "alerts": [alert]})


@pytest.fixture
def store(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield store
    store.dispose()


async def test_a_timer_due_between_a_receive_time_and_its_commit_fires_after_the_row_as_in_replay(store, tmp_path):
    clock = Clock(at(0))
    service = make_service(store, tmp_path, clock)
    await service.restore()
    late = HOLD + 59  # received 1 s before the resolution's hold is due, committed 1 s after
    traffic = [(0, "alertmanager", webhook("pod-0")),
               (60, "alertmanager", webhook("pod-0", resolved_at="2026-11-23T04:01:00Z")),
               (late, "alertmanager", webhook("pod-1"))]

    async def commit(t: float, source: str, body: bytes) -> None:
        with store.begin() as connection:
            connection.execute(notifications.insert().values(stored_row(source, at(t), body)))
        while await service.run_step():
            pass

    for t, source, body in traffic[:2]:
        clock.now = at(t)
        await commit(t, source, body)
    clock.now = at(60 + HOLD + 1)  # the hold is due; the request received at `late` is not committed yet
    assert await service.run_step() is False
    await commit(*traffic[2])
    [incident] = service.engine.incidents.values()
    assert incident.state is IncidentState.OPEN and len(incident.members) == 2
    replayed = replayed_engine(tmp_path, rules_from(tmp_path, GROUP_BY_CLUSTER), EngineSettings(), POLICY, traffic)
    assert incident_lines(replayed) == incident_lines(service.engine)


def stored_count(store) -> int:
    with store.connect() as connection:
        return connection.execute(select(func.count()).select_from(notifications)).scalar()


async def write_one(store, clock) -> None:
    """One notification received at T0, written by a writer whose wall clock is `clock`."""
    writer = GroupCommitWriter(store, clock=clock)
    writer.start()
    try:
        body = webhook("pod-0")
        await writer.write(parsers({})["alertmanager"](body, T0, POLICY).alerts,
                           RawNotification("alertmanager", T0, body))
    finally:
        writer.close()


async def test_a_request_that_waited_half_the_bound_for_its_transaction_is_refused(store):
    with pytest.raises(StoreUnavailable, match="waited too long"):
        await write_one(store, Clock(T0 + RECEIVE_TO_COMMIT / 2 + RECEIVE_TO_COMMIT / 100))
    assert stored_count(store) == 0
    await write_one(store, Clock(T0 + RECEIVE_TO_COMMIT / 2))
    assert stored_count(store) == 1


async def test_a_transaction_that_would_commit_past_the_bound_is_rolled_back_and_refused(store):
    times = itertools.chain([T0], itertools.repeat(T0 + RECEIVE_TO_COMMIT * 1.01))  # taken in time, then slow
    with pytest.raises(StoreUnavailable, match="CommitTooLate"):
        await write_one(store, lambda: next(times))
    assert stored_count(store) == 0
