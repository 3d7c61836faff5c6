"""Incident metrics, read off what each engine step saved: counters and histograms from the new
timeline events and from what the engine counted since the last save, gauges from a snapshot of
the engine's state taken in the engine thread. The collector only reads that snapshot: no I/O and
no engine access at scrape time."""

from __future__ import annotations

import time
from collections import Counter as Tally
from dataclasses import dataclass, field

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from correlator.config import SlaConfig
from correlator.domain import ACTIVE_STATES, Category, Incident, ProblemState, TimelineEvent, TimelineKind
from correlator.engine.core import DELIVERY_DELAY_BUCKETS, Engine, LearnedDecision, Outcome
from correlator.engine_service import EngineCounts, StepStage
from correlator.metrics import Metrics

SNAPSHOT_SECONDS = 1.0

# From a minute to a few days: acknowledgement and resolution times of incidents.
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
RESPONSE_BUCKETS = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 259200, 604800)


@dataclass(frozen=True)
class EngineSnapshot:
    open_incidents: dict[tuple[str, str, str, str], int] = field(default_factory=dict)  # (priority, category, team, status)
    problems_open: int = 0
    candidates: dict[str, int] = field(default_factory=dict)  # group rule -> alerts held below its min_alerts


class _SnapshotCollector(Collector):
    def __init__(self, observer: "IncidentMetrics"):
        self._observer = observer

    def collect(self):
        snapshot = self._observer.snapshot
        open_incidents = GaugeMetricFamily(
            "correlator_incidents_open", "Incidents not resolved or closed, by priority, category, team and status.",
            labels=["priority", "category", "team", "status"])
        for (priority, category, team, status), count in sorted(snapshot.open_incidents.items()):
            open_incidents.add_metric([priority, category, team, status], count)
        yield open_incidents
        yield GaugeMetricFamily("correlator_problems_open", "Problem records open.", value=snapshot.problems_open)
        candidates = GaugeMetricFamily(
            "correlator_incident_candidates", "Firing alerts a group rule holds as candidates, opening no incident "
            "until min_alerts of their group fire within its window, by rule.", labels=["rule"])
        for rule, count in sorted(snapshot.candidates.items()):
            candidates.add_metric([rule], count)
        yield candidates
        new, opened = self._observer.new_since_start, self._observer.opened_since_start
        yield GaugeMetricFamily(
            "correlator_alert_reduction_ratio",
            "New alert episodes per incident opened since start: how many pages one incident saves.",
            value=new / opened if opened else 0.0)
        cumulative, buckets = 0, []
        for bound, count in zip(DELIVERY_DELAY_BUCKETS, self._observer.delays):
            cumulative += count
            buckets.append((floatToGoString(bound), cumulative))
        yield HistogramMetricFamily(
            "correlator_alert_delivery_delay_seconds",
            "Time from a new alert episode's startsAt to the notification that brought it: the sender's "
            "delays (Alertmanager's group_wait, and up to its group_interval for a group's later alerts).",
            buckets=buckets, sum_value=self._observer.delay_seconds)


