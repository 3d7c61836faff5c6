"""Three `correlator serve` replicas on one PostgreSQL store, as a user runs them behind a load
balancer: alerts streamed to all of them, the leader killed outright mid-stream and later the next
leader cut off from the database. Nothing answered 2xx is lost or stored twice, and the incidents
are those one engine makes of the stored log."""

import asyncio
import os
import signal
import time
from datetime import datetime, timezone

import aiohttp
import psycopg
import pytest
from sqlalchemy import func, select

from correlator import wiring
from correlator.config import load_config
from correlator.engine.core import Engine
from correlator.engine_feed import NotificationFeed
from correlator.ingest.fingerprint import fingerprint
from correlator.ingest.sources import parsers
from correlator.store.incidents import IncidentRepository, Progress
from correlator.store.leadership import Fenced
from correlator.store.schema import alerts, incident_events, incident_members, notifications
from tests.engine_store import GROUP_BY_CLUSTER, joined_per_alert, open_store
from tests.engine_scenarios import rules_from
from tests.processes import Daemon, http_json, wait_for
from tests.test_engine_process import caught_up, engine_pids, urllib_text
from tests.test_rule_reload import metric

STARTS_AT = "2026-11-23T03:00:00Z"
CLUSTERS = ("eu", "us", "ap")


def replica_status(daemon: Daemon) -> dict:
    return http_json("GET", f"{daemon.url}/readyz", timeout=2)[1]["replica"]


def the_leader(daemons: list[Daemon]) -> Daemon | None:
    """The one replica that says it leads (None while none or several do)."""
    leaders = [d for d in daemons if replica_status(d)["role"] == "leader"]
    return leaders[0] if len(leaders) == 1 else None


def terminate_leadership_session(url: str) -> None:
    """pg_terminate_backend on the leader's leadership session (not on the log's short xact locks)."""
    with psycopg.connect(url, autocommit=True) as admin:
        [(pid,)] = admin.execute(
            "SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory'"
            " AND l.granted AND a.application_name = 'correlator leadership' AND a.datname = current_database()"
        ).fetchall()
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def batch(number: int) -> list[dict]:
    labels = {"alertname": "ReplicaStream", "instance": f"host-{number}", "cluster": CLUSTERS[number % 3]}
    return [{"labels": labels, "startsAt": STARTS_AT},
            {"labels": {**labels, "alertname": "ReplicaStreamPeer"}, "startsAt": STARTS_AT}]


async def stream(daemons: list[Daemon], numbers: range, acknowledged: set[str], workers: int = 6) -> None:
    """POST alerts round-robin to the live replicas; every seventh request goes to two of them (the
    same body: a sender posting to every replica). Records the fingerprints answered 2xx."""
    counter = iter(numbers)

    async def client(session: aiohttp.ClientSession) -> None:
        for number in counter:
            live = [d for d in daemons if d.process.poll() is None]
            body = batch(number)
            targets = [live[number % len(live)]] + ([live[(number + 1) % len(live)]] if number % 7 == 0 else [])
            for daemon in targets:
                try:
                    async with session.post(f"{daemon.url}/api/v2/alerts", json=body) as response:
                        if response.status == 200:
                            acknowledged.update(fingerprint(alert["labels"]) for alert in body)
                except aiohttp.ClientError:
                    pass  # a replica killed while answering: not acknowledged
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        await asyncio.gather(*(client(session) for _ in range(workers)))


async def stream_through_fault(daemons: list[Daemon], numbers: range, acknowledged: set[str], new_leader,
                               within: float) -> tuple[Daemon, float]:
    """Stream on while waiting (at most `within` seconds) for `new_leader()`; returns it and the wait."""
    started = time.monotonic()
    streaming = asyncio.create_task(stream(daemons, numbers, acknowledged))
    leader = await asyncio.to_thread(wait_for, new_leader, timeout=within, what="a new leader")
    took = time.monotonic() - started
    await streaming
    return leader, took


