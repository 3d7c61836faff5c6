"""The delivery worker: drains the outbox into the destinations, on the replica that runs the engine.

One task per destination, so a slow or dead destination holds back only its own rows, never the
others, ingest or the engine (its rows wait in the store). Each round claims the due rows of its
destination (leased, the first pending row of each incident there, forward/../store/outbox.py),
delivers them concurrently (at most `batch` at once, each bounded by `timeout`) and finishes each
in its own transaction:

- delivered or skipped: done, with the remote reference the adapter returned;
- retry: due again after the destination's `Retry-After` when it gave one (the whole destination
  pauses that long: rate limits are per account, not per incident), else after an exponential
  backoff with jitter, capped;
- an exception (timeout, reset): retried the same way; the create in flight recorded at the claim
  stays, so the next attempt is ambiguous and the adapter looks the object up before creating;
- dead: kept with its error for an operator (`correlator forward retry`, the API).

The clock is injected and `deliver_due` is one round, so tests drive the worker step by step."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable, Mapping

from correlator.forward.contract import Delivery, Destination, DestinationError, Outcome, OutcomeKind
from correlator.store.leadership import Fenced
from correlator.store.outbox import Claimed, DestinationStats, Finish, Outbox, OutboxState

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0  # a destination with nothing due looks again this often (retries, other writers)
STATS_SECONDS = 5.0  # outbox depth and age for the metrics
STORE_RETRY_SECONDS = 2.0  # after the store failed a round
MAX_RETRY_AFTER = 3600.0  # a destination asking for longer is asked again after this


@dataclass(frozen=True)
class DeliveryPolicy:
    first_retry: float = 1.0  # seconds before the first retry; doubles with each attempt
    max_retry: float = 300.0  # the backoff's cap
    timeout: float = 30.0  # one delivery (an adapter may make several calls)
    lease: float = 120.0  # must outlast `timeout`: a lease expires only when its worker is gone (or stuck)
    batch: int = 8  # deliveries at once per destination (different incidents)

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Equal jitter: half the exponential delay, plus up to the other half at random."""
        delay = min(self.max_retry, self.first_retry * 2 ** min(attempt - 1, 30))
        return delay / 2 + rng.uniform(0, delay / 2)


class RateLimit:
    """A token bucket per destination: `rate` deliveries per second, bursts of up to `burst`."""

    def __init__(self, rate: float, burst: int, now: datetime):
        self.rate, self.burst = rate, burst
        self._tokens, self._at = float(burst), now

    def available(self, now: datetime) -> int:
        self._tokens = min(self.burst, self._tokens + (now - self._at).total_seconds() * self.rate)
        self._at = now
        return int(self._tokens)

    def take(self, count: int) -> None:
        self._tokens -= count

    def wait(self) -> float:
        """Seconds until the next token."""
        return max(0.0, (1 - self._tokens) / self.rate)


def worker_name() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{secrets.token_hex(4)}"


