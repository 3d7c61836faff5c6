#!/usr/bin/env python3
"""Correlation quality on labeled recordings the model was not trained on.

For each held-out seed and each vocabulary ("train": the alert-name families the shipped model was
trained on, in estates and fault sequences it has not seen; "holdout": the same faults named by
other rule sets, awesome-prometheus-alerts and vendor exporters, which it has never seen), the
corpus generator writes a recording and its truth, `replay` runs it, and this prints:

- pairwise precision, recall and F1 over same-incident alert pairs, and the adjusted Rand index;
- category accuracy and macro-F1, and priority accuracy within one level (per alert episode: the
  incident it landed in against its true incident);
- the same for rules only (no model: the shipped rules plus config/examples/rules-without-model,
  as the docs advise for ml.enabled: false) and for an Alertmanager-style baseline (one incident
  per alertname and cluster while it fires), and the F1 ratio of correlator over the baseline.

The shipped model is trained on seeds 100-119 (models/README.md); the default held-out seeds are
1-5. Targets (issue 4): pairwise F1 >= 0.90, category accuracy >= 0.85, priority within one level
>= 0.90.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from statistics import mean

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sklearn.metrics import adjusted_rand_score, f1_score  # noqa: E402

from correlator.config import Config  # noqa: E402
from correlator.engine.core import Engine  # noqa: E402
from correlator.ingest.sources import parsers  # noqa: E402
from correlator.ml.artifact import load as load_model  # noqa: E402
from correlator.ml.commands import seed_range  # noqa: E402
from correlator.ml.corpus import generate, write  # noqa: E402
from correlator.replay import replay  # noqa: E402
from correlator.rules.loader import load_rules  # noqa: E402
from correlator.shipped import shipped_dir  # noqa: E402

BASELINE_RULES = """version: 1
rules:
  - name: alertmanager-default
    kind: group
    group_by: [alertname, cluster]
    window: 24h
    max_duration: 7d
