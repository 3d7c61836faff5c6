"""Several replicas on one PostgreSQL store: one leader with fenced saves, a notification received
twice stored once, log ids committed in order; and one daemon per SQLite file."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from sqlalchemy import func, select

from correlator.cli import main
from correlator.domain import RawNotification
from correlator.domain import Incident, IncidentState
from correlator.metrics import Metrics
from correlator.replica_metrics import ReplicaMetrics
from correlator.store import database, notification_log
from correlator.store.incidents import IncidentRepository, Progress
from correlator.store.leadership import (DaemonRunning, Fenced, Leadership, ReplicaStatus, Role, SingleDaemon,
                                         single_daemon)
from correlator.store.schema import alerts, engine_state, incidents, leadership, notifications, to_us
from correlator.store.writer import GroupCommitWriter
from tests.engine_store import Clock, drain, make_service, open_store
from tests.processes import until, wait_for
from tests.test_store import alert

T0 = datetime(2026, 11, 23, 4, 0, tzinfo=timezone.utc)


@pytest.fixture
def store(postgres_url):
    engine = open_store(postgres_url)
    yield engine
    engine.dispose()


@pytest.fixture
def replicas(store, postgres_url):
    """Two replicas' leadership on one store, released afterwards."""
    made = [Leadership(postgres_url, holder=name) for name in ("a", "b")]
    yield made
    for replica in made:
        replica.release()


def terminate_lock_holder(url: str) -> None:
    """pg_terminate_backend on the session holding an advisory lock in `url`'s database."""
    with psycopg.connect(url, autocommit=True) as admin:
        [(pid,)] = admin.execute("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                                 " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                                 ).fetchall()
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def snapshot(store) -> tuple:
    with store.connect() as connection:
        return (connection.execute(select(incidents.c.id, incidents.c.state, incidents.c.updated_at_us)
                                   .order_by(incidents.c.id)).all(),
                connection.execute(select(engine_state).order_by(engine_state.c.name)).all())


def test_one_of_two_replicas_leads(replicas):
    first, second = replicas
    assert first.try_acquire() == 1
    assert second.try_acquire() is None
    assert first.check() and not second.check()
    assert (first.status, second.status) == (ReplicaStatus(Role.LEADER, 1), ReplicaStatus(Role.FOLLOWER))


def test_a_leader_whose_session_is_terminated_hands_over_with_a_new_epoch(replicas, store, postgres_url):
    _, second = replicas
    metrics = Metrics()
    first = Leadership(postgres_url, holder="a", on_change=ReplicaMetrics(metrics, lambda: first.status).changed)
    sample = metrics.registry.get_sample_value
    assert first.try_acquire() == 1
    assert sample("correlator_replica_leader") == 1 and sample("correlator_leadership_epoch") == 1
    terminate_lock_holder(postgres_url)
    assert wait_for(second.try_acquire, timeout=15, what="the follower to acquire") == 2
    assert not first.check() and first.status == ReplicaStatus(Role.FOLLOWER)
    with store.connect() as connection:
        assert connection.execute(select(leadership.c.epoch, leadership.c.holder)).one() == (2, "b")
    assert sample("correlator_leadership_changes_total", {"role": "leader"}) == 1
    assert sample("correlator_leadership_changes_total", {"role": "follower"}) == 1
    assert sample("correlator_replica_leader") == 0 and sample("correlator_leadership_epoch") == 0


def test_a_former_leaders_late_save_is_fenced_and_changes_nothing(replicas, store, postgres_url):
    first, second = replicas
    former = IncidentRepository(store, epoch=first.try_acquire())
    incident = Incident("INC-1", IncidentState.OPEN, "disk full", T0, T0, "g")
    former.save([incident], [], Progress(watermark=3), T0)
    terminate_lock_holder(postgres_url)
    assert wait_for(second.try_acquire, timeout=15, what="the follower to acquire") == 2
    before = snapshot(store)
    incident.state = IncidentState.RESOLVED
    with pytest.raises(Fenced, match="epoch 1 is over .*epoch 2"):
        former.save([incident], [], Progress(watermark=4), T0 + timedelta(minutes=1))
    assert snapshot(store) == before
    IncidentRepository(store, epoch=2).save([incident], [], Progress(watermark=4), T0 + timedelta(minutes=1))
    assert snapshot(store) != before


