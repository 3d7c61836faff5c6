"""Metrics of this replica's role among replicas: the role and epoch read from memory at scrape
time (no I/O), the changes counted as they happen."""

from __future__ import annotations

from typing import Callable

from prometheus_client import Counter, Gauge

from correlator.metrics import Metrics
from correlator.store.leadership import ReplicaStatus, Role


class ReplicaMetrics:
    def __init__(self, metrics: Metrics, status: Callable[[], ReplicaStatus]):
        self._changes = Counter(
            "correlator_leadership_changes_total",
            "Times this replica became the leader or stopped being it, by the role it took.",
            ["role"], registry=metrics.registry)
        for role in Role:
            self._changes.labels(str(role))
        Gauge("correlator_replica_leader", "1 while this replica is the leader (runs the engine), 0 while it "
              "follows.", registry=metrics.registry).set_function(lambda: status().role is Role.LEADER)
        Gauge("correlator_leadership_epoch", "The leadership epoch this replica holds (0: none).",
              registry=metrics.registry).set_function(lambda: status().epoch or 0)

    def changed(self, status: ReplicaStatus) -> None:
        """A leadership change (Leadership's on_change; may run in a worker thread)."""
        self._changes.labels(str(status.role)).inc()
