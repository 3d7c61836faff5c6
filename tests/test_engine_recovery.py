"""A failed engine step does not stall correlation: the store refuses saves for real (a trigger),
then accepts them again; steps resume, metrics stay right, the failure is counted and logged once."""

import dataclasses
import logging

import msgspec
import pytest
from sqlalchemy import update

from correlator import wiring
from correlator.app import ENGINE, SERVICE
from correlator.config import SlaConfig, parse_config
from correlator.domain import Source
from correlator.engine.core import EngineSettings
from correlator.engine_service import RETRY_MAX_SECONDS, SKIP_AFTER_FAILURES, EngineService, StepFailed
from correlator.incident_metrics import IncidentMetrics
from correlator.ingest.sources import parsers
from correlator.metrics import Metrics
from correlator.store.schema import notifications, to_us
from tests.conftest import CAPTURES, post_json
from tests.engine_scenarios import T0, rules_from
from tests.engine_store import (GROUP_BY_CLUSTER, Clock, drain, joined_per_alert, make_service, open_store, refusing,
                                store_action, store_notification)



def sample(metrics: Metrics, name: str, **labels) -> float:
    return metrics.registry.get_sample_value(name, labels)


def total(metrics: Metrics, name: str) -> float:
    """The sum of every series of a counter."""
    return sum(s.value for family in metrics.registry.collect() for s in family.samples if s.name == name)


@pytest.fixture
def clock():
    return Clock(T0.replace(minute=1))


@pytest.fixture
def metrics():
    return Metrics()


@pytest.fixture
async def service(tmp_path, clock, metrics):
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    service = make_service(store, tmp_path, clock, metrics=metrics)
    await service.restore()
    yield service
    store.dispose()


async def test_after_refused_saves_correlation_continues_and_each_alert_counts_once(db_url, tmp_path, clock,
                                                                                   metrics):
    store = open_store(db_url)
    service = make_service(store, tmp_path, clock, metrics=metrics)
    await service.restore()
    store_notification(store, 3, T0)
    await drain(service)
    with refusing(store):
        store_notification(store, 3, T0, first=3)
        for _ in range(2):
            with pytest.raises(StepFailed):
                await service.run_step()
    store_notification(store, 4, T0, first=6)
    await drain(service)
    assert joined_per_alert(store) == {fingerprint: 1 for fingerprint in joined_per_alert(store)}
    assert len(joined_per_alert(store)) == 10
    assert sample(metrics, "correlator_engine_alerts_total", outcome="new") == 10
    assert total(metrics, "correlator_incidents_opened_total") == 1
    assert service.progress.watermark == 3
    store.dispose()


async def test_a_refused_save_is_saved_again_without_a_rebuild(service, tmp_path):
    store_notification(service.repository._engine, 3, T0)
    engine = service.engine
    with refusing(service.repository._engine):
        with pytest.raises(StepFailed) as failed:
            await service.run_step()
    assert failed.value.stage == "save"
    assert await service.run_step() is True  # the refused save, saved
    assert service.engine is engine and service.progress.watermark == 1


async def test_metrics_survive_the_engine_being_rebuilt(service, metrics):
    store = service.repository._engine
    store_notification(store, 3, T0)
    await drain(service)
    [incident_id] = service.engine.incidents
    with refusing(store, kind="commented"), pytest.raises(StepFailed):
        store_action(store, incident_id, "comment", {"text": "looking"}, T0)
        await service.run_step()  # the action's save is refused: the engine is rebuilt without it
    store_notification(store, 2, T0, first=3)
    await drain(service)  # rebuilds the engine from the store first: its totals restart from 0
    assert sample(metrics, "correlator_engine_alerts_total", outcome="new") == 5
    assert len(joined_per_alert(store)) == 5
    assert sample(metrics, "correlator_engine_step_failures_total", stage="process") == 0


async def test_the_lag_is_the_age_of_the_oldest_unprocessed_notification_while_steps_fail(service, clock):
    store = service.repository._engine
    store_notification(store, 3, T0)
    with refusing(store):
        with pytest.raises(StepFailed):
            await service.run_step()
        assert service.lag_seconds() == 60
        clock.move(30)
        with pytest.raises(StepFailed):
            await service.run_step()
        assert service.lag_seconds() == 90
    await drain(service)
    assert service.lag_seconds() == 0


async def test_the_lag_counts_from_a_notified_commit_before_any_step_reads_it(service, clock):
    store_notification(service.repository._engine, 3, clock())
    service.notify()  # what the group-commit writer does after a commit; ingest may keep the engine waiting
    clock.move(5)
    assert service.lag_seconds() == 5
    await drain(service)
    assert service.lag_seconds() == 0


