"""Labeled alert streams for the quality benchmark, independent of the model's training corpus.

Its own estates (topology.py), fault catalogue (cascade.py, catalogue_*.py), five vocabularies
(signals.py, render.py), noise (stream.py) and delivery (delivery.py): nothing here imports
correlator's corpus generator or templates, so what the shipped model learned from those cannot
flatter these figures. docs/quality.md describes the streams and the truth file.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from correlator.ingest.fingerprint import fingerprint
from correlator.units import rfc3339

from .cascade import FAULTS
from .delivery import Notification, deliver
from .stream import DENSITIES, START, Episode, StreamBuilder
from .topology import TEMPLATES, Naming

__all__ = ["DENSITIES", "FAULTS", "TEMPLATES", "Naming", "Stream", "generate", "write"]


@dataclass
class Stream:
    estate: str
    start: datetime
    hours: float
    notifications: list[Notification]
    episodes: list[Episode]

    @property
    def end(self) -> datetime:
        return self.start + timedelta(hours=self.hours)


def generate(seed: int, hours: float = 3.0, density: float = DENSITIES["medium"], estate: str | None = None,
             faults: list[str] | None = None, vocabularies: str = "mixed", start: datetime = START,
             naming: Naming = Naming(), placements: bool = False) -> Stream:
    """A seeded stream: `density` alert episodes per hour on the named estate template (default:
    one drawn by the seed), faults from `faults` (default: the whole catalogue), vocabularies
    "mixed" (each estate's own), "familiar" (kube-prometheus and awesome-prometheus-alerts names only)
    or "novel" (Zabbix, cloud monitors and in-house names only); `naming`: the labels spelt as none
    of the templates do; `placements`: the stream begins with where each cluster's pods run, as the
    daemon logs it when it first reads `kube_pod_info` (learning.placements)."""
    builder = StreamBuilder(seed, hours, density, estate, faults, vocabularies, start, naming)
    episodes = builder.build()
    notifications = deliver(random.Random(seed + 1), builder.estate, episodes, start + timedelta(hours=hours))
    carried = {(fingerprint(e["labels"]), e["startsAt"]) for n in notifications
               for e in (n.body if n.source == "prometheus" else n.body["alerts"])}
    delivered = [e for e in episodes if (e.fingerprint, rfc3339(e.start)) in carried]
    if placements:
        notifications = [Notification(start, "placement", {"cluster": cluster.name, "pods": sorted(
            ({"namespace": pod.namespace, "pod": pod.name, "node": pod.host.name}
             for workload in cluster.workloads for pod in workload.pods),
            key=lambda placed: (placed["namespace"], placed["pod"]))})
            for cluster in builder.estate.clusters] + notifications
    return Stream(builder.estate.name, start, hours, notifications, delivered)


def truth_line(e: Episode) -> dict:
    """One line of the truth file (docs/quality.md)."""
    return {"fingerprint": e.fingerprint, "starts_at": rfc3339(e.start), "incident": e.incident,
            "category": e.category, "service_area": e.service_area, "priority": e.priority,
            "vocabulary": e.vocabulary, "root_cause": e.root_cause, "cause": e.cause,
            "alertname": e.labels["alertname"]}


def write(stream: Stream, recording: Path, truth: Path) -> None:
    with recording.open("w") as out:
        for n in stream.notifications:
            out.write(json.dumps({"at": rfc3339(n.at), "source": n.source, "body": n.body},
                                 separators=(",", ":")) + "\n")
    with truth.open("w") as out:
        for episode in stream.episodes:
            out.write(json.dumps(truth_line(episode), separators=(",", ":")) + "\n")
