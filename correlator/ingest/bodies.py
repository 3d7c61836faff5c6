"""Request bodies in memory: a byte budget shared by every ingest request in flight.

A body is admitted only after its headers authenticated and its declared size fitted the limit; it
then holds its share of the budget until its answer is sent. Over the budget the request gets 503
(with Retry-After), which Alertmanager retries, instead of the daemon growing without bound."""

from __future__ import annotations


class BodyBudget:
    """Used from the event loop only (no lock)."""

    def __init__(self, max_body_size: int, max_in_flight: int):
        self.max_body_size = max_body_size
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self.peak = 0  # the most body bytes ever held at once

    def share_for(self, content_length: int | None, encoded: bool) -> int:
        """What a body takes from the budget: its declared length, or the limit when it is sent
        chunked (its length is known only once read) or compressed (`encoded`: a 1 MB gzip body
        inflates to the limit)."""
        return self.max_body_size if content_length is None or encoded else content_length

    def fits(self, size: int) -> bool:
        return self.in_flight + size <= self.max_in_flight

    def reserve(self, size: int) -> bool:
        if not self.fits(size):
            return False
        self.in_flight += size
        self.peak = max(self.peak, self.in_flight)
        return True

    def release(self, size: int) -> None:
        self.in_flight -= size
