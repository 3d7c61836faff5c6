"""A webhook receiver on 127.0.0.1 that behaves as a Standard Webhooks consumer does: it verifies
the signature and timestamp (401 otherwise), applies each message id once (a retry of a message it
already applied is answered 200 and not applied again), and can be told to fail: answer a status
(with headers) for the next requests, or apply a request and then hold its answer past the sender's
timeout (the ambiguous failure)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from dataclasses import dataclass, field

import msgspec
import pytest
from aiohttp import web

SECRET = "whsec_" + base64.b64encode(b"correlator-test-signing-key-0123").decode()


@dataclass
class Fault:
    status: int
    headers: dict = field(default_factory=dict)
    body: str = ""


class WebhookSink:
    def __init__(self, secret: str = SECRET):
        self._key = base64.b64decode(secret.removeprefix("whsec_"))
        self.applied: list[dict] = []  # each message once, in the order applied
        self.requests = 0
        self.faults: list[Fault] = []  # answered to the next requests, in order
        self.hold_after_applying = 0  # the next N requests are applied, then answered too late
        self.released = asyncio.Event()
        self._seen: set[str] = set()
        self._applied_more = asyncio.Event()
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self, port: int = 0) -> str:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/hook"
        return self.url

    async def stop(self) -> None:
        self.released.set()
        if self.runner is not None:
            await self.runner.cleanup()

    async def wait_applied(self, count: int, timeout: float = 10) -> None:
        """Until `count` messages are applied (TimeoutError after `timeout` seconds)."""
        async with asyncio.timeout(timeout):
            while len(self.applied) < count:
                self._applied_more.clear()
                await self._applied_more.wait()

    def kinds(self, incident_id: str | None = None) -> list[str]:
        return [m["data"]["kind"] for m in self.applied
                if incident_id is None or m["data"]["incident"]["id"] == incident_id]

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = await request.read()
        message_id, timestamp = request.headers.get("webhook-id", ""), request.headers.get("webhook-timestamp", "")
        expected = "v1," + base64.b64encode(hmac.new(self._key, f"{message_id}.{timestamp}.".encode() + body,
                                                     hashlib.sha256).digest()).decode()
        if not message_id or expected not in request.headers.get("webhook-signature", "").split():
            return web.json_response({"error": "invalid signature"}, status=401)
        if request.headers.get("Idempotency-Key") != message_id:
            return web.json_response({"error": "Idempotency-Key differs from webhook-id"}, status=400)
        if abs(time.time() - int(timestamp)) > 10 ** 9:  # the tests' clocks are fake: only nonsense refused
            return web.json_response({"error": "timestamp"}, status=401)
        if self.faults:
            fault = self.faults.pop(0)
            return web.Response(status=fault.status, headers=fault.headers, text=fault.body)
        if message_id not in self._seen:
            self._seen.add(message_id)
            self.applied.append(msgspec.json.decode(body))
            self._applied_more.set()
        if self.hold_after_applying:
            self.hold_after_applying -= 1
            await self.released.wait()
        return web.json_response({"ok": True})


@pytest.fixture
async def sink():
    """A started WebhookSink (import it into a test module to use it)."""
    receiver = WebhookSink()
    await receiver.start()
    yield receiver
    await receiver.stop()
