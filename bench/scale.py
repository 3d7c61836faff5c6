#!/usr/bin/env python3
"""Replica benchmark on PostgreSQL: ingest with 1, 2 and 3 replicas, and failover time.

On a throwaway database of the given PostgreSQL server it measures, with wrk as the load generator
(one wrk per replica, the connections split between them: what a load balancer does):
  1. the bare aiohttp server's throughput (bench/ingest.py's reference: the limit of aiohttp + JSON
     parsing on this machine),
  2. ingest alerts/s of `correlator serve` with 1, 2 and 3 replicas on one fresh database each,
     each beside the bare reference and the 1-replica figure,
  3. failover: with 3 replicas, the leader replica (serve and its engine process) is SIGKILLed
     --kills times; the time until another replica's /readyz says it leads, as min, median and max
     beside the 5 s target. The killed replica is started again before the next kill.
Figures, not a test: nothing here asserts. All replicas share this machine's cores (and the
database's), so N replicas measure the contention of one host, not N hosts.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.ingest import Server, ensure_wrk, free_port, measure_bare, run_wrk, write_bodies  # noqa: E402

FAILOVER_TARGET_SECONDS = 5.0


class Database:
    """A throwaway database on the server of `server_url`, dropped at the end."""

    def __init__(self, server_url: str, name: str):
        self.server_url, self.name = server_url, name
        self.url = f"{server_url.rsplit('/', 1)[0]}/{name}"
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')

    def drop(self) -> None:
        with psycopg.connect(self.server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class Replica:
    """One `correlator serve` (and the engine process it starts) on the shared database."""

    def __init__(self, workdir: Path, name: str, database_url: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = workdir / f"replica-{name}.yaml"
        self.config.write_text(json.dumps({"server": {"port": self.port},
                                           "store": {"url": database_url, "data_dir": str(workdir / name)},
                                           "log": {"level": "warning"}}))
        self.log_path = workdir / f"replica-{name}.log"
        self.server: Server | None = None

    def start(self) -> Replica:
        self.server = Server([sys.executable, "-m", "correlator", "serve", "--config", str(self.config)],
                             f"{self.url}/readyz", self.log_path)
        return self

    def role(self) -> str | None:
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=1) as response:
                return json.loads(response.read())["replica"]["role"]
        except OSError:
            return None

    def kill(self) -> None:
        """SIGKILL serve and its engine process (its child) at once."""
        pid = self.server.process.pid
        for child in _children(pid):
            os.kill(child, signal.SIGKILL)
        os.kill(pid, signal.SIGKILL)
        self.server.process.wait()
        self.server.log.close()

    def stop(self) -> None:
        if self.server is not None and self.server.process.poll() is None:
            self.server.stop()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(") ", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def ingest(replicas: list[Replica], bodies: Path, connections: int, duration: int) -> dict:
    """wrk against every replica at once, `connections` split between them; summed."""
    results: list[dict] = [{} for _ in replicas]

    def load(index: int) -> None:
        results[index] = run_wrk(replicas[index].url, bodies, connections=max(1, connections // len(replicas)),
                                 duration=duration)
    threads = [threading.Thread(target=load, args=(i,)) for i in range(len(replicas))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"rps": sum(r["rps"] for r in results), "non2xx": sum(r["non2xx"] + r["socket_errors"] for r in results),
            "p99_us": max(r["p99_us"] for r in results)}


def measure_replicas(count: int, args, workdir: Path, bodies: Path) -> dict:
    database = Database(args.postgres, f"correlator_scale_{os.getpid()}_{count}")
    replicas = [Replica(workdir, f"{count}-{i}", database.url) for i in range(count)]
    try:
        for replica in replicas:
            replica.start()
        return ingest(replicas, bodies, args.connections, args.duration)
    finally:
        for replica in replicas:
            replica.stop()
        database.drop()


def leader(replicas: list[Replica], timeout: float = 30) -> tuple[Replica, float]:
    """The one replica that says it leads, and when it was first seen so (monotonic)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        leading = [r for r in replicas if r.server.process.poll() is None and r.role() == "leader"]
        if len(leading) == 1:
            return leading[0], time.monotonic()
        time.sleep(0.02)
    raise SystemExit(f"no single leader within {timeout}s")


def measure_failover(args, workdir: Path) -> list[float]:
    database = Database(args.postgres, f"correlator_failover_{os.getpid()}")
    replicas = [Replica(workdir, f"failover-{i}", database.url) for i in range(3)]
    times = []
    try:
        for replica in replicas:
            replica.start()
        for kill in range(args.kills):
            current, _ = leader(replicas)
            killed_at = time.monotonic()
            current.kill()
            _, seen_at = leader([r for r in replicas if r is not current])
            times.append(seen_at - killed_at)
            print(f"  kill {kill + 1}: {times[-1]:.2f} s", file=sys.stderr)
            current.start()
        return times
    finally:
        for replica in replicas:
            replica.stop()
        database.drop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="a PostgreSQL server's URL (any database on it) where throwaway databases "
                             "are created and dropped (default: local, user postgres)")
    parser.add_argument("--size", type=int, default=10, help="alerts per request (default 10)")
    parser.add_argument("--duration", type=int, default=5, help="seconds of load per measurement (default 5)")
    parser.add_argument("--connections", type=int, default=48, help="concurrent connections in all (default 48)")
    parser.add_argument("--kills", type=int, default=10, help="leader kills for the failover time (default 10)")
    args = parser.parse_args()
    ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="correlator-scale-") as tmp:
        workdir = Path(tmp)
        bodies = workdir / "bodies.jsonl"
        write_bodies(bodies, args.size, seed=args.size)
        reference = measure_bare(workdir, bodies, args.connections, args.duration)
        scaled = {}
        for count in (1, 2, 3):
            print(f"ingest with {count} replica(s), {args.duration}s...", file=sys.stderr)
            scaled[count] = measure_replicas(count, args, workdir, bodies)
        print(f"failover over {args.kills} kills...", file=sys.stderr)
        failovers = measure_failover(args, workdir)
    size = args.size
    print(f"\ningest, {size} alerts/request, {args.connections} connections, {args.duration}s per run, PostgreSQL")
    print(f"{'replicas':>8} {'alerts/s':>10} {'vs 1 replica':>12} {'vs bare aiohttp':>15} {'p99 ms':>7} {'non-2xx':>8}")
    print(f"{'bare':>8} {reference['rps'] * size:>10,.0f} {'':>12} {1:>15.2f} {reference['p99_us'] / 1000:>7.1f} "
          f"{reference['non2xx'] + reference['socket_errors']:>8}")
    for count, figures in scaled.items():
        print(f"{count:>8} {figures['rps'] * size:>10,.0f} {figures['rps'] / scaled[1]['rps']:>12.2f} "
              f"{figures['rps'] / reference['rps']:>15.2f} {figures['p99_us'] / 1000:>7.1f} {figures['non2xx']:>8}")
    print(f"\nfailover after SIGKILL of the leader replica, {len(failovers)} kills (target {FAILOVER_TARGET_SECONDS:.0f} s)")
    print(f"min {min(failovers):.2f} s, median {statistics.median(failovers):.2f} s, max {max(failovers):.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
