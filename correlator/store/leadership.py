"""Which replica runs the engine.

On PostgreSQL the leader is the replica whose dedicated session holds a session-level advisory
lock. Holding a lock is not enough to write safely: a leader cut off from the database may not know
yet that it has lost the lock while another replica already runs the engine. So whoever acquires the
lock also increments a leadership epoch in the store, and every engine save checks in its own
transaction that the epoch is still its own (`check_epoch`): a former leader's late save raises
Fenced and changes nothing.

The leader checks its session with a cheap query every CHECK_SECONDS, and stops counting itself
leader when no check has succeeded for LOST_AFTER_SECONDS (a terminated session fails the next
check at once). The server ends the session once no check has arrived for IDLE_SESSION_SECONDS
(PostgreSQL's idle_session_timeout, 14 or later), which releases the lock whatever happened to the
network. A killed leader's session ends at once. Followers try the lock every RETRY_SECONDS.

On SQLite there is one daemon (SingleDaemon refuses a second one on the same file) and it always
leads."""

from __future__ import annotations

import asyncio
import enum
import fcntl
import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import psycopg
from sqlalchemy import select
from sqlalchemy.engine import Connection, make_url

from correlator.store import StoreUnreachable
from correlator.store.database import normalise_url
from correlator.store.schema import leadership, to_us

log = logging.getLogger(__name__)

# pg_try_advisory_lock key of the engine's leadership: arbitrary, fixed.
ENGINE_LOCK_KEY = 0x636F_7272_6C65_6164  # "corrlead"
ENGINE = "engine"  # the leadership row's name
CHECK_SECONDS = 1.0
RETRY_SECONDS = 0.5
# A leader whose checks have not succeeded for this long stops leading; the server ends a session
# idle for IDLE_SESSION_SECONDS (its checks stopped arriving), which releases the lock. The leader
# stops first, and the next one starts within IDLE_SESSION_SECONDS + RETRY_SECONDS of a cut.
LOST_AFTER_SECONDS = 6.0
IDLE_SESSION_SECONDS = 8
_SESSION_OPTIONS = {
    "connect_timeout": 5, "application_name": "correlator leadership",
    # A dead peer makes the socket fail (keepalives while idle, a user timeout while sending).
    "keepalives": 1, "keepalives_idle": 2, "keepalives_interval": 2, "keepalives_count": 3, "tcp_user_timeout": 8000,
    "options": f"-c idle_session_timeout={IDLE_SESSION_SECONDS * 1000} -c statement_timeout=5000"
               " -c tcp_keepalives_idle=2 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3"
               " -c tcp_user_timeout=8000",
}


def holder_id(pid: int) -> str:
    """The leadership row's holder for the engine process `pid` on this host."""
    return f"{socket.gethostname()}:{pid}"


class Role(enum.StrEnum):
    LEADER = "leader"  # runs the engine
    FOLLOWER = "follower"  # serves ingest, reads and metrics; waits for the lock


@dataclass(frozen=True, slots=True)
class ReplicaStatus:
    role: Role
    epoch: int | None = None  # the leadership epoch this replica holds (None: follower, or SQLite)

    def document(self) -> dict:
        return {"role": str(self.role), "epoch": self.epoch}


class Fenced(Exception):
    """A save by a replica that is no longer the leader: a newer epoch exists."""

    def __init__(self, mine: int, current: int | None):
        super().__init__(f"leadership epoch {mine} is over (the store is at epoch {current}): "
                         "another replica runs the engine")
        self.mine, self.current = mine, current


def check_epoch(connection: Connection, epoch: int) -> None:
    """Raise Fenced unless `epoch` is the store's current one. Run it first in a save's transaction:
    the row lock it takes makes a new leader's epoch increment wait until that save has committed,
    and a save that starts after the increment sees it."""
    current = connection.execute(select(leadership.c.epoch).where(leadership.c.name == ENGINE)
                                 .with_for_update()).scalar()
    if current != epoch:
        raise Fenced(epoch, current)


