"""Truth from what Alertmanager sent and the fault script's log, and the engine's score against it.

An alert episode (fingerprint, startsAt) belongs to the fault that was active, or had ended at most
TAIL before, when the episode started, on one of the fault's scrape jobs. Everything else is
background (no incident, not scored): alerts of the shared machine's load, the always-firing dead
man's switch, and an alert that was already firing when the fault began and only fired again
after it (steady state resumed, not caused by the fault).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from correlator.config import Config
from correlator.ingest.sources import parsers
from correlator.replay import ReplaySummary, read_recording

TAIL = timedelta(seconds=90)  # PostgresqlRestarted fires for 60s after the restart


@dataclass
class Episode:
    fingerprint: str
    starts_at: datetime
    labels: dict[str, str]
    ends_at: datetime | None = None  # None: still firing when the recording ends

    def firing_at(self, at: datetime) -> bool:
        return self.starts_at <= at and (self.ends_at is None or self.ends_at >= at)


@dataclass(frozen=True)
class FaultRecord:
    id: str
    kind: str
    jobs: tuple[str, ...]
    start: datetime
    end: datetime


def read_faults(path: Path) -> list[FaultRecord]:
    faults = []
    for line in path.read_text().splitlines():
        f = json.loads(line)
        faults.append(FaultRecord(f["id"], f["kind"], tuple(f["jobs"]), datetime.fromisoformat(f["start"]),
                                  datetime.fromisoformat(f["end"])))
    return faults


def read_episodes(recording: Path) -> dict[tuple[str, datetime], Episode]:
    """Every episode Alertmanager sent, parsed as correlator parses it, with its resolve time."""
    config = Config()
    episodes: dict[tuple[str, datetime], Episode] = {}
    with recording.open("rb") as lines:
        for _, alerts in read_recording(lines, parsers(config.ingest.mappings), config.ingest_policy(),
                                        skip_bad=False, summary=ReplaySummary()):
            for alert in alerts:
                key = (alert.fingerprint, alert.starts_at)
                episode = episodes.setdefault(key, Episode(alert.fingerprint, alert.starts_at, dict(alert.labels)))
                if alert.status == "resolved":
                    episode.ends_at = alert.ends_at
    return episodes


def cause(episode: Episode, faults: list[FaultRecord], others: list[Episode]) -> FaultRecord | None:
    for fault in faults:
        if episode.labels.get("job") not in fault.jobs or not fault.start <= episode.starts_at <= fault.end + TAIL:
            continue
        resumed = any(o.fingerprint == episode.fingerprint and o.starts_at < fault.start and o.firing_at(fault.start)
                      for o in others)
        return None if resumed else fault
    return None


def derive_truth(episodes: dict[tuple[str, datetime], Episode], faults: list[FaultRecord]) -> list[dict]:
    """One line per episode, in the corpus truth format (`incident` null for background)."""
    truth = []
    for episode in sorted(episodes.values(), key=lambda e: (e.starts_at, e.fingerprint)):
        fault = cause(episode, faults, list(episodes.values()))
        truth.append({"fingerprint": episode.fingerprint, "startsAt": go_time(episode.starts_at),
                      "incident": fault.id if fault else None, "category": None, "service_area": None,
                      "priority": None, "scenario": fault.kind if fault else "background",
                      "alertname": episode.labels.get("alertname"), "job": episode.labels.get("job")})
    return truth


def go_time(at: datetime) -> str:
    """RFC 3339 as Go marshals it (Alertmanager's own form): fraction without trailing zeros."""
    fraction = f".{at.microsecond:06d}".rstrip("0") if at.microsecond else ""
    return at.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


def truth_key(line: dict) -> tuple[str, datetime]:
    return line["fingerprint"], datetime.fromisoformat(line["startsAt"].replace("Z", "+00:00"))


@dataclass
class Score:
    precision: float
    recall: float
    f1: float
    scored: int
    background: int
    incidents_per_fault: dict[str, int] = field(default_factory=dict)
    faults_sharing: list[tuple[str, ...]] = field(default_factory=list)  # engine incidents holding 2+ faults

    @property
    def every_fault_one_incident(self) -> bool:
        return all(n == 1 for n in self.incidents_per_fault.values())

    @property
    def faults_apart(self) -> bool:
        return not self.faults_sharing


def _pairs(sizes) -> int:
    return sum(n * (n - 1) // 2 for n in sizes)


def score(placement: dict[tuple[str, datetime], str], truth: list[dict]) -> Score:
    """Pairwise precision/recall/F1 over the fault episodes, and per fault where its episodes landed.
    `placement` maps an episode to the engine incident holding it."""
    scored = [(line["incident"], placement[truth_key(line)]) for line in truth
              if line["incident"] is not None and truth_key(line) in placement]
    both = _pairs(Counter(scored).values())
    predicted = _pairs(Counter(p for _, p in scored).values())
    true = _pairs(Counter(t for t, _ in scored).values())
    precision = both / predicted if predicted else 1.0
    recall = both / true if true else 1.0
    landed: dict[str, set[str]] = defaultdict(set)
    held: dict[str, set[str]] = defaultdict(set)
    for fault, incident in scored:
        landed[fault].add(incident)
        held[incident].add(fault)
    return Score(precision, recall, 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
                 scored=len(scored), background=sum(line["incident"] is None for line in truth),
                 incidents_per_fault={f: len(i) for f, i in sorted(landed.items())},
                 faults_sharing=sorted(tuple(sorted(f)) for f in held.values() if len(f) > 1))
