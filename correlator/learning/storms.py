"""Alert storms: many alerts of one name starting at once, far beyond that name's base rate.

A storm is a state of the estate, not a pile of pairs: its alerts form one incident, whatever
entities they name. A name is in a storm when `STORM_MIN` or more of its alerts started within
`STORM_WINDOW` and that many, in the time they took, are very unlikely under the name's own
decayed base rate (Poisson tail, `chance_bound`: every start of a name is a test, so the more often a
name fires the less likely its burst must be, which bounds the storms chance makes of each name);
the storm lasts as long as its alerts keep coming at its own pace: once `PACED` alerts measured it,
a pause longer than `PAUSE` times its mean gap between starts (and within `STORM_WINDOW`) ends it,
and what comes after is another storm (in a busy estate, another fault's burst of the same name).
A storm that has lasted `REVIEW` is weighed against the pace it set itself: when its alerts,
counted into the name's base rate, make that pace no longer unlikely (a name firing steadily at
random from the daemon's first minutes, before its base rate was known), it is over and its
alerts count towards the base rate.
A storm begins where its burst is least likely by chance, and its incident takes in the incidents
of its first alerts (`Storms.taken`: they were placed before it was recognised). Starts arrive out of order
(Alertmanager delivers a group's new alerts up to its group_interval late): a late start within
reach of the storm before a pause only is that storm's, and one within reach of both storms
bridges the pause: they are one storm, the earlier, whose incident takes in the later's.

Storms are found per cluster, against the name's base rate there, counted since the cluster was
first seen (as the joiner counts its entities' rates): a cluster that joins a daemon hours old has
sent nothing before, which says nothing of how often its names fire. A storm across clusters (a
shared backend failing every cluster's clients) is one incident only when the name's storms are
rare: when chance would bring another storm of it within `STORM_WINDOW` less than `CROSS_CHANCE`
of the time, its storms counted over the time the clusters it was seen in have been observed
(since the first of them was first seen: another estate's history, in which the name never
stormed, is no evidence that its storms are rare here; and one storm in a daemon's first minutes
is a storm every few minutes as far as it knows). Then a cluster's storm joins the one raging in another, and a burst too thin in each
cluster to be a storm there is one across them (against the name's base rate in the estate).
Otherwise (a busy estate has concurrent storms of one name from unrelated faults) each cluster's
storm is an incident of its own, unless the two name what failed: a storm beginning in one cluster
joins the one raging in another when an alert of its first names the dependency the raging storm's
alerts agreed on (`AGREED`, below): clients in several clusters failing on one database's address
at once. A peer service named by its name (`peer_service: redis`) is scoped by its cluster, as
each cluster may run its own, so it joins none across them.

Prometheus stamps an alert's start with the evaluation of its rule group that first saw it, so
the starts of one rule lie on that group's lattice (every 15 s to a few minutes): alerts of it
starting within one interval of each other share one startsAt, and a storm's alerts come a whole
interval apart. The lattice of each name in each cluster is learned from its recent starts
(`lattice`; a name too rare to tell takes the finest found in its cluster; not saved, but learned
again from the starts a restart restores), and a burst's span counts the interval its starts were
rounded over; a pause of one interval does not end a storm. Starts from senders without a lattice
(Zabbix, scripts) have none and are tested as they come. Before any start has shown a lattice (a
daemon's first minutes), a storm whose alerts all started at one moment has shown no pace either:
it goes on over `STORM_WINDOW`, as a storm of fewer than `PACED` alerts does.

A storm's alerts that name what they depend on tell its cause: once `AGREED` or more of them
named one dependency, all the same, an alert naming another is not that storm's (a second
database's outage minutes after the first's), in its cluster or across clusters
(`Storm.fails_elsewhere`). Alerts that named different dependencies from the start (a network
failing every client's upstream at once) agreed on none and stay one storm. Nor does a storm of
another scope begin with alerts of such a storm when its first alerts name another dependency
(`_first_alerts`): the first outage's incident is not the second's to take in.

Narrower than a cluster, the clients of one dependency (the alerts naming one upstream host or
peer service, `dependencies_of`) storm against the name's base rate among that dependency's
clients, in any cluster: where a busy cluster fires the name too often for a few more to stand
out, a burst of it naming one database is still far beyond chance. The test there is looser
(`ENTITY_P_VALUE`): the name's rate on one dependency is small and measured over fewer alerts,
and the shared dependency is evidence a cluster is not. On the busy benchmark streams, the pairs
these storms added were right six times in ten, against five in ten for storms over every entity
an alert names (its own workload or host), which this does not do.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from correlator.learning.decay import Decay

STORM_WINDOW = 120.0  # seconds
STORM_MIN = 2
MIN_SPAN = 5.0  # seconds: starts closer than this count as simultaneous
# Each start of a name tests for a storm, so a name that fires often is tested often: the Poisson
# tail a burst must reach is what keeps the storms chance makes of one name in one scope to
# CHANCE_STORMS_PER_DAY, between MIN_P_VALUE (a name firing all day) and MAX_P_VALUE (a rare one).
CHANCE_STORMS_PER_DAY = 1e-3
MAX_P_VALUE = 1e-4
MIN_P_VALUE = 1e-5
DAY = 86_400.0
ENTITY_P_VALUE = 1e-3  # the Poisson tail below which a burst among one dependency's clients is a storm
LATTICE_EVIDENCE = 3  # distinct gaps between a name's recent starts that must agree on its lattice
LATTICE_TOLERANCE = 0.002  # seconds: starts this close are one evaluation's (timestamps carry milliseconds)
PAUSE_TICKS = 1.5  # a storm on a lattice goes on over one whole interval; a skipped evaluation ends it
MAX_NAMES = 20_000
RECENT = 16  # starts remembered per name
CROSS_CHANCE = 0.05  # a storm spans clusters when chance brings another of its name less often
PAUSE = 10.0  # a gap this many times the storm's mean gap between starts (at least MIN_SPAN) ends it...
PACED = 5  # ...once this many alerts measured its pace (before, STORM_WINDOW does)
REVIEW = 600.0  # seconds a storm lasts before it is weighed against the pace it set itself
AGREED = 2  # alerts of a storm naming one dependency, all of them, that make it that dependency's
MIN_OBSERVED = 3600.0  # seconds: a name's prior is one start in this, and its storms are counted over
# at least this (600 s was measured as both, with the first hour's bound the strictest: it found storms of
# one name among a dependency's clients 4 points less precisely on the medium streams of the novel
# vocabularies, and helped nowhere)
RATE_FLOOR = 600.0  # seconds: a name's starts counted over less time than this count as over this


@dataclass(slots=True)
class Storm:
    scope: str  # cluster|name, or the name across clusters
    key: tuple  # the episode whose incident the storm's alerts join
    first_at: float
    last_at: float
    alerts: int
    expected: float  # what the name's base rate predicts within STORM_WINDOW
    fresh: bool = True  # just begun: its incident is not settled yet
    early: tuple = ()  # the episodes that started it, placed before it was recognised
    usual: bool = False  # it lasted until its pace was the name's usual one: over
    tick: float | None = 0.0  # the lattice its starts lie on (0: none; None: too few starts to tell)
    naming: int = 0  # its alerts that named a dependency (`dependencies_of`)...
    named: dict[str, int] = field(default_factory=dict)  # ...and, per dependency, those that named it

    @property
    def pause(self) -> float:
        """The gap in starts that ends it: `PAUSE` times its mean gap (once `PACED` alerts measured
        it; at least MIN_SPAN, and PAUSE_TICKS intervals of its lattice), at most STORM_WINDOW.
        Alerts that all started at one moment measured no pace: without a lattice known, their
        next evaluation may be a minute away."""
        if self.alerts < PACED or (self.tick is None and self.last_at - self.first_at < MIN_SPAN):
            return STORM_WINDOW
        return min(STORM_WINDOW, max(MIN_SPAN, PAUSE_TICKS * (self.tick or 0.0),
                                     PAUSE * (self.last_at - self.first_at) / (self.alerts - 1)))

    def ended(self, t: float) -> bool:
        """Whether a start at `t` comes after the storm ended."""
        return self.usual or t - self.last_at > self.pause

    def name(self, dependencies: tuple[str, ...]) -> None:
        """One of its alerts named `dependencies`."""
        self.naming += bool(dependencies)
        for dependency in dependencies:
            self.named[dependency] = self.named.get(dependency, 0) + 1

    def fails_elsewhere(self, dependencies: tuple[str, ...]) -> bool:
        """Whether an alert naming `dependencies` fails on another dependency than the one every
        alert of the storm that named one agreed on: another cause's (a second database's outage,
        minutes after the first's). Alerts that named different dependencies from the start (a
        network failing every client's upstream) are one cause beyond them."""
        agreed = self._agreed() if dependencies else []
        return bool(agreed) and not any(dependency in dependencies for dependency in agreed)

    def agreed_on_one_of(self, dependencies: tuple[str, ...]) -> bool:
        """Whether a dependency every alert of the storm that named one agreed on is among
        `dependencies` (those another storm's alerts named): their clients fail on one thing."""
        return any(dependency in dependencies for dependency in self._agreed())

    def _agreed(self) -> list[str]:
        """The dependencies named by every alert of the storm that named one, once AGREED or more did."""
        if self.naming < AGREED:
            return []
        return [dependency for dependency, count in self.named.items() if count == self.naming]

    def reaches(self, t: float) -> bool:
        """Whether a start at `t` is no pause away from the storm, before or after it."""
        return self.first_at - self.pause <= t <= self.last_at + self.pause


