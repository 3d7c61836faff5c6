"""The estate's topology, learned online from the labels it sends.

When one alert's labels name two entities (a pod and its node, an `ip:port` and a node name, a
probe URL and its service, a client and the database it names as its peer), the two are related:
an edge. So are the host its labels name and a host its annotations name in a form other alerts'
labels gave (an IP-labelled node-exporter alert whose summary names the node), or that a later
alert's labels give (the node's own first alert, when the machine had alerted by its IP only). A
probed URL's application and the workloads named after it (`shop.example.com` and `shop-api`) are
related by their names, which no one alert gives together (`_applications`). A
workload runs on many hosts, so an alert that names a pod relates its workload and its
host only through the pod (two hops, which the joining stage does not follow). Entities that sit on
a large share of the alerts (a cluster's kube-state-metrics instance, a common job, the `default` namespace, the
only host of a small lab) relate everything to everything, so they are hubs and count as no
evidence. So is a reporter: an entity on a large share of its own cluster's alerts that relates
more entities than the topology keeps for it (kube-state-metrics, a DaemonSet's exporter, named by
the alerts about every pod and node they report on). Not so the entities of a cascade while it
unfolds (a burst of up to 50 alerts on them, most of a quiet estate's alerts for ten minutes): its
later alerts would lose the relation its first ones made. Counts decay in event time; the number of
entities and of edges per entity is capped, the weakest dropped first.

An edge says where a thing runs (a pod and its node, a service and its machine) or, when only
alerts naming one end as what they depend on gave it (a client's `upstream`, `peer` or
`server_address`: `dependencies_of`), what a thing depends on. The two are kept apart
(`by_dependency`): a machine down explains what runs on it, not every client of the database on it,
and a client's service does not run on each machine it calls.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Container, Mapping

from correlator.learning.cooccurrence import WINDOW
from correlator.learning.decay import Decay
from correlator.learning.entities import (HOST, NAMESPACE, POD, TARGET, WORKLOAD, cluster_of_entity, host_forms,
                                          is_coarse)

HUB_SHARE = 0.05  # an entity on more than this share of alerts is a hub...
HUB_MIN_ALERTS = 50.0  # ...once this many alerts (decayed) have been seen
REPORTER_SHARE = 0.15  # an entity on more than this share of its cluster's alerts (once it has seen
# HUB_MIN_ALERTS) that relates MAX_NEIGHBOURS entities or more is a reporter: a hub
BURST = WINDOW  # the alerts naming an entity within this of the first of a burst (a cascade on it, up
# to HUB_MIN_ALERTS of them) count towards its share only once the burst is over
MAX_ENTITIES = 50_000
MAX_NEIGHBOURS = 16  # edges kept per entity (the strongest)
NAMED_CHARS = 512  # characters of each annotation read for the hosts it names
PROSE = 4096  # host names annotations gave that no label has yet, remembered (the latest)
PLACEMENTS = 200_000  # pods whose node a placement source told (the latest), remembered; and nodes named
NODE_CLUSTERS = 8  # clusters remembered per node name (the latest)
_POD = f"{POD}|"
_WORKLOAD = f"{WORKLOAD}|"
_TARGET = f"{TARGET}|"
_NAMESPACE = f"{NAMESPACE}|"
MAX_APPLICATIONS = 20_000  # applications whose workloads are indexed (the latest named)
_HOST = f"{HOST}|"
_WORKLOAD_AND_HOST = {WORKLOAD, HOST}
# A host's name in prose: a word with a digit or a dot in it (`k8s-w27-ams1`, `db1.example.com`); a
# bare word (`cdn-edge`) is as likely a namespace or a service as the host of that name.
_HOST_WORD = re.compile(r"(?<![\w.:-])(?=[\w:-]*[0-9.])[a-z0-9][a-z0-9_.:-]*[a-z0-9]")


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
        self.bursts: dict[str, tuple[float, float]] = {}  # entity -> (start of its latest burst, stored
        # count before it)
        self.edges: dict[str, dict[str, float]] = {}  # entity -> neighbour -> stored count
        # The part of an edge's count that alerts naming one end as what they depend on gave (only
        # edges such alerts gave): the edge says what depends on what where that is all of it.
        self.dependency_edges: dict[str, dict[str, float]] = {}
        # A host named in an alert's annotations before any label named it -> that alert's own hosts
        self.prose: dict[str, tuple[str, ...]] = {}
        # A pod -> the forms of the node it runs on, as a placement source (kube_pod_info) told: the
        # public rule sets' pod alerts name no node (`place`). The latest told last.
        self.placements: dict[str, tuple[str, ...]] = {}
        # A host -> the clusters whose alerts named it as a Kubernetes node (a node is named within
        # its cluster: `worker-1` in two clusters is two machines). The latest named last.
        self.node_clusters: dict[str, tuple[str, ...]] = {}
        # An application (a workload entity that a probed URL may name) -> the workloads named after
        # it or named beside its namespace, the latest last (`_applications`); saved with the rest,
        # or rebuilt from `seen` when a saved state has none (`reindex`).
        self.applications: dict[str, dict[str, None]] = {}

    def observe(self, entities: tuple[str, ...], t: float, cluster: str = "",
                dependencies: tuple[str, ...] = ()) -> None:
        """An alert (a new episode) of `cluster` named these entities at event time `t`, of which
        `dependencies` as what it depends on."""
        weight = self.decay.weight(t)
        self.total += weight
        seen = self.seen
        self.clusters[cluster] = self.clusters.get(cluster, 0.0) + weight
        bursts = self.bursts
        for entity in entities:
            count = seen.get(entity, 0.0)
            burst = bursts.get(entity)
            if burst is None or t - burst[0] > BURST:
                bursts.pop(entity, None)
                bursts[entity] = (t, count)  # last: the bursts stay in the order they began
            seen[entity] = count + weight
        placed = [e for e in entities if not is_coarse(e)]
        # A workload runs on many hosts: where the alert names the pod, the pod relates the two.
        by_pod = any(e.startswith(_POD) for e in placed)
        for i, entity in enumerate(placed):
            for other in placed[i + 1:]:
                if by_pod and {entity.split("|", 1)[0], other.split("|", 1)[0]} == _WORKLOAD_AND_HOST:
                    continue
                by_dependency = (entity in dependencies) != (other in dependencies)
                self._connect(entity, other, weight, by_dependency)
                self._connect(other, entity, weight, by_dependency)
        self._index_applications(entities, placed)
        if len(seen) > self.max_entities * 1.2:
            self._prune()

    def _index_applications(self, entities: tuple[str, ...], placed: list[str]) -> None:
        """Each workload under the applications it may be part of: those it is named after and the
        namespaces the alert names (`applications_of`)."""
        namespaces = namespaces_of(entities)
        for entity in placed:
            if entity.startswith(_WORKLOAD):
                for application in applications_of(entity, namespaces):
                    self._index(application, entity)

    def _index(self, application: str, workload: str) -> None:
        """The workload under the application, the latest last; both bounded, the oldest dropped."""
        members = self.applications.get(application)
        if members is None:
            if len(self.applications) >= MAX_APPLICATIONS:
                del self.applications[next(iter(self.applications))]
            members = self.applications[application] = {}
        members.pop(workload, None)
        members[workload] = None
        if len(members) > MAX_NEIGHBOURS:
            del members[next(iter(members))]

    def _probed(self, entity: str) -> bool:
        """Whether a probe's alert named the workload as its URL's host (it relates to a URL)."""
        return any(other.startswith(_TARGET) for other in self.edges.get(entity, ()))

    def _applications(self, entities: tuple[str, ...], related: dict[str, str]) -> None:
        """The application hops of a probe's alert (naming `entities`) into `related`. A probed
        URL's host names the application behind it (`https://shop.example.com/`: the application
        `shop`), or on a shared host its first path segment (`https://www.example.com/shop/healthz`,
        entities.py), and an application's workloads are named after it (`shop-api`, `shop-worker`) or
        run in its namespace (`shop`), as Kubernetes estates name them. No alert names a probe's
        URL and the workloads behind it together (the probe's names the URL, the workloads' name
        themselves), so no edge relates them: the names do. The probe's alert relates to the
        workloads of its application, the way a cause is found for it. A workload's alert does not
        join the probes of its application: a probe joined to one workload's fault would take in
        the faults of all its siblings (on the benchmark's medium streams that cost twice the
        precision for no F1). It only takes in an incident its probes hold alone
        (`Learner._probes_before`). An application no probe named relates nothing (`shop-api` and
        `shop-worker` are siblings, not one thing)."""
        if not names_a_probe(entities):
            return
        for entity in entities:
            if entity.startswith(_WORKLOAD) and entity in related:
                for member in self.applications.get(entity, ()):
                    related.setdefault(member, entity)

    def by_name(self, entity: str) -> list[str]:
        """The entities related to `entity` by their names, to inspect: a probed application's
        workloads, or the probed applications a workload is indexed under (`_applications`)."""
        if not entity.startswith(_WORKLOAD):
            return []
        found = list(self.applications.get(entity, ())) if self._probed(entity) else []
        return found + [application for application, members in self.applications.items()
                        if entity in members and self._probed(application)]

    def probed_applications(self, workload: str, namespaces: tuple[str, ...], among: Container[str]) -> list[str]:
        """The applications a probe named that the workload entity is part of (`applications_of`),
        of those in `among` (asked first: most applications never alerted)."""
        if not workload.startswith(_WORKLOAD):
            return []
        return [application for application in applications_of(workload, namespaces)
                if application in among and self._probed(application)]

    def reindex(self) -> None:
        """The applications' workloads again, from the entities seen (a state saved without its
        index): by their names; a workload joins its namespace's application again when it next
        alerts."""
        self.applications = {}
        for entity in self.seen:
            if entity.startswith(_WORKLOAD):
                for application in _applications_of(entity):
                    self._index(application, entity)

    def named(self, entities: tuple[str, ...], annotations: Mapping[str, str] | None) -> tuple[str, ...]:
        """The alert's entities with the other forms of its hosts: those its annotations name in
        the words of other alerts' labels (a node-exporter alert labelled by IP whose summary names
        the node, a cloud instance id whose summary names the machine), and, for a host its labels
        name for the first time, the hosts of the alerts whose annotations named it before. The
        alert is about them too, and observing it teaches that the forms are one machine. A name
        no label has given is not taken from prose: it waits (up to PROSE of them) for one."""
        seen, prose, placements, found = self.seen, self.prose, self.placements, dict.fromkeys(entities)
        for entity in entities:
            if entity in prose and entity not in seen:
                found.update(dict.fromkeys(prose.pop(entity)))
            if entity in placements:  # a pod's alert is about the node it runs on too
                found.update(dict.fromkeys(placements[entity]))
        named = [host for text in (annotations or {}).values() for host in _hosts_in(text) if host not in found]
        for host in named:
            if host in seen:
                found[host] = None
        waiting = [host for host in named if host not in seen]
        hosts = tuple(entity for entity in entities if entity.startswith(_HOST)) if waiting else ()
        for host in waiting if hosts else ():
            prose.pop(host, None)
            prose[host] = hosts  # last: the oldest is forgotten first
            if len(prose) > PROSE:
                del prose[next(iter(prose))]
        return tuple(found) if len(found) > len(entities) else entities

    def place(self, pod: str, node: tuple[str, ...]) -> None:
        """The pod entity runs on the host entities `node` (its forms), as a placement source told;
        an empty `node`: the pod is gone."""
        placements = self.placements
        placements.pop(pod, None)
        if node:
            placements[pod] = node  # last: the oldest is forgotten first
            if len(placements) > PLACEMENTS:
                del placements[next(iter(placements))]

    def name_nodes(self, nodes: frozenset[str] | tuple[str, ...], cluster: str) -> None:
        """Alerts of `cluster` named these hosts as Kubernetes nodes."""
        node_clusters = self.node_clusters
        for node in nodes:
            clusters = node_clusters.pop(node, ())
            if cluster not in clusters:
                clusters = (*clusters[-(NODE_CLUSTERS - 1):], cluster)
            node_clusters[node] = clusters  # last: the oldest is forgotten first
            if len(node_clusters) > PLACEMENTS:
                del node_clusters[next(iter(node_clusters))]

    def _connect(self, entity: str, other: str, weight: float, by_dependency: bool) -> None:
        row = self.edges.get(entity)
        if row is None:
            row = self.edges[entity] = {}
        row[other] = row.get(other, 0.0) + weight
        if by_dependency:
            dependencies = self.dependency_edges.setdefault(entity, {})
            dependencies[other] = dependencies.get(other, 0.0) + weight
        if len(row) > MAX_NEIGHBOURS:
            weakest = min(row, key=row.__getitem__)
            del row[weakest]
            self._forget_dependency(entity, weakest)

    def _forget_dependency(self, entity: str, other: str) -> None:
        dependencies = self.dependency_edges.get(entity)
        if dependencies is not None and dependencies.pop(other, None) is not None and not dependencies:
            del self.dependency_edges[entity]

    def by_dependency(self, entity: str, other: str) -> bool:
        """Whether the edge between the two says only what depends on what: every alert that gave
        it named one of them as what it depends on."""
        dependencies = self.dependency_edges.get(entity)
        weight = dependencies.get(other) if dependencies is not None else None
        return weight is not None and weight >= self.edges.get(entity, {}).get(other, math.inf)

    def hub(self, entity: str, t: float) -> bool:
        """Whether the entity sits on so large a share of the alerts that sharing it means nothing."""
        return self._hub_test(t)(entity)

    def _hub_test(self, t: float) -> Callable[[str], bool]:
        """Whether an entity is a hub at `t`. A reporter is judged in its own cluster; an entity
        scoped by no cluster (a host, a URL) among the alerts that have no cluster label. Neither
        counts the alerts of a burst on the entity until it is over."""
        threshold, seen, edges, clusters = self._hub_threshold(t), self.seen, self.edges, self.clusters
        bursts, decay = self.bursts, self.decay
        cascade = HUB_MIN_ALERTS * decay.weight(t)  # stored: a burst larger is the entity's usual share

        def is_hub(entity: str) -> bool:
            count = seen.get(entity, 0.0)
            full = len(edges.get(entity, ())) >= MAX_NEIGHBOURS
            if count <= threshold and not full:  # most entities: a burst would only lower the count
                return False
            burst = bursts.get(entity)
            if burst is not None and t - burst[0] <= BURST and count - burst[1] <= cascade:
                count = burst[1]  # a cascade's own alerts do not make its entities hubs
            if count > threshold:
                return True
            if full:
                in_cluster = clusters.get(cluster_of_entity(entity), 0.0)
                return count > REPORTER_SHARE * in_cluster and decay.value(in_cluster, t) >= HUB_MIN_ALERTS
            return False
        return is_hub

    def _hub_threshold(self, t: float) -> float:
        """The stored count above which an entity is a hub at `t` (computed once per question)."""
        total = self.total
        if not total or self.decay.value(total, t) < HUB_MIN_ALERTS:
            return math.inf
        return HUB_SHARE * total

    def related(self, entities: tuple[str, ...], t: float, hops: int,
                dependencies: tuple[str, ...] = ()) -> dict[str, str]:
        """What an alert naming `entities` (of which `dependencies` as what it depends on) relates
        to: each of them but the hubs (-> ""), and the `hops` strongest neighbours of each that is
        not coarse (-> the entity it is a hop from). An alert naming its own machine is about it, not
        about the other machines its service runs on or calls."""
        is_hub, edges = self._hub_test(t), self.edges
        related = dict.fromkeys([entity for entity in entities if not is_hub(entity)], "")
        own_host = any(entity.startswith(_HOST) and entity not in dependencies for entity in entities)
        for entity in list(related):
            row = edges.get(entity)
            if row and not is_coarse(entity):
                by_workload = own_host and entity.startswith(_WORKLOAD)
                for other in _strongest(row, hops, is_hub):
                    if not (by_workload and other.startswith(_HOST)):
                        related.setdefault(other, entity)
        self._applications(entities, related)
        return related

    def neighbours(self, entity: str, t: float, limit: int = MAX_NEIGHBOURS) -> list[tuple[str, float]]:
        """The `limit` strongest entities related to `entity` by an edge, hubs left out."""
        row = self.edges.get(entity)
        if not row:
            return []
        scale = self.decay.weight(t)
        return [(other, row[other] / scale) for other in _strongest(row, limit, self._hub_test(t))]

    def alerts_on(self, entity: str, t: float) -> float:
        return self.decay.value(self.seen.get(entity, 0.0), t)

    def forget_bursts(self, t: float) -> None:
        """Drop the bursts over by `t` (an entity without one counts all its alerts): the first ones,
        as they began in event time (one over that a restored state holds out of order counts for
        nothing: it is over)."""
        bursts, over = self.bursts, []
        for entity, (start, _) in bursts.items():
            if t - start <= BURST:
                break
            over.append(entity)
        for entity in over:
            del bursts[entity]

    def rescale(self, factor: float) -> None:
        self.total *= factor
        self.bursts = {entity: (start, count * factor) for entity, (start, count) in self.bursts.items()}
        for cluster in self.clusters:
            self.clusters[cluster] *= factor
        for entity in self.seen:
            self.seen[entity] *= factor
        for rows in (self.edges, self.dependency_edges):
            for row in rows.values():
                for other in row:
                    row[other] *= factor

    def _prune(self) -> None:
        """Keep the `max_entities` most seen entities (and the edges between them)."""
        kept = sorted(self.seen, key=self.seen.__getitem__, reverse=True)[:self.max_entities]
        seen = self.seen = {entity: self.seen[entity] for entity in kept}
        self.bursts = {entity: burst for entity, burst in self.bursts.items() if entity in seen}
        # Dropped in place, the rest keeping its order: most rows name no dropped entity.
        for edges in (self.edges, self.dependency_edges):
            for entity in [entity for entity in edges if entity not in seen]:
                del edges[entity]
            for row in edges.values():
                if not row.keys() <= seen.keys():
                    for other in [other for other in row if other not in seen]:
                        del row[other]
        self.dependency_edges = {entity: row for entity, row in self.dependency_edges.items() if row}
        # The index keeps what it learned of namespaces, which the names alone do not tell.
        applications = ((application, {w: None for w in members if w in seen})
                        for application, members in self.applications.items())
        self.applications = {application: members for application, members in applications if members}

    @property
    def size(self) -> tuple[int, int]:
        """(entities, edges)."""
        return len(self.seen), sum(len(row) for row in self.edges.values()) // 2


def named_after(workload: str, application: str) -> bool:
    """Whether the workload entity is named after the application (`shop-api` after `shop`)."""
    return application in _applications_of(workload) if workload.startswith(_WORKLOAD) else False


def names_a_probe(entities: tuple[str, ...]) -> bool:
    """Whether an alert naming `entities` is a probe's: it names a probed URL."""
    return any(entity.startswith(_TARGET) for entity in entities)


