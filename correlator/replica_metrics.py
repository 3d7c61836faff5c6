"""Metrics of this replica's role among replicas: updated on every leadership change, read by
Prometheus as is (no I/O at scrape time)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from correlator.metrics import Metrics
from correlator.store.leadership import ReplicaStatus, Role


class ReplicaMetrics:
    def __init__(self, metrics: Metrics, status: ReplicaStatus):
        self._changes = Counter(
            "correlator_leadership_changes_total",
            "Times this replica became the leader or stopped being it, by the role it took.",
            ["role"], registry=metrics.registry)
        self._leader = Gauge("correlator_replica_leader",
                             "1 while this replica is the leader (runs the engine), 0 while it follows.",
                             registry=metrics.registry)
        self._epoch = Gauge("correlator_leadership_epoch",
                            "The leadership epoch this replica holds (0: none).", registry=metrics.registry)
        for role in Role:
            self._changes.labels(str(role))
        self._show(status)

    def observe(self, status: ReplicaStatus) -> None:
        """A leadership change (Leadership's on_change; may run in a worker thread)."""
        self._changes.labels(str(status.role)).inc()
        self._show(status)

    def _show(self, status: ReplicaStatus) -> None:
        self._leader.set(1 if status.role is Role.LEADER else 0)
        self._epoch.set(status.epoch or 0)
