"""Slack: stakeholder updates through an incoming webhook, one Block Kit message (with a plain text
fallback for notifications) when an incident opens, changes priority and resolves; everything else
is left to the responders' tools.

An incoming webhook posts a new message on every call and has no key to deduplicate on or look up
by, so a retry after an ambiguous failure (a timeout once Slack had the message) may post it twice:
updates are at least once. Slack allows about one message a second per webhook: each destination
spaces its messages, and a 429's Retry-After holds back every message to it, not just the one."""

from __future__ import annotations

import asyncio
from typing import Annotated, Mapping

import aiohttp
import msgspec
from msgspec import Meta

from correlator.forward.contract import (ChangeKind, Delivery, IncidentChange, Outcome, OutcomeKind, RemoteRef,
                                         outcome_of_response, read_options)
from correlator.forward.templates import DEFAULT_BODY, DEFAULT_TITLE, Template

TYPE = "slack"

HEADER_LIMIT, SECTION_LIMIT = 150, 3000  # Block Kit: header plain_text, section text


class SlackOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    webhook_url: Annotated[str, Meta(pattern=r"^https?://\S+$")]  # the incoming webhook's secret URL
    title: str = DEFAULT_TITLE  # after what happened, in the header and the notification text
    body: str = DEFAULT_BODY  # the message's section
    min_interval_seconds: Annotated[float, Meta(ge=0)] = 1.0  # between two messages to this webhook
    timeout_seconds: Annotated[float, Meta(gt=0)] = 10.0


class MessageSpacing:
    """At most one message per `interval` to one webhook. A message that would wait longer than the
    interval (Slack answered 429 and asked for more) is not held in the worker: it is retried."""

    def __init__(self, interval: float):
        self._interval, self._next, self._lock = interval, 0.0, asyncio.Lock()

    async def turn(self) -> float | None:
        """Wait for this message's turn; or, when held back longer than the interval, the seconds left."""
        async with self._lock:
            now = asyncio.get_running_loop().time()
            delay = self._next - now
            if delay > self._interval:
                return delay
            if delay > 0:
                await asyncio.sleep(delay)
            self._next = max(now, self._next) + self._interval
            return None

    def hold_back(self, seconds: float) -> None:
        self._next = max(self._next, asyncio.get_running_loop().time() + seconds)


class Slack:
    def __init__(self, name: str, options: SlackOptions, http: aiohttp.ClientSession):
        self.name, self._options, self._http = name, options, http
        self._title = Template(options.title, name, "title")
        self._body = Template(options.body, name, "body")
        self._timeout = aiohttp.ClientTimeout(total=options.timeout_seconds)
        self._spacing = MessageSpacing(options.min_interval_seconds)

    async def deliver(self, delivery: Delivery) -> Outcome:
        change = delivery.change
        headline = self._headline(change)
        if headline is None:
            return Outcome.skipped(f"Slack hears of openings, priority changes and resolutions, "
                                   f"not {change.kind.value}")
        if change.kind is ChangeKind.RESOLVED and delivery.remote is None:
            return Outcome.skipped("its opening was never announced in Slack")
        wait = await self._spacing.turn()
        if wait is not None:
            return Outcome(OutcomeKind.RETRY, "Slack asked to slow down", retry_after=wait)
        async with self._http.post(self._options.webhook_url, json=self._message(change, headline),
                                   timeout=self._timeout) as response:
            status, headers, text = response.status, response.headers, await response.text()
        failed = outcome_of_response(status, headers, text, "Slack webhook")
        if failed is None:
            return Outcome.delivered(delivery.remote or RemoteRef(delivery.idempotency_key))
        if status == 429:
            self._spacing.hold_back(failed.retry_after if failed.retry_after is not None else 1.0)
        return failed

    @staticmethod
    def _headline(change: IncidentChange) -> str | None:
        if change.kind is ChangeKind.OPENED:
            return "Incident opened"
        if change.kind is ChangeKind.RESOLVED:
            return "Incident resolved"
        priority = change.detail.get("priority") if change.kind is ChangeKind.UPDATED else None
        if not isinstance(priority, dict) or priority.get("from") == priority.get("to"):
            return None
        # P1 is the highest: a smaller number is a raise
        direction = "raised" if str(priority.get("to")) < str(priority.get("from")) else "lowered"
        return f"Priority {direction} {priority.get('from')} → {priority.get('to')}"

    def _message(self, change: IncidentChange, headline: str) -> dict:
        title, url = self._title.render(change).strip(), change.incident.url
        blocks = [
            {"type": "header", "text": {"type": "plain_text", "text": _cut(f"{headline}: {title}", HEADER_LIMIT)}},
            {"type": "section", "text": {"type": "mrkdwn", "text": _cut(_escaped(self._body.render(change)) or " ",
                                                                         SECTION_LIMIT)}},
        ]
        if url:
            blocks.append({"type": "context", "elements": [
                {"type": "mrkdwn", "text": f"<{_escaped(url)}|Open incident {_escaped(change.incident.id)}>"}]})
        return {"text": f"{headline}: {title}" + (f" {url}" if url else ""), "blocks": blocks}

    async def close(self) -> None:
        pass  # the HTTP session is the worker's


def _escaped(text: str) -> str:
    """Slack mrkdwn control characters as its entities, so an alert label cannot mention or link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def build(name: str, options: Mapping[str, object], http: aiohttp.ClientSession) -> Slack:
    return Slack(name, read_options(SlackOptions, name, options), http)
