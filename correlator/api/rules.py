"""Rule hot reload: on SIGHUP, on `POST /api/v1/rules/reload` and when a rule file changes.
A directory with any invalid file is rejected, with file, line and message, and the rules in force
stay in force."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from aiohttp import web

from correlator.domain import FieldError
from correlator.engine_service import EngineService
from correlator.http_errors import error_response, json_response
from correlator.metrics import Metrics
from correlator.rules.loader import RuleErrors

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0


class RuleReloader:
    def __init__(self, service: EngineService, directory: Path, metrics: Metrics):
        self.service, self.directory, self.metrics = service, directory, metrics
        self._seen = self._stamp()
        metrics.rules_loaded.set(service.engine.rules.rule_count)
        metrics.rule_reload_success.set(time.time())

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
            return failure
        self.metrics.rule_reloads.labels(trigger, "success").inc()
        self.metrics.rule_reload_success.set(time.time())
        self.metrics.rules_loaded.set(rules.rule_count)
        log.info("rules reloaded", extra={"trigger": trigger, "files": len(rules.files), "rules": rules.rule_count})
        return None

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

    async def handle(self, _request: web.Request) -> web.Response:
        failure = await self.reload("api")
        if failure is not None:
            return error_response(400, "rules rejected; the rules in force stay in force",
                                  [FieldError(f"{e.file}:{e.line}", e.message) for e in failure.errors])
        rules = self.service.engine.rules
        return json_response({"status": "reloaded", "files": list(rules.files), "rules": rules.rule_count})
