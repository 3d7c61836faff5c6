"""Keys by the time each was last touched, oldest first: a periodic sweep of the keys not touched
since a horizon pops just those instead of scanning every key held, so its cost per touch stays the
same however many keys are held (100k open alerts)."""

from __future__ import annotations

from datetime import datetime
from heapq import heappop, heappush
from typing import Iterator


class Expiry:
    def __init__(self) -> None:
        # (time, key) per touch; a key touched again keeps its older entries, which the sweep drops.
        self._heap: list[tuple[datetime, str]] = []

    def touched(self, key: str, at: datetime) -> None:
        heappush(self._heap, (at, key))

    def before(self, horizon: datetime, inclusive: bool = False) -> Iterator[str]:
        """Pops the keys of the touches before `horizon` (or at it, when `inclusive`): the caller
        checks each key's last touch, since a key may have been touched again after."""
        heap = self._heap
        while heap and (heap[0][0] <= horizon if inclusive else heap[0][0] < horizon):
            yield heappop(heap)[1]
