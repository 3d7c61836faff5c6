"""Faults from a bad day, on real parts: a full disk, database connections killed mid-stream, the
wall clock stepping. Each checks the promise that matters: nothing answered 2xx is lost, and the
daemon recovers by itself."""

from __future__ import annotations

import asyncio
from contextlib import contextmanager

import psycopg
from sqlalchemy import event, func, select

from correlator.app import ENGINE, SERVICE, WRITER
from correlator.ingest.fingerprint import fingerprint
from correlator.store.schema import incident_members, notifications
from tests.conftest import post_json, stored_alerts
from tests.processes import Daemon, http_json, post_stream, running, until, wait_for

V2 = "/api/v2/alerts"
SQLITE_MAX_PAGES = 1073741823  # SQLite's default max_page_count


@contextmanager
def filling_disk(database, spare_pages: int):
    """Let the SQLite database grow by `spare_pages` more pages, then fail as a full disk does:
    `PRAGMA max_page_count` on every connection the daemon checks out (the store's own writer and
    engine included). The yielded function gives the space back."""
    limit = {"pages": SQLITE_MAX_PAGES}

    def on_checkout(dbapi_connection, _record, _proxy):
        dbapi_connection.execute(f"PRAGMA max_page_count = {limit['pages']}")

    with database.connect() as connection:
        limit["pages"] = connection.exec_driver_sql("PRAGMA page_count").scalar() + spare_pages
    event.listen(database, "checkout", on_checkout)
    try:
        yield lambda: limit.update(pages=SQLITE_MAX_PAGES)
    finally:
        event.remove(database, "checkout", on_checkout)


def batch(number: int) -> list[dict]:
    """Alerts big enough to need new pages (the raw body is stored too)."""
    return [{"labels": {"alertname": "DiskFull", "instance": f"host-{number}-{i}"},
             "annotations": {"description": "x" * 2000}} for i in range(10)]


async def is_ready(client) -> bool:
    return (await client.get("/readyz")).status == 200


async def test_full_disk_answers_503_and_recovers_without_restart_losing_nothing_acknowledged(
        app_factory, tmp_path):
    client = await app_factory(url=f"sqlite:///{tmp_path / 'store.db'}")
    database, service = client.app[ENGINE], client.app[SERVICE]
    acknowledged: set[str] = set()

    async def post(number: int) -> int:
        alerts = batch(number)
        response = await post_json(client, V2, alerts)
        if response.status == 200:
            acknowledged.update(fingerprint(alert["labels"]) for alert in alerts)
        return response.status

    assert await post(0) == 200
    with filling_disk(database, spare_pages=64) as free_space:
        statuses = [await post(number) for number in range(1, 60)]
        assert 200 in statuses and 503 in statuses, "the store never filled up"
        refused = await post_json(client, V2, batch(1000))
        assert refused.status == 503 and "store unavailable" in (await refused.json())["error"]
        readiness = await client.get("/readyz")
        assert readiness.status == 503
        assert (await readiness.json())["checks"]["commits"] == "failing: OperationalError"

        free_space()
        # Ready again before any traffic (a load balancer sends none to a replica not ready).
        await until(lambda: is_ready(client), "readiness after the space came back")
        assert await post(2000) == 200

    stored = {alert["fingerprint"] for alert in await stored_alerts(client)}
    assert acknowledged <= stored, f"{len(acknowledged - stored)} acknowledged alerts were lost"

    def engine_state() -> tuple[int, set[str]]:
        with database.connect() as connection:
            last = connection.execute(select(func.max(notifications.c.id))).scalar()
            members = set(connection.execute(select(incident_members.c.fingerprint)).scalars())
        return last, members

    async def caught_up() -> bool:
        last, members = await asyncio.to_thread(engine_state)
        return service.progress.watermark == last and acknowledged <= members
    await until(caught_up, "the engine to correlate every acknowledged alert")
    assert client.app[WRITER].last_commit_error is None


def terminate_backends(admin_url: str, database: str) -> int:
    """What a database failover or an administrator does to the daemon's connections."""
    with psycopg.connect(admin_url, autocommit=True) as admin:
        return admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                             "WHERE datname = %s AND pid <> pg_backend_pid()", (database,)).fetchone()[0]


def query(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url) as connection:
        return connection.execute(sql).fetchall()


async def test_connections_terminated_mid_stream_lose_nothing_acknowledged_and_ingest_recovers(
        tmp_path, postgres_url, postgres_server):
    name = postgres_url.rsplit("/", 1)[1]
    terminated: list[int] = []
    with running(Daemon(tmp_path, {"store": {"url": postgres_url}})) as daemon:
        acknowledged, answers = await post_stream(
            daemon.url, fault_after=400, until=1600,
            fault=lambda: terminated.append(terminate_backends(postgres_server, name)))
        assert terminated[0] >= 1, "the daemon held no connection to terminate"
        assert len(acknowledged) >= 1600, f"ingest did not recover: {answers}"
        assert set(answers) <= {200, 503}, f"answers other than 2xx or retryable 503: {answers}"
        wait_for(lambda: http_json("GET", f"{daemon.url}/readyz")[0] == 200, timeout=30, what="readiness")

        def caught_up() -> bool:
            [(last,)] = query(postgres_url, "SELECT max(id) FROM notifications")
            [(watermark,)] = query(postgres_url, "SELECT value FROM engine_state WHERE name = 'watermark'")
            return watermark == last
        wait_for(caught_up, timeout=60, what="the engine to process every stored notification")
    stored = {fingerprint for (fingerprint,) in query(postgres_url, "SELECT fingerprint FROM alerts")}
    assert acknowledged <= stored, f"{len(acknowledged - stored)} acknowledged alerts were lost"


async def test_readiness_recovers_after_a_database_outage_before_any_traffic(app_factory, postgres_url,
                                                                            postgres_server):
    client = await app_factory(url=postgres_url)
    name = postgres_url.rsplit("/", 1)[1]
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    try:
        terminate_backends(postgres_server, name)
        assert (await post_json(client, V2, [{"labels": {"alertname": "during"}}])).status == 503
        assert (await client.get("/readyz")).status == 503
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    await until(lambda: is_ready(client), "readiness once the database takes writes again")
    assert client.app[WRITER].last_commit_error is None
    assert await stored_alerts(client) == []
