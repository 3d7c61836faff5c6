"""A local Slack incoming webhook (`POST /services/T.../B.../<secret>`): 200 `ok` for a message
with `text` or valid `blocks`, and Slack's plain-text errors otherwise (400 invalid_payload, no_text,
invalid_blocks; 403 invalid_token; 404 no_service; 410 channel_is_archived), 429 rate_limited with
Retry-After when messages come closer than it allows. Faults: queued answers, an archived channel,
a stall after the message was posted."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

from aiohttp import web

PATH = "/services/T0001/B0001/{secret}"


@dataclass
class FakeSlack:
    secret: str
    min_spacing: float = 0.0  # seconds between two messages, else 429
    retry_after: int = 1
    archived: bool = False
    messages: list[dict] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)  # monotonic time of each posted message
    answers: list[web.Response] = field(default_factory=list)
    stall_after_post: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(PATH, self.post)
        return app

    def path(self) -> str:
        return PATH.format(secret=self.secret)

    async def post(self, request: web.Request) -> web.Response:
        if request.match_info["secret"] != self.secret:
            return web.Response(status=404, text="no_service")
        if self.answers:
            return self.answers.pop(0)
        if self.archived:
            return web.Response(status=410, text="channel_is_archived")
        now = time.monotonic()
        if self.arrivals and now - self.arrivals[-1] < self.min_spacing:
            return web.Response(status=429, text="rate_limited", headers={"Retry-After": str(self.retry_after)})
        try:
            message = json.loads(await request.read())
        except ValueError:
            return web.Response(status=400, text="invalid_payload")
        if not isinstance(message, dict) or not (message.get("text") or message.get("blocks")):
            return web.Response(status=400, text="no_text")
        if not _valid_blocks(message.get("blocks", [])):
            return web.Response(status=400, text="invalid_blocks")
        self.messages.append(message)
        self.arrivals.append(now)
        if self.stall_after_post:
            self.stall_after_post -= 1
            await asyncio.wait_for(self.release.wait(), 10)
        return web.Response(text="ok")


def _valid_blocks(blocks: list) -> bool:
    if not isinstance(blocks, list) or len(blocks) > 50:
        return False
    for block in blocks:
        text = block.get("text") or {}
        if block.get("type") == "header" and (text.get("type") != "plain_text" or len(text.get("text", "")) > 150):
            return False
        if block.get("type") == "section" and not 0 < len(text.get("text", "")) <= 3000:
            return False
        if block.get("type") == "context" and not 0 < len(block.get("elements", [])) <= 10:
            return False
        if block.get("type") not in ("header", "section", "context", "divider", "actions"):
            return False
    return True
