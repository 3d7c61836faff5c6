"""The fault script: what breaks when, on which scrape jobs, and its own log.

Each fault is one true incident. The log (one JSON line per fault: id, kind, the jobs and instances
of its scrape target, start, the alerts already firing on that target then, end) is
half of the truth; the other half is what Alertmanager sent (truth.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from stack import Stack


@dataclass(frozen=True)
class Fault:
    id: str
    kind: str
    at: float  # seconds after the fault phase starts
    duration: float
    target: str  # the scrape target it breaks, or runs on: "app", "node", "postgres" or "probes" (Stack.scope)


# The lab: a killed app, a CPU burn, a database outage during the burn and its recurrence
# minutes later, a killed exporter; then faults that leave the programs up but wrong: the app
# answering errors, the database's connections exhausted while the app answers slowly, the
# database's exporter killed, the probes' exporter killed, the disk kept busy writing; last, the app
# flapping (errors every other FLAP seconds) while the host runs out of memory (nothing links the
# two: they must stay apart). Faults on one target are further apart than truth.TAIL, so
# attribution is unambiguous.
SCHEDULE = (
    Fault("app-down", "killed app", at=0, duration=60, target="app"),
    Fault("cpu-burn", "cpu burn", at=120, duration=180, target="node"),
    Fault("db-outage-1", "database outage", at=180, duration=60, target="postgres"),
    Fault("db-outage-2", "database outage", at=450, duration=60, target="postgres"),
    Fault("exporter-down", "killed exporter", at=600, duration=60, target="node"),
    Fault("app-errors", "app answers errors", at=780, duration=60, target="app"),
    Fault("db-connections", "connections exhausted", at=900, duration=180, target="postgres"),
    Fault("app-slow", "slow app", at=960, duration=150, target="app"),
    Fault("pg-exporter-down", "killed database exporter", at=1260, duration=60, target="postgres"),
    Fault("probes-down", "killed probe exporter", at=1440, duration=60, target="probes"),
    Fault("disk-writes", "disk write storm", at=1560, duration=180, target="node"),
    Fault("app-flapping", "flapping app", at=1860, duration=180, target="app"),
    Fault("memory-hog", "memory exhausted", at=1920, duration=180, target="node"),
)
CONNECTIONS = 85  # of PostgreSQL's default 100: PostgresqlTooManyConnections fires above 80%
DISK_CHUNK, DISK_FILE = 16 << 20, 1 << 30  # bytes: the writer rewrites one 1 GiB file, 16 MiB at a time
FLAP = 20  # seconds the flapping app fails, then answers, in turn
MEMORY_LEFT = 0.07  # of the host's memory the hog leaves available: HostOutOfMemory fires below 10%
MEMORY_CHUNK = 256 << 20  # bytes the hog takes at a time


def _hog_memory(seconds: float) -> subprocess.Popen:
    """A process that takes the host's available memory down to MEMORY_LEFT of its total (written
    to, so it is resident) and holds it; it bounds itself in time, and takes nothing where less than
    a chunk is to spare."""
    code = (f"import time\nmeminfo = dict(line.split(':') for line in open('/proc/meminfo'))\n"
            f"kib = lambda key: int(meminfo[key].split()[0]) * 1024\n"
            f"spare = kib('MemAvailable') - {MEMORY_LEFT} * kib('MemTotal')\n"
            f"held = [b'\\x01' * {MEMORY_CHUNK} for _ in range(max(0, int(spare // {MEMORY_CHUNK})))]\n"
            f"time.sleep({seconds})\n")
    return subprocess.Popen([sys.executable, "-c", code])


def _write_disk(path: Path, seconds: float) -> subprocess.Popen:
    """A writer that keeps the disk busy (synced writes, so they reach it) for `seconds`; it bounds
    itself, and its file never grows past DISK_FILE."""
    code = (f"import os, time\nend = time.monotonic() + {seconds}\nchunk = b'x' * {DISK_CHUNK}\n"
            f"with open({str(path)!r}, 'wb') as f:\n"
            f"    while time.monotonic() < end:\n"
            f"        if f.tell() >= {DISK_FILE}:\n"
            f"            f.seek(0)\n"
            f"        f.write(chunk)\n"
            f"        os.fsync(f.fileno())\n")
    return subprocess.Popen([sys.executable, "-c", code])


def _hog_connections(dsn: str, seconds: float) -> subprocess.Popen:
    """A client that opens CONNECTIONS idle connections and holds them; it bounds itself."""
    code = (f"import time, psycopg\nheld = [psycopg.connect({dsn!r}) for _ in range({CONNECTIONS})]\n"
            f"time.sleep({seconds})\n")
    return subprocess.Popen([sys.executable, "-c", code])


def _burn(seconds: float, cores: int) -> list[subprocess.Popen]:
    """`cores` cores busy, one spinning process pinned to each; each bounds itself, so it stops even if
    the lab is killed."""
    code = f"import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    pass\n"
    burners = []
    for core in sorted(os.sched_getaffinity(0), reverse=True)[:cores]:
        burners.append(subprocess.Popen([sys.executable, "-c", code]))
        os.sched_setaffinity(burners[-1].pid, {core})
    return burners


class FaultScript:
    def __init__(self, stack: Stack, log_path: Path, say: Callable[[str], None], burn_cores: int = 1):
        self.stack, self.log_path, self.say, self.burn_cores = stack, log_path, say, burn_cores
        self.workers: list[subprocess.Popen] = []

    def run(self, schedule: tuple[Fault, ...] = SCHEDULE) -> None:
        """Starts and ends every fault at its time; ends are taken in time order with starts."""
        events = sorted([(f.at, 1, f, True) for f in schedule] + [(f.at + f.duration, 0, f, False) for f in schedule],
                        key=lambda e: (e[0], e[1]))
        started: dict[str, dict] = {}
        origin = time.monotonic()
        with self.log_path.open("w") as log:
            for offset, _, fault, starting in events:
                time.sleep(max(0.0, origin + offset - time.monotonic()))
                now = datetime.now(timezone.utc)
                if starting:
                    self.say(f"fault {fault.id} ({fault.kind}) starts")
                    scope = self.stack.scope(fault.target)
                    # What already fires on the target cannot start again: a fault it masks has no alert of its own.
                    started[fault.id] = {**scope, "start": now.isoformat(), "already_firing": self.stack.firing(scope)}
                    self._break(fault)
                else:
                    self._repair(fault)
                    self.say(f"fault {fault.id} ends")
                    log.write(json.dumps({"id": fault.id, "kind": fault.kind, **started[fault.id],
                                          "end": now.isoformat()}) + "\n")
                    log.flush()

    def close(self) -> None:
        """Ends the CPU burn, the connection hog and the disk writer (the schedule overlaps none of
        them), and removes the writer's file."""
        for worker in self.workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait(timeout=10)
        self.workers = []
        self._disk_file.unlink(missing_ok=True)

    @property
    def _disk_file(self) -> Path:
        return self.log_path.parent / "disk-writes.bin"

    def _burn(self, seconds: float) -> None:
        self.workers += _burn(seconds + 5, self.burn_cores)

    def _hog(self, seconds: float) -> None:
        self.workers.append(_hog_connections(self.stack.database_dsn, seconds + 5))

    def _write(self, seconds: float) -> None:
        self.workers.append(_write_disk(self._disk_file, seconds + 5))

    def _take_memory(self, seconds: float) -> None:
        self.workers.append(_hog_memory(seconds + 5))

    def _break(self, fault: Fault) -> None:
        programs, stack = self.stack.programs, self.stack
        {"killed app": programs["app"].kill,
         "cpu burn": lambda: self._burn(fault.duration),
         "database outage": programs["postgres"].stop,
         "killed exporter": programs["node-exporter"].kill,
         "app answers errors": lambda: stack.replace_app(status=500),
         "slow app": lambda: stack.replace_app(delay=1.5),
         "connections exhausted": lambda: self._hog(fault.duration),
         "killed database exporter": programs["postgres-exporter"].kill,
         "killed probe exporter": programs["blackbox-exporter"].kill,
         "disk write storm": lambda: self._write(fault.duration),
         "flapping app": lambda: stack.replace_app(status=500, flap=FLAP),
         "memory exhausted": lambda: self._take_memory(fault.duration)}[fault.kind]()

    def _repair(self, fault: Fault) -> None:
        programs, stack = self.stack.programs, self.stack
        {"killed app": programs["app"].start,
         "cpu burn": self.close,
         "database outage": stack.start_postgres,
         "killed exporter": programs["node-exporter"].start,
         "app answers errors": stack.replace_app,
         "slow app": stack.replace_app,
         "connections exhausted": self.close,
         "killed database exporter": programs["postgres-exporter"].start,
         "killed probe exporter": programs["blackbox-exporter"].start,
         "disk write storm": self.close,
         "flapping app": stack.replace_app,
         "memory exhausted": self.close}[fault.kind]()
