"""The learned joining stage: an alert no rule placed joins an open incident only on evidence.

Evidence is a relation to one specific member of the incident, never the incident as a whole:

- a **relation** between the two alerts' entities: the same entity, or one hop of the learned
  topology (a pod and its node). Hubs are no relation; a namespace or job is a coarse one. A
  datastore its clients name (a hub once they are many), and a service named as a dependency from
  another cluster than the one it runs in, relate only by a `relate` rule; a hop that says only what
  a service depends on (`Topology.by_dependency`), only by one that follows dependencies; a
  Kubernetes node, only alerts of its own cluster (`_machines_of_two_clusters`);
- and a **reason** the two alert names belong together:
  1. a `relate` rule (prior knowledge of causes, rules/40-relations.yaml), within its window;
  2. a learned association (cooccurrence.py) significant against chance on those entities;
  3. or, when the related entities are quiet (chance, from their long-run and recent rates, would
     start another alert on them as close to the alert less than `QUIET` of the time) in a cluster
     that is not busy, closeness alone.

A pair the estate shows to be independent (enough co-occurrences, no more than chance) is never
joined, whatever the rule or closeness says.

Cluster and time alone are never evidence. The strongest reason wins, then the closest relation,
then the most recent member; the explanation names the member, the entity and the evidence.

A storm (storms.py) is the one exception: its alerts join the storm's incident whatever they name.
An alert a relate rule makes the cause of a storm's member joins it only where it could have caused
the storm: no later than EFFECT_LEAD after the storm began.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Mapping

from correlator.domain import JoinReason
from correlator.domain.placements import Placements
from correlator.learning.cooccurrence import CONTROL_WINDOWS, GAP, LOOKBACK, WINDOW, Association, Cooccurrence, \
    pair_of
from correlator.learning.addresses import Addresses, Tie
from correlator.learning.decay import Decay
from correlator.learning.entities import HOST, POD, WORKLOAD, cluster_of, datastore_of, dependencies_of, describe, \
    entities_of, host_forms, is_coarse, kind_of, named_cluster, peer_addresses
from correlator.learning.storms import LATTICE_TOLERANCE, Storms
from correlator.learning.topology import Topology, named_after, names_a_probe, namespaces_of
from correlator.rules.roles import RelateRoles
from correlator.rules.schema import RelateRule

CLOSE = 300.0  # seconds between two alerts' startsAt within which a learned association or closeness
# alone relates them: an association counts starts within WINDOW, but says nothing of which of a busy
# entity's alerts minutes apart is the related one, and closeness alone is closeness in time too
QUIET = 0.05  # chance that another alert starts on the related entities as close to the alert as the two
# alerts are (`_coincidence_span`), below which closeness alone relates them
SIMULTANEOUS = 60.0  # seconds: starts this close are one moment (a rule's `for` and an evaluation apart)
QUIET_CLUSTER = 15  # alerts started in the cluster per window (`_pace`), above which closeness alone is
# not evidence however quiet the entities look (a busy stream brings coincidences to entities it has
# no history of yet), nor a relate rule before its alerts' rates are (RULE_OBSERVED), nor a namespace
# a learned association
CALM_CLUSTER = 8.0  # alerts per window a cluster starts over the long run, above which closeness alone
# relates only alerts of one evaluation: an entity there with no history to measure yet looks quiet, and
# two alerts on it minutes apart were mostly unrelated (docs/learning.md)
CALM_FLOOR = 3 * WINDOW  # seconds: a cluster's long-run pace is read over at least this (a cascade in its
# first minutes is one burst, not its pace)
CROWD_SHARE = 0.02  # of its cluster's long-run pace, the least chance brings an alert's related entities:
# an entity the learner has no history of is not quieter than one of fifty sharing the cluster's alerts
RULE_CHANCE = 1.0  # in a quiet cluster, a relate rule holds alone on a relation quieter than this per window;
COINCIDENCES = 0.25  # in a busy one, only where chance brings fewer of its alerts than this within its window
RULE_OBSERVED = 3 * WINDOW  # seconds a busy cluster is observed before a relate rule holds there: the last
# window's starts are the candidates, and the two before them give the rule's alerts a rate
CLUSTER_BUSY = 0.25  # cluster-scoped relate rules hold for names quieter than this per window
FIRST_SEEN_FLOOR = 300.0  # seconds: in a first window (the learner's, a cluster's), a pace is read over at
# least this (over its first seconds, two alerts would make any cluster look busy)
CLUSTER_LEAD = 120.0  # seconds an effect may start before its cause's alert, across a cluster
EFFECT_LEAD = 120.0  # seconds an effect may start before its cause on a related entity, whether the
# cause joins the effect's incident or takes it in: a cause's alert lags its effects' by its `for` and an
# evaluation; the effects that started earlier within a rule's window were mostly other faults' on the
# busy benchmark streams (docs/learning.md)
CLUSTER_HISTORY = 512  # starts of cluster-scoped relate rules remembered per cluster
MAX_HOPS = 8  # neighbours followed per entity (the strongest)
HISTORY = 64  # starts remembered per entity
CANDIDATES = 16  # the most recent starts per related entity a new alert is compared with
MAX_HISTORY_ENTITIES = 50_000
SWEEP_EVERY = 4096  # alerts between sweeps of forgotten entities
PEER_CLUSTERS = 1  # a service name that runs in more clusters than this is each one's own (a `redis` in
# every cluster, a service in each region): a client elsewhere naming it says nothing of which one failed
CLIENT_CLUSTERS = 8  # clusters of a service's clients remembered (the first ones)
MAX_PEER_NAMES = 20_000  # service names remembered for that (the earliest seen forgotten first, by the sweep)
_WORKLOAD = f"{WORKLOAD}|"
_HOST = f"{HOST}|"
_POD = f"{POD}|"
# An alert's own start further than this from its receipt (a sender's clock, or a start in 1970)
# says nothing of a storm now: it counts as this far.
START_HORIZON = 86400.0


@dataclass(slots=True, eq=False)
class Start:
    """One alert episode's start, as the learned stages remember it."""

    at: float  # when it was received
    started: float  # its own startsAt (bounded): delivery delays it by up to a group_interval
    name: str
    key: tuple  # (fingerprint, startsAt): the episode
    causes: frozenset[str]  # relate rules it is a cause of
    effects: frozenset[str]  # relate rules it is an effect of
    cluster: str = ""  # its cluster (`cluster_of`)
    named_cluster: str = ""  # the cluster a cluster label names (`named_cluster`: no site)
    nodes: frozenset[str] = frozenset()  # the hosts it names as Kubernetes nodes (`_nodes_of`)
    dependencies: tuple[str, ...] = ()  # what it names as what it depends on (`dependencies_of`)
    credited: set | None = None  # (name, window) pairs it was counted with (cooccurrence.py)


