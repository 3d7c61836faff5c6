"""A 2xx means durable: SIGKILL in the middle of a stream of concurrent POSTs loses nothing answered."""

import asyncio
import signal

import aiohttp
import pytest

from correlator.ingest.fingerprint import fingerprint
from tests.processes import Daemon, running

WORKERS = 8
MAX_REQUESTS = 3000


async def stream_until(daemon: Daemon, stop_after: int, stop: signal.Signals) -> tuple[set[str], int]:
    """POST distinct alerts from WORKERS concurrent clients; send `stop` after `stop_after` 2xx answers.
    Returns the fingerprints answered 2xx and how many requests failed."""
    acknowledged: set[str] = set()
    failures = 0
    counter = iter(range(MAX_REQUESTS))
    signalled = asyncio.Event()

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal failures
        for number in counter:
            labels = {"alertname": "CrashTest", "instance": f"host-{number}"}
            batch = [{"labels": labels}, {"labels": {**labels, "replica": "b"}}]
            try:
                async with session.post(f"{daemon.url}/api/v2/alerts", json=batch) as response:
                    if response.status == 200:
                        acknowledged.update(fingerprint(alert["labels"]) for alert in batch)
                    else:
                        failures += 1
            except aiohttp.ClientError:
                failures += 1
                if signalled.is_set():
                    return
            if len(acknowledged) >= 2 * stop_after and not signalled.is_set():
                signalled.set()
                daemon.process.send_signal(stop)

    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(worker(session) for _ in range(WORKERS)))
    assert signalled.is_set(), "the stream ended before the daemon was stopped"
    return acknowledged, failures


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM])
async def test_every_acknowledged_alert_survives_the_daemon_stopping(tmp_path, stop):
    daemon = Daemon(tmp_path, {})
    daemon.start()
    acknowledged, _ = await stream_until(daemon, stop_after=300, stop=stop)
    code = daemon.process.wait(timeout=30)
    assert code == (-signal.SIGKILL if stop is signal.SIGKILL else 0), daemon.log()
    with running(Daemon(tmp_path, {})) as restarted:
        stored = {alert["fingerprint"] for alert in restarted.all_alerts()}
    assert len(acknowledged) >= 600
    assert acknowledged <= stored, f"{len(acknowledged - stored)} acknowledged alerts were lost"
