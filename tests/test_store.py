"""Storage on both real backends: SQLite (embedded default) and PostgreSQL (production)."""

import asyncio
import sqlite3
from datetime import datetime, timedelta, timezone

import msgspec
import psycopg
import pytest
from sqlalchemy import func, select

from correlator.app import WRITER, purge_notifications
from correlator.domain import Alert, AlertStatus, RawNotification
from correlator.ingest.fingerprint import fingerprint
from correlator.ingest.flapping import FlapDetector
from correlator.store import database
from correlator.store.schema import alerts, incidents, notifications, to_us
from correlator.store.writer import GroupCommitWriter, StoreUnavailable
from tests.conftest import capture, post_json, stored_alerts
from tests.engine_store import Clock, drain, make_service, stored_row

T0 = datetime(2026, 11, 23, 4, 0, tzinfo=timezone.utc)


def alert(name="X", *, starts=T0, ends=None, status=AlertStatus.FIRING, received=T0) -> Alert:
    labels = {"alertname": name}
    return Alert(fingerprint(labels), labels, {}, status, starts, ends, "", "alertmanager", received)


@pytest.fixture
def engine(db_url):
    engine = database.create_engine(db_url)
    database.upgrade(engine)
    yield engine
    engine.dispose()


def count(engine, table) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar()


async def test_http_dedup_rules_hold_on_both_backends(app_factory, db_url):
    client = await app_factory(url=db_url)
    for number in (1, 1, 3, 4, 5):  # 01 twice: the HA pair
        assert (await post_json(client, "/api/v1/alertmanager",
                                capture(f"alertmanager-0.25/webhook-0{number}.json"))).status == 200
    by_instance = {a["labels"]["instance"]: a for a in await stored_alerts(client)}
    # The view counts the notifications the log holds: on PostgreSQL, where replicas deduplicate,
    # the pair's second copy (the same bytes within seconds) is stored once.
    pair = 1 if db_url.startswith("postgresql") else 2
    assert {i: a["notifications"] for i, a in by_instance.items()} == {
        "node1:9100": 2 + pair, "node2:9100": 3 + pair, "node3:9100": 3}
    assert {a["status"] for a in by_instance.values()} == {"resolved"}


async def test_raw_notifications_are_kept_byte_for_byte(app_factory, db_url):
    client = await app_factory(url=db_url)
    body = capture("alertmanager-0.25/webhook-02.json")
    await post_json(client, "/api/v1/alertmanager", body)
    with client.app[WRITER]._engine.connect() as connection:
        [(source, stored_body, alert_count)] = connection.execute(
            select(notifications.c.source, notifications.c.body, notifications.c.alert_count)).all()
    assert (source, bytes(stored_body), alert_count) == ("alertmanager", body, 1)


def raw(name: str) -> RawNotification:
    return RawNotification("alertmanager", datetime.now(timezone.utc), name.encode())


async def test_a_written_batch_is_committed_before_write_returns(engine, db_url):
    writer = GroupCommitWriter(engine)
    writer.start()
    try:
        await asyncio.gather(*(writer.write([alert(f"A{i}")], raw(f"A{i}")) for i in range(50)))
        other = database.create_engine(db_url)  # a separate connection sees every row
        assert count(other, notifications) == 50
        other.dispose()
    finally:
        writer.close()


async def test_flapping_survives_a_restart(engine, tmp_path):
    clock = Clock(T0 + timedelta(hours=1))
    for minute in (0, 10, 20):  # a new engine service each time: the detector is rebuilt from the store
        starts = T0 + timedelta(minutes=minute)
        body = msgspec.json.encode([{"labels": {"alertname": "X"}, "startsAt": starts.isoformat(),
                                     "endsAt": (starts + timedelta(minutes=2)).isoformat()}])
        with engine.begin() as connection:
            connection.execute(notifications.insert().values(  # received once it ended: resolved
                stored_row("prometheus", starts + timedelta(minutes=2), body)))
        service = make_service(engine, tmp_path, clock)
        await service.restore()  # as at a start: from the saved position, the flaps from the view
        await drain(service)
    with engine.connect() as connection:
        flags = connection.execute(select(alerts.c.flapping).order_by(alerts.c.starts_at_us)).scalars().all()
    assert flags == [False, False, True]


async def test_close_commits_what_is_queued(engine):
    writer = GroupCommitWriter(engine)
    writer.start()
    pending = [asyncio.ensure_future(writer.write([alert(f"Q{i}")], raw(f"Q{i}"))) for i in range(20)]
    await asyncio.sleep(0)  # let every write enqueue
    await asyncio.to_thread(writer.close)
    await asyncio.gather(*pending)
    assert count(engine, notifications) == 20
    with pytest.raises(StoreUnavailable):
        await writer.write([alert("late")], None)