class IncidentMetrics:
    def __init__(self, metrics: Metrics, sla: SlaConfig):
        registry = metrics.registry
        self._sla = sla
        self.snapshot = EngineSnapshot()
        self.opened_since_start = 0
        self.new_since_start = 0
        self.delays = [0] * len(DELIVERY_DELAY_BUCKETS)  # new episodes by delivery delay, since start
        self.delay_seconds = 0.0
        self.engine_alerts = Counter(
            "correlator_engine_alerts_total", "Alerts processed by the engine, by outcome (new episode, repeat "
            "snapshot absorbed, resolution, maintenance).", ["outcome"], registry=registry)
        for outcome in Outcome:
            self.engine_alerts.labels(outcome.value)
        self.opened = Counter("correlator_incidents_opened_total", "Incidents opened, by priority and category.",
                              ["priority", "category"], registry=registry)
        self.resolved = Counter("correlator_incidents_resolved_total", "Incidents resolved, by priority and category.",
                                ["priority", "category"], registry=registry)
        self.reopened = Counter("correlator_incidents_reopened_total",
                                "Incidents reopened, by a re-fire or an operator.",
                                ["priority", "category"], registry=registry)
        self.escalated = Counter("correlator_incidents_escalated_total", "Escalations, by priority.", ["priority"],
                                 registry=registry)
        self.acknowledge_time = Histogram(
            "correlator_incident_time_to_acknowledge_seconds", "Time from opening to acknowledgement (MTTA).",
            ["priority"], buckets=RESPONSE_BUCKETS, registry=registry)
        self.resolve_time = Histogram(
            "correlator_incident_time_to_resolve_seconds", "Time from opening to resolution (MTTR).",
            ["priority"], buckets=RESPONSE_BUCKETS, registry=registry)
        self.sla_breaches = Counter(
            "correlator_incident_sla_breaches_total", "Incidents acknowledged or resolved later than the target "
            "of their priority (engine.sla).", ["priority", "target"], registry=registry)
        self.rule_matches = Counter(
            "correlator_rule_matches_total", "Alerts placed in incidents, by the rule that placed them and why.",
            ["rule", "reason"], registry=registry)
        self.learned_decisions = Counter(
            "correlator_learned_join_decisions_total", "Alerts no rule placed in an open incident, by what the "
            "learned joining stage decided: joined a member on a relate rule, a learned association or a quiet "
            "entity, joined its name's storm, or opened a new incident (no evidence).",
            ["decision"], registry=registry)
        for decision in LearnedDecision:
            self.learned_decisions.labels(decision.value)
        self.classifier_confidence = Histogram(
            "correlator_classifier_confidence", "Probability of each classification the model made (fields no "
            "classify rule set), by field.", ["field"], buckets=CONFIDENCE_BUCKETS, registry=registry)
        self.low_confidence = Counter(
            "correlator_classifier_low_confidence_total", "Model classifications below "
            "ml.classification.low_confidence (shown as low-confidence in the incident), by field.", ["field"],
            registry=registry)
        for name in ("category", "service_area"):
            self.classifier_confidence.labels(name)
            self.low_confidence.labels(name)
        categories = [c.value for c in Category] + ["none"]
        for priority in ("P1", "P2", "P3", "P4", "P5"):
            for category in categories:  # every series exists from the start: rate() and alerts see them
                for counter in (self.opened, self.resolved, self.reopened):
                    counter.labels(priority, category)
            for target in ("acknowledge", "resolve"):
                self.sla_breaches.labels(priority, target)
            self.acknowledge_time.labels(priority)
            self.resolve_time.labels(priority)
            self.escalated.labels(priority)
        self.step_failures = Counter(
            "correlator_engine_step_failures_total", "Engine steps that failed, by stage (read, process, save, "
            "restore); each is retried after a backoff.", ["stage"], registry=registry)
        for stage in StepStage:
            self.step_failures.labels(stage.value)
        self.skipped_alerts = Counter(
            "correlator_engine_skipped_alerts_total", "Alerts the engine failed on several times in a row "
            "and skipped (each logged with its notification id and offset).", registry=registry)
        self._next_snapshot = 0.0
        registry.register(_SnapshotCollector(self))

    def observe(self, saved: list[tuple[Incident, list[TimelineEvent]]], engine: Engine, counts: EngineCounts,
                refresh: bool = False) -> None:
        """After a step was saved (in the engine thread): count what happened (`counts`: what the
        engine counted since the last save), refresh the snapshot (at most once a second, or now
        with `refresh`: after an operator action)."""
        for incident, events in saved:
            labels = (incident.priority.value, incident.category.value if incident.category else "none")
            for event in events:
                if event.kind is TimelineKind.CREATED:
                    self.opened.labels(*labels).inc()
                    self.opened_since_start += 1
                elif event.kind is TimelineKind.RESOLVED:
                    self.resolved.labels(*labels).inc()
                    self._response(incident, event, "resolve", self.resolve_time)
                elif event.kind is TimelineKind.ACKNOWLEDGED and event.at == incident.acknowledged_at:
                    self._response(incident, event, "acknowledge", self.acknowledge_time)
                elif event.kind is TimelineKind.REOPENED:
                    self.reopened.labels(*labels).inc()
                elif event.kind is TimelineKind.ESCALATED:
                    self.escalated.labels(labels[0]).inc()
                elif event.kind is TimelineKind.ALERT_JOINED:
                    self.rule_matches.labels(event.detail.get("rule") or "none", event.detail["reason"].value).inc()
                elif event.kind is TimelineKind.CLASSIFIED:
                    for name, confidence in event.detail.get("confidence", {}).items():
                        self.classifier_confidence.labels(name).observe(confidence)
                    for name in event.detail.get("low_confidence", ()):
                        self.low_confidence.labels(name).inc()
        for outcome, count in counts.outcomes.items():
            self.engine_alerts.labels(outcome.value).inc(count)
        self.new_since_start += counts.outcomes.get(Outcome.NEW, 0)
        for decision, count in counts.decisions.items():
            self.learned_decisions.labels(decision.value).inc(count)
        self.delays = [total + count for total, count in zip(self.delays, counts.delays)]
        self.delay_seconds += counts.delay_seconds
        self._refresh(engine, force=refresh)

    def step_failed(self, stage: StepStage) -> None:
        self.step_failures.labels(stage.value).inc()

    def alert_skipped(self) -> None:
        self.skipped_alerts.inc()

    def _refresh(self, engine: Engine, force: bool) -> None:
        """Refresh the state gauges. They walk every open incident, so at most once a second (the
        engine's idle tick comes every second), unless `force`d."""
        now = time.monotonic()
        if now < self._next_snapshot and not force:
            return
        self._next_snapshot = now + SNAPSHOT_SECONDS
        tally: Tally = Tally()
        for incident in engine.incidents.values():
            if incident.state in ACTIVE_STATES:
                tally[(incident.priority.value, incident.category.value if incident.category else "none",
                       incident.team or "none", incident.state.value)] += 1
        problems_open = sum(1 for p in engine.problems.values() if p.state is ProblemState.OPEN)
        self.snapshot = EngineSnapshot(dict(tally), problems_open, dict(Tally(c.rule for c in engine.candidates())))

    def _response(self, incident: Incident, event: TimelineEvent, target: str, histogram: Histogram) -> None:
        seconds = max(0.0, (event.at - incident.opened_at).total_seconds())
        priority = incident.priority.value
        histogram.labels(priority).observe(seconds)
        limit = getattr(self._sla, target).get(priority)
        if limit is not None and seconds > limit:
            self.sla_breaches.labels(priority, target).inc()

