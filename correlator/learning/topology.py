"""The estate's topology, learned online from the labels it sends.

When one alert's labels name two entities (a pod and its node, an `ip:port` and a node name, a
probe URL and its service, a client and the database it names as its peer), the two are related:
an edge. A workload runs on many hosts, so an alert that names a pod relates its workload and its
host only through the pod (two hops, which the joining stage does not follow). Entities that sit on
a large share of the alerts (a cluster's kube-state-metrics instance, a common job, the `default` namespace, the
only host of a small lab) relate everything to everything, so they are hubs and count as no
evidence. So is a reporter: an entity on a large share of its own cluster's alerts that relates
more entities than the topology keeps for it (kube-state-metrics, a DaemonSet's exporter, named by
the alerts about every pod and node they report on). Counts decay in event time; the number of
entities and of edges per entity is capped, the weakest dropped first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from operator import itemgetter

from correlator.learning.decay import Decay
from correlator.learning.entities import HOST, POD, WORKLOAD, cluster_of_entity, is_coarse

HUB_SHARE = 0.05  # an entity on more than this share of alerts is a hub...
HUB_MIN_ALERTS = 50.0  # ...once this many alerts (decayed) have been seen
REPORTER_SHARE = 0.15  # an entity on more than this share of its cluster's alerts (once it has seen
# HUB_MIN_ALERTS) that relates MAX_NEIGHBOURS entities or more is a reporter: a hub
MAX_ENTITIES = 50_000
MAX_NEIGHBOURS = 16  # edges kept per entity (the strongest)
_POD = f"{POD}|"
_WORKLOAD_AND_HOST = {WORKLOAD, HOST}


@dataclass(frozen=True, slots=True)
class Edge:
    entity: str
    other: str
    weight: float  # decayed number of alerts that named both


class Topology:
    def __init__(self, decay: Decay, max_entities: int = MAX_ENTITIES):
        self.decay = decay
        self.max_entities = max_entities
        self.total = 0.0  # stored (scaled) count of alerts seen
        self.clusters: dict[str, float] = {}  # cluster -> stored count of alerts seen there
        self.seen: dict[str, float] = {}  # entity -> stored count of alerts naming it
        self.edges: dict[str, dict[str, float]] = {}  # entity -> neighbour -> stored count

    def observe(self, entities: tuple[str, ...], t: float, cluster: str = "") -> None:
        """An alert (a new episode) of `cluster` named these entities at event time `t`."""
        weight = self.decay.weight(t)
        self.total += weight
        seen = self.seen
        self.clusters[cluster] = self.clusters.get(cluster, 0.0) + weight
        for entity in entities:
            seen[entity] = seen.get(entity, 0.0) + weight
        placed = [e for e in entities if not is_coarse(e)]
        # A workload runs on many hosts: where the alert names the pod, the pod relates the two.
        by_pod = any(e.startswith(_POD) for e in placed)
        for i, entity in enumerate(placed):
            for other in placed[i + 1:]:
                if by_pod and {entity.split("|", 1)[0], other.split("|", 1)[0]} == _WORKLOAD_AND_HOST:
                    continue
                self._connect(entity, other, weight)
                self._connect(other, entity, weight)
        if len(seen) > self.max_entities * 1.2:
            self._prune()

    def _connect(self, entity: str, other: str, weight: float) -> None:
        row = self.edges.get(entity)
        if row is None:
            row = self.edges[entity] = {}
        row[other] = row.get(other, 0.0) + weight
        if len(row) > MAX_NEIGHBOURS:
            del row[min(row, key=row.__getitem__)]

    def hub(self, entity: str, t: float) -> bool:
        """Whether the entity sits on so large a share of the alerts that sharing it means nothing."""
        return bool(self.hubs((entity,), t))

    def hubs(self, entities: tuple[str, ...], t: float) -> set[str]:
        """The hubs among `entities`. A reporter is judged in its own cluster; an entity scoped by
        no cluster (a host, a URL) among the alerts that have no cluster label."""
        if not entities:
            return set()
        threshold, seen, edges, clusters = self._hub_threshold(t), self.seen, self.edges, self.clusters
        found = set()
        for entity in entities:
            count = seen.get(entity, 0.0)
            if count > threshold:
                found.add(entity)
            elif len(edges.get(entity, ())) >= MAX_NEIGHBOURS:
                in_cluster = clusters.get(cluster_of_entity(entity), 0.0)
                if count > REPORTER_SHARE * in_cluster and self.decay.value(in_cluster, t) >= HUB_MIN_ALERTS:
                    found.add(entity)
        return found

    def _hub_threshold(self, t: float) -> float:
        """The stored count above which an entity is a hub at `t` (computed once per question)."""
        total = self.total
        if not total or self.decay.value(total, t) < HUB_MIN_ALERTS:
            return math.inf
        return HUB_SHARE * total

    def not_hubs(self, entities: tuple[str, ...], t: float) -> list[str]:
        hubs = self.hubs(entities, t)
        return [entity for entity in entities if entity not in hubs]

    def neighbours(self, entity: str, t: float, limit: int = MAX_NEIGHBOURS) -> list[tuple[str, float]]:
        """The `limit` strongest entities related to `entity` by an edge, hubs left out."""
        row = self.edges.get(entity)
        if not row:
            return []
        # The strongest first, ties in their order (a stable sort, reversed: as by the negated weight).
        strongest = sorted(row.items(), key=itemgetter(1), reverse=True) if len(row) > 1 else list(row.items())
        scale, hubs = self.decay.weight(t), self.hubs(tuple(row), t)
        return [(other, w / scale) for other, w in strongest if other not in hubs][:limit]

    def alerts_on(self, entity: str, t: float) -> float:
        return self.decay.value(self.seen.get(entity, 0.0), t)

    def rescale(self, factor: float) -> None:
        self.total *= factor
        for cluster in self.clusters:
            self.clusters[cluster] *= factor
        for entity in self.seen:
            self.seen[entity] *= factor
        for row in self.edges.values():
            for other in row:
                row[other] *= factor

    def _prune(self) -> None:
        """Keep the `max_entities` most seen entities (and the edges between them)."""
        kept = sorted(self.seen, key=self.seen.__getitem__, reverse=True)[:self.max_entities]
        seen = self.seen = {entity: self.seen[entity] for entity in kept}
        # Dropped in place, the rest keeping its order: most rows name no dropped entity.
        edges = self.edges
        for entity in [entity for entity in edges if entity not in seen]:
            del edges[entity]
        for row in edges.values():
            if not row.keys() <= seen.keys():
                for other in [other for other in row if other not in seen]:
                    del row[other]

    @property
    def size(self) -> tuple[int, int]:
        """(entities, edges)."""
        return len(self.seen), sum(len(row) for row in self.edges.values()) // 2