def test_retention_deletes_only_old_raw_notifications(engine):
    old, recent = to_us(T0), to_us(T0 + timedelta(days=8))
    with engine.begin() as connection:
        connection.execute(notifications.insert(), [
            {"received_at_us": at, "source": "generic", "alert_count": 0, "body": b"{}"}
            for at in [old] * 7 + [recent] * 3])
    assert purge_notifications(engine, to_us(T0 + timedelta(days=1))) == 7
    assert count(engine, notifications) == 3


async def test_overload_answers_503_and_loses_nothing_accepted(app_factory, tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    client = await app_factory(url=url, store={"max_pending_alerts": 2})
    writer = client.app[WRITER]
    blocker = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock: commits stall
    try:
        first = asyncio.ensure_future(post_json(client, "/api/v2/alerts",
                                                [{"labels": {"alertname": "A"}}, {"labels": {"alertname": "B"}}]))
        for _ in range(500):
            if writer.pending_alerts:
                break
            await asyncio.sleep(0.01)
        assert writer.pending_alerts == 2
        refused = await post_json(client, "/api/v2/alerts", [{"labels": {"alertname": "C"}}])
        assert refused.status == 503
        assert "overloaded" in (await refused.json())["error"]
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert (await first).status == 200
    assert sorted(a["labels"]["alertname"] for a in await stored_alerts(client)) == ["A", "B"]


async def test_postgres_down_answers_503_then_recovers(app_factory, postgres_url, postgres_server):
    client = await app_factory(url=postgres_url)
    assert (await post_json(client, "/api/v2/alerts", [{"labels": {"alertname": "before"}}])).status == 200
    name = postgres_url.rsplit("/", 1)[1]
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
    try:
        down = await post_json(client, "/api/v2/alerts", [{"labels": {"alertname": "during"}}])
        assert down.status == 503
        assert "store unavailable" in (await down.json())["error"]
        assert (await client.get("/readyz")).status == 503
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    assert (await post_json(client, "/api/v2/alerts", [{"labels": {"alertname": "after"}}])).status == 200
    assert sorted(a["labels"]["alertname"] for a in await stored_alerts(client)) == ["after", "before"]


def test_flap_state_of_alerts_that_stopped_changing_is_forgotten():
    detector = FlapDetector(max_changes=4, window_us=3600 * 10**6)
    minute = 60 * 10**6
    detector.observe("old", 0, 5 * minute, True)
    detector.observe("firing", 0, None, False)
    detector.observe("recent", 200 * minute, 205 * minute, True)
    assert detector.forget_idle() == 2  # "old" resolved over an hour before the latest change
    assert not detector.observe("old", 0, 5 * minute, True)


async def test_jobs_run_in_the_writer_thread_between_commits(engine):
    import threading
    writer = GroupCommitWriter(engine)
    writer.start()
    try:
        name = await asyncio.to_thread(writer.run_job, lambda: threading.current_thread().name)
        assert name == "group-commit"
        with pytest.raises(ZeroDivisionError):
            await asyncio.to_thread(writer.run_job, lambda: 1 / 0)
        await writer.write([alert("after-a-failed-job")], raw("after"))  # the writer goes on
        assert count(engine, notifications) == 1
    finally:
        writer.close()


def test_sqlite_reads_the_newest_resolved_and_closed_incidents_by_index_once_its_statistics_are_refreshed(tmp_path):
    # the board polls this list every few seconds: without statistics SQLite read it through the
    # state index and sorted every closed incident ever stored
    store = database.create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    database.upgrade(store)
    with store.begin() as connection:
        connection.execute(incidents.insert(), [
            {"id": f"INC-{n:06d}", "state": "open" if n % 100 == 0 else "closed", "priority": "P3", "team": "",
             "opened_at_us": n * 60_000_000, "updated_at_us": n * 60_000_000, "group_key": "g", "header": "{}"}
            for n in range(20_000)])
    newest_done = (select(incidents.c.id).where(incidents.c.state.in_(["resolved", "closed"]))
                   .order_by(incidents.c.opened_at_us.desc(), incidents.c.id.desc()).limit(100))
    sql = str(newest_done.compile(store, compile_kwargs={"literal_binds": True}))

    def plan() -> str:
        with store.connect() as connection:
            return " ".join(row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))

    assert "TEMP B-TREE FOR ORDER BY" in plan()
    database.optimize(store)
    assert plan() == "SCAN incidents USING INDEX ix_incidents_opened_at_us_id"
    store.dispose()
