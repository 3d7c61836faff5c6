"""Which alert names start together on related entities more often than chance: learned online,
without labels.

When an alert of name A starts, each recent start of a name B on a related entity (the same entity
or one topology hop) is credited to the pair {A, B}: as *near* when B started within `WINDOW`
before, or as *far* when it started in one of `CONTROL_WINDOWS` windows of the same length that
end `GAP` earlier. Far windows measure what chance alone brings on those very entities, at the
density the estate has there: under independence a B start is as likely in the near window as in
any one far window, so near ~ Binomial(near + far, 1 / (1 + CONTROL_WINDOWS)). A pair is
associated when its near count is significant under that null (one-sided binomial tail), large
enough, and well above the far rate (lift). Each B start is credited at most once per name A and
window, and a pair at most once per WINDOW in the near window and in each far one (joiner.py): one
cascade (a node and its thirty pods), or two storms at one moment, counts as one co-occurrence.

Counts decay in event time; the pairs kept are capped, the weakest dropped first.
"""

from __future__ import annotations

import math
from functools import lru_cache

import msgspec

from correlator.learning.decay import Decay

WINDOW = 600.0  # seconds: "starts within minutes of each other"
GAP = 1200.0  # far windows end this long before the alert starts...
CONTROL_WINDOWS = 4  # ...and there are this many of them
LOOKBACK = GAP + CONTROL_WINDOWS * WINDOW  # how far back starts are remembered
MIN_TOGETHER = 4.0  # near co-occurrences a pair needs before it can be associated
MAX_P_VALUE = 1e-3  # significance under the chance null (many pairs are tested)
MIN_LIFT = 2.0  # near rate over the far rate
MAX_PAIRS = 20_000
CHANCE = 1.0 / (1 + CONTROL_WINDOWS)  # under independence, the share of a pair's starts in the near window


class Association(msgspec.Struct, frozen=True):  # one per pair asked: a Struct builds 3x cheaper
    names: tuple[str, str]
    together: float  # decayed near co-occurrences
    by_chance: float  # what chance brings to one window: decayed far co-occurrences / CONTROL_WINDOWS
    lift: float
    tail: tuple[int, int]  # (near, near + far) as the test counts them

    @property
    def p_value(self) -> float:
        """Computed when asked: most pairs fail the cheaper conditions first, and on busy names
        (thousands of co-occurrences) the tail is costly."""
        return binomial_tail(*self.tail, CHANCE)

    @property
    def significant(self) -> bool:
        return self.together >= MIN_TOGETHER and self.lift >= MIN_LIFT and self.p_value <= MAX_P_VALUE

    @property
    def independent(self) -> bool:
        """Enough evidence that the pair starts together no more often than chance."""
        return self.together + self.by_chance * CONTROL_WINDOWS >= MIN_TOGETHER and self.lift < 1.0

    def describe(self) -> str:
        return (f"{self.together:.0f} times within {WINDOW / 60:.0f}m against {self.by_chance:.1f} by chance "
                f"(lift {self.lift:.1f}, p={self.p_value:.1g})")


def pair_of(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


@lru_cache(maxsize=65536)
def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    terms = [math.lgamma(n + 1) - math.lgamma(j + 1) - math.lgamma(n - j + 1) + j * log_p + (n - j) * log_q
             for j in range(k, n + 1)]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


class Cooccurrence:
    def __init__(self, decay: Decay, max_pairs: int = MAX_PAIRS):
        self.decay = decay
        self.max_pairs = max_pairs
        self.counts: dict[tuple[str, str], list[float]] = {}  # pair -> [near, far], stored (scaled)

    def credit(self, pair: tuple[str, str], near: bool, weight: float) -> None:
        """Count one co-occurrence (`weight`: Decay.weight of its time)."""
        row = self.counts.get(pair)
        if row is None:
            row = self.counts[pair] = [0.0, 0.0]
            if len(self.counts) > self.max_pairs * 1.25:
                self._prune()
                row = self.counts.setdefault(pair, [0.0, 0.0])
        row[0 if near else 1] += weight

    def association(self, a: str, b: str, t: float) -> Association | None:
        pair = pair_of(a, b)
        row = self.counts.get(pair)
        if row is None:
            return None
        return self.assess(pair, self.decay.value(row[0], t), self.decay.value(row[1], t))

    @staticmethod
    def assess(pair: tuple[str, str], near: float, far: float) -> Association:
        n, k = round(near + far), round(near)
        if n > 2000:  # the test's power is ample by then; keep its cost bounded
            k, n = round(k * 2000 / n), 2000
        by_chance = far / CONTROL_WINDOWS
        return Association(pair, near, by_chance, (near + 0.5) / (by_chance + 0.5), (k, n))

    def strongest(self, t: float, limit: int, name: str = "") -> list[Association]:
        """Significant associations, most significant first (of one alert name, if given)."""
        found = [self.assess(pair, self.decay.value(near, t), self.decay.value(far, t))
                 for pair, (near, far) in self.counts.items() if not name or name in pair]
        return sorted((a for a in found if a.significant), key=lambda a: (a.p_value, -a.lift, a.names))[:limit]

    def rescale(self, factor: float) -> None:
        for row in self.counts.values():
            row[0] *= factor
            row[1] *= factor

    def _prune(self) -> None:
        kept = sorted(self.counts, key=lambda pair: sum(self.counts[pair]), reverse=True)[:self.max_pairs]
        self.counts = {pair: self.counts[pair] for pair in kept}
