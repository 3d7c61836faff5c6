#!/usr/bin/env python3
"""Classification and priority on the true incidents, per vocabulary: what they are worth when
grouping is right (bench/quality.py measures them end to end, where grouping errors count too).

Each true incident is derived alone, its alerts joining in start order, as the engine derives an
incident. Two sources of incidents:

- `estates` (default): bench/estates/ streams, independent of the model's training corpus, in
  five vocabularies (kube, awesome, zabbix, cloud, inhouse), quiet density;
- `corpus`: the model's own generator on held-out seeds, "train" names (the model trained on
  them) and "holdout" names (awesome-prometheus-alerts, never trained on);
- `lab`: the real-fault lab's recording and truth (bench/lab/recordings/, `--recording`), one
  vocabulary per scrape job.

Set-ups: correlator (the shipped rules, the lexicon on the root alert, the model for what neither
says); without model (rules and lexicon); model alone (the shipped classifier on the incident
document, no rules, no lexicon). Per vocabulary it prints category accuracy and priority within
one level per alert episode (as bench/quality.py does), and for `estates` how often the chosen
root alert is the fault's true root.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.estates import DENSITIES, TEMPLATES, generate as generate_stream  # noqa: E402
from correlator import wiring  # noqa: E402
from correlator.config import Config  # noqa: E402
from correlator.domain import AlertStatus, Explanation, Incident, IncidentState, JoinReason, Member  # noqa: E402
from correlator.engine.derivation import Facts, derive  # noqa: E402
from correlator.ingest.sources import parsers  # noqa: E402
from correlator.ml.artifact import load as load_model  # noqa: E402
from correlator.ml.features import document, incident_document  # noqa: E402
from correlator.offline import scoring  # noqa: E402
from correlator.offline.corpus import generate as generate_corpus, labeled_incidents  # noqa: E402
from correlator.offline.model_commands import seed_range  # noqa: E402
from correlator.offline.replay import ReplaySummary, read_recording  # noqa: E402
from correlator.rules.loader import load_rules  # noqa: E402
from correlator.shipped import shipped_dir  # noqa: E402

LEVEL = {f"P{n}": n for n in range(1, 6)}
LAB_RECORDING = Path(__file__).resolve().parent / "lab" / "recordings" / "2026-12-02.jsonl"


@dataclass
class TrueAlert:
    labels: dict
    annotations: dict
    start: datetime
    vocabulary: str
    root: bool = False


@dataclass
class TrueIncident:
    alerts: list[TrueAlert]  # in start order
    category: str
    priority: str | None  # None: not labeled


def from_estates(seeds: list[int], hours: float) -> list[TrueIncident]:
    incidents: dict[tuple, list] = defaultdict(list)
    for seed in seeds:
        for vocabularies in ("mixed", "novel"):
            estate = sorted(TEMPLATES)[seed % len(TEMPLATES)]
            for e in generate_stream(seed, hours, DENSITIES["quiet"], estate, vocabularies=vocabularies).episodes:
                if e.incident is not None:
                    incidents[(seed, vocabularies, e.incident)].append(e)
    return [TrueIncident([TrueAlert(e.labels, e.annotations, e.start, e.vocabulary, e.root_cause)
                          for e in sorted(episodes, key=lambda e: e.start)], episodes[0].category, episodes[0].priority)
            for episodes in incidents.values()]


def from_corpus(seeds: list[int], hours: float) -> list[TrueIncident]:
    found = []
    for vocabulary in ("train", "holdout"):
        for seed in seeds:
            for labeled in labeled_incidents(generate_corpus(seed, hours=hours, vocabulary=vocabulary)):
                alerts = [TrueAlert(a["labels"], a["annotations"],
                                    datetime.fromisoformat(a["startsAt"].replace("Z", "+00:00")), vocabulary)
                          for a in labeled["alerts"]]
                found.append(TrueIncident(sorted(alerts, key=lambda a: a.start), labeled["category"],
                                          labeled["priority"]))
    return found


def from_recording(recording: Path) -> list[TrueIncident]:
    """The labeled incidents of a recording and its truth file (`<name>.truth.jsonl` beside it), each
    alert episode once; an incident without a category is left out, one without a priority is
    scored as within one level."""
    truth = scoring.read_truth(recording.with_suffix(".truth.jsonl"))
    config, episodes, labels = Config(), {}, {}
    with recording.open("rb") as lines:
        for _, alerts in read_recording(lines, parsers(wiring.field_mappings(config)), wiring.ingest_policy(config),
                                        False, ReplaySummary()):
            for alert in alerts:
                label = truth.label((alert.fingerprint, alert.starts_at))
                if label is not None and label.category and label.incident is not None:
                    labels[label.incident] = label
                    episodes.setdefault((alert.fingerprint, alert.starts_at), (label.incident, TrueAlert(
                        dict(alert.labels), dict(alert.annotations), alert.starts_at,
                        label.vocabulary or alert.labels.get("job", "lab"), bool(label.root_cause))))
    incidents = defaultdict(list)
    for incident, alert in episodes.values():
        incidents[incident].append(alert)
    return [TrueIncident(sorted(alerts, key=lambda a: a.start), labels[incident].category,
                         labels[incident].priority) for incident, alerts in incidents.items()]


def derived(rules, truth: TrueIncident, model) -> tuple[Incident, Facts]:
    first = truth.alerts[0].start
    incident, facts = Incident("bench", IncidentState.OPEN, "", first, first, "bench"), Facts()
    for n, alert in enumerate(truth.alerts):
        member = Member(str(n), alert.start, alert.labels, alert.annotations, AlertStatus.FIRING, None, alert.start,
                        Explanation(JoinReason.NEW_INCIDENT, ""))
        incident.members[(str(n), alert.start)] = member
        derive(rules, incident, facts, member, alert.start, {}, model)
    return incident, facts


def model_alone(model, truth: TrueIncident) -> str:
    first: dict[str, str] = {}
    for alert in truth.alerts:
        first.setdefault(alert.labels.get("alertname", ""), document(alert.labels, alert.annotations))
    category, _ = model.classify(incident_document(list(first.values())))
    return category.label


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", choices=("estates", "corpus", "lab"), default="estates")
    parser.add_argument("--recording", type=Path, default=LAB_RECORDING, help="of --source lab")
    parser.add_argument("--seeds", default="1-4", type=seed_range,
                        help="default 1-4 (the model trains on corpus seeds 100-119)")
    parser.add_argument("--hours", type=float, default=3.0)
    args = parser.parse_args()
    model, rules = load_model(shipped_dir("models")), load_rules(shipped_dir("rules"))
    incidents = from_recording(args.recording) if args.source == "lab" else \
        (from_estates if args.source == "estates" else from_corpus)(args.seeds, args.hours)
    # per (set-up, vocabulary): [episodes, category right, priority within one]
    totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    roots = [0, 0]
    for truth in incidents:
        outcomes = {}
        for setup, used in (("correlator", model), ("without model", None)):
            incident, facts = derived(rules, truth, used)
            outcomes[setup] = (incident.category == truth.category,
                               truth.priority is None or abs(LEVEL[incident.priority] - LEVEL[truth.priority]) <= 1)
        outcomes["model alone"] = (model_alone(model, truth) == truth.category, False)
        true_root = next((a.labels.get("alertname") for a in truth.alerts if a.root), None)
        if true_root is not None:
            roots[0] += 1
            roots[1] += facts.roots[0].name == true_root
        for alert in truth.alerts:
            for setup, (category, priority) in outcomes.items():
                row = totals[(setup, alert.vocabulary)]
                row[0], row[1], row[2] = row[0] + 1, row[1] + category, row[2] + priority
    print(f"{len(incidents)} true incidents ({args.source}, seeds {args.seeds[0]}-{args.seeds[-1]})")
    print(f"{'set-up':<14} {'vocabulary':<10} {'episodes':>8} {'cat acc':>7} {'prio±1':>6}")
    for (setup, vocabulary), (n, category, priority) in sorted(totals.items()):
        shown = f"{priority / n:>6.2f}" if setup != "model alone" else f"{'-':>6}"
        print(f"{setup:<14} {vocabulary:<10} {n:>8} {category / n:>7.2f} {shown}")
    if roots[0]:
        print(f"root alert = the fault's true root in {roots[1]} of {roots[0]} incidents ({roots[1] / roots[0]:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
