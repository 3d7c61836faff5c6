"""The alerts view the engine keeps (store/alert_view.py): the alerts of one step that repeat an
episode make one row write, which must leave the row as upserting them one by one does."""

import random
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from correlator.domain import Alert, AlertStatus
from correlator.ingest.fingerprint import fingerprint
from correlator.ingest.flapping import FlapDetector
from correlator.store.alert_view import FORGET_EVERY, AlertView
from correlator.store.schema import alerts
from tests.test_store import engine  # noqa: F401  (the fixture: a migrated store on each backend)

T0 = datetime(2026, 11, 23, 4, 0, tzinfo=timezone.utc)


def snapshots(seed: int, count: int) -> list[Alert]:
    """Snapshots of a few episodes: repeats, resolutions, late firings after a resolution, receive
    times that step back, annotations that change."""
    rng = random.Random(seed)
    found = []
    for number in range(count):
        labels = {"alertname": f"A{rng.randrange(3)}"}
        starts = T0 + timedelta(minutes=rng.randrange(3))
        resolved = rng.random() < 0.3
        found.append(Alert(fingerprint(labels), labels, {"summary": f"snapshot {number}"},
                           AlertStatus.RESOLVED if resolved else AlertStatus.FIRING, starts,
                           starts + timedelta(minutes=rng.randrange(1, 9)) if resolved else None,
                           f"http://prometheus/{number}", "alertmanager",
                           T0 + timedelta(seconds=rng.randrange(-600, 600))))
    return found


def rows(engine) -> list[tuple]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(
            select(*[c for c in alerts.c if c.name != "id"]).order_by(alerts.c.fingerprint, alerts.c.starts_at_us))]


def test_one_write_per_step_leaves_what_one_upsert_per_alert_leaves(engine):
    for seed in range(20):
        with engine.begin() as connection:
            connection.execute(alerts.delete())
        stream = snapshots(seed, 40)
        one_by_one = AlertView(engine, FlapDetector())
        for alert in stream:
            one_by_one.add(alert)
            with engine.begin() as connection:
                one_by_one.write(connection)
            one_by_one.saved()
        expected = rows(engine)
        with engine.begin() as connection:
            connection.execute(alerts.delete())
        steps, cut = AlertView(engine, FlapDetector()), random.Random(seed).randrange(1, 40)
        for part in (stream[:cut], stream[cut:]):  # two steps, each folding its repeats
            for alert in part:
                steps.add(alert)
            with engine.begin() as connection:
                steps.write(connection)
            steps.saved()
        assert rows(engine) == expected, seed
        # the stream repeats episodes and resolves some: the folding had something to fold
        assert max(row[10] for row in expected) > 1 and "resolved" in {row[3] for row in expected}


def test_a_rebuilt_view_forgets_what_no_save_wrote_and_remembers_the_flaps(engine):
    view = AlertView(engine, FlapDetector(max_changes=2))
    labels = {"alertname": "Flappy"}
    for minute in (0, 10):  # two episodes, each fired and resolved: four changes
        starts = T0 + timedelta(minutes=minute)
        view.add(Alert(fingerprint(labels), labels, {}, AlertStatus.RESOLVED, starts, starts + timedelta(minutes=1),
                       "", "alertmanager", starts + timedelta(minutes=1)))
    with engine.begin() as connection:
        view.write(connection)
    view.saved()
    view.add(Alert(fingerprint({"alertname": "Unsaved"}), {"alertname": "Unsaved"}, {}, AlertStatus.FIRING, T0, None,
                   "", "alertmanager", T0))
    with engine.connect() as connection:
        view.rebuild(connection)  # as when the engine is rebuilt after a failed step
    assert view.pending == 0 and view.flaps.flapping == {fingerprint(labels)}


def test_the_flap_state_of_alerts_that_stopped_changing_is_dropped_as_alerts_are_read(engine):
    view = AlertView(engine, FlapDetector())
    for number in range(FORGET_EVERY):  # one alert a minute, each resolved a minute later
        labels = {"alertname": f"A{number}"}
        starts = T0 + timedelta(minutes=number)
        view.add(Alert(fingerprint(labels), labels, {}, AlertStatus.RESOLVED, starts, starts + timedelta(minutes=1),
                       "", "alertmanager", starts + timedelta(minutes=1)))
    assert view.flaps.tracked <= 61  # only the last hour's alerts are still tracked