class Leadership:
    """The engine's leadership on PostgreSQL, held by one dedicated session (not a pooled one: a
    session lock lives as long as its session). Blocking methods; `run` drives them from asyncio."""

    def __init__(self, url: str, *, key: int = ENGINE_LOCK_KEY, holder: str | None = None,
                 on_change: Callable[[ReplicaStatus], None] = lambda status: None,
                 check_seconds: float = CHECK_SECONDS, retry_seconds: float = RETRY_SECONDS,
                 lost_after_seconds: float = LOST_AFTER_SECONDS):
        self._conninfo = normalise_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._key = key
        self.holder = holder or holder_id(os.getpid())
        self._on_change = on_change
        self._check_seconds, self._retry_seconds = check_seconds, retry_seconds
        self._lost_after = lost_after_seconds
        self._session: psycopg.Connection | None = None
        self._epoch: int | None = None
        self._confirmed = 0.0  # monotonic time of the last successful check

    @property
    def status(self) -> ReplicaStatus:
        if self._epoch is not None and time.monotonic() - self._confirmed < self._lost_after:
            return ReplicaStatus(Role.LEADER, self._epoch)
        return ReplicaStatus(Role.FOLLOWER)

    def try_acquire(self) -> int | None:
        """Take the lock if it is free and start a new epoch; returns the epoch, None if another
        replica leads (or the store is unreachable: a follower just tries again later)."""
        if self._epoch is not None:
            return self._epoch
        try:
            session = self._session = self._session or psycopg.connect(self._conninfo, autocommit=True,
                                                                       **_SESSION_OPTIONS)
            if not session.execute("SELECT pg_try_advisory_lock(%s)", (self._key,)).fetchone()[0]:
                return None
            with session.transaction():
                epoch = session.execute(
                    "INSERT INTO leadership (name, epoch, holder, acquired_at_us) VALUES (%s, 1, %s, %s)"
                    " ON CONFLICT (name) DO UPDATE SET epoch = leadership.epoch + 1, holder = EXCLUDED.holder,"
                    " acquired_at_us = EXCLUDED.acquired_at_us RETURNING epoch",
                    (ENGINE, self.holder, to_us(datetime.now(timezone.utc)))).fetchone()[0]
        except psycopg.Error as error:
            log.warning("leadership: cannot try the lock", extra={"error": str(error)})
            self._drop(self._session)
            return None
        self._epoch, self._confirmed = epoch, time.monotonic()
        log.info("leadership acquired", extra={"epoch": epoch, "holder": self.holder})
        self._on_change(self.status)
        return epoch

    def check(self) -> bool:
        """Whether this replica still leads: one cheap query on the session. A failed query means
        the session (and with it the lock) may be gone: leadership is given up."""
        session = self._session
        if self._epoch is None or session is None:
            return False
        try:
            session.execute("SELECT 1")
        except psycopg.Error as error:
            log.error("leadership lost: its database session failed", extra={"error": str(error),
                                                                             "epoch": self._epoch})
            self._drop(session)
            return False
        if self._session is not session:  # answered after being given up as hanging
            self._drop(session)
            return False
        self._confirmed = time.monotonic()
        return True

    def release(self) -> None:
        """Give leadership up (at shutdown): ending the session releases the lock at once."""
        self._drop(self._session)

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: followers try the lock every retry_seconds, the leader checks its session
        every check_seconds. A check that hangs (a network cut) counts as lost after
        lost_after_seconds; its session is left to fail on its own."""
        try:
            while not stop.is_set():
                if self._epoch is None:
                    await asyncio.to_thread(self.try_acquire)
                    pause = self._retry_seconds if self._epoch is None else self._check_seconds
                else:
                    session = self._session
                    try:
                        await asyncio.wait_for(asyncio.to_thread(self.check), self._lost_after)
                    except asyncio.TimeoutError:
                        log.error("leadership lost: its database session stopped answering",
                                  extra={"epoch": self._epoch})
                        self._drop(session, close=False)
                    pause = self._check_seconds if self._epoch is not None else self._retry_seconds
                try:
                    await asyncio.wait_for(stop.wait(), pause)
                except asyncio.TimeoutError:
                    pass
        finally:
            await asyncio.to_thread(self.release)

    def _drop(self, session: psycopg.Connection | None, close: bool = True) -> None:
        """Close `session` (unless it hangs), and if it is still the current one, forget it and the
        leadership it held."""
        if session is None:
            return
        if close:
            try:
                session.close()
            except psycopg.Error:  # already broken: nothing to release
                pass
        if session is not self._session:
            return
        self._session = None
        was_leader, self._epoch = self._epoch is not None, None
        if was_leader:
            self._on_change(self.status)


class DaemonRunning(Exception):
    """Another daemon already uses this SQLite store."""


class SingleDaemon:
    """One daemon per SQLite file: an exclusive lock on `<database>.lock`, held while the daemon
    runs. The OS releases it when the process ends, however it ends. The daemon always leads."""

    status = ReplicaStatus(Role.LEADER)

    def __init__(self, database: Path):
        self.database = database
        self.lock_path = database.with_name(database.name + ".lock")
        self._file = None

    def acquire(self) -> None:
        try:
            self.lock_path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.lock_path, "a+")
        except OSError as error:
            raise StoreUnreachable(f"sqlite:///{self.database}",
                                   f"its lock file {self.lock_path} cannot be made: {error.strerror}") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()
            handle.close()
            who = f"another correlator daemon (PID {holder})" if holder.isdigit() else "another correlator daemon"
            raise DaemonRunning(
                f"{who} is using the SQLite store {self.database} (it holds {self.lock_path}); one SQLite "
                "file serves one daemon: stop the other one, or use PostgreSQL (store.url) to run "
                "several replicas") from None
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle

    def close(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the file releases the lock
            self._file = None


def single_daemon(url: str) -> SingleDaemon | None:
    """The guard a daemon holds on a SQLite file store; None for PostgreSQL and in-memory SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return SingleDaemon(Path(parsed.database).resolve())