LEADER_PROCESS = textwrap.dedent("""
    import sys
    from correlator.store.leadership import Leadership
    print(Leadership(sys.argv[1]).try_acquire(), flush=True)
    sys.stdin.read()
""")


async def test_a_killed_leaders_lock_passes_to_a_follower_within_5_seconds(store, postgres_url):
    leader = subprocess.Popen([sys.executable, "-c", LEADER_PROCESS, postgres_url], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        assert leader.stdout.readline().strip() == "1"
        led = asyncio.Event()
        follower = Leadership(postgres_url, on_change=lambda status: led.set())
        stop = asyncio.Event()
        running = asyncio.create_task(follower.run(stop))
        os.kill(leader.pid, signal.SIGKILL)
        killed = time.monotonic()
        await asyncio.wait_for(led.wait(), timeout=10)
        assert time.monotonic() - killed < 5
        assert follower.status == ReplicaStatus(Role.LEADER, 2)
        stop.set()
        await running
        assert follower.status.role is Role.FOLLOWER
    finally:
        leader.kill()
        leader.wait()


class CuttableLink:
    """A TCP relay to PostgreSQL that can stop relaying, sockets left open: to both ends, a network
    cut (nothing arrives, nothing is refused)."""

    def __init__(self, port: int = 5432):
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._upstream_port = port
        self._cut = threading.Event()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        self._cut.set()

    def close(self) -> None:
        for sock in [self._listener, *self._sockets]:
            sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self._upstream_port))
            self._sockets += [client, server]
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._relay, args=(source, target), daemon=True).start()

    def _relay(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if self._cut.is_set():
                    return
                target.sendall(data)
        except OSError:
            return


async def test_a_leader_cut_off_from_the_database_stops_and_another_leads_within_15_seconds(store, postgres_url):
    link = CuttableLink()
    changes: list[tuple[str, ReplicaStatus, float]] = []

    def replica(name: str, url: str) -> Leadership:
        return Leadership(url, holder=name, on_change=lambda status: changes.append((name, status, time.monotonic())))
    cut_off = replica("cut off", postgres_url.replace(":5432/", f":{link.port}/"))
    follower = replica("follower", postgres_url)
    stop = asyncio.Event()
    running = [asyncio.create_task(cut_off.run(stop))]
    try:
        await until(lambda: changes, "the first leadership change", attempts=200)
        running.append(asyncio.create_task(follower.run(stop)))
        link.cut()
        cut = time.monotonic()
        await until(lambda: len(changes) == 3, "three leadership changes", attempts=400)
        assert [(name, status) for name, status, _ in changes] == [
            ("cut off", ReplicaStatus(Role.LEADER, 1)), ("cut off", ReplicaStatus(Role.FOLLOWER)),
            ("follower", ReplicaStatus(Role.LEADER, 2))]
        assert all(at - cut < 15 for _, _, at in changes[1:])
    finally:
        stop.set()
        link.close()
        await asyncio.gather(*running)


async def test_two_replicas_receiving_the_same_notification_store_it_once(store, postgres_url, tmp_path):
    second_store = database.create_engine(postgres_url)
    clock = Clock(T0)  # the wall clock the replicas stamp receive times by
    writers = [GroupCommitWriter(engine, clock=clock)
               for engine in (store, second_store)]
    for writer in writers:
        writer.start()
    body = b'{"alerts": [{"labels": {"alertname": "X"}}]}'
    try:
        same = RawNotification("alertmanager", T0, body)
        await asyncio.gather(*(writer.write([alert()], same) for writer in writers))
        # Another replica's copy a little later, and a resend once the window is over.
        clock.move(20)
        await writers[1].write([alert()], RawNotification("alertmanager", clock.now, body))
        clock.move(31)
        await writers[0].write([alert()], RawNotification("alertmanager", clock.now, body))
    finally:
        for writer in writers:
            writer.close()
        second_store.dispose()
    with store.connect() as connection:
        stored = connection.execute(select(notifications.c.received_at_us).order_by(notifications.c.id)).scalars()
        assert list(stored) == [to_us(T0), to_us(T0 + timedelta(seconds=51))]
    service = make_service(store, tmp_path, Clock(T0 + timedelta(minutes=1)))
    await service.restore()
    await drain(service)
    with store.connect() as connection:  # the alerts view counts the notifications the log holds
        assert connection.execute(select(func.sum(alerts.c.notifications))).scalar() == 2


def test_appends_by_two_writers_commit_in_id_order(store, postgres_url):
    """The engine reads `id > watermark`: a larger id must never be visible before a smaller one."""
    insert = ("INSERT INTO notifications (received_at_us, source, alert_count, body, digest)"
              " VALUES (%(received_at_us)s, %(source)s, %(alert_count)s, %(body)s, %(digest)s)")

    def row(body: bytes) -> dict:
        return {"received_at_us": to_us(T0), "source": "generic", "alert_count": 0, "body": body,
                "digest": notification_log.digest("generic", body)}

    def visible() -> list[int]:
        with psycopg.connect(postgres_url) as reader:
            return [i for (i,) in reader.execute("SELECT id FROM notifications ORDER BY id")]

    with psycopg.connect(postgres_url) as first, psycopg.connect(postgres_url) as second:
        first_cursor = first.cursor()
        notification_log.append(first_cursor, "postgresql", insert, [row(b"first")])
        second_done = threading.Event()

        def second_writer():
            notification_log.append(second.cursor(), "postgresql", insert, [row(b"second")])
            second.commit()
            second_done.set()

        thread = threading.Thread(target=second_writer)
        thread.start()
        waiting = "SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock'"
        with psycopg.connect(postgres_url) as observer:
            wait_for(lambda: observer.execute(waiting, (second.info.backend_pid,)).fetchone()[0] == 1,
                     timeout=10, what="the second writer to wait for the log lock")
        assert visible() == [] and not second_done.is_set()
        first.commit()
        thread.join(timeout=10)
    first_id, second_id = visible()
    assert first_id < second_id


def test_a_second_daemon_on_one_sqlite_file_is_refused(tmp_path):
    database_file = tmp_path / "correlator.db"
    running = single_daemon(f"sqlite:///{database_file}")
    running.acquire()
    try:
        with pytest.raises(DaemonRunning) as refused:
            SingleDaemon(database_file).acquire()
        assert str(refused.value) == (
            f"another correlator daemon (PID {os.getpid()}) is using the SQLite store {database_file} (it holds "
            f"{database_file}.lock); one SQLite file serves one daemon: stop the other one, or use PostgreSQL "
            "(store.url) to run several replicas")
    finally:
        running.close()
    again = SingleDaemon(database_file)
    again.acquire()
    again.close()


def test_serve_refuses_to_start_beside_a_daemon_on_its_sqlite_file(tmp_path, capsys):
    database_file = tmp_path / "correlator.db"
    running = SingleDaemon(database_file)
    running.acquire()
    try:
        assert main(["serve", "--db", f"sqlite:///{database_file}"]) == 2
    finally:
        running.close()
    assert capsys.readouterr().err.startswith(
        f"correlator: another correlator daemon (PID {os.getpid()}) is using the SQLite store {database_file}")


def test_postgresql_and_in_memory_stores_need_no_daemon_guard():
    assert single_daemon("postgresql://postgres@127.0.0.1/correlator") is None
    assert single_daemon("sqlite://") is None
