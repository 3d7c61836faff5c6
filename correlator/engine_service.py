"""The engine in the daemon: a thin async shell around the pure core.

It feeds the engine the stored log in id order: raw notifications and operator actions (the same
input as `replay`, with the same receive times), in steps of bounded work, and saves what each step
changed together with the position it reached, the results of the actions it applied and the rows
of the alerts view for the alerts it read (one transaction). At start it restores the engine from the store, so after a crash it resumes from what
was durably processed: no alert or action is applied twice and no incident is duplicated.

A failed step is counted, logged once per failure episode and retried after a backoff. What the
retry does depends on where the step failed (StepStage): a refused save is saved again as is (one
with operator actions is rebuilt from the store instead, and the actions are refused with 503), a
failure inside the engine rebuilds it from the store first, a failed read just reads again. A save
refused because another replica leads now (Fenced) is no failure to retry: the service stops at once
and its owner drops it (`fenced`)."""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from sqlalchemy.engine import Engine as DatabaseEngine

from correlator.domain import Candidate, IncidentState, ProblemState
from correlator.domain.placements import Placements
from correlator.engine.core import Engine, EngineSettings, LearnedDecision, Outcome
from correlator.engine_actions import apply_action, refused
from correlator.engine_feed import ActionEntry, Batch, NotificationFeed, PlacementEntry
from correlator.ingest.flapping import FlapDetector
from correlator.ingest.normalize import IngestPolicy
from correlator.ingest.sources import Parser
from correlator.ml.model import LearnedModel
from correlator.rules.loader import RuleSet, load_rules
from correlator.store.action_log import ActionResult
from correlator.store.alert_queries import firing_without_incident
from correlator.store.alert_view import AlertView
from correlator.store.incidents import IncidentRepository, OutboxPlanner, Progress
from correlator.store.leadership import Fenced
from correlator.store.writer import RECEIVE_TO_COMMIT

log = logging.getLogger(__name__)

# A step ends after this many notifications or alerts, whichever comes first (inside a notification
# if need be): it bounds the engine lock, which rule reloads wait for, and the step's transaction,
# during which SQLite's single writer lock keeps ingest waiting.
STEP_NOTIFICATIONS = 500
STEP_ALERTS = 500
# Timers (auto-resolve, escalation) are checked at least this often, and the store is read this
# often even if a wake-up was missed (the bounded fallback poll).
TICK_SECONDS = 1.0
# After a failed step the next attempt waits this long, doubling with each failure up to the cap.
RETRY_FIRST_SECONDS = 1.0
RETRY_MAX_SECONDS = 30.0
# The engine is deterministic: an alert it failed on this many times in a row fails it again. It is
# then skipped (logged and counted), so one poisoned alert cannot stall correlation for good.
SKIP_AFTER_FAILURES = 3


class StepStage(enum.StrEnum):
    """Where a step failed (the label of correlator_engine_step_failures_total)."""

    READ = "read"  # reading or parsing notifications: nothing changed, the next attempt reads again
    PROCESS = "process"  # inside the engine: memory is partly changed, the next attempt rebuilds it
    SAVE = "save"  # the store refused the save: memory holds what to save, the next attempt saves it
    RESTORE = "restore"  # rebuilding from the store failed: the next attempt rebuilds again


@dataclass(frozen=True)
class EngineCounts:
    """Alerts processed by outcome, learned joining decisions and new episodes by delivery delay
    (per bucket of DELIVERY_DELAY_BUCKETS, and the seconds summed): an engine's totals, or what it
    counted between two of them. Metrics take differences, so they survive the engine being rebuilt
    (its totals restart from 0)."""

    outcomes: dict[Outcome, int]
    decisions: dict[LearnedDecision, int]
    delays: tuple[int, ...]
    delay_seconds: float

    @classmethod
    def of(cls, engine: Engine) -> EngineCounts:
        return cls(dict(engine.outcomes), dict(engine.learned_decisions), tuple(engine.delivery_delays),
                   engine.delivery_delay_seconds)

    def __sub__(self, earlier: EngineCounts) -> EngineCounts:
        return EngineCounts({k: v - earlier.outcomes.get(k, 0) for k, v in self.outcomes.items()},
                            {k: v - earlier.decisions.get(k, 0) for k, v in self.decisions.items()},
                            tuple(n - m for n, m in zip(self.delays, earlier.delays)),
                            self.delay_seconds - earlier.delay_seconds)


