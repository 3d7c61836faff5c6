"""Exponentially decaying counts in event time, at O(1) per update.

A count is stored in units of `exp((t - origin) / tau)` at the time it is added, so that old and
new additions compare directly: a stored value divided by `scale(t)` is its decayed value at `t`.
When the scale grows large, every stored value is divided by it and the origin moves (`rescaled`).
"""

from __future__ import annotations

import math

HALF_LIFE = 3 * 86400.0  # seconds: what the estate did three days ago counts half


class Decay:
    def __init__(self, half_life: float = HALF_LIFE, origin: float | None = None):
        self.tau = half_life / math.log(2)
        self.origin = origin
        self._last_t: float | None = None
        self._last_origin: float | None = None
        self._last_weight = 1.0

    def weight(self, t: float) -> float:
        """What one event at `t` adds to a stored count (the last one is kept: an alert asks often)."""
        if t == self._last_t and self.origin == self._last_origin:
            return self._last_weight
        if self.origin is None:
            self.origin = t
        exponent = (t - self.origin) / self.tau
        self._last_t, self._last_origin = t, self.origin
        # Bounded both ways: a time far from the origin (an alert that says it started in 1970)
        # must neither overflow nor give a weight of 0, by which a count is divided.
        self._last_weight = math.exp(min(max(exponent, -700.0), 700.0))
        return self._last_weight

    def due(self, t: float) -> bool:
        """The scale has grown enough that stored counts should be rescaled (`rescale`)."""
        return self.origin is not None and (t - self.origin) / self.tau > 25.0

    def rescale(self, t: float) -> float:
        """Move the origin to `t`; returns the factor every stored count must be multiplied by."""
        factor = 1.0 / self.weight(t)
        self.origin = t
        return factor

    def value(self, stored: float, t: float) -> float:
        """A stored count's decayed value at `t`."""
        return stored / self.weight(t)