"""
PRIORITY_LEVEL = {f"P{n}": n for n in range(1, 6)}


def _pairs(sizes) -> int:
    return sum(n * (n - 1) // 2 for n in sizes)


def score(engine: Engine, truth) -> dict:
    placed = {}
    for incident in engine.incidents.values():
        for (fingerprint, starts_at) in incident.members:
            placed[(fingerprint, starts_at)] = incident
    scored = [(t, placed[(t.fingerprint, t.starts_at)]) for t in truth
              if t.incident is not None and (t.fingerprint, t.starts_at) in placed]
    true_ids = [t.incident for t, _ in scored]
    predicted_ids = [incident.id for _, incident in scored]
    both = _pairs(Counter(zip(true_ids, predicted_ids)).values())
    predicted_pairs, true_pairs = _pairs(Counter(predicted_ids).values()), _pairs(Counter(true_ids).values())
    precision = both / predicted_pairs if predicted_pairs else 1.0
    recall = both / true_pairs if true_pairs else 1.0
    categories = [(t.category, str(i.category)) for t, i in scored if t.category]
    priorities = [(t.priority, str(i.priority)) for t, i in scored if t.priority]
    return {
        "alerts": len(scored), "incidents": len(set(predicted_ids)), "true_incidents": len(set(true_ids)),
        "precision": precision, "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "ari": adjusted_rand_score(true_ids, predicted_ids),
        "category_accuracy": mean(a == b for a, b in categories) if categories else 0.0,
        "category_macro_f1": f1_score([a for a, _ in categories], [b for _, b in categories], average="macro",
                                      zero_division=0) if categories else 0.0,
        "priority_within_one": mean(abs(PRIORITY_LEVEL[a] - PRIORITY_LEVEL[b]) <= 1 for a, b in priorities)
        if priorities else 0.0,
    }


def run_seed(seed: int, vocabulary: str, hours: float, layers: dict, workdir: Path) -> dict:
    corpus = generate(seed, hours=hours, vocabulary=vocabulary)
    recording, truth_path = workdir / f"{vocabulary}-{seed}.jsonl", workdir / f"{vocabulary}-{seed}.truth.jsonl"
    write(corpus, recording, truth_path)
    config = Config()
    results = {}
    for name, (rules, model) in layers.items():
        engine = Engine(rules, config.engine_settings(), model=model)
        started = time.perf_counter()
        summary = replay(engine, recording, parsers(config.ingest.mappings), config.ingest_policy())
        results[name] = score(engine, corpus.truth)
        results[name]["seconds"] = time.perf_counter() - started
        results[name]["notifications"] = summary.notifications
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="1-5", help="held-out seeds (default 1-5; the model trains on 100-119)")
    parser.add_argument("--hours", type=float, default=6.0, help="hours of alerts per seed (default 6)")
    parser.add_argument("--vocabularies", default="train,holdout")
    parser.add_argument("--model-dir", type=Path, default=shipped_dir("models"))
    args = parser.parse_args()
    model = load_model(args.model_dir)
    rules = load_rules(shipped_dir("rules"))
    with tempfile.TemporaryDirectory() as tmp:
        baseline_dir = Path(tmp) / "baseline"
        baseline_dir.mkdir()
        (baseline_dir / "alertmanager.yaml").write_text(BASELINE_RULES)
        without_model = Path(tmp) / "without-model"
        shutil.copytree(shipped_dir("rules"), without_model, ignore=shutil.ignore_patterns("tests"))
        for path in (shipped_dir("config") / "examples" / "rules-without-model").glob("*.yaml"):
            shutil.copy(path, without_model / path.name)
        layers = {"correlator": (rules, model), "rules only": (load_rules(without_model), None),
                  "alertmanager": (load_rules(baseline_dir), None)}
        rows = []
        for vocabulary in args.vocabularies.split(","):
            for seed in seed_range(args.seeds):
                print(f"seed {seed} ({vocabulary} vocabulary)...", file=sys.stderr)
                for layer, result in run_seed(seed, vocabulary, args.hours, layers, Path(tmp)).items():
                    rows.append((vocabulary, seed, layer, result))
    header = (f"{'vocabulary':<10} {'seed':>4} {'layer':<12} {'alerts':>6} {'inc':>5} {'true':>5} {'prec':>5} "
              f"{'recall':>6} {'F1':>5} {'ARI':>5} {'cat acc':>7} {'cat F1':>6} {'prio±1':>6} {'F1/AM':>6}")
    print(header)
    for vocabulary, seed, layer, r in rows:
        baseline = next(x for v, s, name, x in rows if (v, s, name) == (vocabulary, seed, "alertmanager"))
        print(f"{vocabulary:<10} {seed:>4} {layer:<12} {r['alerts']:>6} {r['incidents']:>5} {r['true_incidents']:>5} "
              f"{r['precision']:>5.2f} {r['recall']:>6.2f} {r['f1']:>5.2f} {r['ari']:>5.2f} "
              f"{r['category_accuracy']:>7.2f} {r['category_macro_f1']:>6.2f} {r['priority_within_one']:>6.2f} "
              f"{r['f1'] / baseline['f1'] if baseline['f1'] else 0:>6.2f}")
    print("\nmeans")
    print(header)
    for vocabulary in args.vocabularies.split(","):
        for layer in ("correlator", "rules only", "alertmanager"):
            chosen = [r for v, _, name, r in rows if (v, name) == (vocabulary, layer)]
            m = {key: mean(r[key] for r in chosen) for key in chosen[0]}
            base = mean(r["f1"] for v, _, name, r in rows if (v, name) == (vocabulary, "alertmanager"))
            print(f"{vocabulary:<10} {'all':>4} {layer:<12} {m['alerts']:>6.0f} {m['incidents']:>5.0f} "
                  f"{m['true_incidents']:>5.0f} {m['precision']:>5.2f} {m['recall']:>6.2f} {m['f1']:>5.2f} "
                  f"{m['ari']:>5.2f} {m['category_accuracy']:>7.2f} {m['category_macro_f1']:>6.2f} "
                  f"{m['priority_within_one']:>6.2f} {m['f1'] / base if base else 0:>6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
