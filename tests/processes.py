"""Running real programs for end-to-end tests: the daemon itself, Alertmanager, Prometheus.
Every wait is a bounded poll on an observable condition, never a fixed sleep."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import aiohttp
from aiohttp import web
import pytest
import yaml

from correlator.ingest.fingerprint import fingerprint

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], T], *, timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = condition()
        except (OSError, urllib.error.URLError, ValueError):
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


async def until(condition: Callable[[], object], what: str, attempts: int = 600, interval: float = 0.05):
    """Poll `condition` (a function, or one returning an awaitable) on the event loop until it gives
    something truthy, and return that; fail after `attempts` polls `interval` seconds apart."""
    for _ in range(attempts):
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        await asyncio.sleep(interval)
    raise AssertionError(f"gave up waiting for {what}")


@contextmanager
def served_in_thread(fake):
    """`fake` (a tests/fake_*.py system with `app()`) served on 127.0.0.1 from a thread of its own,
    for a daemon in another process to call: yields (fake, its base URL)."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(fake.app())
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, name="fake-system", daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.run_until_complete(runner.cleanup())
        loop.close()


def http_json(method: str, url: str, body=None, headers: dict | None = None, timeout: float = 10):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        payload = response.read()
        return response.status, json.loads(payload) if payload else None


def require_program(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed; run tests/install-system-deps.sh"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


class Daemon:
    """`correlator serve` in a subprocess, as a user runs it."""

    def __init__(self, tmp: Path, config: dict, token: str | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = token
        self.config_path = tmp / "correlator.yaml"
        self.log_path = tmp / "correlator.log"
        document = {"server": {"port": self.port}, "store": {"data_dir": str(tmp / "data")}, **config}
        self.config_path.write_text(yaml.safe_dump(document))
        self.process: subprocess.Popen | None = None

    def start(self) -> "Daemon":
        log = self.log_path.open("ab")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CORRELATOR_")}
        self.process = subprocess.Popen([sys.executable, "-m", "correlator", "serve", "--config",
                                         str(self.config_path)], stdout=log, stderr=log, env=env)
        try:
            wait_for(lambda: self.process.poll() is None and engine_ready(self.url), timeout=30,
                     what=f"correlator and its engine to become ready (log: {self.log_path})")
        except AssertionError:
            self.stop()  # else it and its engine process outlive the test
            raise
        return self

    @property
    def auth_headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def alerts(self, **query) -> list[dict]:
        params = "&".join(f"{k}={v}" for k, v in {"limit": 1000, **query}.items())
        return http_json("GET", f"{self.url}/api/v1/alerts?{params}", headers=self.auth_headers)[1]["alerts"]

    def all_alerts(self, max_pages: int = 100) -> list[dict]:
        """Every stored alert, following the cursor."""
        found, cursor = [], None
        for _ in range(max_pages):
            query = "limit=1000" + (f"&cursor={cursor}" if cursor else "")
            _, page = http_json("GET", f"{self.url}/api/v1/alerts?{query}", headers=self.auth_headers)
            found += page["alerts"]
            cursor = page["next"]
            if cursor is None:
                return found
        raise AssertionError(f"more than {max_pages} pages of alerts")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def engine_ready(url: str) -> bool:
    """The daemon at `url` is ready and its engine process has published the rules in force."""
    status, body = http_json("GET", f"{url}/readyz")
    return status == 200 and body["rules"] is not None


def engine_caught_up(url: str) -> bool:
    """The daemon at `url` has processed every stored notification (its engine's lag gauge reads
    0): what an engine reads back from the log takes as long as the machine makes it, longer than
    a listing waits for it (the API's action_wait)."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        lines = response.read().decode().splitlines()
    return any(float(line.split()[1]) == 0.0 for line in lines if line.startswith("correlator_engine_lag_seconds "))


@contextmanager
def running(daemon: Daemon) -> Iterator[Daemon]:
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


@contextmanager
def program(args: list[str], log_path: Path, ready_url: str) -> Iterator[subprocess.Popen]:
    """A real third-party program (Alertmanager, Prometheus), stopped at the end."""
    with log_path.open("ab") as log:
        process = subprocess.Popen(args, stdout=log, stderr=log)
    try:
        wait_for(lambda: process.poll() is None and urllib.request.urlopen(ready_url, timeout=2).status == 200,
                 timeout=30, what=f"{args[0]} to become ready (log: {log_path})")
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


async def post_stream(url: str, *, fault_after: int, fault: Callable[[], None], until: int | None = None,
                      workers: int = 8, max_requests: int = 3000) -> tuple[set[str], dict[int, int]]:
    """POST distinct alerts (two a request) to `url`/api/v2/alerts from `workers` concurrent clients and
    call `fault` once `fault_after` alerts were answered 2xx. A client stops when the requests run out,
    when `until` alerts were answered 2xx, or when its connection fails after the fault. Returns the
    fingerprints answered 2xx and the answers counted by status (0: no answer)."""
    acknowledged: set[str] = set()
    answers: dict[int, int] = {}
    counter = iter(range(max_requests))
    faulted = False

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal faulted
        for number in counter:
            if until is not None and len(acknowledged) >= until:
                return
            labels = {"alertname": "StreamTest", "instance": f"host-{number}"}
            batch = [{"labels": labels}, {"labels": {**labels, "replica": "b"}}]
            try:
                async with session.post(f"{url}/api/v2/alerts", json=batch) as response:
                    status = response.status
            except aiohttp.ClientError:
                status = 0
            answers[status] = answers.get(status, 0) + 1
            if status == 200:
                acknowledged.update(fingerprint(alert["labels"]) for alert in batch)
            elif status == 0 and faulted:
                return
            if len(acknowledged) >= fault_after and not faulted:
                faulted = True
                fault()

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        await asyncio.gather(*(client(session) for _ in range(workers)))
    assert faulted, "the stream ended before the fault"
    return acknowledged, answers
