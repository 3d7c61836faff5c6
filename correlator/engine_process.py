"""`correlator engine`: the engine in its own process, beside serve's ingest and API.

It has its own connection to the store and the whole engine: its step loop (each step saved with
the watermark in one transaction), timers, rule reloads (file watch, SIGHUP, requests from serve's
API) and metrics. It wakes up when ingest commits (LISTEN on PostgreSQL, `PRAGMA data_version` on
SQLite), and reads the store at least every TICK_SECONDS anyway. What serve shows of the engine (its
metrics text, candidates, the rules in force) it publishes into the store's `engine_exchange` rows.
SIGTERM or SIGINT stops it after the step in progress.

On PostgreSQL several replicas each run one, and only the leader (store/leadership.py) steps the
engine: each time this process acquires the leadership it builds a fresh runner whose saves and
publications check the new epoch, restored from the store (the watermark the last leader saved).
When it loses the leadership, or a save finds a newer epoch (Fenced), it stops that runner at once,
drops its memory and follows again. Followers publish nothing, so the exchange rows are the
leader's. On SQLite the one daemon always leads."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sqlite3
import time
from datetime import datetime, timezone

import aiohttp
import msgspec
from prometheus_client import Gauge, generate_latest
from sqlalchemy.engine import Engine as DatabaseEngine

from correlator.config import Config
from correlator import wiring
from correlator.domain import Candidate
from correlator.engine.views import candidates_view
from correlator.engine_service import EngineService
from correlator.forward import registry
from correlator.forward.planner import ForwardPlanner
from correlator.forward.worker import DeliveryWorker, dead_letter_unconfigured, worker_name
from correlator.incident_metrics import IncidentMetrics
from correlator.ingest.sources import parsers
from correlator.metrics import EngineMetrics, ForwardMetrics
from correlator.ml.model import LearnedModel
from correlator.rule_reload import ReloadOutcome, RuleReloader, rules_in_force
from correlator.rules.loader import RuleSet
from correlator.store import database as store_database
from correlator.store import exchange
from correlator.store.leadership import Fenced, Leadership, Role
from correlator.store.outbox import Outbox
from correlator.store.writer import NOTIFY_CHANNEL

log = logging.getLogger(__name__)

# How often SQLite's data_version is checked: one cheap pragma, no table read.
DATA_VERSION_SECONDS = 0.01
# How often reload requests are looked for and changed candidates published, and the metrics text
# published (if it changed).
REQUEST_SECONDS = 0.2
METRICS_SECONDS = 1.0
# After a lost LISTEN connection, the next attempt waits this long (the fallback poll goes on).
LISTEN_RETRY_SECONDS = 2.0
PARENT_CHECK_SECONDS = 0.5
SUPERVISED_NICENESS = 10  # below serve's CPU priority: a busy ingest runs first
MAX_PUBLISHED_CANDIDATES = 1000  # the candidates API's largest page


class EngineRunner:
    """The engine service with what runs around it: rule reloads and, when `publish`, what serve reads
    of it (metrics text, candidates, the rules in force) and serve's reload requests."""

    def __init__(self, config: Config, database: DatabaseEngine, rules: RuleSet, model: LearnedModel | None,
                 metrics: EngineMetrics, *, publish: bool, clock=None, epoch: int | None = None):
        """`epoch`: the leadership epoch this runner's saves and publications check (None: no replicas)."""
        self._database, self._publish, self.metrics, self._epoch = database, publish, metrics, epoch
        self._clock = clock
        self.forwarding = wiring.forwarding(config)
        self.planner = (ForwardPlanner(self.forwarding.routes, self.forwarding.external_url, self._planned)
                        if self.forwarding.specs else None)
        self.worker: DeliveryWorker | None = None  # delivers what the planner wrote, from start
        self._http: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.service = EngineService(database, rules, wiring.engine_settings(config), parsers(wiring.field_mappings(config)),
                                     wiring.ingest_policy(config), clock=clock,
                                     observer=IncidentMetrics(metrics, config.engine.sla), model=model,
                                     on_candidates=self._candidates_changed, epoch=epoch, planner=self.planner,
                                     flaps=wiring.flap_detector(config))
        Gauge("correlator_flapping_alerts", "Alerts (fingerprints) flapping now.",
              registry=metrics.registry).set_function(lambda: len(self.service.alert_view.flaps.flapping))
        self.reloader = RuleReloader(self.service, config.rules_dir, metrics,
                                     on_outcome=self._publish_rules if publish else lambda r, o: None)
        self._handled_request: str | None = None
        self._published_metrics = b""
        # Candidates changed by a step, published by the exchange loop (not in the step's thread:
        # a failed publication must not look like a failed step).
        self._unpublished_candidates: tuple[Candidate, ...] | None = None
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        """Raises DestinationError when a destination's options are wrong."""
        self._loop = asyncio.get_running_loop()
        if self.planner is not None:
            self._http = aiohttp.ClientSession()
            try:
                destinations = registry.build_all(self.forwarding.specs, self._http)
            except Exception:
                await self._http.close()
                raise
            forward_metrics = ForwardMetrics(self.metrics.registry)
            forward_metrics.known(destinations)
            self.worker = DeliveryWorker(Outbox(self._database, worker_name(), self._epoch), destinations,
                                         clock=self._clock, policy=self.forwarding.policy, rates=self.forwarding.rates,
                                         metrics=forward_metrics)
        await self.service.start()
        if self.worker is not None:
            await self.worker.start(sole_worker=self._epoch is None)  # else replicas: leases expire
        else:  # every destination removed: what was planned for them is a dead letter, not pending unseen
            now = self._clock() if self._clock is not None else datetime.now(timezone.utc)
            await dead_letter_unconfigured(Outbox(self._database, worker_name(), self._epoch), (), now)
        self._tasks.append(asyncio.create_task(self.reloader.watch(), name="rule-watch"))
        if self._publish:
            self._handled_request = await asyncio.to_thread(self._reload_request)
            await asyncio.to_thread(self._publish_rules, self.service.engine.rules, self.reloader.last)
            self._tasks.append(asyncio.create_task(self._serve_exchange(), name="engine-exchange"))

    async def stop(self, leading: bool = True) -> None:
        """Stop after the step in progress; publish the final metrics while still `leading`."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.worker is not None:
            await self.worker.stop()
        if self._http is not None:
            await self._http.close()
        await self.service.stop()
        if self._publish and leading and self.service.fenced is None:
            try:
                await asyncio.to_thread(self._publish_state)
            except Fenced:
                pass  # another replica took over meanwhile: what it publishes stands

    def _planned(self) -> None:
        """A save wrote outbox rows (in the engine's thread): wake the worker."""
        if self.worker is not None and self._loop is not None:
            try:
                self._loop.call_soon_threadsafe(self.worker.notify)
            except RuntimeError:  # the loop is closing (shutdown): the next start reads the outbox anyway
                pass

    def _reload_request(self) -> str | None:
        value = exchange.get(self._database, exchange.RELOAD_REQUEST).get(exchange.RELOAD_REQUEST)
        return msgspec.json.decode(value)["id"] if value else None

    async def _serve_exchange(self) -> None:
        next_metrics = 0.0
        while True:
            try:
                request = await asyncio.to_thread(self._reload_request)
                if request != self._handled_request:
                    self._handled_request = request
                    await self.reloader.reload("api")
                if self._unpublished_candidates is not None:
                    await asyncio.to_thread(self._publish_candidates)
                if time.monotonic() >= next_metrics:
                    next_metrics = time.monotonic() + METRICS_SECONDS
                    await asyncio.to_thread(self._publish_metrics)
            except Fenced:
                return  # another replica leads: this runner is about to be dropped
            except Exception:  # task boundary: the store may be down for a while; try again
                log.exception("engine exchange with serve failed")
            await asyncio.sleep(REQUEST_SECONDS)

    def _publish_state(self) -> None:
        self._publish_candidates()
        self._publish_metrics()

    def _publish_metrics(self) -> None:
        text = generate_latest(self.metrics.registry)
        if text != self._published_metrics:
            exchange.put(self._database, exchange.METRICS, text, self._epoch)
            self._published_metrics = text

    def _candidates_changed(self, candidates: tuple[Candidate, ...]) -> None:
        if self._publish:
            self._unpublished_candidates = candidates

    def _publish_candidates(self) -> None:
        candidates = self._unpublished_candidates
        if candidates is None:
            return
        exchange.put(self._database, exchange.CANDIDATES,
                     msgspec.json.encode(candidates_view(candidates[:MAX_PUBLISHED_CANDIDATES])), self._epoch)
        if self._unpublished_candidates is candidates:  # else a step changed them meanwhile
            self._unpublished_candidates = None

    def _publish_rules(self, rules: RuleSet, outcome: ReloadOutcome) -> None:
        exchange.put(self._database, exchange.RULES, msgspec.json.encode({
            **rules_in_force(rules, outcome), "request": self._handled_request}), self._epoch)


async def wake_ups(database: DatabaseEngine, notify) -> None:
    """Call `notify` when ingest may have committed new notifications (until cancelled)."""
    if database.dialect.name == "postgresql":
        await _listen(database, notify)
    else:
        await _watch_data_version(database.url.database, notify)


async def _listen(database: DatabaseEngine, notify) -> None:
    import psycopg
    url = database.url.set(drivername="postgresql").render_as_string(hide_password=False)
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
                await connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
                notify()  # commits made while not listening
                async for _ in connection.notifies():
                    notify()
        except psycopg.Error as error:
            log.warning("engine wake-ups lost; reading the store every tick until they are back",
                        extra={"error": str(error)})
            await asyncio.sleep(LISTEN_RETRY_SECONDS)


async def _watch_data_version(path: str, notify) -> None:
    """SQLite's data_version changes when another connection commits: one pragma, no table read.
    The engine's own saves change it too, which costs one empty read each."""
    connection = sqlite3.connect(path, timeout=30, check_same_thread=False)
    try:
        seen = None
        while True:
            version = connection.execute("PRAGMA data_version").fetchone()[0]
            if version != seen:
                seen = version
                notify()
            await asyncio.sleep(DATA_VERSION_SECONDS)
    finally:
        connection.close()


async def _stop_without_parent(parent: int, stop: asyncio.Event) -> None:
    while os.getppid() == parent:
        await asyncio.sleep(PARENT_CHECK_SECONDS)
    log.error("serve is gone; the engine stops")
    stop.set()


def run(config: Config, rules: RuleSet, model: LearnedModel | None, supervised: bool = False) -> int:
    """Run the engine until SIGTERM or SIGINT. `supervised`: started by serve, so ingest first: the
    engine yields the CPU to serve when both want it (it catches up when ingest is quieter), and
    it stops when serve is gone (serve killed outright must not leave an engine behind beside the
    one it starts next)."""
    if supervised:
        os.nice(SUPERVISED_NICENESS)
    try:
        import uvloop
        loop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(_run(config, rules, model, supervised))
    finally:
        loop.close()
    return 0


async def _run(config: Config, rules: RuleSet, model: LearnedModel | None, supervised: bool) -> None:
    database = store_database.create_engine(config.database_url)
    await asyncio.to_thread(store_database.upgrade, database)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    changed = asyncio.Event()  # the leadership changed (set from Leadership's worker thread)
    leadership = (Leadership(config.database_url, on_change=lambda status: loop.call_soon_threadsafe(changed.set))
                  if database.dialect.name == "postgresql" else None)
    runner: EngineRunner | None = None
    reloads: set[asyncio.Task] = set()

    def hangup() -> None:
        if runner is not None:
            task = asyncio.create_task(runner.reloader.reload("signal"))
            reloads.add(task)
            task.add_done_callback(reloads.discard)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, hangup)
    tasks = [asyncio.create_task(wake_ups(database, lambda: runner is not None and runner.service.notify()),
                                 name="wake-ups")]
    # Ends by itself on `stop`, releasing the lock: awaited, not cancelled.
    leading = asyncio.create_task(leadership.run(stop), name="leadership") if leadership is not None else None
    if supervised:
        tasks.append(asyncio.create_task(_stop_without_parent(os.getppid(), stop), name="parent-watch"))
    log.info("engine process running", extra={"url": store_database.describe(database),
                                               "rules_dir": str(config.rules_dir), "rules": rules.rule_count})
    while not stop.is_set():
        epoch = None
        if leadership is not None:
            status = leadership.status
            if status.role is not Role.LEADER:
                await _first(stop.wait(), changed.wait())
                changed.clear()
                continue
            epoch = status.epoch
        started = time.perf_counter()
        runner = EngineRunner(config, database, rules, model, EngineMetrics(), publish=True, epoch=epoch)
        await runner.start()
        log.info("engine running", extra={"epoch": epoch, "watermark": runner.service.progress.watermark,
                                          "seconds": round(time.perf_counter() - started, 3)})
        while not stop.is_set() and runner.service.fenced is None and (
                leadership is None or leadership.status.epoch == epoch):
            await _first(stop.wait(), changed.wait(), runner.service.finished())
            changed.clear()
        still_leading = stop.is_set() and runner.service.fenced is None
        await asyncio.gather(*reloads, return_exceptions=True)
        await runner.stop(still_leading)
        rules = runner.service.engine.rules  # the next term starts with the rules in force
        if not still_leading:
            log.warning("engine dropped: this replica follows now", extra={"epoch": epoch})
        if runner.service.fenced is not None and leadership.status.epoch == epoch:
            await _first(stop.wait(), changed.wait())  # until this process notices it lost the lock
            changed.clear()
        runner = None
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, *reloads, return_exceptions=True)
    if leading is not None:
        await leading
    database.dispose()
    log.info("engine stopped")


async def _first(*waits) -> None:
    """Wait until the first of `waits` is done; cancel the others."""
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
