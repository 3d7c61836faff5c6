"""Alert storms: many alerts of one name starting at once, far beyond that name's base rate.

A storm is a state of the estate, not a pile of pairs: its alerts form one incident, whatever
entities they name. A name is in a storm when `STORM_MIN` or more of its alerts started within
`STORM_WINDOW` and that many, in the time they took, are very unlikely under the name's own
decayed base rate (Poisson tail);
the storm lasts as long as its alerts keep coming at its own pace: a pause longer than `PAUSE`
times its mean gap between starts (and within `STORM_WINDOW`) ends it, and what comes after is
another storm (in a busy estate, another fault's burst of the same name).

A storm across clusters (a shared backend failing every cluster's clients) is one incident only
when the name's storms are rare: when chance would bring another storm of it within
`STORM_WINDOW` less than `CROSS_CHANCE` of the time. Otherwise (a busy estate has concurrent storms
of one name from unrelated faults) each cluster's part of the storm is an incident of its own.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from correlator.learning.decay import Decay

STORM_WINDOW = 120.0  # seconds
STORM_MIN = 2
MIN_SPAN = 5.0  # seconds: starts closer than this count as simultaneous
MAX_P_VALUE = 1e-5
MAX_NAMES = 20_000
RECENT = 16  # starts remembered per name
CROSS_CHANCE = 0.05  # a storm spans clusters when chance brings another of its name less often
PAUSE = 10.0  # a gap this many times the storm's mean gap between starts (at least MIN_SPAN) ends it


@dataclass(slots=True)
class Storm:
    name: str
    keys: dict[str, tuple]  # cluster -> the episode whose incident the storm's alerts there join
    first_at: float
    last_at: float
    alerts: int
    expected: float  # what the name's base rate predicts within STORM_WINDOW

    @property
    def pause(self) -> float:
        """The gap after its last start that ends the storm: `PAUSE` times its mean gap."""
        return max(MIN_SPAN, PAUSE * (self.last_at - self.first_at) / max(self.alerts - 1, 1))


def poisson_tail(k: int, mean: float) -> float:
    """P(X >= k) for X ~ Poisson(mean), summed from k upwards (exact where it matters: small tails)."""
    if k <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    term = math.exp(k * math.log(mean) - mean - math.lgamma(k + 1))
    total = 0.0
    for j in range(k, k + 1000):
        total += term
        term *= mean / (j + 1)
        if term < total * 1e-12:
            break
    return min(1.0, total)


class Storms:
    def __init__(self, decay: Decay):
        self.decay = decay
        self.first_at: float | None = None
        self.rates: dict[str, float] = {}  # name -> stored (scaled) count of starts
        self.storms: dict[str, float] = {}  # name -> stored (scaled) count of storms begun
        self.recent: dict[str, deque] = {}  # name -> recent (time, episode key, cluster)
        self.active: dict[str, Storm] = {}

    def check(self, name: str, cluster: str, started: float) -> tuple[Storm, tuple] | None:
        """The storm this alert of `name` in `cluster` (started at `started`, its startsAt) belongs
        to, and the episode whose incident it joins; None when there is none (or the alert begins
        its cluster's part of the storm). Times are the alerts' own start times: Alertmanager
        delivers a group's alerts together, which says nothing of when they started."""
        recent = self.recent.get(name)
        if not recent:
            return None
        within = [(at, key, where) for at, key, where in recent if abs(started - at) <= STORM_WINDOW]
        storm = self.active.get(name)
        if storm is not None and started - storm.last_at > min(STORM_WINDOW, storm.pause):
            # It ended: only what started after it can make the next one.
            storm, within = None, [start for start in within if start[0] > storm.last_at]
        if len(within) + 1 < STORM_MIN:
            return None
        # The burst's own span is the window tested (at least MIN_SPAN): two starts in the same
        # second are as telling as thirty in two minutes.
        times = [at for at, _, _ in within] + [started]
        expected = self._rate(name, len(within), started) * max(max(times) - min(times), MIN_SPAN)
        if poisson_tail(len(within) + 1, expected) > MAX_P_VALUE:
            return None
        if storm is None:
            storm = self.active[name] = Storm(name, {}, min(times[:-1]), max(times[:-1]), len(within), expected)
            self.storms[name] = self.storms.get(name, 0.0) + self.decay.weight(started)
        storm.expected = expected
        key = storm.keys.get(cluster)
        if key is None:
            if self._rare(name, started):  # one storm, one incident, whatever the cluster
                key = next(iter(storm.keys.values()), None) or min(within)[1]
            else:
                here = sorted((at, key) for at, key, where in within if where == cluster)
                if not here:
                    return None  # this alert begins the storm's incident in its cluster
                key = here[0][1]
            storm.keys[cluster] = key
        return storm, key

    def _rare(self, name: str, t: float) -> bool:
        """Whether chance brings another storm of `name` within STORM_WINDOW less than CROSS_CHANCE
        of the time (its storms counted; the one raging stands for the prior)."""
        begun = max(self.decay.value(self.storms.get(name, 0.0), t), 1.0)
        return begun / self._observed(t) * STORM_WINDOW < CROSS_CHANCE

    def observe(self, name: str, cluster: str, key: tuple, started: float, in_storm: bool) -> None:
        if self.first_at is None:
            self.first_at = started
        storm = self.active.get(name)
        if in_storm and storm is not None:
            storm.first_at, storm.last_at = min(storm.first_at, started), max(storm.last_at, started)
            storm.alerts += 1
        else:  # a storm's own alerts do not raise the base rate it is measured against
            self.rates[name] = self.rates.get(name, 0.0) + self.decay.weight(started)
        self.remember(name, cluster, key, started)

    def remember(self, name: str, cluster: str, key: tuple, started: float) -> None:
        """A recent start of `name` (also one restored from the store after a restart)."""
        recent = self.recent.get(name)
        if recent is None:
            if len(self.recent) >= MAX_NAMES:
                self._prune(started)
            recent = self.recent[name] = deque(maxlen=RECENT)
        recent.append((started, key, cluster))

    def _rate(self, name: str, within: int, t: float) -> float:
        """Starts per second before the storm window: the decayed count without the starts inside it
        (one more, as a prior) over the time it was gathered in (at least an hour)."""
        count = max(self.decay.value(self.rates.get(name, 0.0), t) - within, 0.0) + 1.0
        return count / self._observed(t)

    def _observed(self, t: float) -> float:
        """The seconds the counts were gathered in (at least an hour, at most the decay's time)."""
        first = self.first_at if self.first_at is not None else t
        return min(self.decay.tau, max(t - first - STORM_WINDOW, 3600.0))

    def rescale(self, factor: float) -> None:
        for counts in (self.rates, self.storms):
            for name in counts:
                counts[name] *= factor

    def _prune(self, t: float) -> None:
        self.recent = {name: recent for name, recent in self.recent.items() if t - recent[-1][0] <= STORM_WINDOW}
        self.active = {name: storm for name, storm in self.active.items() if name in self.recent}
