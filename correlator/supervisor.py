"""serve's watch over the engine process: start `correlator engine`, restart it with backoff when it
exits (logged and counted), pass SIGHUP on, and stop it with SIGTERM at shutdown. The engine resumes
from the watermark it saved, so a restart loses nothing and applies nothing twice."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from typing import Sequence

from prometheus_client import Counter

log = logging.getLogger(__name__)

RESTART_FIRST_SECONDS = 0.5
RESTART_MAX_SECONDS = 30.0
STABLE_SECONDS = 60.0  # a process that ran this long failed afresh: its restart waits the first delay again


class EngineSupervisor:
    def __init__(self, command: Sequence[str], restarts: Counter, stop_timeout: float):
        self._command, self._restarts, self._stop_timeout = list(command), restarts, stop_timeout
        self._process: asyncio.subprocess.Process | None = None
        self._stopping = False
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="engine-supervisor")

    async def _run(self) -> None:
        delay = RESTART_FIRST_SECONDS
        while True:
            started = time.monotonic()
            # A session of its own: a terminal's Ctrl-C reaches serve, which stops the engine itself.
            self._process = await asyncio.create_subprocess_exec(*self._command, start_new_session=True)
            log.info("engine process started", extra={"pid": self._process.pid})
            code = await self._process.wait()
            if self._stopping:
                return
            if time.monotonic() - started > STABLE_SECONDS:
                delay = RESTART_FIRST_SECONDS
            self._restarts.inc()
            log.error("engine process exited; restarting it", extra={"code": code, "delay": delay})
            await asyncio.sleep(delay)
            delay = min(delay * 2, RESTART_MAX_SECONDS)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None and self._process.returncode is None else None

    def hangup(self) -> None:
        if self.pid is not None:
            self._process.send_signal(signal.SIGHUP)

    async def stop(self) -> None:
        """SIGTERM: the engine stops after the step in progress; killed after `stop_timeout`."""
        self._stopping = True
        process = self._process
        if process is not None and process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), self._stop_timeout)
            except asyncio.TimeoutError:
                log.error("engine process did not stop in time; killed", extra={"seconds": self._stop_timeout})
                process.kill()
                await process.wait()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