def poisson_tail(k: int, mean: float, above: float = math.inf) -> float:
    """P(X >= k) for X ~ Poisson(mean), summed from k upwards (exact where it matters: small tails);
    summing stops once it passes `above` (whether the tail is above that is all the caller asks)."""
    if k <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    term = math.exp(k * math.log(mean) - mean - math.lgamma(k + 1))
    total = 0.0
    for j in range(k, k + 1000):
        total += term
        term *= mean / (j + 1)
        if term < total * 1e-12 or total > above:
            break
    return min(1.0, total)


def likely(k: int, mean: float, p_value: float) -> bool:
    """Whether P(X >= k) for X ~ Poisson(mean) is above `p_value` (below 1/2)."""
    # A Poisson's median is at least its mean less ln 2: k below it has a tail of at least a half
    # (a name firing all the time, whose sum would run for its whole mean).
    return k <= mean - math.log(2) or poisson_tail(k, mean, p_value) > p_value


def lattice(starts: list[float]) -> float | None:
    """The interval of the evaluation lattice these start times lie on (to LATTICE_TOLERANCE), once
    LATTICE_EVIDENCE distinct gaps from the latest agree on one of at least MIN_SPAN and at most
    STORM_WINDOW; 0 when they show there is none (a sender without a lattice); None when too few
    to tell (a storm's alerts at one evaluation fill a name's recent starts)."""
    latest, step, gaps = starts[-1], 0.0, 0
    for at in starts[:-1]:
        gap = abs(latest - at)
        if gap <= LATTICE_TOLERANCE:
            continue
        step = gap if not step else _common_step(step, gap)
        if step < MIN_SPAN - LATTICE_TOLERANCE:
            return 0.0
        gaps += 1
    if gaps < LATTICE_EVIDENCE:
        return None
    return step if step <= STORM_WINDOW else 0.0


