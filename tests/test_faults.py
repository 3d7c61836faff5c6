"""Faults from a bad day, on real parts: a full disk, database connections killed mid-stream, the
wall clock stepping. Each checks the promise that matters: nothing answered 2xx is lost, and the
daemon recovers by itself."""

from __future__ import annotations

import asyncio
from contextlib import contextmanager

from sqlalchemy import event, func, select

from correlator.app import ENGINE, SERVICE, WRITER
from correlator.ingest.fingerprint import fingerprint
from correlator.store.schema import incident_members, notifications
from tests.conftest import post_json, stored_alerts

V2 = "/api/v2/alerts"
SQLITE_MAX_PAGES = 1073741823  # SQLite's default max_page_count


@contextmanager
def full_disk(database):
    """Make the SQLite database unable to grow, as a full disk does: `PRAGMA max_page_count` on every
    connection the daemon checks out (the store's own writer and engine included). The yielded
    function gives the space back."""
    limit = {"pages": SQLITE_MAX_PAGES}

    def on_checkout(dbapi_connection, _record, _proxy):
        dbapi_connection.execute(f"PRAGMA max_page_count = {limit['pages']}")

    with database.connect() as connection:
        limit["pages"] = connection.exec_driver_sql("PRAGMA page_count").scalar()
    event.listen(database, "checkout", on_checkout)
    try:
        yield lambda: limit.update(pages=SQLITE_MAX_PAGES)
    finally:
        event.remove(database, "checkout", on_checkout)


def batch(number: int) -> list[dict]:
    """Alerts big enough to need new pages (the raw body is stored too)."""
    return [{"labels": {"alertname": "DiskFull", "instance": f"host-{number}-{i}"},
             "annotations": {"description": "x" * 2000}} for i in range(10)]


async def until(condition, what: str, attempts: int = 600):
    for _ in range(attempts):
        if await condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


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
    with full_disk(database) as free_space:
        statuses = [await post(number) for number in range(1, 60)]
        assert 503 in statuses, "the store never filled up"
        refused = await post_json(client, V2, batch(1000))
        assert refused.status == 503 and "store unavailable" in (await refused.json())["error"]
        readiness = await client.get("/readyz")
        assert readiness.status == 503
        assert (await readiness.json())["checks"]["commits"] == "failing: OperationalError"

        free_space()
        assert await post(2000) == 200
        assert (await client.get("/readyz")).status == 200

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
