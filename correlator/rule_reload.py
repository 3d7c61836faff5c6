"""Rule hot reload, in the engine's process: on SIGHUP, on a request from serve's API and when a rule
file changes. A directory with any invalid file is rejected, with file, line and message, and the
rules in force stay in force."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from correlator.engine_service import EngineService
from correlator.metrics import EngineMetrics
from correlator.rules.loader import RuleErrors, RuleSet

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0


@dataclass(frozen=True)
class ReloadOutcome:
    trigger: str  # start, signal, api, file
    at: float  # unix time
    errors: tuple[tuple[str, str], ...] = ()  # ("file:line", message) of a rejected reload


def rules_in_force(rules: RuleSet, outcome: ReloadOutcome) -> dict:
    """The rules in force and the last reload, as the API and the board show them."""
    named = [*rules.groups, *rules.links, *rules.relations, *rules.dependencies, *rules.suppressions,
             *rules.maintenance, *rules.classifiers, rules.priority, *rules.assignments, *rules.escalations]
    return {"files": list(rules.files), "rules": rules.rule_count,
            "in_force": [{"name": rule.name, "kind": type(rule).__struct_config__.tag,
                          "description": rule.description} for rule in named],
            "last_reload": {"trigger": outcome.trigger, "at": outcome.at,
                            "outcome": "failure" if outcome.errors else "success",
                            "errors": [{"path": path, "reason": reason} for path, reason in outcome.errors]}}


class RuleReloader:
    def __init__(self, service: EngineService, directory: Path, metrics: EngineMetrics,
                 on_outcome: Callable[[RuleSet, ReloadOutcome], None] = lambda rules, outcome: None):
        """`on_outcome` learns of every reload, accepted or rejected, with the rules then in force
        (in a thread: it may write to the store)."""
        self.service, self.directory, self.metrics = service, directory, metrics
        self._on_outcome = on_outcome
        self._seen = self._stamp()
        self.last = ReloadOutcome("start", time.time())
        metrics.rules_loaded.set(service.engine.rules.rule_count)
        metrics.rule_reload_success.set(self.last.at)

    def _stamp(self) -> tuple:
        """What identifies the directory's content cheaply: names, sizes and modification times."""
        try:
            files = sorted([*self.directory.glob("*.yaml"), *self.directory.glob("*.yml")])
            return tuple((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in files)
        except OSError:
            return ()

    async def reload(self, trigger: str) -> RuleErrors | None:
        self._seen = self._stamp()
        try:
            rules = await self.service.reload(self.directory)
        except RuleErrors as failure:
            self.metrics.rule_reloads.labels(trigger, "failure").inc()
            log.error("rules rejected; the rules in force stay in force",
                      extra={"trigger": trigger, "errors": [str(e) for e in failure.errors]})
            await self._settled(ReloadOutcome(trigger, time.time(),
                                              tuple((f"{e.file}:{e.line}", e.message) for e in failure.errors)))
            return failure
        self.metrics.rule_reloads.labels(trigger, "success").inc()
        self.metrics.rule_reload_success.set(time.time())
        self.metrics.rules_loaded.set(rules.rule_count)
        log.info("rules reloaded", extra={"trigger": trigger, "files": len(rules.files), "rules": rules.rule_count})
        await self._settled(ReloadOutcome(trigger, time.time()))
        return None

    async def _settled(self, outcome: ReloadOutcome) -> None:
        self.last = outcome
        await asyncio.to_thread(self._on_outcome, self.service.engine.rules, outcome)

    async def check_for_changes(self) -> bool:
        """Reload if a rule file was added, removed or changed since the last load."""
        if self._stamp() == self._seen:
            return False
        await self.reload("file")
        return True

    async def watch(self) -> None:
        """Poll the directory (portable, no inotify needed)."""
        while True:
            await asyncio.sleep(POLL_SECONDS)
            await self.check_for_changes()
