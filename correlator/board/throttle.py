"""Failed logins, on the board's form and on the API alike, counted per client address and user
name: past `MAX_FAILURES` within `WINDOW` the answer is 429 without checking the credentials, until
the oldest failure is out of the window. A token has no user name: its failures count per address
only. Bounded in memory."""

from __future__ import annotations

import base64
import binascii
import time
from collections import OrderedDict, deque
from typing import Callable

from aiohttp import web

from correlator.domain import FieldError
from correlator.http_errors import error_response

MAX_FAILURES = 10
WINDOW = 300.0  # seconds
MAX_CLIENTS = 10_000  # (address, user) pairs remembered; the least recently failed are forgotten first
MAX_USERNAME = 256  # characters of a user name kept as a key


def api_client(request: web.Request) -> tuple[str, str]:
    """(address, user name) of the credentials an API request presents: the user name of Basic
    credentials, none for a token."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    username = ""
    if scheme.lower() == "basic":
        try:
            username = base64.b64decode(credentials.strip(), validate=True).partition(b":")[0] \
                .decode("utf-8", "replace")[:MAX_USERNAME]
        except (binascii.Error, ValueError):
            pass
    return request.remote or "", username


def held_off(wait: float, field: str) -> web.Response:
    """The 429 a client past MAX_FAILURES gets, with when to try again."""
    response = error_response(429, "too many failed logins; try again later", [FieldError(
        field, f"{MAX_FAILURES} failed logins within {WINDOW / 60:.0f} minutes from this address")])
    response.headers["Retry-After"] = str(max(int(wait), 1))
    return response


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
