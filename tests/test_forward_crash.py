"""The daemon SIGKILLed in the middle of a delivery (the receiver applied the request, the answer
never came back) and restarted: the change is delivered again with the same message id (the
receiver drops the repeat), the change queued behind it follows, in order; nothing lost, nothing
applied twice. SQLite and PostgreSQL (where the engine runs for the leadership)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import pytest

from tests.conftest import CAPTURES
from tests.processes import Daemon, http_json, wait_for
from tests.webhook_sink import SECRET, WebhookSink


def engine_pid(serve_pid: int) -> int:
    children = Path(f"/proc/{serve_pid}/task/{serve_pid}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
async def test_a_delivery_interrupted_by_sigkill_is_completed_once_after_the_restart(tmp_path, request, store):
    sink = WebhookSink()
    await sink.start()
    sink.hold_after_applying = 1  # the first request is applied, its answer held: the daemon dies waiting
    # The delivery's timeout outlasts what the test does before the kill, so the kill comes while the
    # delivery waits. One daemon per SQLite store: the restarted one takes its leases over at once. On
    # PostgreSQL (replicas possible) the new leader waits out the lease, 4 timeouts.
    timeout = "20s" if store == "sqlite" else "4s"
    config = {"forwarding": {"timeout": timeout, "destinations": [
        {"name": "hook", "type": "webhook", "url": sink.url, "secret": SECRET}]}}
    if store == "postgresql":
        config["store"] = {"url": request.getfixturevalue("postgres_url"), "data_dir": str(tmp_path / "data")}
    daemon = Daemon(tmp_path, config)
    try:
        await asyncio.to_thread(daemon.start)
        body = json.loads((CAPTURES / "alertmanager-0.25/webhook-01.json").read_text())
        assert (await asyncio.to_thread(http_json, "POST", f"{daemon.url}/api/v1/alertmanager", body))[0] == 200
        await sink.wait_applied(1, timeout=30)
        _, page = await asyncio.to_thread(http_json, "GET", f"{daemon.url}/api/v1/incidents")
        incident_id = page["incidents"][0]["id"]
        status, _ = await asyncio.to_thread(http_json, "POST", f"{daemon.url}/api/v1/incidents/{incident_id}/acknowledge", {})
        assert status == 200  # saved with its outbox row, queued behind the delivery in flight
        os.kill(engine_pid(daemon.process.pid), signal.SIGKILL)
        daemon.process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(daemon.process.wait, 30)
        assert sink.requests == 1 and sink.kinds() == ["opened"]  # killed while the delivery waited
        sink.released.set()
        await asyncio.to_thread(daemon.start)
        await sink.wait_applied(2, timeout=30)

        def drained():
            _, found = http_json("GET", f"{daemon.url}/api/v1/deliveries?state=pending")
            return found["deliveries"] == []
        await asyncio.to_thread(wait_for, drained, timeout=30, what="the outbox to drain")
        assert sink.kinds() == ["opened", "acknowledged"]
        assert sink.requests == 3  # the interrupted one was sent again, with the id the receiver had seen
    finally:
        await asyncio.to_thread(daemon.stop)
        await sink.stop()
