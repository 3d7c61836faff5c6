"""Engine steps are bounded inside a large notification: a rules reload waits for at most one step,
and the alert offset reached is saved with the watermark, so a restart neither repeats nor skips."""

import asyncio

import pytest

from correlator.app import purge_notifications
from correlator.engine_service import StepFailed
from correlator.store.incidents import Progress
from correlator.store.schema import to_us
from tests.engine_scenarios import T0
from tests.engine_store import (MAX_STEPS, Clock, drain, joined_per_alert, make_service, open_store, refusing,
                                store_notification)

STEP = 100
LARGE = 1000  # alerts in the large notification: ten steps




def processed(service) -> int:
    return sum(service.engine.outcomes.values())


@pytest.fixture
def store(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield store
    store.dispose()


@pytest.fixture
async def service(store, tmp_path):
    service = make_service(store, tmp_path, Clock(T0.replace(minute=1)), step_alerts=STEP)
    await service.restore()
    return service


async def test_a_step_ends_inside_a_large_notification_and_saves_the_offset(service, store):
    notification = store_notification(store, LARGE, T0)
    assert await service.run_step() is True
    assert processed(service) == STEP
    assert service.repository.load_progress() == Progress(0, STEP, 1, 0)
    assert await drain(service) == LARGE // STEP - 1
    assert service.repository.load_progress() == Progress(notification, 0, 1, 0)


async def test_a_rules_reload_waits_for_at_most_one_step_of_a_large_notification(service, store, tmp_path):
    store_notification(store, LARGE, T0)
    await service.run_step()
    steps = 0

    async def steps_taken():
        nonlocal steps
        for _ in range(MAX_STEPS):
            more = await service.run_step()
            steps += 1
            if not more:
                return

    stepping = asyncio.create_task(steps_taken())
    await service.reload(tmp_path / "rules")
    steps_before_reload, alerts_before_reload = steps, processed(service)
    await stepping
    assert steps_before_reload <= 1 and alerts_before_reload <= 2 * STEP
    assert processed(service) == LARGE and steps == LARGE // STEP - 1


async def test_a_restart_inside_a_large_notification_applies_each_alert_once(service, store, tmp_path):
    store_notification(store, LARGE, T0)
    store_notification(store, 5, T0, first=LARGE)
    for _ in range(3):
        await service.run_step()
    restarted = make_service(store, tmp_path, Clock(T0.replace(minute=1)), step_alerts=STEP)
    await restarted.restore()
    await drain(restarted)
    assert processed(service) + processed(restarted) == LARGE + 5
    assert joined_per_alert(store) == {fingerprint: 1 for fingerprint in joined_per_alert(store)}
    assert len(joined_per_alert(store)) == LARGE + 5


async def test_a_restart_after_a_refused_save_inside_a_large_notification_skips_nothing(service, store, tmp_path):
    store_notification(store, LARGE, T0)
    await service.run_step()
    with refusing(store):
        with pytest.raises(StepFailed):
            await service.run_step()
    restarted = make_service(store, tmp_path, Clock(T0.replace(minute=1)), step_alerts=STEP)
    await restarted.restore()
    assert restarted.progress.alert_offset == STEP
    await drain(restarted)
    assert len(joined_per_alert(store)) == LARGE
    assert set(joined_per_alert(store).values()) == {1}


async def test_notifications_stored_after_retention_emptied_the_log_are_processed(service, store):
    store_notification(store, 3, T0)
    await drain(service)
    purge_notifications(store, to_us(T0.replace(year=2027)), service.progress.watermark)
    store_notification(store, 2, T0, first=3)
    await drain(service)
    assert len(joined_per_alert(store)) == 5
