"""A labeled stream: faults and background noise over an estate, as alert episodes with their truth.

Faults arrive as a Poisson process sized by the density; noise fires at random with the same alert
names the faults use (single alerts, and flapping ones). Two causes firing the same alert on the
same subject at once make one episode: the first cause owns it, as an SRE would label it. The alerts
Prometheus rules write start at their rule group's next evaluation, as Prometheus stamps them.
"""

from __future__ import annotations

import math
import random
import zlib
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from correlator.ingest.fingerprint import fingerprint

from . import catalogue_hosts, catalogue_services  # noqa: F401  (they register the fault kinds)
from .cascade import FAULTS, Cascade, Symptom
from .render import render
from .signals import SIGNALS
from .topology import TEMPLATES, Estate, Naming, build_estate

START = datetime(2027, 3, 1, 6, tzinfo=timezone.utc)
DENSITIES = {"quiet": 25, "medium": 225, "busy": 850}  # alert episodes per hour
NOISE_SHARE = 0.35
RECURRENCE_SHARE = 0.1
# Each estate's vocabulary per layer in the mixed setting; "familiar" and "novel" settings replace it.
_MIXED = {
    "harbor": {"node": "kube", "vm": "zabbix", "k8s": "kube", "data": "awesome", "edge": "kube", "security": "kube"},
    "lumen": {"node": "awesome", "vm": "awesome", "k8s": "awesome", "data": "cloud", "edge": "cloud",
              "security": "cloud"},
    "quarry": {"node": "inhouse", "vm": "inhouse", "k8s": "inhouse", "data": "zabbix", "edge": "inhouse",
               "security": "inhouse"},
    "tern": {"node": "kube", "vm": "zabbix", "k8s": "cloud", "data": "kube", "edge": "awesome", "security": "cloud"},
}
FAMILIAR_VOCABULARIES, NOVEL_VOCABULARIES = ("kube", "awesome"), ("zabbix", "cloud", "inhouse")
_NOISY_SIGNALS = ("pod_not_ready", "pod_crashloop", "pod_throttled", "host_cpu", "host_memory", "probe_slow",
                  "probe_failed", "app_latency", "app_errors", "kafka_lag", "pg_slow", "host_disk_latency",
                  "deploy_replicas", "job_failed", "node_not_ready", "host_fs_full", "pvc_full", "host_down",
                  "exporter_down", "pg_connections", "redis_memory", "coredns_errors", "host_nic_errors")

# Prometheus evaluates each rule group on a fixed lattice: an alert's startsAt is the evaluation
# that first saw it, so the alerts of one rule starting within an interval share one startsAt.
EVALUATED = ("kube", "awesome", "inhouse")  # the vocabularies Prometheus rules write
EVALUATION_INTERVAL = {"harbor": 30.0, "lumen": 60.0, "quarry": 60.0, "tern": 15.0}  # seconds, per estate
_BACKEND_OF_SIGNAL = {"pg": "postgres", "mysql": "mysql", "redis": "redis", "kafka": "kafka", "rabbit": "rabbitmq",
                      "es": "elasticsearch", "ceph": "ceph"}


@dataclass
class Episode:
    labels: dict[str, str]
    annotations: dict[str, str]
    start: datetime
    end: datetime | None  # None: still firing when the stream ends
    vocabulary: str
    cluster: str  # "" for VMs
    incident: str | None
    category: str | None
    service_area: str | None
    priority: str | None
    root_cause: bool
    cause: str  # the fault kind, "noise", "flapping" or "heartbeat"

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.labels)


def vocabulary_map(r: random.Random, template: str, setting: str) -> dict[str, str]:
    chosen = dict(_MIXED[template], cloud="cloud")
    if setting == "mixed":
        return chosen
    pool = FAMILIAR_VOCABULARIES if setting == "familiar" else NOVEL_VOCABULARIES
    for layer in chosen:
        if layer != "cloud":
            chosen[layer] = r.choice([v for v in pool if not (v == "zabbix" and layer in ("k8s", "node", "security"))])
    return chosen


