"""Metric definitions on a registry we own (no process-global state, so tests can build many apps).
Counters and histograms update inline; gauges of state are read at scrape time from values the
components already hold in memory (no I/O in a collector)."""

from __future__ import annotations

from typing import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import GaugeMetricFamily

from correlator import __version__
from correlator.domain import Source

ENDPOINTS = ("alertmanager", "prometheus", "generic")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        Info("correlator_build", "Build information.", registry=self.registry).info({"version": __version__})
        self.ingest_requests = Counter(
            "correlator_ingest_requests_total", "Alert notifications received, by endpoint and HTTP code.",
            ["endpoint", "code"], registry=self.registry)
        self.ingest_alerts = Counter(
            "correlator_ingest_alerts_total", "Alerts durably stored (repeats included), by source and status.",
            ["source", "status"], registry=self.registry)
        self.ingest_invalid_alerts = Counter(
            "correlator_ingest_invalid_alerts_total", "Alerts rejected by validation, by source.",
            ["source"], registry=self.registry)
        self.ingest_truncated_alerts = Counter(
            "correlator_ingest_truncated_alerts_total", "Alerts a sender left out of its notifications "
            "(Alertmanager's truncatedAlerts, from a receiver's max_alerts), by source.",
            ["source"], registry=self.registry)
        self.http_duration = Histogram(
            "correlator_http_request_duration_seconds", "HTTP request latency, by route and method.",
            ["route", "method"], registry=self.registry,
            buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
        self.commit_duration = Histogram(
            "correlator_store_commit_duration_seconds", "Time of one group commit.", registry=self.registry,
            buckets=(.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5))
        self.commit_alerts = Histogram(
            "correlator_store_commit_alerts", "Alerts written by one group commit.", registry=self.registry,
            buckets=(1, 10, 100, 1000, 10000, 100000))
        self.commit_requests = Counter(
            "correlator_store_committed_requests_total", "Requests answered by group commits.",
            registry=self.registry)
        self.commit_failures = Counter(
            "correlator_store_commit_failures_total", "Group commits that failed (requests answered 503).",
            registry=self.registry)
        self.engine_restarts = Counter(
            "correlator_engine_restarts_total", "Times serve restarted the engine process after it exited.",
            registry=self.registry)
        for endpoint in ENDPOINTS:
            for code in ("200", "400", "401", "413", "415", "503"):
                self.ingest_requests.labels(endpoint, code)
        for source in Source:
            for status in ("firing", "resolved"):
                self.ingest_alerts.labels(source.value, status)
            self.ingest_invalid_alerts.labels(source.value)
            self.ingest_truncated_alerts.labels(source.value)

    def gauge(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """A gauge whose value is read from memory at scrape time."""
        Gauge(name, documentation, registry=self.registry).set_function(read)


class EngineMetrics:
    """The engine's metrics beside those of IncidentMetrics: on serve's registry when the engine runs
    in serve's process, else on the engine process's own (serve appends its text to /metrics)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.rule_reloads = Counter(
            "correlator_rules_reloads_total", "Rule reloads, by trigger (signal, api, file) and outcome.",
            ["trigger", "outcome"], registry=self.registry)
        self.rule_reload_success = Gauge(
            "correlator_rules_last_reload_success_timestamp_seconds", "When rules were last loaded successfully.",
            registry=self.registry)
        self.rules_loaded = Gauge("correlator_rules_loaded", "Rules in force.", registry=self.registry)
        for trigger in ("signal", "api", "file"):
            for outcome in ("success", "failure"):
                self.rule_reloads.labels(trigger, outcome)


class ForwardMetrics:
    """Forwarding (correlator/forward/worker.py): deliveries and their latency inline; the outbox's
    depth, oldest pending age and dead letters per destination from the worker's last look at the
    store (a snapshot: the collector does no I/O)."""

    OUTCOMES = ("delivered", "skipped", "retry", "dead")

    def __init__(self, registry: CollectorRegistry) -> None:
        self.deliveries = Counter(
            "correlator_forward_deliveries_total", "Delivery attempts, by destination and outcome (delivered, "
            "skipped, retry, dead).", ["destination", "outcome"], registry=registry)
        self.coalesced = Counter(
            "correlator_forward_coalesced_total", "Pending updates folded into a later one before delivery, "
            "by destination.", ["destination"], registry=registry)
        self.latency = Histogram(
            "correlator_forward_delivery_duration_seconds", "Time of one delivery attempt, by destination.",
            ["destination"], registry=registry, buckets=(.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30))
        self.snapshot: dict[str, tuple[float, float, float]] = {}
        registry.register(_OutboxCollector(self))

    def known(self, destinations) -> None:
        for name in destinations:
            for outcome in self.OUTCOMES:
                self.deliveries.labels(name, outcome)
            self.coalesced.labels(name)
            self.latency.labels(name)
            self.snapshot.setdefault(name, (0.0, 0.0, 0.0))

    def delivered(self, destination: str, outcome: str, seconds: float, coalesced: int = 0) -> None:
        self.deliveries.labels(destination, outcome).inc()
        self.latency.labels(destination).observe(seconds)
        if coalesced:
            self.coalesced.labels(destination).inc(coalesced)

    def observe_outbox(self, stats, now, destinations) -> None:
        """`stats`: destination -> DestinationStats, as the worker read them at `now`."""
        snapshot = {name: (0.0, 0.0, 0.0) for name in destinations}
        for name, found in stats.items():
            age = (now - found.oldest_pending).total_seconds() if found.oldest_pending is not None else 0.0
            snapshot[name] = (float(found.pending), max(0.0, age), float(found.dead))
        self.snapshot = snapshot


class _OutboxCollector:
    def __init__(self, metrics: ForwardMetrics):
        self._metrics = metrics

    def collect(self):
        families = [GaugeMetricFamily("correlator_forward_outbox_pending", "Changes waiting for delivery, by "
                                      "destination.", labels=["destination"]),
                    GaugeMetricFamily("correlator_forward_outbox_oldest_pending_seconds", "Age of the oldest change "
                                      "waiting for delivery, by destination (0: none).", labels=["destination"]),
                    GaugeMetricFamily("correlator_forward_dead_letters", "Changes given up on (dead letters), by "
                                      "destination, until retried.", labels=["destination"])]
        for name, values in sorted(self._metrics.snapshot.items()):
            for family, value in zip(families, values):
                family.add_metric([name], value)
        return families
