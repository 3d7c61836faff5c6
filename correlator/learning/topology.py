"""The estate's topology, learned online from the labels it sends.

When one alert's labels name two entities (a pod and its node, an `ip:port` and a node name, a
probe URL and its service), the two are related: an edge. Entities that sit on a large share of
the alerts (a cluster's kube-state-metrics instance, a common job, the `default` namespace, the
only host of a small lab) relate everything to everything, so they are hubs and count as no
evidence. Counts decay in event time; the number of entities and of edges per entity is capped,
the weakest dropped first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from correlator.learning.decay import Decay
from correlator.learning.entities import is_coarse

HUB_SHARE = 0.05  # an entity on more than this share of alerts is a hub...
HUB_MIN_ALERTS = 50.0  # ...once this many alerts (decayed) have been seen
MAX_ENTITIES = 50_000
MAX_NEIGHBOURS = 16  # edges kept per entity (the strongest)


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
        self.seen: dict[str, float] = {}  # entity -> stored count of alerts naming it
        self.edges: dict[str, dict[str, float]] = {}  # entity -> neighbour -> stored count

    def observe(self, entities: tuple[str, ...], t: float) -> None:
        """An alert (a new episode) named these entities at event time `t`."""
        weight = self.decay.weight(t)
        self.total += weight
        seen = self.seen
        for entity in entities:
            seen[entity] = seen.get(entity, 0.0) + weight
        placed = [e for e in entities if not is_coarse(e)]
        for i, entity in enumerate(placed):
            for other in placed[i + 1:]:
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
        return self.seen.get(entity, 0.0) > self._hub_threshold(t)

    def _hub_threshold(self, t: float) -> float:
        """The stored count above which an entity is a hub at `t` (computed once per question)."""
        total = self.total
        if not total or self.decay.value(total, t) < HUB_MIN_ALERTS:
            return math.inf
        return HUB_SHARE * total

    def not_hubs(self, entities: tuple[str, ...], t: float) -> list[str]:
        threshold, seen = self._hub_threshold(t), self.seen
        return [entity for entity in entities if not seen.get(entity, 0.0) > threshold]

    def neighbours(self, entity: str, t: float, limit: int = MAX_NEIGHBOURS) -> list[tuple[str, float]]:
        """The `limit` strongest entities related to `entity` by an edge, hubs left out."""
        row = self.edges.get(entity)
        if not row:
            return []
        strongest = sorted(row.items(), key=lambda item: -item[1]) if len(row) > 1 else list(row.items())
        scale, threshold, seen = self.decay.weight(t), self._hub_threshold(t), self.seen
        return [(other, w / scale) for other, w in strongest if not seen.get(other, 0.0) > threshold][:limit]

    def alerts_on(self, entity: str, t: float) -> float:
        return self.decay.value(self.seen.get(entity, 0.0), t)

    def rescale(self, factor: float) -> None:
        self.total *= factor
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
