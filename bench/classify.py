#!/usr/bin/env python3
"""Classification and priority on the true incidents, per vocabulary: what they are worth when
grouping is right (bench/quality.py measures them end to end, where grouping errors count too).

Each true incident of the held-out seeds is derived alone, its alerts joining in start order, as
the engine derives an incident. Set-ups:

- correlator: the shipped rules, the lexicon on the root alert, the model for what neither says;
- without model: the shipped rules and the lexicon;
- model alone: the shipped model's classifier on the incident document, no rules, no lexicon.

It prints category accuracy, service-area accuracy and priority within one level, per incident
and per alert (an incident weighs its alerts), and for correlator the category per fault kind.
The "holdout" vocabulary is named by rule sets the model was never trained on.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from statistics import mean

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from correlator.engine.derivation import Facts, derive  # noqa: E402
from correlator.engine.model import Explanation, Incident, IncidentState, Member  # noqa: E402
from correlator.domain import AlertStatus  # noqa: E402
from correlator.ml.artifact import load as load_model  # noqa: E402
from correlator.ml.commands import seed_range  # noqa: E402
from correlator.ml.corpus import generate, labeled_incidents  # noqa: E402
from correlator.ml.training import LabeledIncident, incident_text  # noqa: E402
from correlator.rules.loader import load_rules  # noqa: E402
from correlator.shipped import shipped_dir  # noqa: E402
import msgspec  # noqa: E402

LEVEL = {f"P{n}": n for n in range(1, 6)}


def derived(rules, labeled: dict, model) -> Incident:
    alerts = sorted(labeled["alerts"], key=lambda a: a["startsAt"])
    starts = [datetime.fromisoformat(a["startsAt"].replace("Z", "+00:00")) for a in alerts]
    incident = Incident(labeled["id"], IncidentState.OPEN, "", starts[0], starts[0], labeled["id"])
    facts = Facts()
    for alert, at in zip(alerts, starts):
        member = Member("", at, alert["labels"], alert["annotations"], AlertStatus.FIRING, None, at,
                        Explanation("new_incident", ""))
        incident.members[(str(len(incident.members)), at)] = member
        derive(rules, incident, facts, member, at, {}, model)
    return incident


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="1-5", help="held-out seeds (default 1-5; the model trains on 100-119)")
    parser.add_argument("--hours", type=float, default=6.0)
    parser.add_argument("--vocabularies", default="train,holdout")
    args = parser.parse_args()
    model = load_model(shipped_dir("models"))
    rules = load_rules(shipped_dir("rules"))
    decoder = msgspec.convert
    print(f"{'vocabulary':<10} {'set-up':<14} {'incidents':>9} {'cat acc':>7} {'area acc':>8} {'prio±1':>6} "
          f"{'cat acc/alert':>13} {'prio±1/alert':>12}")
    for vocabulary in args.vocabularies.split(","):
        incidents = [i for seed in seed_range(args.seeds)
                     for i in labeled_incidents(generate(seed, hours=args.hours, vocabulary=vocabulary))]
        rows: dict[str, list] = defaultdict(list)
        kinds: dict[str, Counter] = defaultdict(Counter)
        for labeled in incidents:
            weight = len(labeled["alerts"])
            for setup, used in (("correlator", model), ("without model", None)):
                incident = derived(rules, labeled, used)
                rows[setup].append((incident.category == labeled["category"],
                                    incident.service_area == labeled["service_area"],
                                    abs(LEVEL[incident.priority] - LEVEL[labeled["priority"]]) <= 1, weight))
                if used is not None:
                    kinds[labeled["scenario"]][incident.category == labeled["category"]] += 1
            category, area = model.classify(incident_text(decoder(labeled, LabeledIncident)))
            rows["model alone"].append((category.label == labeled["category"],
                                        area.label == labeled["service_area"], False, weight))
        for setup, results in rows.items():
            total = sum(w for *_, w in results)
            print(f"{vocabulary:<10} {setup:<14} {len(results):>9} {mean(r[0] for r in results):>7.2f} "
                  f"{mean(r[1] for r in results):>8.2f} "
                  f"{mean(r[2] for r in results) if setup != 'model alone' else float('nan'):>6.2f} "
                  f"{sum(r[0] * r[3] for r in results) / total:>13.2f} "
                  f"{sum(r[2] * r[3] for r in results) / total if setup != 'model alone' else float('nan'):>12.2f}")
        print(f"{vocabulary:<10} correlator category accuracy per fault kind: " + ", ".join(
            f"{kind} {c[True] / (c[True] + c[False]):.2f} ({c[True] + c[False]})" for kind, c in sorted(kinds.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
