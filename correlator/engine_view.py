"""What serve's API and /metrics see of the engine: the engine in this process (LocalEngine), or the
engine process's state as it published it into the store (StoredEngine). Both answer the same
questions: candidates, the rules in force, a rule reload, the engine's metrics text and its lag."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

import msgspec
from sqlalchemy.engine import Engine as DatabaseEngine

from correlator.engine.views import candidates_view
from correlator.engine_process import EngineRunner
from correlator.rule_reload import rules_in_force
from correlator.rules.loader import RuleErrors, RuleSet
from correlator.store import exchange
from correlator.store.incidents import IncidentRepository

# /metrics reads the engine's published text and its lag from the store at most this often.
METRICS_CACHE_SECONDS = 1.0
# A reload request is answered 202 when the engine has not taken it within this long.
RELOAD_WAIT_SECONDS = 10.0
RELOAD_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class ReloadAnswer:
    status: str  # reloaded, rejected (the rules in force stay), requested (the engine has not answered yet)
    files: list[str] = field(default_factory=list)
    rules: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)  # ("file:line", message)


class LocalEngine:
    """The engine runs in this process (tests build the app so)."""

    def __init__(self, runner: EngineRunner):
        self.runner = runner
        self.repository = runner.service.repository

    async def candidates(self, limit: int) -> list[dict]:
        return candidates_view(self.runner.service.candidates[:limit])

    async def rules(self) -> dict | None:
        return rules_in_force(self.runner.service.engine.rules, self.runner.reloader.last)

    async def reload(self) -> ReloadAnswer:
        failure = await self.runner.reloader.reload("api")
        if failure is not None:
            return ReloadAnswer("rejected", errors=[(f"{e.file}:{e.line}", e.message) for e in failure.errors])
        rules = self.runner.service.engine.rules
        return ReloadAnswer("reloaded", list(rules.files), rules.rule_count)

    async def refresh(self) -> None:
        """Nothing to read: the engine's metrics are on serve's registry."""

    def metrics_text(self) -> bytes:
        return b""

    def lag_seconds(self) -> float:
        return self.runner.service.lag_seconds()


class StoredEngine:
    """The engine runs in another process; what it published is read from the store."""

    def __init__(self, database: DatabaseEngine, load_rules: Callable[[], RuleSet]):
        """`load_rules` loads the configured rule files (raises RuleErrors)."""
        self._database, self._load_rules = database, load_rules
        self.repository = IncidentRepository(database)
        self._metrics_text = b""
        self._oldest_unprocessed_us: int | None = None
        self._read_at = float("-inf")
        self._reading: asyncio.Task | None = None

    async def candidates(self, limit: int) -> list[dict]:
        value = await asyncio.to_thread(self._get, exchange.CANDIDATES)
        return msgspec.json.decode(value)[:limit] if value else []

    async def rules(self) -> dict | None:
        value = await asyncio.to_thread(self._get, exchange.RULES)
        return msgspec.json.decode(value) if value else None

    async def reload(self) -> ReloadAnswer:
        """Check the files here (a broken file is answered at once, and the engine never sees the
        request), then ask the engine process and wait a bounded time for it to take the rules."""
        try:
            await asyncio.to_thread(self._load_rules)
        except RuleErrors as failure:
            return ReloadAnswer("rejected", errors=[(f"{e.file}:{e.line}", e.message) for e in failure.errors])
        request = uuid.uuid4().hex
        await asyncio.to_thread(exchange.put, self._database, exchange.RELOAD_REQUEST,
                                msgspec.json.encode({"id": request}))
        deadline = time.monotonic() + RELOAD_WAIT_SECONDS
        while time.monotonic() < deadline:
            rules = await self.rules()
            if rules is not None and rules["request"] == request:
                errors = [(e["path"], e["reason"]) for e in rules["last_reload"]["errors"]]
                return ReloadAnswer("rejected" if errors else "reloaded", rules["files"], rules["rules"], errors)
            await asyncio.sleep(RELOAD_POLL_SECONDS)
        return ReloadAnswer("requested")

    async def refresh(self) -> None:
        """Read the engine's metrics text and lag, at most once per METRICS_CACHE_SECONDS (concurrent
        scrapes share one read)."""
        if time.monotonic() - self._read_at < METRICS_CACHE_SECONDS:
            return
        if self._reading is None:
            self._reading = asyncio.create_task(asyncio.to_thread(self._read_metrics))
        try:
            await asyncio.shield(self._reading)
        finally:
            self._reading = None

    def _read_metrics(self) -> None:
        self._metrics_text = self._get(exchange.METRICS) or b""
        self._oldest_unprocessed_us = exchange.oldest_unprocessed_us(self._database)
        self._read_at = time.monotonic()

    def _get(self, name: str) -> bytes | None:
        return exchange.get(self._database, name).get(name)

    def metrics_text(self) -> bytes:
        return self._metrics_text

    def lag_seconds(self) -> float:
        oldest = self._oldest_unprocessed_us
        return 0.0 if oldest is None else max(0.0, time.time() - oldest / 1e6)