def namespaces_of(entities: tuple[str, ...]) -> tuple[str, ...]:
    """The namespace entities among an alert's entities."""
    return tuple(entity for entity in entities if entity.startswith(_NAMESPACE))


@lru_cache(maxsize=16384)  # asked of every workload an alert names, with the namespaces it names
def applications_of(workload: str, namespaces: tuple[str, ...]) -> tuple[str, ...]:
    """The applications a workload entity may be part of: those it is named after
    (`_applications_of`), and the namespaces of its cluster among `namespaces` (namespace
    entities), as workloads (`namespace|eu|shop`: the application `workload|eu|shop`)."""
    heads = _applications_of(workload)
    if not namespaces:
        return heads
    name_at = workload.index("|", len(_WORKLOAD)) + 1
    own = _NAMESPACE + workload[len(_WORKLOAD):name_at]  # `namespace|<its cluster>|`
    found = [workload[:name_at] + namespace[len(own):] for namespace in namespaces if namespace.startswith(own)]
    return heads + tuple(application for application in found if application != workload and application not in heads)


@lru_cache(maxsize=16384)  # asked of every workload an alert names, and alerts repeat their workloads
def _applications_of(workload: str) -> tuple[str, ...]:
    """The applications a workload entity may be part of: each head of its name before a hyphen
    (`shop-api-v2`: `shop`, `shop-api`) or an underscore (Compose and Nomad names: `shop_api`), as
    workloads of its cluster."""
    name_at = workload.index("|", len(_WORKLOAD)) + 1
    return tuple(workload[:at] for at in range(name_at + 1, len(workload)) if workload[at] in "-_")


def _strongest(row: dict[str, float], limit: int, is_hub: Callable[[str], bool]) -> list[str]:
    """The `limit` strongest neighbours in a row of edges that are no hubs, the strongest first and
    ties in their order (a stable sort, reversed: as by the negated weight)."""
    found = []
    for other in sorted(row, key=row.__getitem__, reverse=True) if len(row) > 1 else row:
        if not is_hub(other):
            found.append(other)
            if len(found) == limit:
                break
    return found


@lru_cache(maxsize=4096)  # an alert firing again, and the alerts of one rule, say the same
def _hosts_in(text: str) -> tuple[str, ...]:
    """The host entities a text could name (`Topology.named` keeps those some label gave)."""
    if "://" in text[:12]:  # a link (runbook, dashboard), not prose
        return ()
    found: dict[str, None] = {}
    for word in _HOST_WORD.findall(text[:NAMED_CHARS].lower()):
        if word.isdigit():  # a count or a code, not a machine
            continue
        for form in host_forms(word) if ":" in word or "." in word else (word,):
            found[f"{HOST}||{form}"] = None
    return tuple(found)