async def test_a_failure_episode_is_logged_once_and_each_failed_attempt_counted(service, metrics, caplog):
    store = service.repository._engine
    store_notification(store, 3, T0)
    caplog.set_level(logging.INFO, logger="correlator.engine_service")
    with refusing(store):
        for _ in range(3):
            with pytest.raises(StepFailed):
                await service.run_step()
    await drain(service)
    assert sample(metrics, "correlator_engine_step_failures_total", stage="save") == 3
    levels = [(record.levelname, record.getMessage()) for record in caplog.records
              if record.levelno >= logging.WARNING]
    assert levels == [("ERROR", "engine step failed; retrying with backoff (logged again when it recovers)"),
                      ("WARNING", "engine step recovered")]


async def test_retries_back_off_exponentially_up_to_a_cap(service):
    store = service.repository._engine
    store_notification(store, 3, T0)
    delays = []
    with refusing(store):
        for _ in range(7):
            with pytest.raises(StepFailed):
                await service.run_step()
            delays.append(service.retry_delay())
    assert delays == [1, 2, 4, 8, 16, RETRY_MAX_SECONDS, RETRY_MAX_SECONDS]
    await drain(service)
    assert service.retry_delay() == 0


async def test_the_daemon_recovers_from_a_failed_engine_save_with_honest_metrics(client):
    service, store = client.app[SERVICE], client.app[ENGINE]
    await service.stop()  # the test takes the steps: the daemon's own loop would retry them meanwhile
    webhook = (CAPTURES / "alertmanager-0.25/webhook-01.json").read_bytes()
    with refusing(store):
        assert (await post_json(client, "/api/v1/alertmanager", webhook)).status == 200
        with pytest.raises(StepFailed):
            await service.run_step()
        failing = await (await client.get("/metrics")).text()
    await drain(service)
    for name in ("webhook-02", "webhook-03"):
        assert (await post_json(client, "/api/v1/alertmanager",
                                (CAPTURES / f"alertmanager-0.25/{name}.json").read_bytes())).status == 200
    await drain(service)
    text = await (await client.get("/metrics")).text()
    assert 'correlator_engine_step_failures_total{stage="save"} 1.0' in failing
    lag = next(line for line in failing.splitlines() if line.startswith("correlator_engine_lag_seconds "))
    assert float(lag.split()[1]) > 0
    new = next(line for line in text.splitlines() if line.startswith('correlator_engine_alerts_total{outcome="new"}'))
    assert float(new.split()[1]) == len(joined_per_alert(store))
    assert "correlator_engine_lag_seconds 0.0" in text



def poisoning_parser(body, received_at, policy):
    """The real webhook parser, but its second alert is one the engine cannot take (no labels). The
    engine parses only notifications stored without their alerts (before store revision 0004)."""
    parsed = parsers({})["alertmanager"](body, received_at, policy)
    alerts = list(parsed.alerts)
    alerts[1] = msgspec.structs.replace(alerts[1], labels=None)
    return dataclasses.replace(parsed, alerts=alerts)


async def test_an_alert_the_engine_fails_on_every_time_is_skipped_and_the_rest_correlated(tmp_path, clock,
                                                                                           metrics, caplog):
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    service = EngineService(store, rules_from(tmp_path, GROUP_BY_CLUSTER), EngineSettings(),
                            {"alertmanager": poisoning_parser}, wiring.ingest_policy(parse_config({}, environ={})),
                            clock=clock, observer=IncidentMetrics(metrics, SlaConfig()))
    await service.restore()
    notification = store_notification(store, 3, T0)
    with store.begin() as connection:  # as stored before revision 0004: the engine parses it
        connection.execute(update(notifications).where(notifications.c.id == notification).values(alerts=None))
    for _ in range(SKIP_AFTER_FAILURES):
        with pytest.raises(StepFailed):
            await service.run_step()
        assert await service.run_step()  # the rebuild from the store; the failed step runs again next
    with caplog.at_level(logging.ERROR, logger="correlator.engine_service"):
        await drain(service)
    assert sample(metrics, "correlator_engine_step_failures_total", stage="process") == SKIP_AFTER_FAILURES
    assert sample(metrics, "correlator_engine_skipped_alerts_total") == 1
    assert sum(joined_per_alert(store).values()) == 2  # the two others are correlated, once each
    assert any("alert skipped" in record.getMessage() for record in caplog.records)
    store.dispose()


async def test_a_placement_row_the_engine_cannot_read_is_logged_and_the_alerts_after_it_correlated(tmp_path, clock,
                                                                                                  caplog):
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    service = make_service(store, tmp_path, clock)
    await service.restore()
    with store.begin() as connection:  # only the daemon writes these: a row changed under it
        row = connection.execute(notifications.insert().values(
            received_at_us=to_us(T0), source=Source.PLACEMENT, alert_count=0,
            body=b'{"cluster": "eu", "pods": "not a list"}')).inserted_primary_key[0]
    store_notification(store, 2, T0)
    with caplog.at_level(logging.WARNING, logger="correlator.engine_service"):
        await drain(service)
    assert [r.getMessage() for r in caplog.records if "placement row" in r.getMessage()] == [
        f"placement row {row} skipped: pods: Expected `array`, got `str`"]
    assert sum(joined_per_alert(store).values()) == 2
    store.dispose()
