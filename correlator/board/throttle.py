"""Failed board logins, counted per client address and user name: past `MAX_FAILURES` within
`WINDOW` the login answers 429 without checking the credentials, until the oldest failure is out of
the window. A token has no user name: its failures count per address only. Bounded in memory."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from typing import Callable

MAX_FAILURES = 10
WINDOW = 300.0  # seconds
MAX_CLIENTS = 10_000  # (address, user) pairs remembered; the least recently failed are forgotten first


class LoginThrottle:
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._failures: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()

    def wait(self, client: tuple[str, str]) -> float:
        """Seconds until `client` may try again (0: now)."""
        failures = self._recent(client)
        if failures is None or len(failures) < MAX_FAILURES:
            return 0.0
        return max(failures[0] + WINDOW - self._clock(), 0.0)

    def failed(self, client: tuple[str, str]) -> None:
        failures = self._recent(client)
        if failures is None:
            failures = self._failures[client] = deque(maxlen=MAX_FAILURES)
            if len(self._failures) > MAX_CLIENTS:
                self._failures.popitem(last=False)
        self._failures.move_to_end(client)
        failures.append(self._clock())

    def succeeded(self, client: tuple[str, str]) -> None:
        self._failures.pop(client, None)

    def _recent(self, client: tuple[str, str]) -> deque[float] | None:
        failures = self._failures.get(client)
        if failures is not None:
            horizon = self._clock() - WINDOW
            while failures and failures[0] < horizon:
                failures.popleft()
        return failures