class StreamBuilder:
    def __init__(self, seed: int, hours: float, density: float, template: str | None = None,
                 faults: list[str] | None = None, vocabularies: str = "mixed", start: datetime = START,
                 naming: Naming = Naming()):
        self.r = random.Random(seed)
        self.seed, self.hours, self.density, self.start = seed, hours, density, start
        template = template or self.r.choice(sorted(TEMPLATES))
        self.estate: Estate = build_estate(self.r, template, vocabulary_map(self.r, template, vocabularies),
                                           naming)
        self.kinds = [FAULTS[name] for name in (faults or sorted(FAULTS))]
        self.episodes: list[Episode] = []
        self.incidents = 0

    def build(self) -> list[Episode]:
        """Causes at uniform random times (a Poisson process given its count) until the stream holds
        its density's episodes once overlaps are merged: 65% from faults, 35% noise (a third of it
        flapping)."""
        target, scale, counts = self.density * self.hours, 1.0, Counter()
        for _ in range(5):
            for cause, share in ((self._fault, 1 - NOISE_SHARE), (self._noise, NOISE_SHARE * 0.7),
                                 (self._flapping, NOISE_SHARE * 0.3)):
                for _ in range(int(target) * 10 + 10):  # bounded: a cause may render nothing in this estate
                    if counts[cause.__name__] >= target * share * scale:
                        break
                    before = len(self.episodes)
                    cause(self.r.uniform(0, self.hours * 3600))
                    counts[cause.__name__] += len(self.episodes) - before
            merged = _merged(self.episodes)
            if len(merged) >= 0.97 * target:
                break
            scale *= target / max(1, len(merged))
        self._heartbeats()
        return _merged(self.episodes)

    def _incident_id(self, prefix: str) -> str:
        self.incidents += 1
        return f"{self.estate.name}-{self.seed}-{prefix}{self.incidents}"

    def _fault(self, at: float) -> None:
        kind = self.r.choice(self.kinds)
        minutes = self.r.choice((5, 10, 20, 30, 45, 60, 90, 120)) * self.r.uniform(0.8, 1.2)
        cascade = Cascade(self.r, self.estate, minutes * 60)
        kind.build(cascade)
        rendered = [(s, a) for s in cascade.symptoms
                    if (a := render(self.estate, s.signal, s.subject, s.cluster, s.upstream)) is not None]
        if not rendered:
            return
        production = any(s.cluster is None or s.cluster.production for s, _ in rendered)
        level = min(5, max(1, kind.priority + (0 if production else 1) - (1 if len(rendered) >= 15 else 0)))
        # Some faults recur on the same victims minutes after they cleared: a new incident each time.
        for _ in range(1 + (self.r.random() < RECURRENCE_SHARE)):
            incident = self._incident_id("F")
            ends = at
            for symptom, alert in rendered:
                start = at + symptom.after
                end = at + cascade.duration + self.r.uniform(0, 300) if symptom.lasts is None \
                    else start + symptom.lasts
                ends = max(ends, end)
                self._add(alert, symptom, start, max(end, start + 60), incident, cascade.category or kind.category,
                          kind.service_area,
                          level, symptom.root, kind.name)
            at = ends + self.r.uniform(300, 1800)

    def _noise(self, at: float) -> None:
        signal = SIGNALS[self.r.choice(_NOISY_SIGNALS)]
        symptom = self._random_symptom(signal.name)
        alert = render(self.estate, signal.name, symptom.subject, symptom.cluster)
        if alert is not None:
            self._add(alert, symptom, at, at + self.r.uniform(120, 3600), self._incident_id("N"), signal.category,
                      "availability", _noise_priority(signal, symptom), True, "noise")

    def _flapping(self, at: float) -> None:
        signal = SIGNALS[self.r.choice(_NOISY_SIGNALS)]
        symptom = self._random_symptom(signal.name)
        alert = render(self.estate, signal.name, symptom.subject, symptom.cluster)
        if alert is None:
            return
        incident = self._incident_id("N")
        for _ in range(self.r.randint(3, 8)):
            end = at + self.r.uniform(60, 300)
            self._add(alert, symptom, at, end, incident, signal.category, "availability",
                      _noise_priority(signal, symptom),
                      True, "flapping")
            at = end + self.r.uniform(60, 600)

    def _random_symptom(self, signal: str) -> Symptom:
        """The signal on a random subject of the kind it is about."""
        cascade = Cascade(self.r, self.estate, 0)
        subject_kind = SIGNALS[signal].subject
        cluster = cascade.cluster()
        if subject_kind == "host":
            subject = cascade.node(cluster) if signal.startswith(("node_", "kubelet", "cni")) or self.r.random() < 0.7 \
                else cascade.vm()
        elif subject_kind == "pod":
            subject = self.r.choice(self.r.choice(cluster.workloads).pods)
        elif subject_kind == "workload":
            subject = cascade.app(cluster)
        elif subject_kind == "backend":
            kind = _BACKEND_OF_SIGNAL[signal.split("_")[0]]
            subject = self.r.choice([b for b in self.estate.backends if b.kind == kind])
        elif subject_kind in ("probe", "cert"):
            subject = (subject_kind, cascade.app(cluster, public=True).url)
        elif subject_kind == "volume":
            sts = self.r.choice([w for w in cluster.workloads if w.kind == "statefulset"])
            subject = ("volume", f"{sts.namespace}/data-{sts.pods[0].name}")
        else:
            subject = ("component", "kube-system/coredns")
        named_by_url = subject_kind in ("probe", "cert", "volume", "cluster")  # no host or pod to tell the cluster
        cascade.emit(signal, subject, cluster=cluster if named_by_url else None)
        return cascade.symptoms[0]

    def _heartbeats(self) -> None:
        for cluster in self.estate.clusters:
            alert = render(self.estate, "host_down", cluster.nodes[0], cluster)
            if alert is not None and alert.vocabulary in ("kube", "awesome"):
                labels = {k: v for k, v in alert.labels.items() if k in (self.estate.cluster_label, "prometheus")}
                self.episodes.append(Episode(
                    {**labels, "alertname": "Watchdog", "severity": "none"},
                    {"summary": "An alert that should always be firing to certify that Alertmanager is working"},
                    self.start, None, alert.vocabulary, cluster.name, None, None, None, None, False, "heartbeat"))

    def _add(self, alert, symptom: Symptom, start: float, end: float, incident: str, category: str, area: str,
             level: int, root: bool, cause: str) -> None:
        stream_end = self.hours * 3600
        if alert.vocabulary in EVALUATED:
            start = evaluated(start, alert.labels["alertname"], EVALUATION_INTERVAL[self.estate.name])
            end = max(end, start + 60)
        if start >= stream_end - 60 or start < 0:  # a minute before the end: every episode is delivered
            return
        self.episodes.append(Episode(
            alert.labels, alert.annotations, self.start + timedelta(seconds=round(start, 3)),
            None if end >= stream_end else self.start + timedelta(seconds=round(end, 3)), alert.vocabulary,
            symptom.cluster.name if symptom.cluster else "", incident, category, area, f"P{level}", root, cause))


def evaluated(onset: float, name: str, interval: float) -> float:
    """When Prometheus first sees a condition that began at `onset` (seconds into the stream): the
    next evaluation of its rule's group, on the group's lattice (a phase per rule, from its name)."""
    phase = zlib.crc32(name.encode()) % int(interval * 1000) / 1000
    return phase + math.ceil((onset - phase) / interval) * interval


def _noise_priority(signal, symptom: Symptom) -> int:
    level = {"critical": 3, "warning": 4, "info": 5}[signal.severity]
    return min(5, level + (0 if symptom.cluster is None or symptom.cluster.production else 1))


def _merged(episodes: list[Episode]) -> list[Episode]:
    """One episode per alert while it fires: overlapping causes of one label set merge into the first."""
    by_fingerprint: dict[str, list[Episode]] = {}
    for episode in sorted(episodes, key=lambda e: e.start):
        chain = by_fingerprint.setdefault(episode.fingerprint, [])
        last = chain[-1] if chain else None
        if last is not None and (last.end is None or episode.start <= last.end):
            if last.end is not None:
                last.end = None if episode.end is None else max(last.end, episode.end)
            continue
        chain.append(episode)
    return sorted((e for chain in by_fingerprint.values() for e in chain), key=lambda e: e.start)
