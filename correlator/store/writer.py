"""Group commit: one writer thread commits everything pending in one transaction, then answers
all those requests. A request is answered only after its notification is committed to the log
(a 2xx is durable), and a storm of small requests costs one fsync per batch instead of one per
request. The log is all ingest writes: the `alerts` view is the engine's (store/alert_view.py)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from sqlalchemy import bindparam
from sqlalchemy.engine import Engine

from correlator.domain import Alert, RawNotification
from correlator.store import notification_log
from correlator.store.database import driver_sql
from correlator.store.notification_alerts import encode_alerts
from correlator.store.schema import notifications, to_us

log = logging.getLogger(__name__)

# After a failed commit: at most one write probe this often, and how much new space it needs at
# least (as much as the bodies of the commit that failed, up to MAX_PROBE_BYTES).
PROBE_SECONDS = 5.0
PROBE_BYTES = 64 * 2**10
MAX_PROBE_BYTES = 16 * 2**20
# The longest a log row's receive time (stamped when its request arrived) may lie in the past when
# it commits. The engine moves its time on to the wall clock less this, so it never passes the
# receive time of a row not committed yet (docs/decisions.md). A request that waited in the queue
# half of it is refused (503: the sender retries); one whose transaction then took the other half
# is refused with its whole batch (the store is not keeping up).
RECEIVE_TO_COMMIT = timedelta(seconds=10)
# PostgreSQL: notified in each commit of new notifications, listened to by the engine process.
NOTIFY_CHANNEL = "correlator_notifications"


class StoreUnavailable(Exception):
    """The store cannot take the request now (down, overloaded or shutting down): answer 503."""


class CommitTooLate(Exception):
    """A transaction ended past RECEIVE_TO_COMMIT of a request in it: rolled back, not committed."""


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(slots=True)
class _Pending:
    alerts: list[Alert]
    raw: RawNotification | None
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    numbered: bool = False  # the caller wants the raw row's id (a log entry it will look up)


@dataclass(frozen=True, slots=True)
class CommitStats:
    requests: int
    alerts: int
    seconds: float


class GroupCommitWriter:
    def __init__(self, engine: Engine, *, max_pending_alerts: int = 200_000,
                 max_batch_alerts: int = 2_000, on_commit: Callable[[CommitStats], None] | None = None,
                 on_failure: Callable[[], None] | None = None, clock: Callable[[], datetime] = _utc_now):
        """`clock`: the wall clock that receive times are stamped by (RECEIVE_TO_COMMIT)."""
        self._engine = engine
        self._clock = clock
        self._max_pending = max_pending_alerts
        self._max_batch = max_batch_alerts
        self._on_commit = on_commit or (lambda stats: None)
        self._on_failure = on_failure or (lambda: None)
        raw_insert = notifications.insert().values(
            {name: bindparam(name) for name in ("received_at_us", "source", "alert_count", "body", "digest",
                                                "alerts")})
        self._insert_raw = driver_sql(raw_insert, engine)
        self._insert_numbered = driver_sql(raw_insert.returning(notifications.c.id), engine)
        self._notify = f"NOTIFY {NOTIFY_CHANNEL}" if engine.dialect.name == "postgresql" else None
        self._queue: deque[_Pending] = deque()
        self._jobs: deque[tuple[Callable[[], Any], concurrent.futures.Future]] = deque()
        self._pending_alerts = 0
        self._condition = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        # The error class of the last group commit if it failed (disk full...), None once one succeeds.
        self.last_commit_error: str | None = None
        self._next_probe = 0.0
        self._probe_bytes = PROBE_BYTES

    @property
    def pending_alerts(self) -> int:
        return self._pending_alerts

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self._closing

    def start(self) -> None:
        self._thread.start()

    async def write(self, batch: list[Alert], raw: RawNotification | None) -> None:
        """Return once `batch` and `raw` are committed; raise StoreUnavailable otherwise."""
        await self._enqueue(batch, raw, numbered=False)

    async def append(self, raw: RawNotification) -> int:
        """Append `raw`, a log row without alerts (an operator action), in commit order with the
        alerts' rows; return its id once committed, or raise StoreUnavailable."""
        return await self._enqueue([], raw, numbered=True)

    async def _enqueue(self, batch: list[Alert], raw: RawNotification | None, numbered: bool):
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._condition:
            if self._closing:
                raise StoreUnavailable("shutting down")
            if self._pending_alerts and self._pending_alerts + len(batch) > self._max_pending:
                raise StoreUnavailable(f"overloaded: {self._pending_alerts} alerts waiting for commit")
            self._queue.append(_Pending(batch, raw, future, loop, numbered))
            self._pending_alerts += len(batch)
            self._condition.notify()
        return await future

    def run_job(self, job: Callable[[], Any]) -> Any:
        """Run `job` (another transaction, e.g. the write probe) in the writer thread and return its
        result. On SQLite there is one writer lock: taking turns here avoids the busy-wait backoff
        (up to 100 ms a retry) that a second writing thread would cause for ingest commits."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        with self._condition:
            if not self._thread.is_alive() or self._closing:
                raise StoreUnavailable("shutting down")
            self._jobs.append((job, future))
            self._condition.notify()
        return future.result()

    def probe_if_failing(self) -> None:
        """After a failed commit, try a commit that needs new space (a row inserted and deleted in one
        transaction) so readiness learns the store takes writes again without waiting for traffic:
        a load balancer sends none to a replica that is not ready. The row is as large as the bodies
        that failed: space a smaller write finds (pages another transaction freed) would say ready
        while the requests sent keep failing. At most once per PROBE_SECONDS."""
        if self.last_commit_error is None or time.monotonic() < self._next_probe:
            return
        self._next_probe = time.monotonic() + PROBE_SECONDS
        self.run_job(self._probe)

    def _probe(self) -> None:
        try:
            with self._engine.begin() as connection:
                inserted = connection.execute(notifications.insert().values(
                    received_at_us=0, source="probe", alert_count=0, body=bytes(self._probe_bytes)))
                connection.execute(notifications.delete().where(
                    notifications.c.id == inserted.inserted_primary_key[0]))
        except Exception as error:  # still failing: readiness keeps saying why
            self.last_commit_error = error.__class__.__name__
        else:
            self.last_commit_error = None

    def close(self) -> None:
        """Commit what is queued, then stop the thread."""
        with self._condition:
            self._closing = True
            self._condition.notify()
        if self._thread.is_alive():
            self._thread.join()

    def _take_batch(self) -> list[_Pending] | None:
        with self._condition:
            while not self._queue and not self._jobs and not self._closing:
                self._condition.wait()
            if not self._queue and not self._jobs:
                return None
            batch, size = [], 0
            while self._queue and (not batch or size + len(self._queue[0].alerts) <= self._max_batch):
                item = self._queue.popleft()
                batch.append(item)
                size += len(item.alerts)
            return batch

    def _run_jobs(self) -> None:
        while self._jobs:
            with self._condition:
                job, future = self._jobs.popleft()
            try:
                future.set_result(job())
            except BaseException as error:  # handed to the caller, who decides
                future.set_exception(error)

    def _run(self) -> None:
        while (batch := self._take_batch()) is not None:
            self._run_jobs()
            batch = self._refuse_late(batch)
            if not batch:
                continue
            started = time.perf_counter()
            size = sum(len(item.alerts) for item in batch)
            outcome: StoreUnavailable | None = None
            numbers: list[int | None] = []
            try:
                numbers = self._commit(batch)
            except Exception as error:  # task boundary: every waiting request learns of it
                log.error("commit failed", extra={"error": str(error), "requests": len(batch)})
                try:
                    self._on_failure()
                except Exception:
                    log.exception("commit failure callback failed")
                outcome = StoreUnavailable(f"store error: {error.__class__.__name__}")
                self.last_commit_error = error.__class__.__name__
                failed = sum(len(item.raw.body) for item in batch if item.raw is not None)
                self._probe_bytes = min(max(PROBE_BYTES, failed), MAX_PROBE_BYTES)
            else:
                self.last_commit_error = None
            with self._condition:
                self._pending_alerts -= size
            # One wake-up per event loop for the whole batch, not one per request.
            by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future, int | None]]] = {}
            for item, number in zip(batch, numbers or [None] * len(batch)):
                by_loop.setdefault(item.loop, []).append((item.future, number))
            for loop, futures in by_loop.items():
                loop.call_soon_threadsafe(_settle, futures, outcome)
            if outcome is None:
                try:
                    self._on_commit(CommitStats(len(batch), size, time.perf_counter() - started))
                except Exception:  # a failing observer must not stop the writer
                    log.exception("commit callback failed")

    def _refuse_late(self, batch: list[_Pending]) -> list[_Pending]:
        """Refuse the requests of `batch` that waited in the queue half of RECEIVE_TO_COMMIT;
        returns the others."""
        oldest = self._clock() - RECEIVE_TO_COMMIT / 2
        timely, late = [], []
        for item in batch:
            (late if item.raw is not None and item.raw.received_at < oldest else timely).append(item)
        if not late:
            return batch
        log.warning("requests waited too long for their commit, answering 503", extra={"requests": len(late)})
        with self._condition:
            self._pending_alerts -= sum(len(item.alerts) for item in late)
        refusal = StoreUnavailable("overloaded: the request waited too long for its commit")
        for item in late:
            item.loop.call_soon_threadsafe(_settle, [(item.future, None)], refusal)
        return timely

    def _commit(self, batch: list[_Pending]) -> list[int | None]:
        """Commit `batch`; returns the id of each numbered item's raw row (None for the others).
        Raw rows are inserted in queue order: the ids are the log's order."""
        raws, numbers = [], []
        dialect = self._engine.dialect.name
        connection = self._engine.raw_connection()
        try:
            cursor = connection.cursor()
            for item in batch:
                number = None
                if item.raw is not None:
                    raw = {"received_at_us": to_us(item.raw.received_at), "source": item.raw.source,
                           "alert_count": len(item.alerts), "body": item.raw.body,
                           # only replicas deduplicate (notification_log): SQLite's one daemon keeps all
                           "digest": notification_log.digest(item.raw.source, item.raw.body)
                           if dialect == "postgresql" else None,
                           # what the engine reads (an operator action has none: its body is the action)
                           "alerts": None if item.numbered else encode_alerts(item.alerts)}
                    if item.numbered:
                        # those queued before it first, many at a time; a numbered row (an operator
                        # action, unique by its request time) is never a duplicate
                        notification_log.append(cursor, dialect, self._insert_raw, raws)
                        raws = []
                        cursor.execute(self._insert_numbered, raw)
                        number = cursor.fetchone()[0]
                    else:
                        raws.append(raw)
                numbers.append(number)
            notification_log.append(cursor, dialect, self._insert_raw, raws)
            if self._notify is not None and any(item.raw is not None for item in batch):
                cursor.execute(self._notify)  # delivered at commit: wakes the engine process
            oldest = min((item.raw.received_at for item in batch if item.raw is not None), default=None)
            if oldest is not None and oldest < self._clock() - RECEIVE_TO_COMMIT:
                raise CommitTooLate(f"a request received at {oldest.isoformat()} would commit too late")
            connection.commit()
        except BaseException:
            connection.rollback()
            raise
        finally:
            connection.close()
        return numbers


def _settle(futures: list[tuple[asyncio.Future, int | None]], error: Exception | None) -> None:
    for future, number in futures:
        if future.done():  # the request was cancelled meanwhile
            continue
        if error is None:
            future.set_result(number)
        else:
            future.set_exception(error)
