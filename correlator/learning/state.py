"""The learned state as plain values, to save in the store and load at start (and to inspect).

Three parts, each saved as one JSON document: `topology` (entities, how many alerts named each, the
edges and the part of each that says what depends on what, the alerts per cluster, each entity's
latest burst, the host names only annotations gave, the workloads of each application),
`cooccurrence` (near and far counts per alert-name pair) and `rates` (starts per alert name and
cluster, the storms' base rates, the storms begun per name, when each cluster was first seen, and
per name when the first cluster it was seen in was). Counts are saved as stored, with the decay's
origin, so loading restores them exactly.
"""

from __future__ import annotations

import msgspec

from correlator.learning.joiner import Learner

FORMAT = 1
PARTS = ("topology", "cooccurrence", "rates")


class TopologyState(msgspec.Struct, forbid_unknown_fields=False):
    total: float
    seen: dict[str, float]
    edges: dict[str, dict[str, float]]
    clusters: dict[str, float] = {}
    bursts: dict[str, tuple[float, float]] = {}  # entity -> (start of its latest burst, count before it)
    prose: dict[str, tuple[str, ...]] = {}  # host named in annotations only -> the naming alert's hosts
    # application -> its workloads, the latest last (None: saved by a version without the index)
    applications: dict[str, list[str]] | None = None
    # entity -> neighbour -> the part of the edge's count that alerts naming one end as what they
    # depend on gave (a state saved without it reads every edge as where a thing runs)
    dependency_edges: dict[str, dict[str, float]] = {}
    placements: dict[str, tuple[str, ...]] = {}  # pod -> the forms of its node (`Topology.place`)
    node_clusters: dict[str, tuple[str, ...]] = {}  # host -> clusters that named it a node (`Topology.name_nodes`)


class CooccurrenceState(msgspec.Struct, forbid_unknown_fields=False):
    pairs: list[tuple[str, str, float, float]]  # a, b, near, far


class RatesState(msgspec.Struct, forbid_unknown_fields=False):
    first_at: float | None  # the storms' first start
    learned_since: float | None
    learned_until: float | None
    rates: dict[str, float]
    storms: dict[str, float] = {}  # storms begun per alert name
    clusters_since: dict[str, float] = {}  # each cluster's first alert learned from
    names_since: dict[str, float] = {}  # per alert name, when the first cluster it was seen in was first seen


class Part(msgspec.Struct, forbid_unknown_fields=False):
    format: int
    origin: float | None  # the decay's origin the counts are scaled to
    body: msgspec.Raw


_encode = msgspec.json.Encoder().encode


def snapshot(learner: Learner) -> dict[str, bytes]:
    """Each part as a JSON document."""
    topology, storms = learner.topology, learner.storms
    if learner.last_at is not None:
        topology.forget_bursts(learner.last_at)
    bodies = {
        "topology": TopologyState(topology.total, topology.seen, topology.edges, topology.clusters, topology.bursts,
                                  topology.prose, {application: list(members) for application, members
                                                   in topology.applications.items()}, topology.dependency_edges,
                                  topology.placements, topology.node_clusters),
        "cooccurrence": CooccurrenceState([(a, b, near, far) for (a, b), (near, far)
                                           in learner.cooccurrence.counts.items()]),
        "rates": RatesState(storms.first_at, learner.first_at, learner.last_at, storms.rates,
                            storms.storms, learner.cluster_since, storms.since),
    }
    return {name: _encode(Part(FORMAT, learner.decay.origin, msgspec.Raw(_encode(body))))
            for name, body in bodies.items()}


def restore(learner: Learner, parts: dict[str, bytes]) -> None:
    """Load saved parts into a fresh learner (parts of another format are ignored: relearned)."""
    decoded = {name: msgspec.json.decode(value, type=Part) for name, value in parts.items() if name in PARTS}
    decoded = {name: part for name, part in decoded.items() if part.format == FORMAT}
    origins = {part.origin for part in decoded.values()}
    if not decoded or len(origins) != 1:
        return
    learner.decay.origin = origins.pop()
    if "topology" in decoded:
        state = msgspec.json.decode(decoded["topology"].body, type=TopologyState)
        topology = learner.topology
        topology.total, topology.seen, topology.edges, topology.clusters, topology.bursts, topology.prose = \
            state.total, state.seen, state.edges, state.clusters, state.bursts, state.prose
        topology.dependency_edges, topology.placements, topology.node_clusters = \
            state.dependency_edges, state.placements, state.node_clusters
        if state.applications is None:
            topology.reindex()
        else:
            topology.applications = {application: dict.fromkeys(members)
                                      for application, members in state.applications.items()}
    if "cooccurrence" in decoded:
        state = msgspec.json.decode(decoded["cooccurrence"].body, type=CooccurrenceState)
        learner.cooccurrence.counts = {(a, b): [near, far] for a, b, near, far in state.pairs}
    if "rates" in decoded:
        state = msgspec.json.decode(decoded["rates"].body, type=RatesState)
        learner.storms.first_at, learner.storms.rates, learner.storms.storms = \
            state.first_at, state.rates, state.storms
        learner.first_at, learner.last_at = state.learned_since, state.learned_until
        learner.cluster_since, learner.storms.since = state.clusters_since, state.names_since


def loaded(parts: dict[str, bytes]) -> Learner:
    """A learner holding a saved state (for inspection: `correlator learned`, the API)."""
    learner = Learner()
    restore(learner, parts)
    return learner


def associations_view(learner: Learner, limit: int, alertname: str = "") -> list[dict]:
    """The significant associations, most significant first, as of the last alert learned from."""
    if learner.last_at is None:
        return []
    return [{"alertnames": list(a.names), "together": round(a.together, 2), "by_chance": round(a.by_chance, 3),
             "lift": round(a.lift, 2), "p_value": float(f"{a.p_value:.3g}")}
            for a in learner.cooccurrence.strongest(learner.last_at, limit, alertname)]


def topology_view(learner: Learner, limit: int, entity: str = "") -> list[dict]:
    """Entities (the most seen first, or those whose value contains `entity`) with their neighbours
    (and whether the edge says only what depends on what: `Topology.by_dependency`), and the
    entities related to them by name (a probed application and its workloads)."""
    if learner.last_at is None:
        return []
    t, topology = learner.last_at, learner.topology
    chosen = sorted((e for e in topology.seen if entity in e.split("|", 2)[2]),
                    key=lambda e: (-topology.seen[e], e))[:limit]
    return [{"entity": e, "alerts": round(topology.alerts_on(e, t), 2), "hub": topology.hub(e, t),
             "related": [{"entity": other, "alerts": round(weight, 2), "dependency": topology.by_dependency(e, other)}
                         for other, weight in topology.neighbours(e, t)],
             "by_name": topology.by_name(e), "runs_on": list(topology.placements.get(e, ()))} for e in chosen]


def size(learner: Learner) -> dict:
    """How much is held in memory: entities, edges, alert-name pairs, remembered starts, the
    workloads indexed under the applications they may be part of and the pods placed on nodes."""
    entities, edges = learner.topology.size
    return {"entities": entities, "edges": edges, "pairs": len(learner.cooccurrence.counts),
            "remembered_starts": sum(len(s) for s in learner.history.values()),
            "remembered_entities": len(learner.history),
            "application_workloads": sum(len(members) for members in learner.topology.applications.values()),
            "placed_pods": len(learner.topology.placements)}
