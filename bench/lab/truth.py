"""Truth from what Alertmanager sent and the fault script's log, and the engine's score against it.

An alert episode (fingerprint, startsAt) belongs to the fault that was active, or had ended at most
TAIL before, when the episode started, and that broke the scrape target the alert names (its `job`
or its `instance`). Everything else is background, each episode an incident of its own: alerts of
the shared machine's load, and an alert that was already firing when the fault began and only
fired again after it (steady state resumed, not caused by the fault). The always-firing dead man's
switch is a heartbeat, no incident at all: it is left unlabeled (`incident: null`), out of every
figure.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from correlator import wiring
from correlator.config import Config
from correlator.ingest.sources import parsers
from correlator.offline.replay import ReplaySummary, read_recording
from correlator.offline.scoring import Agreement, Truth, agreement

from stack import touches

TAIL = timedelta(seconds=90)  # PostgresqlRestarted fires for 60s after the restart
HEARTBEAT = re.compile(r"(?i)watchdog|.*dead[^a-z0-9]*man[^a-z0-9]*s?[^a-z0-9]*(switch|snitch).*")
BACKGROUND = "background-"


@dataclass
class Episode:
    fingerprint: str
    starts_at: datetime
    labels: dict[str, str]
    ends_at: datetime | None = None  # None: still firing when the recording ends
    replaced: bool = False  # its end never sent: Alertmanager sent the alert's next episode instead

    def firing_at(self, at: datetime) -> bool:
        """Whether Alertmanager said it fired at `at` (a replaced episode: only at its start)."""
        if self.replaced:
            return self.starts_at == at
        return self.starts_at <= at and (self.ends_at is None or self.ends_at >= at)


@dataclass(frozen=True)
class FaultRecord:
    id: str
    kind: str
    jobs: tuple[str, ...]
    instances: tuple[str, ...]
    start: datetime
    end: datetime
    already_firing: tuple[str, ...]  # on the fault's target when it began

    def touches(self, labels: dict[str, str]) -> bool:
        return touches({"jobs": self.jobs, "instances": self.instances}, labels)


def read_faults(path: Path) -> list[FaultRecord]:
    faults = []
    for line in path.read_text().splitlines():
        f = json.loads(line)
        faults.append(FaultRecord(f["id"], f["kind"], tuple(f["jobs"]), tuple(f["instances"]),
                                  datetime.fromisoformat(f["start"]), datetime.fromisoformat(f["end"]),
                                  tuple(f["already_firing"])))
    return faults


def read_episodes(recording: Path) -> dict[tuple[str, datetime], Episode]:
    """Every episode Alertmanager sent, parsed as correlator parses it, with its resolve time."""
    config = Config()
    episodes: dict[tuple[str, datetime], Episode] = {}
    with recording.open("rb") as lines:
        for _, alerts in read_recording(lines, parsers(wiring.field_mappings(config)), wiring.ingest_policy(config),
                                        skip_bad=False, summary=ReplaySummary()):
            for alert in alerts:
                key = (alert.fingerprint, alert.starts_at)
                episode = episodes.setdefault(key, Episode(alert.fingerprint, alert.starts_at, dict(alert.labels)))
                if alert.status == "resolved":
                    episode.ends_at = alert.ends_at
    # Alertmanager sends an alert's next episode in place of one whose end it had not sent yet (it
    # fired again before the group's next notification): that one ended, unseen, before the next began.
    by_fingerprint: dict[str, list[Episode]] = defaultdict(list)
    for episode in sorted(episodes.values(), key=lambda e: e.starts_at):
        by_fingerprint[episode.fingerprint].append(episode)
    for ordered in by_fingerprint.values():
        for episode, following in zip(ordered, ordered[1:]):
            if episode.ends_at is None:
                episode.ends_at, episode.replaced = following.starts_at, True
    return episodes


def cause(episode: Episode, faults: list[FaultRecord], others: list[Episode]) -> FaultRecord | None:
    for fault in faults:
        if not fault.touches(episode.labels) or not fault.start <= episode.starts_at <= fault.end + TAIL:
            continue
        resumed = any(o.fingerprint == episode.fingerprint and o.starts_at < fault.start and o.firing_at(fault.start)
                      for o in others)
        return None if resumed else fault
    return None


CATEGORY = {"killed app": "software", "cpu burn": "capacity", "database outage": "software",
            "killed exporter": "software", "app answers errors": "software", "slow app": "software",
            "connections exhausted": "capacity", "killed database exporter": "software",
            "killed probe exporter": "software", "disk write storm": "capacity", "flapping app": "software",
            "memory exhausted": "capacity"}


def derive_truth(episodes: dict[tuple[str, datetime], Episode], faults: list[FaultRecord]) -> list[dict]:
    """One line per episode in the truth format of `correlator replay --truth` (docs/quality.md). A
    background episode is an incident of its own (`background-N`), so joining it to anything costs
    precision; `scenario`, `alertname` and `job` are for people and ignored by the scorer."""
    truth = []
    ordered = sorted(episodes.values(), key=lambda e: (e.starts_at, e.fingerprint))
    for number, episode in enumerate(ordered, start=1):
        fault = cause(episode, faults, ordered)
        heartbeat = HEARTBEAT.fullmatch(episode.labels.get("alertname", ""))
        truth.append({"fingerprint": episode.fingerprint, "starts_at": go_time(episode.starts_at),
                      "incident": None if heartbeat else fault.id if fault else f"{BACKGROUND}{number}",
                      "category": CATEGORY[fault.kind] if fault else None,
                      "scenario": "heartbeat" if heartbeat else fault.kind if fault else "background",
                      "alertname": episode.labels.get("alertname"), "job": episode.labels.get("job")})
    return truth


def go_time(at: datetime) -> str:
    """RFC 3339 as Go marshals it (Alertmanager's own form): fraction without trailing zeros."""
    fraction = f".{at.microsecond:06d}".rstrip("0") if at.microsecond else ""
    return at.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


@dataclass
class LabScore:
    """The grouping's agreement with the truth, and per fault where its episodes landed."""

    agreement: Agreement
    incidents_per_fault: dict[str, int] = field(default_factory=dict)
    faults_sharing: list[list[str]] = field(default_factory=list)  # engine incidents holding 2+ faults
    background_with_faults: int = 0  # background episodes in an engine incident that holds a fault

    @property
    def every_fault_one_incident(self) -> bool:
        return all(n == 1 for n in self.incidents_per_fault.values())

    @property
    def faults_apart(self) -> bool:
        return not self.faults_sharing


def lab_score(placement: dict[tuple[str, datetime], str], truth: Truth) -> LabScore:
    """`placement`: episode -> the engine's incident. Episodes the truth does not label are left out."""
    placed = [(label.incident, placement[episode]) for episode, label in truth.episodes.items()
              if episode in placement and label.incident is not None]
    landed: dict[str, set[str]] = defaultdict(set)
    held: dict[str, set[str]] = defaultdict(set)
    for true_incident, incident in placed:
        if not true_incident.startswith(BACKGROUND):
            landed[true_incident].add(incident)
            held[incident].add(true_incident)
    return LabScore(agreement([t for t, _ in placed], [p for _, p in placed]),
                    incidents_per_fault={f: len(i) for f, i in sorted(landed.items())},
                    faults_sharing=sorted(sorted(f) for f in held.values() if len(f) > 1),
                    background_with_faults=sum(t.startswith(BACKGROUND) and p in held for t, p in placed))
