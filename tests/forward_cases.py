"""What the destination adapters' tests share: one incident, the changes the worker would
hand an adapter, deliveries of them (first attempt, retry, ambiguous retry), the client session,
a fake system served on 127.0.0.1, the shipped examples' options and option errors."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp
import pytest
import yaml

from correlator.forward.contract import (AlertSummary, ChangeKind, Delivery, DestinationError, IncidentChange,
                                         IncidentSnapshot, RemoteRef)

OPENED_AT = datetime(2026, 12, 3, 1, 0, tzinfo=timezone.utc)
KEY = "correlator-inc-7f3a9c-dest"
EXAMPLES = Path(__file__).parent.parent / "config" / "examples"


def snapshot(**fields) -> IncidentSnapshot:
    base = dict(
        id="inc-7f3a9c", title="checkout latency and 5xx", state="open", priority="P2", impact="high",
        urgency="medium", category="availability", service_area="payments", services=("checkout", "payments-api"),
        team="payments", tier=1, opened_at=OPENED_AT, resolved_at=None,
        alerts=(AlertSummary("HighLatency", "firing", {"service": "checkout", "severity": "critical"}, "rule:checkout",
                             "p99 above 2s"),
                AlertSummary("Http5xx", "firing", {"service": "payments-api"}, "learned", "")),
        url="https://correlator.example.com/incidents/inc-7f3a9c")
    return IncidentSnapshot(**(base | fields))


def change(kind: ChangeKind, detail: dict | None = None, actor: str = "correlator", **fields) -> IncidentChange:
    return IncidentChange(kind=kind, at=OPENED_AT + timedelta(minutes=5), actor=actor, incident=snapshot(**fields),
                          detail=detail or {})


def delivery(change: IncidentChange, remote: RemoteRef | None = None, *, destination: str = "dest",
             key: str = KEY, attempt: int = 1, create_sent_at: datetime | None = None,
             outbox_id: int = 1) -> Delivery:
    return Delivery(outbox_id=outbox_id, destination=destination, change=change, idempotency_key=key, remote=remote,
                    attempt=attempt, now=OPENED_AT + timedelta(minutes=6), create_sent_at=create_sent_at)


def ambiguous_retry(first: Delivery) -> Delivery:
    """The next attempt after `first` timed out with its create in flight."""
    return delivery(first.change, first.remote, destination=first.destination, key=first.idempotency_key,
                    attempt=first.attempt + 1, create_sent_at=first.now, outbox_id=first.outbox_id)


def example_destinations(path: Path, secret: str) -> list[dict]:
    """The destinations of a shipped example configuration, each `{env: ...}`/`{file: ...}` secret
    standing in as `secret` (the configuration loader resolves them before an adapter sees them)."""
    def resolved(value):
        if isinstance(value, dict) and list(value) in (["env"], ["file"]):
            return secret
        if isinstance(value, dict):
            return {key: resolved(item) for key, item in value.items()}
        if isinstance(value, list):
            return [resolved(item) for item in value]
        return value
    return [resolved(destination) for destination in yaml.safe_load(path.read_text())["forwarding"]["destinations"]]


@pytest.fixture
async def http():
    """The adapters' shared client session, as the worker's would be."""
    async with aiohttp.ClientSession() as session:
        yield session


@contextlib.asynccontextmanager
async def running(fake, aiohttp_server, path: str = ""):
    """`fake` served on 127.0.0.1, its address in `fake.url`; a request it stalls is let go at the end."""
    server = await aiohttp_server(fake.app())
    fake.url = str(server.make_url(path))
    try:
        yield fake
    finally:
        fake.release.set()


def option_error(module, name: str, options: dict) -> DestinationError:
    """The error building destination `name` of `module` with `options` raises, checked to name it."""
    with pytest.raises(DestinationError) as raised:
        module.build(name, options, None)
    assert str(raised.value).startswith(f"forwarding.destinations[{name}].{raised.value.field}: ")
    return raised.value
