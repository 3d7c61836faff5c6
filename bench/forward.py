#!/usr/bin/env python3
"""Forwarding benchmark: the delivery worker draining the outbox into a local webhook sink.

Measured in one run:
  1. the reference: a bare aiohttp client POSTing the same signed bodies to the sink, 8 at a time
     (the limit of HTTP between two processes on this machine, with no store);
  2. deliveries/s per destination: one webhook destination, then two at once (each its own sink),
     each with a backlog of --changes changes of as many incidents;
  3. the time to drain a backlog of --backlog changes (incidents of 5 changes each: opened, updated,
     acknowledged, commented, resolved, delivered in order per incident), SQLite and PostgreSQL.

The sink runs in its own process (`--serve-sink PORT`) and answers 200 at once. The rows are
written straight into the outbox (the engine's planning is not measured here)."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp  # noqa: E402
import psycopg  # noqa: E402

from correlator.domain import Incident, IncidentState  # noqa: E402
from correlator.forward import webhook  # noqa: E402
from correlator.forward.changes import snapshot  # noqa: E402
from correlator.forward.contract import ChangeKind, Delivery, IncidentChange  # noqa: E402
from correlator.forward.worker import DeliveryPolicy, DeliveryWorker  # noqa: E402
from correlator.store import database  # noqa: E402
from correlator.store.outbox import Outbox, PlannedRow, write_planned  # noqa: E402

SECRET = "whsec_" + "YmVuY2htYXJrLXNpZ25pbmcta2V5LTAxMjM0NTY3"
INCIDENT_CHANGES = (ChangeKind.OPENED, ChangeKind.UPDATED, ChangeKind.ACKNOWLEDGED, ChangeKind.COMMENTED,
                    ChangeKind.RESOLVED)
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def serve_sink(port: int) -> None:
    from aiohttp import web

    async def receive(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"ok": True})
    app = web.Application()
    app.router.add_post("/hook", receive)
    app.router.add_get("/ready", lambda _: web.Response(text="ok"))
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


class Sink:
    def __init__(self, port: int):
        self.url = f"http://127.0.0.1:{port}/hook"
        self.process = subprocess.Popen([sys.executable, __file__, "--serve-sink", str(port)])
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1)
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the sink did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def change(incident_id: str, kind: ChangeKind, now: datetime) -> IncidentChange:
    incident = Incident(id=incident_id, state=IncidentState.OPEN, title=f"{incident_id} checkout errors",
                        opened_at=now, last_alert_at=now, group_key="bench")
    detail = {"priority": {"from": "P3", "to": "P2"}} if kind is ChangeKind.UPDATED else (
        {"text": "looking"} if kind is ChangeKind.COMMENTED else {})
    return IncidentChange(kind, now, "correlator", snapshot(incident), detail)


def fill(store, destination: str, incidents: int, kinds: tuple[ChangeKind, ...], now: datetime) -> int:
    rows = [PlannedRow(f"INC-{i:06d}", destination, change(f"INC-{i:06d}", kind, now))
            for i in range(incidents) for kind in kinds]
    for start in range(0, len(rows), 2000):
        chunk = rows[start:start + 2000]
        with store.begin() as connection:
            write_planned(connection, chunk, {(r.incident_id, r.destination) for r in chunk
                                              if r.change.kind is kinds[0]}, now)
    return len(rows)


async def drain(store, sinks: dict[str, str]) -> float:
    """Seconds for the worker (its real loop) to deliver everything pending."""
    async with aiohttp.ClientSession() as http:
        destinations = {name: webhook.build(name, {"url": url, "secret": SECRET}, http) for name, url in sinks.items()}
        worker = DeliveryWorker(Outbox(store, "bench"), destinations, policy=DeliveryPolicy(batch=8))
        started = time.perf_counter()
        await worker.start()
        try:
            while True:
                stats = await asyncio.to_thread(worker.outbox.stats, datetime.now(timezone.utc))
                if all(s.pending == 0 for s in stats.values()):
                    return time.perf_counter() - started
                await asyncio.sleep(0.05)
        finally:
            await worker.stop()


async def reference(url: str, requests: int) -> float:
    """Requests/s of a bare client posting signed webhook bodies, 8 at a time."""
    now = datetime.now(timezone.utc)
    async with aiohttp.ClientSession() as http:
        hook = webhook.build("ref", {"url": url, "secret": SECRET}, http)
        deliveries = [Delivery(i, "ref", change(f"INC-{i:06d}", ChangeKind.OPENED, now), "key", None, 1, now)
                      for i in range(requests)]
        started = time.perf_counter()
        for start in range(0, requests, 8):
            await asyncio.gather(*(hook.deliver(d) for d in deliveries[start:start + 8]))
        return requests / (time.perf_counter() - started)


class Store:
    """A fresh store: SQLite in a temporary directory, or a PostgreSQL database dropped afterwards."""

    def __init__(self, kind: str, workdir: Path, admin: str):
        self.kind, self._admin, self._name = kind, admin, None
        if kind == "sqlite":
            url = f"sqlite:///{workdir / f'forward-{uuid.uuid4().hex[:8]}.db'}"
        else:
            self._name = f"correlator_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(admin, autocommit=True) as connection:
                connection.execute(f'CREATE DATABASE "{self._name}"')
            url = admin.rsplit("/", 1)[0] + f"/{self._name}"
        self.engine = database.create_engine(url)
        database.upgrade(self.engine)

    def close(self) -> None:
        self.engine.dispose()
        if self._name:
            with psycopg.connect(self._admin, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{self._name}" WITH (FORCE)')


async def main(args) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="forward-bench-"))
    sinks = [Sink(free_port()), Sink(free_port())]
    try:
        ref = await reference(sinks[0].url, args.changes)
        print(f"reference: bare client -> sink, 8 at a time:  {ref:8.0f} requests/s")
        for kind in args.stores:
            store = Store(kind, workdir, args.postgres)
            try:
                now = datetime.now(timezone.utc)
                count = fill(store.engine, "hook", args.changes, (ChangeKind.OPENED,), now)
                seconds = await drain(store.engine, {"hook": sinks[0].url})
                print(f"{kind:10} one destination:             {count / seconds:8.0f} deliveries/s "
                      f"({count} in {seconds:.2f}s, {count / seconds / ref:.0%} of the reference)")
                for name in ("a", "b"):
                    fill(store.engine, name, args.changes, (ChangeKind.OPENED,), now)
                seconds = await drain(store.engine, {"a": sinks[0].url, "b": sinks[1].url})
                print(f"{kind:10} two destinations at once:    {count / seconds:8.0f} deliveries/s each "
                      f"({2 * count} in {seconds:.2f}s)")
                incidents = args.backlog // len(INCIDENT_CHANGES)
                count = fill(store.engine, "backlog", incidents, INCIDENT_CHANGES, now)
                seconds = await drain(store.engine, {"backlog": sinks[0].url})
                print(f"{kind:10} backlog of {count} changes ({incidents} incidents x {len(INCIDENT_CHANGES)}, in "
                      f"order): drained in {seconds:.1f}s ({count / seconds:.0f} deliveries/s)")
            finally:
                store.close()
    finally:
        for sink in sinks:
            sink.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=2000, help="changes per destination for deliveries/s")
    parser.add_argument("--backlog", type=int, default=10_000, help="changes in the backlog to drain")
    parser.add_argument("--stores", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    parser.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES", POSTGRES_ADMIN),
                        help="PostgreSQL admin URL (a database is created and dropped)")
    parser.add_argument("--serve-sink", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parsed = parser.parse_args()
    if parsed.serve_sink:
        serve_sink(parsed.serve_sink)
    else:
        asyncio.run(main(parsed))
