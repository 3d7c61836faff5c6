"""The engine in the daemon: a thin async shell around the pure core.

It feeds the engine the stored raw notifications in id order (the same input as `replay`, with the
same receive times), saves what each step changed together with the watermark it reached (one
transaction), and applies operator actions between steps. At start it restores the engine from the
store, so after a crash it resumes from what was durably processed: no notification is applied
twice and no incident is duplicated."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone
from typing import Callable

from sqlalchemy import select
from sqlalchemy.engine import Engine as DatabaseEngine

from correlator.engine.core import Engine, EngineSettings
from correlator.ingest.errors import PayloadError
from correlator.ingest.normalize import IngestPolicy
from correlator.ingest.sources import Parser
from correlator.ml.model import LearnedModel
from correlator.rules.loader import RuleSet, load_rules
from correlator.store.incidents import IncidentRepository, Progress
from correlator.store.schema import from_us, notifications

log = logging.getLogger(__name__)

# A step ends after this many notifications or alerts, whichever comes first: it bounds the step's
# transaction, during which SQLite's single writer lock keeps ingest waiting.
STEP_NOTIFICATIONS = 500
STEP_ALERTS = 500
TICK_SECONDS = 1.0  # timers (auto-resolve, escalation) are checked at least this often
# Ingest first: while requests wait for their commit, the engine (which shares the CPU) works at
# most this share of each tick and catches up when the storm is over. Nothing is lost meanwhile:
# the notifications are stored, and incidents only lag.
BUSY_SHARE = 0.25


class EngineService:
    def __init__(self, database: DatabaseEngine, rules: RuleSet, settings: EngineSettings,
                 parsers: dict[str, Parser], policy: IngestPolicy, clock: Callable[[], datetime] | None = None,
                 ingest_busy: Callable[[], bool] = lambda: False,
                 run_write: Callable[[Callable[[], object]], object] = lambda job: job(), observer=None,
                 model: LearnedModel | None = None):
        """`run_write` runs a save where the store wants writes (the group-commit writer's thread);
        `ingest_busy` says whether requests are waiting for a commit; `observer` (IncidentMetrics)
        sees what each step saved."""
        self.repository = IncidentRepository(database)
        self.engine = Engine(rules, settings, keep_closed=False, model=model)
        self.progress = Progress()
        self._database = database
        self._parsers = parsers
        self._policy = policy
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._ingest_busy = ingest_busy
        self._run_write = run_write
        self._observer = observer
        self._lag = 0.0
        self._wakeup = asyncio.Event()
        self._lock = asyncio.Lock()  # one step or action at a time: the engine has one owner
        self._task: asyncio.Task | None = None
        self._stopping = False

    async def start(self) -> None:
        await asyncio.to_thread(self._restore)
        self._task = asyncio.create_task(self._run(), name="engine")

    async def stop(self) -> None:
        """Stop after the step in progress (if any) has finished its transaction."""
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def reload(self, directory) -> RuleSet:
        """Load the rules of `directory` and put them in force; raises RuleErrors (and keeps the
        rules in force) when any file is invalid."""
        rules = await asyncio.to_thread(load_rules, directory)
        async with self._lock:
            self.engine.reload(rules)
        return rules

    def notify(self) -> None:
        """New notifications were committed (called on the event loop)."""
        self._wakeup.set()

    async def run_step(self) -> bool:
        """Process the next step of what is pending; returns whether more is pending."""
        async with self._lock:
            return await asyncio.to_thread(self._step)

    async def apply(self, action: Callable[[Engine, datetime], set[str]]):
        """Run an operator action on the engine between steps, and save what it changed."""
        async with self._lock:
            return await asyncio.to_thread(self._apply, action)

    async def reset(self) -> None:
        """Throw the in-memory state away and rebuild it from the store (after a failed save)."""
        async with self._lock:
            try:
                await asyncio.to_thread(self._rebuild)
            except Exception:  # the store is still down: the next tick tries again
                log.exception("engine restore failed")

    def _rebuild(self) -> None:
        self._restore(Engine(self.engine.rules, self.engine.settings, keep_closed=False, model=self.engine.model))

    def _restore(self, engine: Engine | None = None) -> None:
        """Load the engine's state as of the saved watermark; replaces the engine only on success."""
        engine = engine or self.engine
        started = time.perf_counter()
        progress = self.repository.load_progress()
        unclosed = self.repository.load_unclosed()
        horizon = self._clock() - engine.settings.problem_period
        engine.load_learned(self.repository.load_learned()[1])
        engine.restore(unclosed, self.repository.load_problems(), self.repository.recent_openings(horizon),
                       progress.incident_sequence, progress.problem_sequence)
        self.engine, self.progress = engine, progress
        log.info("engine restored", extra={"incidents": len(unclosed), "watermark": progress.watermark,
                                           "seconds": round(time.perf_counter() - started, 3)})

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout=TICK_SECONDS)
                woken = True
            except asyncio.TimeoutError:
                woken = False
            self._wakeup.clear()
            if self._stopping:
                return
            if woken and self._ingest_busy():
                continue  # ingest first: the next tick will come
            started = time.monotonic()
            try:
                while await self.run_step() and not self._stopping:
                    if self._ingest_busy() and time.monotonic() - started > BUSY_SHARE * TICK_SECONDS:
                        break  # a backlog, but requests are waiting: yield until the next tick
            except Exception:  # task boundary: the step's changes were not saved
                log.exception("engine step failed; restoring from the store and retrying")
                await self.reset()

    def _step(self) -> int:
        with self._database.connect() as connection:
            rows = connection.execute(
                select(notifications.c.id, notifications.c.received_at_us, notifications.c.source,
                       notifications.c.body)
                .where(notifications.c.id > self.progress.watermark)
                .order_by(notifications.c.id).limit(STEP_NOTIFICATIONS)).all()
        changed: set[str] = set()
        watermark = self.progress.watermark
        processed = alerts_seen = 0
        # The oldest unprocessed notification is the first fetched: its age is the engine's lag.
        self._lag = max(0.0, (self._clock() - from_us(rows[0].received_at_us)).total_seconds()) if rows else 0.0
        for row in rows:
            if alerts_seen >= STEP_ALERTS:
                break
            received_at = from_us(row.received_at_us)
            parse = self._parsers.get(row.source)
            if parse is None:
                log.warning("stored notification from a source no longer configured; skipped",
                            extra={"notification": row.id, "source": row.source})
            try:
                alerts = parse(bytes(row.body), received_at, self._policy).alerts if parse else []
            except PayloadError:  # stored bodies were valid when received; a mapping may have changed since
                log.warning("stored notification no longer parses", extra={"notification": row.id})
                alerts = []
            for alert in alerts:
                changed |= self.engine.process(alert, received_at)
            alerts_seen += len(alerts)
            processed += 1
            watermark = row.id
        backlog = processed < len(rows) or len(rows) == STEP_NOTIFICATIONS
        if not backlog:
            # No backlog: time may move on to the wall clock (never ahead of unprocessed input).
            changed |= self.engine.advance(self._clock())
        if changed or watermark != self.progress.watermark or self.engine.problem_tracker.changed:
            self._save(changed, watermark)
        elif self._observer is not None:
            self._observer.refresh(self.engine, self._lag, watermark)
        return backlog

    def _apply(self, action: Callable[[Engine, datetime], set[str]]):
        changed = action(self.engine, self._clock())
        self._save(changed, self.progress.watermark, refresh_metrics=True)
        return changed

    def _save(self, changed: set[str], watermark: int, refresh_metrics: bool = False) -> None:
        incidents = [self.engine.incidents[i] for i in sorted(changed) if i in self.engine.incidents]
        problems = [self.engine.problems[p] for p in sorted(self.engine.problem_tracker.changed)]
        incident_sequence, problem_sequence = self.engine.sequences
        progress = Progress(watermark, incident_sequence, problem_sequence)
        now = self._clock()
        learned = self.engine.learned_snapshot()
        saved = self._run_write(lambda: self.repository.save(incidents, problems, progress, now, learned))
        self.progress = progress
        self.engine.problem_tracker.changed.clear()
        if self._observer is not None:
            self._observer.observe(saved, self.engine, self._lag, watermark, refresh_metrics)
        self.engine.release_closed()