class DeliveryWorker:
    def __init__(self, outbox: Outbox, destinations: Mapping[str, Destination], *,
                 clock: Callable[[], datetime] | None = None, policy: DeliveryPolicy = DeliveryPolicy(),
                 rates: Mapping[str, float] | None = None, metrics=None, rng: random.Random | None = None):
        """`rates`: deliveries per second per destination (absent: unlimited); `metrics`
        (ForwardMetrics) counts outcomes and latency and shows the outbox's depth."""
        self.outbox, self.destinations, self.policy = outbox, dict(destinations), policy
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._rng = rng or random.Random()
        self._metrics = metrics
        now = self._clock()
        self._limits = {name: RateLimit(rate, max(1, int(rate)), now) for name, rate in (rates or {}).items()
                        if name in self.destinations}
        self._paused_until: dict[str, datetime] = {}
        self._wakeups = {name: asyncio.Event() for name in self.destinations}
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self.fenced: Fenced | None = None

    # -- one round -------------------------------------------------------------------------------

    async def deliver_due(self, destination: str) -> int:
        """Claim and deliver what is due for `destination` now; returns how many rows it finished
        (0: nothing due, paused by a Retry-After, or out of rate-limit tokens)."""
        now = self._clock()
        paused = self._paused_until.get(destination)
        if paused is not None and paused > now:
            return 0
        limit = self.policy.batch
        bucket = self._limits.get(destination)
        if bucket is not None:
            limit = min(limit, bucket.available(now))
            if limit <= 0:
                return 0
        claimed = await asyncio.to_thread(self.outbox.claim, destination, now, limit, self.policy.lease)
        if bucket is not None:
            bucket.take(len(claimed))
        if not claimed:
            return 0
        results = await asyncio.gather(*(self._deliver(row) for row in claimed))
        now = self._clock()
        finished = [(row, self._finish(row, outcome, now)) for row, (outcome, _) in zip(claimed, results)]
        kept = await asyncio.to_thread(self.outbox.finish, finished, now)
        for row, held in zip(claimed, kept):
            if not held:
                log.warning("delivery outcome dropped: the row's lease was taken over",
                            extra={"destination": row.destination, "outbox_id": row.id})
        if self._metrics is not None:
            for row, (outcome, seconds) in zip(claimed, results):
                self._metrics.delivered(destination, outcome.kind.value, seconds, row.coalesced)
        return len(claimed)

    async def _deliver(self, row: Claimed) -> tuple[Outcome, float]:
        delivery = Delivery(row.id, row.destination, row.change, row.idempotency_key, row.remote, row.attempt,
                            row.claimed_at, row.create_sent_at)
        started = time.perf_counter()
        try:
            outcome = await asyncio.wait_for(self.destinations[row.destination].deliver(delivery),
                                             self.policy.timeout)
        except DestinationError as error:  # a template that fails on this change: it will again
            outcome = Outcome(OutcomeKind.DEAD, str(error))
        except (asyncio.TimeoutError, TimeoutError):
            outcome = Outcome(OutcomeKind.RETRY, f"no answer within {self.policy.timeout:g}s")
        except Exception as error:  # transport failures (resets, refused) and adapter bugs: retried
            outcome = Outcome(OutcomeKind.RETRY, f"{type(error).__name__}: {error}".strip())
        return outcome, time.perf_counter() - started

    def _finish(self, row: Claimed, outcome: Outcome, now: datetime) -> Finish:
        if outcome.kind in (OutcomeKind.DELIVERED, OutcomeKind.SKIPPED):
            return Finish(OutboxState.DONE, remote=outcome.remote)
        if outcome.kind is OutcomeKind.DEAD:
            log.error("delivery dead-lettered", extra={"destination": row.destination, "outbox_id": row.id,
                                                       "incident": row.incident_id, "reason": outcome.reason})
            return Finish(OutboxState.DEAD, error=outcome.reason)
        if outcome.retry_after is not None:
            delay = min(outcome.retry_after, MAX_RETRY_AFTER)
            self._paused_until[row.destination] = max(self._paused_until.get(row.destination, now),
                                                      now + timedelta(seconds=delay))
        else:
            delay = self.policy.backoff(row.attempt, self._rng)
        log.warning("delivery failed; retrying", extra={"destination": row.destination, "outbox_id": row.id,
                                                        "attempt": row.attempt, "delay": round(delay, 3),
                                                        "reason": outcome.reason})
        return Finish(OutboxState.PENDING, next_attempt=now + timedelta(seconds=delay), error=outcome.reason)

    # -- the loop --------------------------------------------------------------------------------

    def notify(self) -> None:
        """New rows were planned (call on the event loop)."""
        for event in self._wakeups.values():
            event.set()

    def stats(self) -> dict[str, DestinationStats]:
        stats = self.outbox.stats(self._clock())
        if self._metrics is not None:
            self._metrics.observe_outbox(stats, self._clock(), self.destinations)
        return stats

    async def start(self, sole_worker: bool = False) -> None:
        """`sole_worker`: no other worker can be running on this store (no replicas), so leases
        left in it are a crashed predecessor's, taken over at once."""
        if sole_worker:
            released = await asyncio.to_thread(self.outbox.release_leases)
            if released:
                log.warning("deliveries left in flight by a stopped worker are retried", extra={"rows": released})
        await dead_letter_unconfigured(self.outbox, self.destinations, self._clock())
        self._tasks = [asyncio.create_task(self._run(name), name=f"forward-{name}") for name in self.destinations]
        self._tasks.append(asyncio.create_task(self._watch_outbox(), name="forward-stats"))

    async def stop(self) -> None:
        """Stop the rounds; deliveries in flight are cancelled (their rows' leases expire, and they
        are delivered again, idempotently)."""
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for destination in self.destinations.values():
            try:
                await destination.close()
            except Exception:  # closing must not stop the others'
                log.exception("closing a destination failed")

    def _idle_seconds(self, destination: str) -> float:
        now, wait = self._clock(), POLL_SECONDS
        paused = self._paused_until.get(destination)
        if paused is not None and paused > now:
            wait = min(wait, (paused - now).total_seconds())
        bucket = self._limits.get(destination)
        if bucket is not None and bucket.available(now) <= 0:
            wait = min(wait, bucket.wait())
        return max(wait, 0.001)

    async def _run(self, destination: str) -> None:
        wakeup = self._wakeups[destination]
        while not self._stop.is_set():
            try:
                handled = await self.deliver_due(destination)
            except Fenced as fenced:
                self.fenced = fenced
                log.error("delivery stopped: another replica leads now")
                return
            except Exception:  # task boundary: the store may be down for a while
                log.exception("delivery round failed", extra={"destination": destination})
                handled = 0
                await _wait(self._stop, STORE_RETRY_SECONDS)
            if handled:
                continue
            await _wait(wakeup, self._idle_seconds(destination))
            wakeup.clear()

    async def _watch_outbox(self) -> None:
        while not self._stop.is_set():
            try:
                await asyncio.to_thread(self.stats)
            except Exception:  # task boundary
                log.exception("reading the outbox's depth failed")
            await _wait(self._stop, STATS_SECONDS)


async def dead_letter_unconfigured(outbox: Outbox, configured: Iterable[str], now: datetime) -> None:
    """Pending rows of destinations not `configured` become dead letters, logged per destination:
    no worker would ever deliver them (Outbox.dead_letter_unconfigured)."""
    for name, rows in (await asyncio.to_thread(outbox.dead_letter_unconfigured, configured, now)).items():
        log.error("deliveries to a destination no longer configured are dead letters now",
                  extra={"destination": name, "rows": rows})


async def _wait(event: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(event.wait(), timeout=seconds)
    except asyncio.TimeoutError:
        pass