class StepFailed(Exception):
    def __init__(self, stage: StepStage, cause: BaseException):
        super().__init__(f"engine step failed ({stage}): {cause!r}")
        self.stage = stage
        self.__cause__ = cause


def restore_engine(engine: Engine, repository: IncidentRepository, now: datetime, incident_sequence: int,
                   problem_sequence: int) -> int:
    """Load a new `engine` with what the store holds as of `now`, as after a restart: the learned
    state, the unclosed incidents, the problems and their recent openings, and the incidents closed
    within the engine's `restore_horizon` (their flaps and starts still count). Returns how many
    unclosed incidents it restored."""
    unclosed = repository.load_unclosed()
    engine.load_learned(repository.load_learned()[1])
    engine.restore(unclosed, repository.load_problems(ProblemState.OPEN),
                   repository.recent_openings(now - engine.settings.problem_period),
                   incident_sequence, problem_sequence, repository.load_closed_since(now - engine.restore_horizon))
    return len(unclosed)


class EngineService:
    def __init__(self, database: DatabaseEngine, rules: RuleSet, settings: EngineSettings,
                 parsers: dict[str, Parser], policy: IngestPolicy, clock: Callable[[], datetime] | None = None,
                 observer=None, model: LearnedModel | None = None, step_alerts: int = STEP_ALERTS,
                 on_candidates: Callable[[tuple[Candidate, ...]], None] = lambda candidates: None,
                 epoch: int | None = None, planner: OutboxPlanner | None = None,
                 flaps: FlapDetector | None = None):
        """`observer` (IncidentMetrics) sees what each step saved and counts failed steps;
        `on_candidates` gets the candidates whenever they changed (in the engine's thread); `epoch`:
        the leadership epoch every save checks (None: this process alone owns the store); `planner`:
        writes the forwarding outbox rows of each save in its transaction; `flaps`: marks the alerts
        view's flapping episodes (by the default ingest.flapping when None)."""
        self.alert_view = AlertView(database, flaps or FlapDetector())
        self.repository = IncidentRepository(database, epoch=epoch, planner=planner, alert_view=self.alert_view)
        self.fenced: Fenced | None = None  # a save found another replica leading: the service stopped
        self._database = database
        self.engine = Engine(rules, settings, keep_closed=False, model=model)
        self.progress = Progress()  # what the store holds
        self._position = (0, 0)  # (watermark, alert offset) the engine in memory has reached
        self._unsaved: set[str] = set()  # incidents changed in memory since the last save
        self._results: list[tuple[int, ActionResult]] = []  # of the actions applied since the last save
        # Actions whose step the store refused to save: refused with 503 when stepped through again,
        # not applied minutes later behind the operator's back.
        self._not_saved: set[int] = set()
        self._save_pending = False  # a save failed: the next attempt saves again
        self._dirty = False  # memory holds changes no save describes: rebuild before using it
        self._counted = EngineCounts.of(self.engine)  # the engine's totals at the last save
        self._feed = NotificationFeed(database, parsers, policy, step_alerts, STEP_NOTIFICATIONS)
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._observer = observer
        self._on_candidates = on_candidates
        # The oldest unprocessed notification as of the last read, and the first commit notified
        # since: the lag is the age of the older one, failing steps or not.
        self._backlog_since: datetime | None = None
        self._notified_since: datetime | None = None
        self._failing_since: float | None = None  # monotonic start of the current failure episode
        self._failed_attempts = 0
        # The alert (notification id, offset) the engine last failed on, and how often in a row.
        self._failing_alert: tuple[tuple[int, int] | None, int] = (None, 0)
        self._wakeup = asyncio.Event()
        self._stop = asyncio.Event()
        self._lock = asyncio.Lock()  # one step or action at a time: the engine has one owner
        self._task: asyncio.Task | None = None
        # Alerts held below their group rule's min_alerts, as of the last step: frozen values the
        # API reads from the event loop while the engine steps in its thread.
        self.candidates: tuple[Candidate, ...] = ()
        self._candidates_version: int | None = None

    async def restore(self) -> None:
        """Load the engine's state as of the saved position (start does this first)."""
        await asyncio.to_thread(self._restore, self.engine)

    async def start(self) -> None:
        await self.restore()
        self._task = asyncio.create_task(self._run(), name="engine")

    async def stop(self) -> None:
        """Stop after the step in progress (if any) has finished its transaction."""
        self._stop.set()
        self._wakeup.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def reload(self, directory) -> RuleSet:
        """Load the rules of `directory` and put them in force; raises RuleErrors (and keeps the
        rules in force) when any file is invalid. Waits for at most the step in progress."""
        rules = await asyncio.to_thread(load_rules, directory, self.engine.rules.matcher_syntax)
        async with self._lock:
            await asyncio.to_thread(self.engine.reload, rules)
        return rules

    def notify(self) -> None:
        """New notifications were committed (called on the event loop)."""
        if self._notified_since is None:
            self._notified_since = self._clock()
        self._wakeup.set()

    def lag_seconds(self) -> float:
        """Age of the oldest stored notification the engine has not processed (0: none)."""
        known = [t for t in (self._backlog_since, self._notified_since) if t is not None]
        return max(0.0, (self._clock() - min(known)).total_seconds()) if known else 0.0

    def retry_delay(self) -> float:
        """How long to wait before the next attempt (0: not failing)."""
        if not self._failed_attempts:
            return 0.0
        return min(RETRY_MAX_SECONDS, RETRY_FIRST_SECONDS * 2 ** (self._failed_attempts - 1))

    async def run_step(self) -> bool:
        """Process the next batch of what is pending, or recover from a failed step; returns whether
        more is pending. Raises StepFailed, counted and logged once per failure episode."""
        try:
            if self._dirty or self._save_pending:
                async with self._lock:
                    completed = await asyncio.to_thread(self._recover)
                if not completed:
                    return True  # rebuilt: the failed step runs again next, the episode goes on
                more = True
            else:
                position = self._position
                read_at = self._clock()  # before the read: what commits after it is not in the batch
                batch = await asyncio.to_thread(self._read, position)
                async with self._lock:
                    more = await asyncio.to_thread(self._step, batch, read_at)
                if more is None:
                    return True  # read for a position the engine has left meanwhile: read again
        except StepFailed as failure:
            self._failed(failure)
            raise
        except Fenced:
            raise
        except Exception as error:  # a bug: the engine's state is unknown, rebuild it from the store
            self._dirty = True
            failure = StepFailed(StepStage.PROCESS, error)
            self._failed(failure)
            raise failure from error
        self._succeeded()
        return more

    def _restore(self, engine: Engine) -> None:
        """Load the engine's state as of the saved position; replaces the engine only on success."""
        started = time.perf_counter()
        progress = self.repository.load_progress()
        restored = restore_engine(engine, self.repository, self._clock(), progress.incident_sequence,
                                  progress.problem_sequence)
        engine.restore_unplaced(firing_without_incident(self._database, progress.watermark
                                                        + (progress.alert_offset > 0)))
        with self._database.connect() as connection:
            self.alert_view.rebuild(connection)
        self.engine, self.progress = engine, progress
        self._candidates_version = None
        self._take_candidates()
        self._position = (progress.watermark, progress.alert_offset)
        self._unsaved, self._results, self._save_pending, self._dirty = set(), [], False, False
        self._counted = EngineCounts.of(engine)
        log.info("engine restored", extra={"incidents": restored, "watermark": progress.watermark,
                                           "alert_offset": progress.alert_offset,
                                           "seconds": round(time.perf_counter() - started, 3)})

    def _recover(self) -> bool:
        """Undo what a failed step or action left: rebuild from the store (returns False), or save
        again what a refused save left in memory (returns True: the step is complete)."""
        if self._save_pending:
            try:
                stored = self.repository.load_progress()
            except Exception as error:  # the store is still down
                raise StepFailed(StepStage.SAVE, error) from error
            # A save whose commit reply was lost (a dropped PostgreSQL connection) may have landed:
            # the position it saved says so, and then memory is rebuilt rather than saved twice.
            landed = stored != self.progress
            if self._results and not landed:  # actions in it: rebuilt without them, refused next
                self._not_saved.update(number for number, _ in self._results)
            self._dirty |= landed or bool(self._results)
        if self._dirty:
            try:
                self._restore(Engine(self.engine.rules, self.engine.settings, keep_closed=False,
                                     model=self.engine.model))
            except Exception as error:  # the store is still down
                raise StepFailed(StepStage.RESTORE, error) from error
            return False
        self._save()
        return True

    def _read(self, position: tuple[int, int]) -> Batch:
        notified = self._notified_since
        try:
            batch = self._feed.read(*position)
        except Exception as error:
            raise StepFailed(StepStage.READ, error) from error
        if self._notified_since is notified:
            self._notified_since = None  # this read saw that commit
        self._backlog_since = batch.oldest_received_at
        return batch

    def _step(self, batch: Batch, read_at: datetime) -> bool | None:
        """Process `batch`, read at `read_at`, and save; returns whether more is pending, None when
        the batch is stale."""
        if self._dirty or self._save_pending or (batch.watermark, batch.alert_offset) != self._position:
            return None
        changed: set[str] = set()
        results: list[tuple[int, ActionResult]] = []
        watermark, offset = self._position
        self._dirty = True  # until the batch is processed whole
        where = None
        try:
            for chunk in batch.chunks:
                if isinstance(chunk, ActionEntry):
                    where = (chunk.notification, 0)
                    changed_now, result = self._action(chunk, where)
                    changed |= changed_now
                    results.append((chunk.notification, result))
                    watermark, offset = chunk.notification, 0
                    continue
                if isinstance(chunk, PlacementEntry):
                    if isinstance(chunk.placements, Placements):
                        self.engine.place_pods(chunk.placements)
                    else:  # only this daemon writes them: the store's row was changed under it
                        log.warning("placement row %d skipped: %s: %s", chunk.notification,
                                    chunk.placements.path, chunk.placements.reason)
                    watermark, offset = chunk.notification, 0
                    continue
                first = chunk.end - len(chunk.alerts)
                for index, alert in enumerate(chunk.alerts):
                    where = (chunk.notification, first + index)
                    if self._failing_alert == (where, SKIP_AFTER_FAILURES):
                        self.alert_view.add(alert)  # listed, though the engine cannot read it
                        self._skip(where)
                        continue
                    changed |= self.engine.process(alert, chunk.received_at)
                    self.alert_view.add(self.engine.last_read)  # its episode's row, as the engine merged it
                watermark, offset = (chunk.notification, 0) if chunk.complete else (watermark, chunk.end)
            where = None
            if not batch.more:
                # No backlog: time moves on to the wall clock as of the read, less the longest a row
                # committed after the read can have waited since its receive time, so that it
                # never passes input not committed yet (as replay, which sees every row in time).
                changed |= self.engine.advance(read_at - RECEIVE_TO_COMMIT)
        except Exception as error:
            failed, times = self._failing_alert
            self._failing_alert = (where, times + 1 if failed == where else 1)
            raise StepFailed(StepStage.PROCESS, error) from error
        self._dirty = False
        self._unsaved |= changed
        self._results += results
        self._position = (watermark, offset)
        self._save(refresh_metrics=bool(results))
        if not batch.more:
            self._backlog_since = None
        return batch.more

    def _action(self, entry: ActionEntry, where: tuple[int, int]) -> tuple[set[str], ActionResult]:
        if entry.notification in self._not_saved:
            return set(), refused(503, "the store did not save the action; nothing changed; retry later")
        if self._failing_alert == (where, SKIP_AFTER_FAILURES):
            self._skip(where)
            return set(), refused(500, "the engine failed on this action; nothing changed")
        return apply_action(self.engine, entry.action, entry.received_at, self._is_closed)

    def _is_closed(self, incident_id: str) -> bool:
        """Whether the store holds `incident_id` closed: the engine keeps no closed incident."""
        return self.repository.state(incident_id) is IncidentState.CLOSED

    def _skip(self, where: tuple[int, int]) -> None:
        log.error("alert skipped: the engine failed on it %d times in a row", SKIP_AFTER_FAILURES,
                  extra={"notification": where[0], "alert_offset": where[1]})
        self._failing_alert = (None, 0)
        if self._observer is not None:
            self._observer.alert_skipped()

    def _save(self, refresh_metrics: bool = False) -> None:
        """Save what changed since the last save with the position reached: one transaction. When
        the store refuses, memory still holds exactly that (the repository and the engine advance
        their bookkeeping only after a commit), so the next attempt saves it again, no rebuild."""
        incidents = [self.engine.incidents[i] for i in sorted(self._unsaved) if i in self.engine.incidents]
        problems = [self.engine.problems[p] for p in sorted(self.engine.problem_tracker.changed)]
        progress = Progress(*self._position, *self.engine.sequences)
        learned, results = self.engine.learned_snapshot(), self._results
        if incidents or problems or progress != self.progress or learned is not None or results \
                or self.alert_view.pending:
            now = self._clock()
            try:
                saved = self.repository.save(incidents, problems, progress, now, learned, results)
            except Fenced:
                raise  # nothing was written; the owner drops this engine
            except Exception as error:
                self._save_pending = True
                raise StepFailed(StepStage.SAVE, error) from error
            self.progress, self._unsaved, self._save_pending = progress, set(), False
            self._not_saved.difference_update(number for number, _ in results)
            self._results = []
            self.engine.problem_tracker.changed.clear()
            self.engine.problem_tracker.release_inactive()
            self.engine.release_closed()
        else:
            saved = []
        self._take_candidates()
        if self._observer is not None:
            counts = EngineCounts.of(self.engine)
            self._observer.observe(saved, self.engine, counts - self._counted, refresh_metrics)
            self._counted = counts

    def _take_candidates(self) -> None:
        if self.engine.candidates_version != self._candidates_version:
            self.candidates, self._candidates_version = self.engine.candidates(), self.engine.candidates_version
            self._on_candidates(self.candidates)

    def _failed(self, failure: StepFailed) -> None:
        if self._failing_since is None:
            self._failing_since = time.monotonic()
            log.error("engine step failed; retrying with backoff (logged again when it recovers)",
                      exc_info=failure.__cause__, extra={"stage": str(failure.stage)})
        self._failed_attempts += 1
        if self._observer is not None:
            self._observer.step_failed(failure.stage)

    def _succeeded(self) -> None:
        if self._failing_since is not None:
            log.warning("engine step recovered", extra={
                "failed_attempts": self._failed_attempts,
                "seconds": round(time.monotonic() - self._failing_since, 3)})
        self._failing_since, self._failed_attempts = None, 0

    async def _run(self) -> None:
        while not self._stop.is_set():
            delay = self.retry_delay()
            if delay:  # failing: wait out the backoff; new notifications do not cut it short
                await _wait(self._stop, delay)
            else:
                await _wait(self._wakeup, TICK_SECONDS)
            self._wakeup.clear()
            if self._stop.is_set():
                return
            try:
                while await self.run_step() and not self._stop.is_set():
                    pass
            except StepFailed:
                pass  # counted and logged by run_step; the next round backs off
            except Fenced as fenced:
                log.error("engine stopped: another replica leads now", extra={"epoch": fenced.mine,
                                                                              "current": fenced.current})
                self.fenced = fenced
                return

    async def finished(self) -> None:
        """Wait until the step loop has ended (stopped, or fenced)."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    """Wait for `event` at most `seconds`; returns whether it was set."""
    try:
        await asyncio.wait_for(event.wait(), timeout=seconds)
        return True
    except asyncio.TimeoutError:
        return False