def _common_step(a: float, b: float) -> float:
    """The greatest step both spans are whole multiples of (Euclid's, to LATTICE_TOLERANCE); below
    MIN_SPAN as soon as a remainder is: the spans share no lattice."""
    if a < b:
        a, b = b, a
    while True:
        remainder = math.fmod(a, b)
        if remainder <= LATTICE_TOLERANCE or b - remainder <= LATTICE_TOLERANCE:
            return b
        if remainder < MIN_SPAN - LATTICE_TOLERANCE:
            return remainder
        a, b = b, remainder


def chance_bound(rate: float) -> float:
    """The Poisson tail below which a burst of a name starting `rate` times a second is a storm."""
    return min(MAX_P_VALUE, max(MIN_P_VALUE, CHANCE_STORMS_PER_DAY / (rate * DAY)))


class Storms:
    def __init__(self, decay: Decay):
        self.decay = decay
        self.first_at: float | None = None
        self.since: dict[str, float] = {}  # name -> when the first cluster it was seen in was first seen
        # Per scope: cluster|name, and the name across clusters.
        self.rates: dict[str, float] = {}  # scope -> stored (scaled) count of starts
        self.recent: dict[str, deque] = {}  # scope -> recent (time, episode key)
        self.ticks: dict[str, float] = {}  # cluster|name -> the lattice of its starts (`lattice`)
        self.cluster_ticks: dict[str, float] = {}  # cluster -> the finest lattice found there
        self.active: dict[str, Storm] = {}  # scope -> its last storm
        self.storms: dict[str, float] = {}  # name -> stored count of storms begun
        self.previous: dict[str, Storm] = {}  # scope -> the storm before its last, while its starts may arrive
        self.latest: dict[str, Storm] = {}  # name -> its last storm with an incident of its own
        self._joined: Storm | None = None  # the storm `check` put the alert in
        self.taken: tuple[tuple, ...] = ()  # the episodes whose incidents it takes in (see `check`)
        # Recent episode -> the dependencies it names: a storm's first alerts count among its own.
        self.dependencies: dict[tuple, tuple[str, ...]] = {}
        self.stormed: dict[tuple, Storm] = {}  # recent episode -> the storm it joined (`_first_alerts`)

    def tick(self, name: str, cluster: str) -> float:
        """The interval of the evaluation lattice the name's starts in the cluster lie on (0: not known)."""
        return self.ticks.get(f"{cluster}|{name}") or 0.0

    def raging(self, name: str, cluster: str, started: float) -> bool:
        """Whether a storm of `name` in `cluster` already recognised reaches a start at `started`."""
        storm = self.active.get(f"{cluster}|{name}")
        return storm is not None and not storm.usual and storm.reaches(started)

    def check(self, name: str, cluster: str, started: float, entities: tuple[str, ...] = (),
              cluster_since: float | None = None) -> Storm | None:
        """The storm this alert of `name` in `cluster` (started at `started`, its startsAt) belongs
        to, if any: its cluster's, one raging across clusters, or one among the clients of one of
        the dependencies it names (`entities`, `dependencies_of`). Times are the
        alerts' own start times: Alertmanager delivers a group's alerts together, which says nothing
        of when they started. `cluster_since`: when the cluster was first seen (None: with the
        daemon's first start). `taken` then holds the episodes whose incidents the storm's incident
        takes in: its first alerts, placed before it was recognised, and the storm it turned out to
        continue."""
        self._joined, self.taken = None, ()
        scope = f"{cluster}|{name}"
        tick = self.ticks.get(scope)
        if tick is None:  # too few starts of the name to tell: its cluster's Prometheus evaluates it too
            tick = self.cluster_ticks.get(cluster)
        local = self._detect(name, scope, started, tick, since=cluster_since, dependencies=entities)
        if local is not None and not local.fails_elsewhere(entities):
            if local.fresh:
                self._settle(name, local, started, entities)
            return self._join(local)
        latest = self.latest.get(name)  # the starts of a storm that ended are no part of the next
        wide = self._detect(name, name, started, tick,
                            latest.last_at if latest is not None and latest.ended(started) else None,
                            dependencies=entities)
        if wide is not None and not wide.fails_elsewhere(entities):
            if wide.fresh:
                self._settle(name, wide, started, entities)
            if self._rare(name, started):
                return self._join(wide)
        for entity in entities:
            # Narrower than a cluster: a burst too thin for the cluster's base rate of the name
            # (a busy cluster fires it often) is a storm against the entity's.
            storm = self._detect(name, _dependency_scope(entity, name), started, tick, p_value=ENTITY_P_VALUE,
                                 dependencies=entities)
            if storm is not None:
                storm.fresh = False
                return self._join(storm)
        return None

    def _join(self, storm: Storm) -> Storm:
        self._joined = storm
        self.taken += tuple(key for key in storm.early if key != storm.key)
        for key in storm.early:
            self.stormed = _kept(self.stormed, key, storm)
        storm.early = ()
        return storm

    def _detect(self, name: str, scope: str, started: float, tick: float | None, after: float | None = None,
                p_value: float | None = None, since: float | None = None,
                dependencies: tuple[str, ...] = ()) -> Storm | None:
        """The storm of `scope` raging at `started`, or one this start (of an alert naming
        `dependencies`) begins (of starts `after`), by a burst's Poisson tail at most `p_value` (None:
        `chance_bound` of the name's rate there, counted `since`); `tick`: the lattice the name's starts
        lie on (None: not known)."""
        recent = self.recent.get(scope)
        if not recent:
            return None
        storm = self.active.get(scope)
        previous = self.previous.get(scope)
        if storm is not None and previous is not None and started < storm.first_at and previous.reaches(started):
            # Starts arrive out of order (Alertmanager holds a group's new alerts up to its
            # group_interval): a pause seen when a storm ended may be filled by starts delivered later.
            if started > previous.last_at and storm.reaches(started):
                return self._continued(name, scope, previous, storm)
            return previous
        if storm is not None and storm.ended(started):
            storm, after = None, storm.last_at  # only what started after it can make the next one
        within = [(at, key) for at, key in recent if abs(started - at) <= STORM_WINDOW
                  and (after is None or at > after)]
        if len(within) + 1 < STORM_MIN:
            return None
        # The burst's own span is the window tested (at least MIN_SPAN): two starts in the same
        # second are as telling as thirty in two minutes. On a lattice, its starts were rounded
        # up to an evaluation: the span is an interval longer.
        times = [at for at, _ in within] + [started]
        rate = self._rate(scope, len(within), started, since)
        step = tick or 0.0
        span = max(max(times) - min(times) + step, MIN_SPAN)
        expected = rate * span
        bound = p_value if p_value is not None else chance_bound(rate)
        if likely(len(within) + 1, expected, bound):
            return None
        if storm is None:
            burst = self._first_alerts(self._burst(sorted(within), started, expected / span, step), dependencies)
            if not burst:
                return None
            if scope in self.active:  # the storm before: its late starts are still its own
                self.previous[scope] = self.active[scope]
            storm = self.active[scope] = Storm(scope, burst[0][1], burst[0][0], max(times[:-1]), len(within),
                                               expected, early=tuple(key for _, key in burst))
            for _, key in burst:
                storm.name(self.dependencies.get(key, ()))
        storm.expected, storm.tick = expected, tick
        if not storm.fresh and started - storm.first_at >= REVIEW and self._usual(scope, storm, started, since):
            return None
        return storm

    def _usual(self, scope: str, storm: Storm, t: float, since: float | None = None) -> bool:
        """Whether a storm that has lasted REVIEW is, counting its own alerts, no more than the
        name's usual pace since it was first seen: a name that fires steadily from the start (noise
        in a busy cluster) is not one storm for ever. It is over then, and its alerts count
        towards the base rate it was measured against. Its usual pace is counted `since`, as `_rate`
        counts it."""
        count = self.decay.value(self.rates.get(scope, 0.0), t) + storm.alerts
        first = since if since is not None else self.first_at if self.first_at is not None else storm.first_at
        observed = min(self.decay.tau, max(t - first, REVIEW))
        rate = count / observed
        bound = chance_bound(rate)
        if not likely(storm.alerts + 1, rate * max(t - storm.first_at, MIN_SPAN), bound):
            return False
        storm.usual = True
        self.rates[scope] = self.rates.get(scope, 0.0) + storm.alerts * self.decay.weight(t)
        return True

    @staticmethod
    def _burst(within: list[tuple[float, tuple]], started: float, rate: float,
               tick: float) -> list[tuple[float, tuple]]:
        """The starts (sorted) where the burst begins: of the runs from one of them up to `started`
        and beyond, the least likely at the base `rate`. Starts before it came by chance as likely
        as not: the storm neither begins with them nor takes in their incidents."""
        best, best_p = 0, 2.0
        for first, (at, _) in enumerate(within):
            if at > started:
                break
            count = len(within) - first + 1
            p_value = poisson_tail(count, rate * max(max(within[-1][0], started) - at + tick, MIN_SPAN))
            if p_value < best_p:
                best, best_p = first, p_value
        return within[best:]

    def _first_alerts(self, burst: list[tuple[float, tuple]],
                      dependencies: tuple[str, ...]) -> list[tuple[float, tuple]]:
        """The starts of `burst` that begin a storm with an alert naming `dependencies`: not those that
        joined a storm agreed on a dependency when the alert, or another start of the burst, names
        another (a second database's clients failing minutes after the first's, in a scope where
        the first's had not stormed: the first's incident is not the new storm's to take in).
        Starts naming nothing or the agreed dependency leave it whole (a pool exhausted among one
        database's clients, then across the cluster). None left: no storm begins there."""
        stormed, named = self.stormed, self.dependencies
        for storm in {id(stormed[key]): stormed[key] for _, key in burst if key in stormed}.values():
            others = (named.get(key, ()) for _, key in burst if stormed.get(key) is not storm)
            if storm.fails_elsewhere(dependencies) or any(map(storm.fails_elsewhere, others)):
                burst = [(at, key) for at, key in burst if stormed.get(key) is not storm]
        return burst

    def _continued(self, name: str, scope: str, previous: Storm, storm: Storm) -> Storm:
        """A start within reach of both the storm before and the one raging bridges the pause
        between them: they are one storm, the earlier one, and its incident takes in the later's."""
        previous.first_at, previous.last_at = min(previous.first_at, storm.first_at), max(previous.last_at, storm.last_at)
        previous.alerts += storm.alerts
        previous.naming += storm.naming
        for dependency, count in storm.named.items():
            previous.named[dependency] = previous.named.get(dependency, 0) + count
        self.active[scope] = previous
        del self.previous[scope]
        if storm.key != previous.key:
            self.taken += (storm.key,)
        if self.latest.get(name) is storm:
            self.latest[name] = previous
        return previous

    def _settle(self, name: str, storm: Storm, t: float, dependencies: tuple[str, ...]) -> None:
        """A storm just begun (by an alert naming `dependencies`) is the storm of its name raging
        in another cluster (or across them) when the name's storms are rare, or that storm's alerts
        agreed on a dependency its first alerts (this one among them) name, and that storm does not
        fail elsewhere; else a storm, an incident, of its own."""
        storm.fresh = False
        other = self.latest.get(name)
        if other is not None and other is not storm and not other.ended(t) \
                and (self._rare(name, t) or other.agreed_on_one_of((*storm.named, *dependencies))) \
                and not other.fails_elsewhere(dependencies):
            storm.key = other.key
            return
        self.storms[name] = self.storms.get(name, 0.0) + self.decay.weight(t)
        self.latest[name] = storm

    def _rare(self, name: str, t: float) -> bool:
        """Whether chance brings another storm of `name` within STORM_WINDOW less than CROSS_CHANCE
        of the time: its storms begun (the one raging among them, standing for the prior) over the
        time the clusters it was seen in were really observed (not another estate's history, where
        its absence says nothing of how often it storms here; counted over at least an hour, one
        storm in a busy stream's first minutes looked rare, and concurrent storms of other faults in
        other clusters joined it)."""
        begun = max(self.decay.value(self.storms.get(name, 0.0), t), 1.0)
        return begun / self._observed(t, self.since.get(name), floor=RATE_FLOOR) * STORM_WINDOW < CROSS_CHANCE

    def observe(self, name: str, cluster: str, key: tuple, started: float, in_storm: bool,
                cluster_since: float, entities: tuple[str, ...] = ()) -> None:
        """A start of `name` in `cluster`, which was first seen at `cluster_since`, naming `entities`."""
        if self.first_at is None:
            self.first_at = started
        if cluster_since < self.since.get(name, math.inf):
            self.since[name] = cluster_since
        storm = self._joined
        if in_storm and storm is not None:
            storm.first_at, storm.last_at = min(storm.first_at, started), max(storm.last_at, started)
            storm.alerts += 1
            storm.name(entities)
            self.stormed = _kept(self.stormed, key, storm)
        else:  # a storm's own alerts do not raise the base rate it is measured against
            weight = self.decay.weight(started)
            for scope in _scopes(name, cluster, entities):
                self.rates[scope] = self.rates.get(scope, 0.0) + weight
        self._joined = None
        self.remember(name, cluster, key, started, entities)

    def remember(self, name: str, cluster: str, key: tuple, started: float, entities: tuple[str, ...] = ()) -> None:
        """A recent start of `name` (also one restored from the store after a restart)."""
        if entities:
            self.dependencies = _kept(self.dependencies, key, entities)
        scopes = _scopes(name, cluster, entities)
        for scope in scopes:
            recent = self.recent.get(scope)
            if recent is None:
                if len(self.recent) >= MAX_NAMES:
                    self._prune(started)
                recent = self.recent[scope] = deque(maxlen=RECENT)
            recent.append((started, key))
        scope = scopes[0]  # the name's in its cluster: its Prometheus's lattice
        tick = lattice([at for at, _ in self.recent[scope]])
        if tick is not None:
            self.ticks[scope] = tick
            if tick and tick < self.cluster_ticks.get(cluster, math.inf):
                self.cluster_ticks[cluster] = tick

    def _rate(self, scope: str, within: int, t: float, since: float | None = None) -> float:
        """Starts per second before the storm window: the decayed count without the starts inside it
        over the time it was gathered in (since the daemon's first start, or `since`; at least
        RATE_FLOOR), plus the prior of one start in that time or MIN_OBSERVED, whichever is
        longer. Counted over the time really observed, a name
        firing all day is common from its first minutes; the prior alone makes a name not seen yet
        rare, as it is in a quiet estate (over an hour's padding, every name looked rare in a
        daemon's first hour, and busy streams' first hour stormed by chance)."""
        count = max(self.decay.value(self.rates.get(scope, 0.0), t) - within, 0.0)
        observed = self._observed(t, since, floor=RATE_FLOOR)
        return count / observed + 1.0 / max(observed, MIN_OBSERVED)

    def _observed(self, t: float, since: float | None = None, floor: float = MIN_OBSERVED) -> float:
        """The seconds the counts were gathered in, since the first start or `since` (at least
        `floor`, at most the decay's time)."""
        first = since if since is not None else self.first_at if self.first_at is not None else t
        return min(self.decay.tau, max(t - first - STORM_WINDOW, floor))

    def rescale(self, factor: float) -> None:
        for counts in (self.rates, self.storms):
            for name in counts:
                counts[name] *= factor

    def _prune(self, t: float) -> None:
        self.recent = {scope: recent for scope, recent in self.recent.items() if t - recent[-1][0] <= STORM_WINDOW}
        self.ticks = {scope: tick for scope, tick in self.ticks.items() if scope in self.recent}
        self.active = {scope: storm for scope, storm in self.active.items() if scope in self.recent}
        self.previous = {scope: storm for scope, storm in self.previous.items() if scope in self.recent}
        self.latest = {name: storm for name, storm in self.latest.items() if storm.scope in self.recent}


def _kept(recent: dict, key: tuple, value) -> dict:
    """`recent` with `key` set to `value`, bounded: at MAX_NAMES entries, the most recent half (in
    arrival order) is kept."""
    if len(recent) >= MAX_NAMES:
        recent = dict(list(recent.items())[MAX_NAMES // 2:])
    recent[key] = value
    return recent


def _scopes(name: str, cluster: str, entities: tuple[str, ...]) -> list[str]:
    return [f"{cluster}|{name}", name, *(_dependency_scope(entity, name) for entity in entities)]


def _dependency_scope(entity: str, name: str) -> str:
    """The scope of `name` among the clients of one dependency, whatever cluster they are in: a
    peer service is named alike by its clients in every cluster, as a peer host is."""
    kind, _, value = entity.split("|", 2)
    return f"{kind}||{value}|{name}"
