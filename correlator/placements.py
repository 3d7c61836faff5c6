"""Where pods run, read from the Prometheus that scrapes each cluster's kube-state-metrics.

The pod alerts of kube-prometheus and awesome-prometheus-alerts name no node (their expressions keep
`namespace` and `pod`), so a node lost and its pods failing relate only across the whole cluster,
which a busy cluster's chance test turns away. `kube_pod_info` says which node each pod runs on.
Every `learning.placements_every`, the leader asks each configured Prometheus for it
(`/api/v1/query`) and appends what changed since it last asked (all of it the first time) to the
engine's input log as a `placement` row: the engine applies it in log order with the alerts, a
recording holds it as a line of its own, and `replay` applies it as the daemon did. A source that
does not answer is logged and asked again next time; what it told before stays in force.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import Callable

import aiohttp
import msgspec

from correlator.config import PlacementSourceConfig
from correlator.domain import RawNotification, Source
from correlator.domain.placements import Placements, PodPlacement
from correlator.learning.entities import cluster_of

log = logging.getLogger(__name__)
TIMEOUT = 10.0  # seconds one query may take


class PlacementError(Exception):
    """Why a source's answer gave no placement."""


class _Series(msgspec.Struct):
    metric: dict[str, str]


class _Data(msgspec.Struct):
    resultType: str  # noqa: N815 (the Prometheus API's name)
    result: list[_Series]


class _Answer(msgspec.Struct):
    status: str
    data: _Data | None = None
    error: str = ""


_decode_answer = msgspec.json.Decoder(_Answer).decode


Pod = tuple[str, str, str]  # (cluster, namespace, pod)


def placement_of(body: bytes, cluster: str = "") -> dict[Pod, str]:
    """(cluster, namespace, pod) -> node, from a Prometheus instant query's answer: the cluster is
    `cluster`, or where that is empty the series' own cluster label (a Thanos or Mimir view of
    several clusters); a series without namespace, pod and node is left out (a pod not scheduled
    yet has no node)."""
    try:
        answer = _decode_answer(body)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        raise PlacementError(f"not a Prometheus query answer: {error}") from None
    if answer.status != "success" or answer.data is None:
        raise PlacementError(f"Prometheus answered {answer.status}: {answer.error or 'no data'}")
    if answer.data.resultType != "vector":
        raise PlacementError(f"expected an instant vector, got a {answer.data.resultType}")
    found = {}
    for series in answer.data.result:
        namespace, pod, node = (series.metric.get(name, "") for name in ("namespace", "pod", "node"))
        if namespace and pod and node:
            found[(cluster or cluster_of(series.metric), namespace, pod)] = node
    return found


def changes(before: dict[Pod, str], now: dict[Pod, str]) -> list[Placements]:
    """What a source tells of `now` to one that knows `before`, per cluster: pods placed anew or
    moved, and pods gone (node ""), in a stable order."""
    told: dict[str, list[PodPlacement]] = {}
    for (cluster, namespace, pod), node in now.items():
        if before.get((cluster, namespace, pod)) != node:
            told.setdefault(cluster, []).append(PodPlacement(namespace, pod, node))
    for cluster, namespace, pod in before:
        if (cluster, namespace, pod) not in now:
            told.setdefault(cluster, []).append(PodPlacement(namespace, pod, ""))
    return [Placements(cluster, sorted(pods, key=lambda placed: (placed.namespace, placed.pod)))
            for cluster, pods in sorted(told.items())]


class PlacementPoller:
    """Asks each source in turn, every `every` seconds, while `leads()` says this replica runs the
    engine; `append(raw)` stores a row in the engine's input log, `record(at, source, body)` (if
    given) writes the recording line."""

    def __init__(self, sources: list[PlacementSourceConfig], every: float, append, leads: Callable[[], bool],
                 record: Callable[[datetime, str, bytes], None] | None = None):
        self.sources, self.every, self.append, self.leads, self.record = sources, every, append, leads, record
        self.known: dict[int, dict[Pod, str]] = {}  # source index -> what it told last
        self.failing: dict[int, str] = {}  # source index -> its last error (logged once)

    async def run(self) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as session:
            while True:
                await self.round(session)
                await asyncio.sleep(self.every)

    async def round(self, session: aiohttp.ClientSession) -> int:
        """Ask every source once; returns the rows appended."""
        if not self.leads():
            self.known.clear()  # a replica that becomes leader tells all of it again
            return 0
        appended = 0
        for index, source in enumerate(self.sources):
            try:
                now = await self._ask(session, source)
            except (PlacementError, aiohttp.ClientError, asyncio.TimeoutError) as error:
                reason = str(error) or type(error).__name__
                if self.failing.get(index) != reason:
                    log.warning("placement source failed; asked again later", extra={
                        "url": source.url, "reason": reason})
                self.failing[index] = reason
                continue
            if self.failing.pop(index, None) is not None:
                log.info("placement source answers again", extra={"url": source.url})
            for placements in changes(self.known.get(index, {}), now):
                received_at = datetime.now(timezone.utc)
                body = msgspec.json.encode(placements)
                await self.append(RawNotification(Source.PLACEMENT, received_at, body))
                if self.record is not None:
                    self.record(received_at, Source.PLACEMENT, body)
                appended += 1
            self.known[index] = now
        return appended

    @staticmethod
    async def _ask(session: aiohttp.ClientSession, source: PlacementSourceConfig) -> dict[Pod, str]:
        url = f"{source.url.rstrip('/')}/api/v1/query"
        headers = {"Authorization": f"Bearer {source.bearer_token}"} if source.bearer_token else {}
        async with session.get(url, params={"query": source.query}, headers=headers) as response:
            body = await response.read()
            if response.status >= 500 or response.status in (401, 403, 404):
                raise PlacementError(f"{url} answered HTTP {response.status}")
            return placement_of(body, source.cluster)  # 400 and 422 carry the query's error in the body