@dataclass(frozen=True, slots=True)
class Join:
    key: tuple  # the member the alert relates to (or the storm's first alert)
    reason: JoinReason  # RELATED or STORM (ABSORBED in an Absorption)
    rule: str  # the relate rule, "learned", "quiet entity" or "storm"
    labels: dict[str, str]
    detail: str
    # A storm's: episodes whose incidents belong to this one (its first alerts, in incidents opened
    # `since`, the storm's first start). A relation's: the other members the alert relates to.
    absorb: tuple[tuple, ...] = ()
    since: float = 0.0
    bridges: bool = False  # a storm's in a quiet cluster: those incidents, or its own, may hold other names
    # A storm's: the alert's relation to members of other incidents (its effects), whose incidents
    # follow it where it relates to every alert of them.
    relation: Join | None = None


@dataclass(frozen=True, slots=True)
class Absorption:
    """An open incident that a new alert explains entirely: each member an effect of the alert."""

    incident: str
    effects: dict[tuple, Join]  # each member -> how the alert explains it (reason ABSORBED)


@dataclass(slots=True)
class _Scan:
    key: tuple
    start: Start
    cluster: str
    entities: tuple[str, ...]
    related: dict[str, str]  # related entity -> the alert's own entity it hops from ("" for itself)
    near: list[tuple[Start, str, bool]]  # starts on related entities within the longest window, with the
    # entity and whether it is measured (its history reaches the control windows)
    far: list[tuple[Start, int]]  # starts in the control windows, with the window's number (1..)
    chance: dict[str, float]  # related entity -> starts per window there by chance
    elapsed: float  # seconds the related entities' starts were counted over (`Learner._rule_chance`)
    rule_chances: dict[str, float]  # relate rule -> its starts per window on the related entities (asked once)
    crowd: float  # the same, summed over the related entities (but namespaces), one moment at a time in a
    # quiet cluster (where closeness asks)
    cluster_recent: int  # alerts started in the alert's cluster within the last window
    quiet: bool  # the cluster's pace is at most QUIET_CLUSTER alerts per window (`_pace`)
    observed: float  # seconds the learner has observed the cluster for
    associations: dict[str, Association | None]  # member name -> the learned association (asked once)
    dependencies: tuple[str, ...]  # the entities it names as what it depends on (dependencies_of)
    hubs: tuple[str, ...]  # of those, the hubs: related by a relate rule only
    addressed: tuple[str, str, str] | None  # what it adds to the recent datastore starts (addresses.py)
    ties: dict[str, Tie]  # related entity -> the tie of a datastore's address that relates it
    calm: bool  # the cluster's long-run pace is at most CALM_CLUSTER alerts per window

    @property
    def measured(self) -> bool:
        """The learner has observed the cluster for a LOOKBACK: its entities' rates are measured."""
        return self.observed >= LOOKBACK