def one_engine_incidents(config_path, store) -> dict[str, set[str]]:
    """The stored log, in id order, through one engine with the replicas' configuration."""
    config, _ = load_config(config_path)
    engine = Engine(wiring.load_rules(config), wiring.engine_settings(config), keep_closed=True)
    feed = NotificationFeed(store, parsers(wiring.field_mappings(config)), wiring.ingest_policy(config),
                            10 ** 9, 10 ** 9)
    position = (0, 0)
    while True:
        read = feed.read(*position)
        for chunk in read.chunks:
            for alert in chunk.alerts:
                engine.process(alert, chunk.received_at)
            position = (chunk.notification, 0)
        if not read.more:
            return {i.id: {m.fingerprint for m in i.members.values()} for i in engine.incidents.values()}


def stored_incidents(store) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    with store.connect() as connection:
        for incident_id, member in connection.execute(select(incident_members.c.incident_id,
                                                             incident_members.c.fingerprint)):
            found.setdefault(incident_id, set()).add(member)
    return found


def test_three_replicas_lose_no_alert_and_apply_none_twice_across_a_kill_and_a_cut(tmp_path, postgres_url):
    rules_from(tmp_path, GROUP_BY_CLUSTER)
    daemons = []
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
        daemons.append(Daemon(tmp_path / name, {"store": {"url": postgres_url, "data_dir": str(tmp_path / name)},
                                                "rules": {"dir": str(tmp_path / "rules")}}))
    store = open_store(postgres_url)
    acknowledged: set[str] = set()
    try:
        for daemon in daemons:
            daemon.start()
        first = wait_for(lambda: the_leader(daemons), timeout=10, what="one leader among three replicas")
        asyncio.run(stream(daemons, range(0, 150), acknowledged))

        # The leader killed outright, serve and engine: another replica leads within 5 s.
        [engine] = engine_pids(first)
        first.process.send_signal(signal.SIGKILL)
        os.kill(engine, signal.SIGKILL)
        survivors = [d for d in daemons if d is not first]
        second, _ = asyncio.run(stream_through_fault(survivors, range(150, 300), acknowledged,
                                                     lambda: the_leader(survivors), within=5))
        epoch = replica_status(second)["epoch"]

        # The new leader's leadership session terminated: a leader with a newer epoch within 15 s.
        terminate_leadership_session(postgres_url)
        asyncio.run(stream_through_fault(
            survivors, range(300, 450), acknowledged,
            lambda: (leader := the_leader(survivors)) and replica_status(leader)["epoch"] > epoch and leader,
            within=15))
        wait_for(lambda: caught_up(store), timeout=30, what="the leader to catch up")

        with store.connect() as connection:
            episodes = dict(connection.execute(select(alerts.c.fingerprint, func.count())
                                               .group_by(alerts.c.fingerprint)).all())
            bodies = connection.execute(select(func.count()).select_from(notifications)
                                        .group_by(notifications.c.digest).having(func.count() > 1)).all()
            events = connection.execute(select(incident_events.c.incident_id, incident_events.c.kind,
                                               incident_events.c.at_us, incident_events.c.detail, func.count())
                                        .group_by(incident_events.c.incident_id, incident_events.c.kind,
                                                  incident_events.c.at_us, incident_events.c.detail)
                                        .having(func.count() > 1)).all()
        assert acknowledged <= set(episodes), "alerts answered 2xx and not stored"
        assert set(episodes.values()) == {1}, "alerts stored twice"
        assert bodies == [], "a notification posted to two replicas stored twice"
        joined = joined_per_alert(store)
        assert set(joined) == set(episodes) and set(joined.values()) == {1}, "alerts lost or applied twice"
        assert events == [], "duplicate timeline events"
        assert stored_incidents(store) == one_engine_incidents(daemons[1].config_path, store)

        # A former leader's late save is refused.
        with pytest.raises(Fenced):
            IncidentRepository(store, epoch=1).save([], [], Progress(), datetime.now(timezone.utc))
        changes = sum(metric(urllib_text(f"{d.url}/metrics"), 'correlator_leadership_changes_total{role="leader"}')
                      for d in survivors)
        assert changes >= 2, "each replica counts the times it became the leader"
    finally:
        for daemon in daemons:
            if daemon.process is not None:
                daemon.stop()
        store.dispose()