class Learner:
    def __init__(self, relations=(), decay: Decay | None = None):
        self.decay = decay or Decay()
        self.topology = Topology(self.decay)
        self.cooccurrence = Cooccurrence(self.decay)
        self.storms = Storms(self.decay)
        # entity -> its remembered starts; the entity with the latest start last (starts come in event
        # time, so the sweep forgets from the front)
        self.history: dict[str, list[Start]] = {}
        self.cluster_history: dict[str, list[Start]] = {}  # starts of cluster-scoped relate rules
        self.cluster_recent: dict[str, deque[float]] = {}  # cluster -> the starts within the last window
        self.cluster_since: dict[str, float] = {}  # cluster -> its first alert learned from
        # A service's name -> the clusters whose alerts are about it, and those whose alerts name it as
        # what they depend on: a client in one cluster names the database that runs in another by name.
        self.serving: dict[str, dict[str, None]] = {}
        self.depending: dict[str, dict[str, None]] = {}
        self.addresses = Addresses(WINDOW)
        self._scan: _Scan | None = None
        self._learned = 0
        self.first_at: float | None = None  # the first alert learned from
        self.last_at: float | None = None  # the last one
        self._stormed: tuple | None = None  # the alert `place` put in a storm
        self._credited_at: dict[tuple, float] = {}  # (pair, window) -> when it was last counted
        self.set_relations(relations)

    def set_relations(self, relations) -> None:
        """Put the `relate` rules in force (at start and on every rule reload)."""
        self.relations = {rule.name: rule for rule in relations}
        self._roles = RelateRoles(relations)  # the relate rules an alert is a cause and an effect of
        self._reach = max([WINDOW, *(r.window for r in relations if r.scope == "entity" and not r.forbid)])
        self.addresses.reach = self._reach
        self._cluster_rules = frozenset(r.name for r in relations if r.scope == "cluster" and not r.forbid)
        self._cluster_reach = max([0.0, *(r.window for r in relations if r.scope == "cluster" and not r.forbid)])
        self._entity_rules = frozenset(r.name for r in relations if r.scope == "entity" and not r.forbid)
        self._forbidding = frozenset(r.name for r in relations if r.forbid)
        self._explaining = self._entity_rules | self._cluster_rules
        self._between: dict[tuple, tuple[bool, tuple[str, ...]]] = {}
        self._backgrounds: dict[str, _Background] = {}  # cluster -> its starts in the control windows

    # -- the joining stage ------------------------------------------------------------------

    def place(self, labels: Mapping[str, str], key: tuple, t: float, started: float,
              is_open: Callable[[tuple], bool], annotations: Mapping[str, str] | None = None) -> Join | None:
        """Which member of an open incident this new alert (received at `t`, started at `started`)
        relates to, with the evidence; None: no evidence (it opens an incident of its own)."""
        started = _bounded(started, t)
        scan = self._scanned(labels, key, t, started, annotations)
        best, best_rank, evidenced = None, None, []
        for start, entity, _ in scan.near:
            found = self._evidence(scan, start, entity, t)  # most candidates have none: asked first
            if found is not None and is_open(start.key):
                evidenced.append(start.key)
                if best_rank is None or found[0] > best_rank:
                    best, best_rank = (start, entity, found[1], found[2]), found[0]
        if best is None:
            return self._cluster_relation(scan, t, is_open) \
                or self._storm(scan, key, started, is_open)
        start, entity, rule, evidence = best
        relation = Join(start.key, JoinReason.RELATED, rule, {kind_of(entity): entity.split("|", 2)[2]},
                        f"related to {start.name} ({start.key[0]}): {_relation(scan, entity, self.topology)}; {evidence}",
                        tuple(k for k in evidenced if k != start.key))
        if rule in scan.start.causes and rule in start.effects \
                and self.storms.raging(scan.start.name, scan.cluster, scan.start.started):
            # The member is the alert's effect. An alert in a storm of its name (one cause reaching
            # many entities at once: an NFS server's clients all finding their mounts stale) joins
            # the storm, and the effect's incident follows it: joining the effect would split the storm.
            storm = self._storm(scan, key, started, is_open)
            if storm is not None:
                return replace(storm, relation=replace(relation, absorb=tuple(evidenced)))
        return relation

    def _storm(self, scan: _Scan, key: tuple, started: float, is_open) -> Join | None:
        name = scan.start.name
        storm = self.storms.check(name, scan.cluster, started, scan.dependencies, self.cluster_since.get(scan.cluster))
        if storm is None or not is_open(storm.key):
            return None
        self._stormed = key
        return Join(storm.key, JoinReason.STORM, "storm", {"alertname": name},
                    f"storm: {storm.alerts + 1} {name} alerts at once, {storm.expected:.3f} expected from its "
                    f"base rate", self.storms.taken, storm.first_at, scan.quiet)

    def _evidence(self, scan: _Scan, start: Start, entity: str, t: float) -> tuple[tuple, str, str] | None:
        """(rank, rule, evidence) of relating the alert to `start` on `entity`, or None."""
        if _machines_of_two_clusters(scan, start, entity, self.topology.node_clusters):
            return None
        age = t - start.at
        forbidden, rules = self._rules_between(scan.start, start)
        if forbidden or (not rules and (age > WINDOW or abs(scan.start.started - start.started) > CLOSE)):
            return None  # nothing below could relate them
        association = self._association(scan, start.name, t)
        if association is not None and association.independent:
            return None  # the estate's evidence overrides priors and closeness alike
        learned = association is not None and association.significant
        gap = abs(scan.start.started - start.started)
        quiet_cluster = scan.quiet  # closeness asks nothing more of a busy one
        # ...and of one that is not calm, alerts of one evaluation (minutes apart, they were mostly not one fault's)
        by_closeness = quiet_cluster and (scan.calm or gap <= LATTICE_TOLERANCE)
        span, tick = self._coincidence_span(scan, start, gap) if quiet_cluster else (None, 0.0)
        if not rules and not learned and not (by_closeness and _quiet(scan.crowd, span)):
            return None  # the quiet-entity test below fails whatever the closeness (most candidates)
        closeness, chance = self._closeness(scan, entity)
        name = self._rule_relating(scan, start, entity, rules, closeness, chance, learned, EFFECT_LEAD)
        if name is not None:
            # Of members as close, the alert's cause before its effects: the effects' incidents follow
            # it into the cause's (`absorb`), while the cause's incident holds more than it explains.
            cause = name in start.causes and name in scan.start.effects
            return (3, closeness, cause, start.at), name, self._rule_evidence(scan, name, chance, association, learned)
        if age > WINDOW or entity in scan.hubs:
            return None
        if gap > CLOSE:
            return None
        if learned and (closeness or quiet_cluster):
            return (2, closeness, -association.p_value, start.at), "learned", f"learned: {association.describe()}"
        if closeness and by_closeness and _quiet(scan.crowd, span):
            apart = f"at one evaluation (every {tick:g}s)" if tick else f"{gap:.0f}s apart"
            return (1, closeness, start.at), "quiet entity", \
                f"quiet entities: {scan.crowd:.2f} alerts per {WINDOW / 60:.0f}m there by chance, {apart}"
        return None

    def _coincidence_span(self, scan: _Scan, start: Start, gap: float) -> tuple[float, float]:
        """(the seconds within which chance would have to start another alert on the related
        entities to come as close to the alert as `start` did, the evaluation interval when that
        is one evaluation): `gap` either side, at least a moment; for a start stamped with the
        very same startsAt, one interval of the names' evaluation lattice where it is known, else
        a moment (an evaluation interval is rarely longer than Prometheus's default minute).
        Prometheus stamps the alerts one evaluation of a rule group fires alike, so chance would
        have to hit that one evaluation (docs/learning.md)."""
        if gap <= LATTICE_TOLERANCE:
            tick = max(self.storms.tick(scan.start.name, scan.cluster), self.storms.tick(start.name, scan.cluster))
            return (tick, tick) if tick else (SIMULTANEOUS, 0.0)
        return 2 * max(gap, SIMULTANEOUS), 0.0

    @staticmethod
    def _closeness(scan: _Scan, entity: str) -> tuple[int, float]:
        """(closeness, chance per WINDOW) of relating the alert to a start on `entity`: closeness 2
        on the alert's own entity, 1 one hop away, 0 on a coarse one."""
        via = scan.related[entity]
        closeness = (0 if is_coarse(entity) else 2 if not via else 1)
        # A hop is as busy as its busier end: a quiet pod on a busy node is no quiet relation.
        chance = max(scan.chance.get(entity, 0.0), scan.chance.get(via, 0.0) if via else 0.0)
        return closeness, chance

    def _association(self, scan: _Scan, name: str, t: float) -> Association | None:
        """The learned association between the alert's name and `name` (asked once per scan)."""
        associations = scan.associations
        if name in associations:
            return associations[name]
        association = associations[name] = self.cooccurrence.association(scan.start.name, name, t)
        return association

    def _rule_relating(self, scan: _Scan, start: Start, entity: str, rules, closeness: int, chance: float,
                       learned: bool, lead: float) -> str | None:
        """The first of the entity-scoped relate rules `rules` that relates the alert to `start` on
        `entity`: the effect started within the rule's window after its cause, or at most `lead`
        before it, on a relation the rule follows."""
        for name in rules:
            rule = self.relations[name]
            if self._late_for_storm(name, scan.start, start):
                continue
            if closeness and _timely(name, scan.start, start, rule.window, min(rule.window, lead)) \
                    and self._follows(rule, scan, start, entity) \
                    and (learned or self._rule_holds(scan, chance, name)):
                return name
        return None

    def _follows(self, rule: RelateRule, scan: _Scan, start: Start, entity: str) -> bool:
        """Whether `rule` follows the alert's relation to `start` on `entity`. A hop that says only
        what depends on what (a client's service and the machine of the database it calls, not
        where a thing runs) is followed by a rule that follows dependencies, and only to the
        dependency the two alerts name where they name one: a client's SQL errors naming one
        database are not about the broker its service also calls."""
        via = scan.related.get(entity)
        if not via or not self.topology.by_dependency(via, entity):
            return True
        ends = (via, entity)
        return rule.through_dependencies and all(not named or any(end in named for end in ends)
                                                 for named in (scan.dependencies, start.dependencies))

    def _late_for_storm(self, rule: str, alert: Start, member: Start) -> bool:
        """Whether, under `rule`, the alert is the cause of a member in a storm of its name that
        began more than EFFECT_LEAD before the alert started: a storm's cause comes before it, and
        what begins minutes into a storm is another fault's (a host down minutes into an admission
        webhook's outage)."""
        if rule not in alert.causes or rule not in member.effects:
            return False
        storm = self.storms.active.get(f"{member.cluster}|{member.name}")
        return storm is not None and not storm.usual and storm.reaches(member.started) \
            and alert.started - storm.first_at > EFFECT_LEAD

    def _rule_holds(self, scan: _Scan, chance: float, rule: str) -> bool:
        """Whether a relate rule relates on its own (without a learned association) on a relation
        that sees `chance` alerts per WINDOW: in a quiet cluster, when that is low; in a busy one
        (where relations are many and coincidences common) only once the cluster was observed for
        RULE_OBSERVED and chance would bring few of the rule's own alerts to its entities within its
        window."""
        if scan.quiet:
            return chance <= RULE_CHANCE
        return scan.observed >= RULE_OBSERVED and self._coincidences(scan, rule) <= COINCIDENCES

    def _rule_evidence(self, scan: _Scan, rule: str, chance: float, association: Association | None,
                       learned: bool) -> str:
        """What made `rule` hold: the estate's confirmation, or how rarely chance brings what it relates."""
        if learned:
            return f"rule {rule}, learned: {association.describe()}"
        if scan.quiet:
            return f"rule {rule}, quiet cluster: {chance:.2f} alerts per {WINDOW / 60:.0f}m on the relation by chance"
        return (f"rule {rule}, busy cluster: {self._coincidences(scan, rule):.2f} of its alerts per "
                f"{self.relations[rule].window / 60:g}m on these entities by chance")

    def _coincidences(self, scan: _Scan, rule: str) -> float:
        """The alerts of `rule` chance brings to the alert's related entities within the rule's window."""
        return self._rule_chance(scan, rule) * self.relations[rule].window / WINDOW

    def _rule_chance(self, scan: _Scan, rule: str) -> float:
        """The starts per WINDOW of `rule`'s alerts (either side) that chance brings to the alert's
        related entities, summed: the member the alert joins may be on any of them. A busy host
        starts alerts of every kind; that says little of how often its memory runs out. Counted
        over the entity's remembered starts but the last window's (the candidates): over the time
        its cluster was observed (its first hour included: a rate over that is a rate, where the
        co-occurrence counts need the control windows), or, once its history is full, since the
        oldest start kept."""
        chance = scan.rule_chances.get(rule)
        if chance is None:
            chance, t = 0.0, scan.start.at
            for entity in scan.related:
                starts = self.history.get(entity)
                if not starts or is_coarse(entity):
                    continue
                span = t - starts[0].at if len(starts) >= HISTORY else min(scan.observed, scan.elapsed)
                count = sum(1 for start in starts
                            if t - start.at > WINDOW and (rule in start.causes or rule in start.effects))
                chance += count / max(span - WINDOW, WINDOW) * WINDOW
            scan.rule_chances[rule] = chance
        return chance

    def _rules_between(self, alert: Start, member: Start) -> tuple[bool, tuple[str, ...]]:
        """(whether a forbid rule holds between the two, the entity-scoped relate rules that do,
        sorted), cached by their roles: few role sets recur, and every candidate asks."""
        roles = (alert.causes, alert.effects, member.causes, member.effects)
        found = self._between.get(roles)
        if found is None:
            names = (alert.causes & member.effects) | (alert.effects & member.causes)
            found = not names.isdisjoint(self._forbidding), tuple(sorted(names & self._entity_rules))
            if len(self._between) >= 4096:
                self._between.clear()
            self._between[roles] = found
        return found

    def _cluster_relation(self, scan: _Scan, t: float, is_open) -> Join | None:
        """A cluster-scoped relate rule (a DNS failure and the lookups that fail) to a recent member."""
        alert, cluster = scan.start, scan.cluster
        # Only the alert's cluster-scoped roles can relate it here; most alerts have none.
        causes, effects = alert.causes & self._cluster_rules, alert.effects & self._cluster_rules
        starts = self._cluster_starts(scan, t) if causes or effects else None
        if starts is None:
            return None
        background = None  # counted only once a start is within a rule's window (most calls have none)
        # A cause may start after its effects (its alert waits its `for`), yet one that started
        # before them explains them better: the later one only where none before does.
        later_cause = None
        for start in reversed(starts):
            if t - start.at > self._cluster_reach:
                break  # the starts are in time order: none older is within a rule's window
            related = (causes & start.effects) | (effects & start.causes)
            if not related:
                continue
            for name in sorted(related):
                rule = self.relations[name]
                # Across a cluster, a cause takes in only the effects that started just before it.
                if not _timely(name, alert, start, rule.window, min(rule.window, CLUSTER_LEAD)) \
                        or self._late_for_storm(name, alert, start):
                    continue
                if background is None:
                    background = self._cluster_background(cluster, starts, t)
                if _rare(background, name) and is_open(start.key):
                    join = Join(start.key, JoinReason.RELATED, name, {"cluster": cluster},
                                f"related to {start.name} ({start.key[0]}): same cluster {cluster}; rule {name}")
                    if name not in effects or start.started <= alert.started:
                        return join
                    later_cause = later_cause or join
                    break
        return later_cause

    def _cluster_starts(self, scan: _Scan, t: float) -> list[Start] | None:
        """The starts of cluster-scoped relate rules remembered in the alert's cluster; None where
        none relates across it now (no cluster label, or too busy a cluster to tell)."""
        cluster = scan.cluster
        starts = self.cluster_history.get(cluster)
        if not starts or not cluster or self._truncated(starts, t):  # no cluster label: no cluster to relate in
            return None
        # Before the control windows are observed, no name's background is known: in a busy
        # cluster, an empty background would make every rare-looking pair of names a relation.
        # Busy by the alerts these relations cannot explain: a quiet cluster's cascade is a burst.
        # In the cluster's first window, by their pace over the part of it seen (`_pace`).
        if not scan.measured:
            explainable = sum(1 for start in starts if t - start.at <= WINDOW
                              and not (start.causes | start.effects).isdisjoint(self._cluster_rules))
            if _pace(scan.cluster_recent - explainable, scan.observed) > QUIET_CLUSTER:
                return None
        return starts

    def _cluster_background(self, cluster: str, starts: list[Start], t: float) -> dict[tuple[str, bool], int]:
        """Per side of each cluster-scoped rule (name, is cause), the starts of `cluster` in the
        control windows: a relation as wide as the cluster is too busy where either side fires by
        itself there. Read from a window sliding over the cluster's starts (they are in time order,
        and time only moves on): a busy cluster has hundreds in the control windows."""
        background = self._backgrounds.get(cluster)
        if background is None or background.starts is not starts or t < background.t:
            background = self._backgrounds[cluster] = _Background(starts)
        background.slide(t, self._cluster_rules)
        return background.counts

    # -- a cause after its effects ----------------------------------------------------------

    def absorbable(self, labels: Mapping[str, str], key: tuple, t: float, started: float,
                   incident_of: Callable[[tuple], tuple[str, float] | None],
                   members_of: Callable[[str], Iterable[tuple]],
                   annotations: Mapping[str, str] | None = None) -> list[Absorption]:
        """The open incidents this new alert (received at `t`) explains entirely, by id: a cause's
        alert may come after its effects' (its rule waits its `for`, a probe fails first), and
        the effects opened incidents of their own meanwhile (`started`: its startsAt). Each member
        must be an effect of the alert under a relate rule, on the evidence that would have joined it had the cause come
        first, and have started within the rule's lead before it; so must the incident's opening.
        `incident_of`: the incident holding an episode, with its opening time, where one may be
        taken in (None: not); `members_of`: an incident's episodes."""
        if self._roles(labels)[0].isdisjoint(self._explaining):  # most alerts explain nothing
            return []
        scan = self._scanned(labels, key, t, _bounded(started, t), annotations)
        explained = self._effects_on_entities(scan, t, incident_of)
        self._effects_in_cluster(scan, t, incident_of, explained)
        openings = dict(incident_of(effect) for effect in explained)
        found = []
        for incident, opened in sorted(openings.items()):
            members = list(members_of(incident))
            if all(member in explained for member in members) \
                    and t - opened <= max(explained[member][1] for member in members):
                found.append(Absorption(incident, {member: explained[member][0] for member in members}))
        return found

    def _effects_on_entities(self, scan: _Scan, t: float, incident_of) -> dict[tuple, tuple[Join, float]]:
        """The candidate starts on related entities that are effects of the alert under an
        entity-scoped relate rule, each with its explanation and the rule's lead window."""
        alert, explained = scan.start, {}
        causes = alert.causes & self._entity_rules
        if not causes:
            return explained
        for start, entity, probe in [*((start, entity, None) for start, entity, _ in scan.near),
                                     *self._probes_before(scan, t)]:
            if alert.started - start.started > EFFECT_LEAD or start.key in explained \
                    or causes.isdisjoint(start.effects) \
                    or _machines_of_two_clusters(scan, start, entity, self.topology.node_clusters):
                continue  # most candidates are no effect of it
            forbidden, rules = self._rules_between(alert, start)
            rules = [name for name in rules if name in causes and name in start.effects]
            if forbidden or not rules or incident_of(start.key) is None:
                continue
            association = self._association(scan, start.name, t)
            if association is not None and association.independent:
                continue
            closeness, chance, relation = probe or (*self._closeness(scan, entity), None)
            learned = association is not None and association.significant
            name = self._rule_relating(scan, start, entity, rules, closeness, chance, learned, EFFECT_LEAD)
            if name is not None:
                explained[start.key] = _absorbed(alert, start, name, {kind_of(entity): entity.split("|", 2)[2]},
                                                 relation or _relation(scan, entity, self.topology)), \
                    min(self.relations[name].window, EFFECT_LEAD)
        return explained

    def _probes_before(self, scan: _Scan, t: float) -> list[tuple[Start, str, tuple[int, float, str]]]:
        """The recent starts of the probes of the applications the alert's workloads are part of
        (`Topology.probed_applications`), as candidates for its effects (start, the application's
        entity, (closeness 1, chance, the relation in words)): a probe fails within a minute, a
        service's error rate waits its `for`, so the probe often comes first. Only to take in an
        incident the probe's alerts hold alone (`absorbable`): a workload's alert does not join a
        probe's incident, which may hold a sibling's fault (Topology._applications)."""
        found, namespaces = [], namespaces_of(scan.entities)
        for workload in scan.entities:
            if scan.related.get(workload) != "":
                continue  # a hub, or not the alert's own
            for application in self.topology.probed_applications(workload, namespaces, self.history):
                starts = self.history[application]
                chance = max(scan.chance.get(workload, 0.0), self.topology.alerts_on(application, t) / scan.elapsed * WINDOW)
                relation = _application_relation(workload, application)
                for start in reversed(starts[-CANDIDATES:]):
                    if t - start.at >= self._reach:
                        break
                    found.append((start, application, (1, chance, relation)))
        return found

    def _effects_in_cluster(self, scan: _Scan, t: float, incident_of,
                            explained: dict[tuple, tuple[Join, float]]) -> None:
        """Adds the starts of the alert's cluster that are effects of it under a cluster-scoped
        relate rule (started within EFFECT_LEAD before it, both sides rare in the cluster)."""
        alert = scan.start
        causes = alert.causes & self._cluster_rules
        starts = self._cluster_starts(scan, t) if causes else None
        background = None
        for start in reversed(starts or ()):
            if t - start.at > EFFECT_LEAD:
                break
            rules = sorted(causes & start.effects)
            if not rules or start.key in explained or incident_of(start.key) is None:
                continue
            if background is None:
                background = self._cluster_background(scan.cluster, starts, t)
            for name in rules:
                window = min(self.relations[name].window, EFFECT_LEAD)
                if _timely(name, alert, start, self.relations[name].window, window) and _rare(background, name):
                    explained[start.key] = _absorbed(alert, start, name, {"cluster": scan.cluster},
                                                     f"same cluster {scan.cluster}"), window
                    break

    # -- learning -----------------------------------------------------------------------------

    def learn(self, labels: Mapping[str, str], key: tuple, t: float, started: float,
              annotations: Mapping[str, str] | None = None) -> None:
        """Every new alert episode, however it was placed, teaches topology and co-occurrence."""
        started = _bounded(started, t)
        scan = self._scanned(labels, key, t, started, annotations)
        self._scan = None
        name = scan.start.name
        if self.first_at is None:
            self.first_at = t
        self.last_at = t
        if scan.measured:  # before, the cluster's control windows are not observed yet
            credit, weight = self.cooccurrence.credit, self.decay.weight(t)
            for other, _, measured in scan.near:
                if measured and t - other.at <= WINDOW:
                    self._credit(credit, name, other, 0, weight, t)
            for other, window in scan.far:
                self._credit(credit, name, other, window, weight, t)
        self._remember(scan)
        self.topology.observe(scan.entities, t, scan.cluster, scan.dependencies)
        if scan.start.nodes and scan.start.named_cluster:
            self.topology.name_nodes(scan.start.nodes, scan.start.named_cluster)
        self.storms.observe(name, scan.cluster, key, started, self._stormed == key,
                            self.cluster_since[scan.cluster], scan.dependencies)
        self._stormed = None
        self._learned += 1
        if self._learned % SWEEP_EVERY == 0:
            self._sweep(t)
        if self.decay.due(t):
            factor = self.decay.rescale(t)
            for part in (self.topology, self.cooccurrence, self.storms):
                part.rescale(factor)

    def place_pods(self, placements: Placements) -> None:
        """Where pods of one cluster run now (`Placements`): each pod's alerts are about its node too."""
        cluster = {"cluster": placements.cluster} if placements.cluster else {}
        for placed in placements.pods:
            node = _node_hosts(placed.node)
            for pod in entities_of({**cluster, "namespace": placed.namespace, "pod": placed.pod}):
                if pod.startswith(_POD):
                    self.topology.place(pod, node)
            if node and placements.cluster:
                self.topology.name_nodes(node, placements.cluster)

    def remember(self, labels: Mapping[str, str], key: tuple, t: float, started: float,
                 annotations: Mapping[str, str] | None = None) -> None:
        """A recent start restored from the store (a member of an unclosed incident, after a
        restart): it is a candidate again, and nothing is counted twice."""
        started = _bounded(started, t)
        scan = self._scanned(labels, key, t, started, annotations)
        self._scan = None
        self._remember(scan)
        self.storms.remember(scan.start.name, scan.cluster, key, started, scan.dependencies)

    def _remember(self, scan: _Scan) -> None:
        start, cluster = scan.start, scan.cluster
        self._remember_services(scan)
        self.cluster_since.setdefault(cluster, start.at)
        self.cluster_recent.setdefault(cluster, deque()).append(start.at)
        if scan.addressed is not None:
            self.addresses.observe(scan.addressed, start.at)
        for entity in scan.entities:
            if entity in scan.related and not scan.related[entity]:
                starts = self.history.pop(entity, None)
                if starts is None:
                    starts = []
                self.history[entity] = starts  # to the end: its latest start is the latest
                starts.append(start)
                if len(starts) > 2 * HISTORY:
                    del starts[:HISTORY]
        if start.causes or start.effects:
            cluster_starts = self.cluster_history.setdefault(cluster, [])
            cluster_starts.append(start)
            if len(cluster_starts) > 2 * CLUSTER_HISTORY:
                del cluster_starts[:CLUSTER_HISTORY]
                self._backgrounds.pop(cluster, None)  # its indexes moved

    def _credit(self, credit, name: str, other: Start, window: int, weight: float, t: float) -> None:
        if name == other.name:  # one name on several entities at once is a storm (storms.py), not a cascade
            return
        token = (name, window)
        if other.credited is None:
            other.credited = {token}
        elif token in other.credited:
            return
        else:
            other.credited.add(token)
        # Evidence counts moments, not entities: two storms at one moment, each over thirty pods,
        # are one coincidence, not thirty. So are a cascade's thirty pods. At most one count per
        # pair and window within a WINDOW (near and each control window alike: chance is unbiased).
        pair = pair_of(name, other.name)
        last = self._credited_at.get((pair, window))
        if last is not None and t - last < WINDOW:
            return
        self._credited_at[pair, window] = t
        credit(pair, window == 0, weight)

    def _scanned(self, labels: Mapping[str, str], key: tuple, t: float, started: float,
                 annotations: Mapping[str, str] | None) -> _Scan:
        if self._scan is not None and self._scan.key == key:
            return self._scan
        topology = self.topology
        entities = topology.named(entities_of(labels), annotations)
        dependencies = dependencies_of(labels)
        related = topology.related(entities, t, MAX_HOPS, dependencies)
        # A datastore its clients name is a hub once they are many: no evidence of closeness, yet
        # what a relate rule (its outage explains their errors) relates them by.
        hubs = tuple(dependency for dependency in dependencies if dependency not in related)
        related.update(dict.fromkeys(hubs, ""))
        # The same service named from another cluster relates only by a relate rule, as a hub does.
        elsewhere = tuple(entity for entity in self._peers_elsewhere(entities, dependencies) if entity not in related)
        related.update(dict.fromkeys(elsewhere, ""))
        hubs += elsewhere
        # A datastore's address no alert tied to a machine, and the only server of its kind failing.
        host = next((entity for entity in entities if entity.startswith(_HOST) and entity not in dependencies), None)
        causes, effects = self._roles(labels)
        addressed, ties = self.addresses.ties(peer_addresses(labels), datastore_of(labels), host,
                                              not causes.isdisjoint(self._entity_rules), self._resolved, t)
        ties = {tie.reached: tie for tie in ties if tie.reached not in related}
        for tie in ties.values():
            related[tie.reached] = tie.via
        near, far, chance = [], [], {}
        reach, history, alerts_on = self._reach, self.history, topology.alerts_on
        named = named_cluster(labels)
        cluster = named or cluster_of(labels)  # else its site
        # An entity's alerts were counted since its cluster was first seen (entities are per cluster):
        # the time before (another estate's history) would make a new cluster's entities look quiet.
        since = self.cluster_since.get(cluster)
        elapsed = min(max(t - (since if since is not None else t), LOOKBACK), self.decay.tau)
        in_window = self.cluster_recent.get(cluster)
        while in_window and t - in_window[0] > WINDOW:
            in_window.popleft()
        cluster_recent = len(in_window) if in_window else 0
        observed = t - since if since is not None else 0.0
        # Its pace over the part of the last window the learner watched the estate: a cluster silent
        # while others alerted was quiet, not unobserved.
        watched = t - self.first_at if self.first_at is not None else 0.0
        quiet_cluster = _pace(cluster_recent, watched) <= QUIET_CLUSTER
        # The crowd's starts within the lookback, and the moments they began at: only a quiet
        # cluster's closeness asks (a busy entity's history is long).
        counted, moments = 0, set()
        for entity in related:
            # What chance brings to the entity per window: its long-run rate, or the recent one
            # when that is higher (occasions in the control windows; all of the history when it
            # is truncated).
            seen = alerts_on(entity, t)
            starts = history.get(entity)
            if not starts:
                chance[entity] = seen / elapsed * WINDOW
                continue
            recent_starts = 0
            in_crowd = quiet_cluster and entity not in hubs and not is_coarse(entity)
            if self._truncated(starts, t):
                if in_crowd:
                    counted += len(starts)
                    moments.update(start.started for start in starts)
                # A truncated history does not reach the control windows: its near starts are
                # candidates, but the entity cannot be measured (counting its near starts alone
                # would make everything on a busy entity look associated).
                for start in reversed(starts[-CANDIDATES:]):  # the most recent: bounded work per alert
                    age = t - start.at
                    if age >= reach:
                        break
                    near.append((start, entity, False))
                    recent_starts += age <= WINDOW
                recent = len(starts) / max(t - starts[0].at, WINDOW) * WINDOW
            else:
                background = candidates = 0
                occasion = float("inf")
                for start in reversed(starts):
                    age = t - start.at
                    if age >= LOOKBACK:
                        break
                    if age <= reach and candidates < CANDIDATES:
                        near.append((start, entity, True))
                        candidates += 1
                    recent_starts += age <= WINDOW
                    if age >= GAP:
                        far.append((start, 1 + int((age - GAP) // WINDOW)))
                        # An occasion: the starts within WINDOW of the one that began it (a
                        # cascade on the entity is one coincidence chance brought, not ten). By
                        # arrival, the history's order, which a restore keeps (startsAt is not).
                        if occasion - start.at > WINDOW:
                            background, occasion = background + 1, start.at
                    if in_crowd:
                        counted += 1
                        moments.add(start.started)
                recent = background / CONTROL_WINDOWS
            # The starts within the window are the candidates themselves, not the background.
            chance[entity] = max(max(seen - recent_starts, 0.0) / elapsed * WINDOW, recent)
        name = labels.get("alertname", "")
        # Chance brings the crowd coincidences one moment at a time: the alerts one evaluation
        # starts together (a probe failing and its HTTP status) are one coincidence, and an alert
        # naming two forms of one thing (a URL and its host) is one alert. Measured on the recent
        # starts, that scales the entities' summed rates down; the cluster's pace bounds it below.
        # The cluster's long-run pace (`_pace` is its recent one: whether it is in a burst) is how
        # often noise visits its entities, which their own histories cannot tell at first.
        pace = topology.decay.value(topology.clusters.get(cluster, 0.0), t) \
            / min(max(observed, CALM_FLOOR), self.decay.tau) * WINDOW
        crowd = max(sum(c for e, c in chance.items() if not is_coarse(e) and e not in hubs)
                    * (len(moments) / counted if counted else 1.0), pace * CROWD_SHARE)
        calm = pace <= CALM_CLUSTER
        self._scan = _Scan(key, Start(t, started, name, key, causes, effects, cluster, named,
                                      _nodes_of(labels, entities, topology), dependencies), cluster, entities,
                           related, near, far, chance, elapsed, {}, crowd, cluster_recent, quiet_cluster, observed, {},
                           dependencies, hubs, addressed, ties, calm)
        return self._scan

    def _resolved(self, address: str) -> bool:
        """Whether an alert tied the address to a machine: the topology relates it to another host."""
        return any(other.startswith(_HOST) for other in self.topology.edges.get(address, ()))

    def _peers_elsewhere(self, entities: tuple[str, ...], dependencies: tuple[str, ...]) -> list[str]:
        """The same services in other clusters: for a service the alert depends on and that does not
        run in its cluster, where it runs; for the alert's own service, the clusters whose alerts
        depend on it where it does not run. Workloads are scoped by their cluster, yet a client in
        one cluster (or datacenter) names the database of another by the service's name."""
        found = []
        for entity in entities:
            if not entity.startswith(_WORKLOAD):
                continue
            _, cluster, name = entity.split("|", 2)
            serving = self.serving.get(name, {})
            if entity in dependencies:
                others = [] if cluster in serving or len(serving) > PEER_CLUSTERS else list(serving)
            else:
                others = [] if len(serving) > PEER_CLUSTERS else \
                    [other for other in self.depending.get(name, ()) if other not in serving]
            found += [f"{WORKLOAD}|{other}|{name}" for other in others]
        return found

    def _remember_services(self, scan: _Scan) -> None:
        """The clusters the alert's services run in, and those it names as its dependencies from."""
        for entity in scan.entities:
            if entity.startswith(_WORKLOAD):
                _, cluster, name = entity.split("|", 2)
                depends = entity in scan.dependencies
                clusters = (self.depending if depends else self.serving).setdefault(name, {})
                if cluster not in clusters and len(clusters) <= (CLIENT_CLUSTERS if depends else PEER_CLUSTERS):
                    clusters[cluster] = None

    @staticmethod
    def _truncated(starts: list[Start], t: float) -> bool:
        """The remembered starts do not reach back over the lookback: the entity is busy."""
        return len(starts) >= HISTORY and t - starts[0].at < LOOKBACK

    def _sweep(self, t: float) -> None:
        """Forget entities with no start within the lookback; keep at most MAX_HISTORY_ENTITIES."""
        horizon, history = max(LOOKBACK, self._reach), self.history
        excess = len(history) - MAX_HISTORY_ENTITIES
        forgotten = []
        for entity, starts in history.items():  # the least recent first
            if t - starts[-1].at < horizon and len(forgotten) >= excess:
                break
            forgotten.append(entity)
        for entity in forgotten:
            del history[entity]
        self.cluster_history = {c: s for c, s in self.cluster_history.items() if t - s[-1].at < horizon}
        self.cluster_recent = {c: s for c, s in self.cluster_recent.items() if s and t - s[-1] <= WINDOW}
        self._backgrounds = {c: b for c, b in self._backgrounds.items() if c in self.cluster_history}
        self._credited_at = {k: at for k, at in self._credited_at.items() if t - at < WINDOW}
        self.serving, self.depending = (dict(list(names.items())[-MAX_PEER_NAMES:])
                                        for names in (self.serving, self.depending))
        self.topology.forget_bursts(t)

    def association(self, a: str, b: str, t: float) -> Association | None:
        return self.cooccurrence.association(a, b, t)


class _Background:
    """The occasions of cluster-scoped relate rules in a cluster's control windows (age within
    [GAP, LOOKBACK)), counted per side of each rule, over `starts[lo:hi]` as time moves on."""

    __slots__ = ("starts", "lo", "hi", "t", "counts", "last", "opened")

    def __init__(self, starts: list[Start]):
        self.starts, self.lo, self.hi, self.t = starts, 0, 0, float("-inf")
        self.counts: dict[tuple[str, bool], int] = {}  # (rule, is cause) -> occasions
        self.last: dict[tuple[str, bool], float] = {}  # -> the startsAt that began its latest occasion
        self.opened: dict[int, tuple] = {}  # a start's index -> the sides it began an occasion of

    def slide(self, t: float, rules: frozenset[str]) -> None:
        starts = self.starts
        while self.hi < len(starts) and t - starts[self.hi].at >= GAP:
            self._enter(self.hi, rules)
            self.hi += 1
        while self.lo < self.hi and t - starts[self.lo].at >= LOOKBACK:
            for side in self.opened.pop(self.lo, ()):
                self.counts[side] -= 1
            self.lo += 1
        self.t = t

    def _enter(self, index: int, rules: frozenset[str]) -> None:
        """Count the start where it begins an occasion of a side: a side's starts within WINDOW of
        the one that began its last occasion are that occasion (a cascade's pods failing over
        minutes are one occasion, not ten)."""
        start, counts, last = self.starts[index], self.counts, self.last
        sides = [side for side in [*((name, True) for name in start.causes & rules),
                                   *((name, False) for name in start.effects & rules)]
                 if abs(start.started - last.get(side, float("-inf"))) > WINDOW]
        for side in sides:
            last[side] = start.started
            counts[side] = counts.get(side, 0) + 1
        if sides:
            self.opened[index] = tuple(sides)


def _rare(background: dict[tuple[str, bool], int], rule: str) -> bool:
    """Whether both sides of a cluster-scoped rule are rare enough in the cluster to relate there."""
    return background.get((rule, True), 0) <= CLUSTER_BUSY * CONTROL_WINDOWS \
        and background.get((rule, False), 0) <= CLUSTER_BUSY * CONTROL_WINDOWS


def _absorbed(cause: Start, effect: Start, rule: str, labels: dict[str, str], relation: str) -> Join:
    return Join(cause.key, JoinReason.ABSORBED, rule, labels, f"an effect of {cause.name} ({cause.key[0]}), which came "
                f"{cause.at - effect.at:.0f}s after it: {relation}; rule {rule}")


def _relation(scan: _Scan, entity: str, topology: Topology) -> str:
    """How the alert relates to a start on `entity`, in words."""
    via = scan.related[entity]
    if not via:
        return f"same {describe(entity)}"
    tie = scan.ties.get(entity)
    if tie is not None:
        return tie.describe()
    if entity in topology.applications.get(via, ()) and names_a_probe(scan.entities):
        # a probe's alert, to the workloads of its application (Topology._applications)
        return _application_relation(entity, via)
    return f"{describe(via)} and {describe(entity)} are related (learned topology)"


def _application_relation(workload: str, application: str) -> str:
    """A workload and the probed application it is part of (Topology._applications), in words."""
    how = "is named after" if named_after(workload, application) else "runs in the namespace of"
    return f"{describe(workload)} {how} {describe(application)}, the application a probe's URL names"


def _machines_of_two_clusters(scan: _Scan, start: Start, entity: str,
                              node_clusters: Mapping[str, tuple[str, ...]]) -> bool:
    """Whether the alert and `start`, of two clusters, relate on `entity` through a Kubernetes node
    of one of them (the node itself, or one hop from it): one they name as a node, or one that
    alerts of either cluster named so (`Topology.node_clusters`; another alert may name it in its
    summary). Then it is two machines of one name (a node is named within its cluster: `worker-1`
    in each), not one. A machine no alert names as a node is one whatever cluster label its
    alerts carry (a database's VM scraped by one cluster's Prometheus, called by clients in
    others)."""
    alert = scan.start
    ours, theirs = alert.named_cluster, start.named_cluster
    if ours == theirs or not ours or not theirs:
        return False
    for host in (entity, scan.related.get(entity)):  # on the node, or one hop from it
        if host in alert.nodes or host in start.nodes:
            return True
        clusters = node_clusters.get(host)
        if clusters and (ours in clusters or theirs in clusters):
            return True
    return False


def _nodes_of(labels: Mapping[str, str], entities: tuple[str, ...], topology: Topology) -> frozenset[str]:
    """The hosts the alert names as Kubernetes nodes: its `node` label's, and the node a placement
    source said its pod runs on (`Topology.place`)."""
    nodes = list(_node_hosts(labels.get("node", "")))
    placements = topology.placements
    for entity in entities:
        if entity in placements:
            nodes += placements[entity]
    return frozenset(nodes) if nodes else _NO_NODES


_NO_NODES: frozenset[str] = frozenset()


def _node_hosts(node: str) -> tuple[str, ...]:
    """The host entities of a Kubernetes node's name, in its forms (none for "")."""
    return tuple(f"{_HOST}|{form}" for form in host_forms(node)) if node else ()


def _timely(rule: str, alert: Start, member: Start, window: float, lead: float) -> bool:
    """Whether, under `rule`, the effect of the two started within `window` after its cause or at
    most `lead` before it (a cause's rule waits its `for`), by their own startsAt: Alertmanager
    delivers an alert up to a group_interval after it started, so receipt times put alerts of one
    moment minutes apart and alerts minutes apart together."""
    apart = alert.started - member.started  # > 0: the member started first
    return (rule in member.causes and rule in alert.effects and -lead <= apart <= window) \
        or (rule in alert.causes and rule in member.effects and -window <= apart <= lead)


def _pace(alerts: float, observed: float) -> float:
    """Alerts per WINDOW of a cluster that started `alerts` in the last window, observed for
    `observed` seconds: in the first window, over the part of it seen (at least FIRST_SEEN_FLOOR):
    twelve alerts in a stream's first three minutes are a busy cluster's, not a quiet one's, and a
    stream read from its start would otherwise find every cluster quiet for minutes
    (docs/learning.md)."""
    return alerts / min(max(observed, FIRST_SEEN_FLOOR) / WINDOW, 1.0)


def _quiet(crowd: float, span: float) -> bool:
    """Whether entities seeing `crowd` alerts per WINDOW by chance are quiet enough for closeness
    alone to relate two alerts as close as they are (`_coincidence_span`): chance would start
    another alert on them within that span less than QUIET of the time."""
    return crowd * span / WINDOW <= QUIET


def _bounded(started: float, t: float) -> float:
    return min(max(started, t - START_HORIZON), t + START_HORIZON)
