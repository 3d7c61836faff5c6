#!/usr/bin/env python3
"""Correlation quality on labeled streams the shipped rules and model were not made from.

The streams come from bench/estates/, a generator independent of the model's training corpus
(correlator/offline/corpus.py): its own estates (three Kubernetes clusters on two clouds or on-prem
plus VMs, about 30 nodes each), 44 fault kinds cascading across layers, five vocabularies, noise
firing at random with the same alert names, Prometheus alerts starting on their rule groups'
evaluations, Alertmanager grouping and re-sends, HA duplicates, Prometheus posting straight, and
generic events. For each density, seed and split, `replay` runs the engine with the shipped rules
and model ("correlator") and with the rules alone ("rules only": shipped rules plus
config/examples/rules-without-model, ml off). Every line shows, measured on the same episodes, the
two references: every alert alone, and Alertmanager's group_by [alertname, cluster] (the estate's
own cluster label). docs/quality.md defines the figures. After the tables of every run and their
means: the figures per vocabulary, the pairs each kind of join placed right and wrong, the wrong
pairs Alertmanager's grouping shares, each hour's figures, and per fault kind the true pairs lost
and the wrong pairs its alerts are in (read from the generator's own truth: what to look at next).

Splits ("held out" for an engine that learns online means: measured on a stream whose estate,
fault kinds or vocabulary it has no history of):
  mixed            an estate drawn by the seed, every fault kind, the estate's mixed vocabularies;
  warm-estate      the same, after a history of the same estate (2 hours unless --history-hours says;
                   what online learning gains);
  unseen-estate    after a history of another estate: the measured estate is new to it;
  novel-faults     only fault kinds unlike the training corpus's (security, cloud, CNI, DNS, storage...);
  novel-vocab      only Zabbix, cloud-monitor and in-house alert names, which the model never saw;
  familiar         only fault kinds like the model's training scenarios, and kube-prometheus/awesome names:
                   meant as the flattering case, it is the hardest (the widest cascades).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from statistics import mean

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.estates import DENSITIES, FAULTS, TEMPLATES, Naming, generate, write  # noqa: E402
from bench.estates.stream import START  # noqa: E402
from correlator import wiring  # noqa: E402
from correlator.cli import tune_runtime  # noqa: E402
from correlator.config import Config  # noqa: E402
from correlator.engine.core import Engine  # noqa: E402
from correlator.ingest.sources import parsers  # noqa: E402
from correlator.ml.artifact import load as load_model  # noqa: E402
from correlator.offline import scoring  # noqa: E402
from correlator.offline.model_commands import seed_range  # noqa: E402
from correlator.offline.replay import episode_spans, replay, write_incidents  # noqa: E402
from correlator.rules.loader import load_rules  # noqa: E402
from correlator.shipped import shipped_dir  # noqa: E402

SPLITS = ("mixed", "warm-estate", "unseen-estate", "novel-faults", "novel-vocab", "familiar")
_NOVEL_FAULTS = [name for name, kind in FAULTS.items() if not kind.familiar]
_FAMILIAR_FAULTS = [name for name, kind in FAULTS.items() if kind.familiar]


@dataclass
class Run:
    density: str
    seed: int
    split: str
    layer: str
    estate: str
    score: scoring.Score
    entries: int
    replay_seconds: float
    parse_seconds: float
    by_hour: list[scoring.Agreement] = field(default_factory=list)  # hour 0 first (`_by_hour`)
    by_fault: dict[str, list[int]] = field(default_factory=dict)  # fault kind -> `_by_fault`'s counts


def _streams(split: str, seed: int, hours: float, density: float, workdir: Path,
             history_hours: float, naming: Naming, placements: bool = False) -> tuple[Path, Path, str]:
    """The recording (history first, when the split has one) and the truth of the measured part."""
    estate = sorted(TEMPLATES)[seed % len(TEMPLATES)]
    options = {"novel-faults": {"faults": _NOVEL_FAULTS}, "novel-vocab": {"vocabularies": "novel"},
               "familiar": {"faults": _FAMILIAR_FAULTS, "vocabularies": "familiar"}}.get(split, {})
    measured = generate(seed, hours, density, estate, naming=naming, placements=placements, **options)
    recording, truth = workdir / f"{split}-{seed}.jsonl", workdir / f"{split}-{seed}.truth.jsonl"
    write(measured, recording, truth)
    if split in ("warm-estate", "unseen-estate"):
        other = sorted(TEMPLATES)[(seed + 1) % len(TEMPLATES)]
        history = generate(seed + 1000, history_hours, density, estate if split == "warm-estate" else other,
                           start=START - timedelta(hours=history_hours), naming=naming, placements=placements)
        history_path = workdir / f"{split}-{seed}.history.jsonl"
        write(history, history_path, workdir / "history.truth.jsonl")
        recording.write_bytes(history_path.read_bytes() + recording.read_bytes())
    return recording, truth, measured.estate


def _bare_parse(recording: Path) -> tuple[int, float]:
    """Alert entries in the file, and the seconds a bare JSON decode of every line takes."""
    started, entries = time.perf_counter(), 0
    with recording.open("rb") as lines:
        for line in lines:
            body = msgspec.json.decode(line)["body"]
            entries += len(body) if isinstance(body, list) else len(body.get("alerts", ()))
    return entries, time.perf_counter() - started


def run(density: str, seed: int, split: str, hours: float, layers: dict, workdir: Path,
        history_hours: float, naming: Naming = Naming(), placements: bool = False) -> list[Run]:
    recording, truth_path, estate = _streams(split, seed, hours, DENSITIES[density], workdir, history_hours, naming,
                                             placements)
    truth = scoring.read_truth(truth_path)
    entries, parse_seconds = _bare_parse(recording)
    kinds = _fault_kinds(truth_path)
    own_label = TEMPLATES[estate][4]
    config, group_by = Config(), ("alertname", naming.of(own_label).get(own_label, own_label))
    runs = []
    for layer, (rules, model) in layers.items():
        # "rules only" is the rules alone: no model and no online learning.
        settings = wiring.engine_settings(config) if layer == "correlator" else replace(wiring.engine_settings(config),
                                                                                   learning=False)
        engine = Engine(rules, settings, model=model)
        summary = replay(engine, recording, parsers(wiring.field_mappings(config)), wiring.ingest_policy(config))
        out = workdir / "incidents.jsonl"
        write_incidents(engine, out)
        placements = scoring.read_placements(out)
        result = scoring.score(placements, truth, episode_spans(engine, group_by))
        runs.append(Run(density, seed, split, layer, estate, result, entries, summary.seconds, parse_seconds,
                        _by_hour(placements, truth), _by_fault(placements, truth, kinds)))
    return runs


class _FaultLabel(msgspec.Struct):
    fingerprint: str
    starts_at: datetime
    cause: str = "?"  # the generator's fault kind ("noise" and "heartbeat" for what no fault made)


def _fault_kinds(truth_path: Path) -> dict[scoring.Episode, str]:
    """Each labeled episode's fault kind, a field of the generator's own truth lines (`replay --truth`
    does not read it)."""
    decoder = msgspec.json.Decoder(_FaultLabel)
    with truth_path.open("rb") as lines:
        return {(label.fingerprint, scoring.utc(label.starts_at)): label.cause
                for label in (decoder.decode(line) for line in lines if line.strip())}


def _by_fault(placements: dict[scoring.Episode, scoring.Placed], truth: scoring.Truth,
              kinds: dict[scoring.Episode, str]) -> dict[str, list[int]]:
    """Per fault kind: [pairs of its alerts in one true incident, of them placed apart, wrong pairs of
    two faults of the kind in one incident, wrong pairs of one of its alerts with another kind's
    alert (noise included)]. A pair of two kinds counts for both."""
    placed_of: dict[object, Counter] = {}  # true incident -> its episodes per predicted incident
    true_of: dict[str, Counter] = {}  # predicted incident -> its episodes per true incident
    kind_of: dict[object, str] = {}
    for episode, placed in placements.items():
        label = truth.label(episode)
        if label is None:
            continue
        true_id = label.incident if label.incident is not None else episode  # noise: a fault of its own
        kind_of[true_id] = kinds.get(episode, "?")
        placed_of.setdefault(true_id, Counter())[placed.incident] += 1
        true_of.setdefault(placed.incident, Counter())[true_id] += 1
    table: dict[str, list[int]] = {}
    for true_id, counts in placed_of.items():
        row = table.setdefault(kind_of[true_id], [0, 0, 0, 0])
        together = scoring.pair_count(sum(counts.values()))
        row[0] += together
        row[1] += together - sum(scoring.pair_count(n) for n in counts.values())
    for counts in true_of.values():
        faults = list(counts.items())
        for i, (first, n) in enumerate(faults):
            for second, m in faults[i + 1:]:
                a, b = kind_of[first], kind_of[second]
                if a == b:
                    table.setdefault(a, [0, 0, 0, 0])[2] += n * m
                else:
                    for kind in (a, b):
                        table.setdefault(kind, [0, 0, 0, 0])[3] += n * m
    return table


def _by_hour(placements: dict[scoring.Episode, scoring.Placed], truth: scoring.Truth) -> list[scoring.Agreement]:
    """The figures of the labeled episodes that started in each hour of the measured stream, among
    themselves (pairs across hours are left out). Every split but warm-estate and unseen-estate
    starts cold: beside warm-estate (the same streams after a history), the first hour shows what
    a cold start costs."""
    labeled = [(episode[1], label.incident, placed.incident) for episode, placed in placements.items()
               if (label := truth.label(episode)) is not None and label.incident is not None]
    if not labeled:
        return []
    first, hours = min(started for started, _, _ in labeled), {}
    for started, true_id, predicted_id in labeled:
        hours.setdefault(int((started - first).total_seconds() // 3600), []).append((true_id, predicted_id))
    return [scoring.agreement(*zip(*hours[hour])) for hour in sorted(hours)]


def _hour_lines(runs: list[Run]) -> list[str]:
    """Pairwise P/R/F1 and BCubed F1 per hour of the measured stream, means over the runs of each
    density that reach that hour."""
    lines = [f"{'layer':<10} {'density':<7} {'hour':>4} {'runs':>4} | {'pair P/R/F1':<17} {'B3 F1':>5}"]
    per: dict[tuple[str, str, int], list[scoring.Agreement]] = {}
    for r in runs:
        for hour, agreement in enumerate(r.by_hour):
            per.setdefault((r.layer, r.density, hour), []).append(agreement)
    for (layer, density, hour), items in per.items():
        lines.append(f"{layer:<10} {density:<7} {hour:>4} {len(items):>4} | "
                     f"{mean(a.pair_precision for a in items):.2f}/{mean(a.pair_recall for a in items):.2f}/"
                     f"{mean(a.pair_f1 for a in items):.2f}    {mean(a.bcubed_f1 for a in items):>5.2f}")
    return lines


def _layers(model_dir: Path, names: list[str], workdir: Path) -> dict:
    layers = {}
    if "correlator" in names:
        layers["correlator"] = (load_rules(shipped_dir("rules")), load_model(model_dir))
    if "rules-only" in names:
        without_model = workdir / "rules-without-model"
        shutil.copytree(shipped_dir("rules"), without_model, ignore=shutil.ignore_patterns("tests"))
        for path in (shipped_dir("config") / "examples" / "rules-without-model").glob("*.yaml"):
            shutil.copy(path, without_model / path.name)
        layers["rules-only"] = (load_rules(without_model), None)
    return layers


_HEADER = (f"{'density':<7} {'seed':>4} {'split':<13} {'layer':<10} {'eps':>5} | {'pair P/R/F1':<17} "
           f"{'B3 F1':>5} | {'alone B3':>8} | {'AM pF1':>6} {'AM B3':>5} | {'cat':>4} {'p±1':>4} | "
           f"{'entries/s':>9} {'parse/s':>8}")


def _line(r: Run) -> str:
    g, a, am, c = r.score.grouping, r.score.alone, r.score.alertmanager, r.score.classification
    return (f"{r.density:<7} {r.seed:>4} {r.split:<13} {r.layer:<10} {g.episodes:>5.0f} | "
            f"{g.pair_precision:.2f}/{g.pair_recall:.2f}/{g.pair_f1:.2f}    {g.bcubed_f1:>5.2f} | "
            f"{a.bcubed_f1:>8.2f} | {am.pair_f1:>6.2f} {am.bcubed_f1:>5.2f} | "
            f"{c.category_accuracy or 0:>4.2f} {c.priority_within_one or 0:>4.2f} | "
            f"{r.entries / r.replay_seconds:>9.0f} {r.entries / r.parse_seconds:>8.0f}")


def _mean_run(runs: list[Run]) -> Run:
    """A run whose every figure is the mean over `runs` (seed 0 in the table)."""
    def averaged(items):
        first = items[0]
        if isinstance(first, (int, float)) and not isinstance(first, bool):
            return mean(items)
        if isinstance(first, dict):
            return {k: averaged([i[k] for i in items]) for k in first if all(k in i for i in items)}
        if isinstance(first, (list, tuple)):
            return [averaged(list(column)) for column in zip(*items)]
        if first is None or any(i is None for i in items):
            return None
        return type(first)(**{k: averaged([getattr(i, k) for i in items]) for k in first.__dataclass_fields__})
    # Each run made its own joins: their pairs add up over runs (_join_lines), they do not average.
    merged = averaged([replace(r.score, by_join=[]) for r in runs])
    return Run(runs[0].density, 0, runs[0].split, runs[0].layer, "all", merged, mean(r.entries for r in runs),
               mean(r.replay_seconds for r in runs), mean(r.parse_seconds for r in runs))


def _vocabulary_lines(runs: list[Run]) -> list[str]:
    lines = [f"{'layer':<10} {'vocabulary':<10} {'episodes':>8} {'pair F1':>7} {'B3 F1':>6} {'cat':>5} {'p±1':>5}"]
    for layer in dict.fromkeys(r.layer for r in runs):
        per = {}
        for r in runs:
            if r.layer == layer:
                for vocabulary, (a, c) in r.score.by_vocabulary.items():
                    per.setdefault(vocabulary, []).append((a, c))
        for vocabulary, items in sorted(per.items()):
            lines.append(f"{layer:<10} {vocabulary:<10} {sum(a.episodes for a, _ in items):>8} "
                         f"{mean(a.pair_f1 for a, _ in items):>7.2f} {mean(a.bcubed_f1 for a, _ in items):>6.2f} "
                         f"{mean(c.category_accuracy or 0 for _, c in items):>5.2f} "
                         f"{mean(c.priority_within_one or 0 for _, c in items):>5.2f}")
    return lines


def _join_lines(runs: list[Run]) -> list[str]:
    """The pairs each kind of join placed together, right and wrong, summed over the runs of each
    density: which join costs precision where (docs/quality.md "Which join to fix")."""
    lines = [f"{'layer':<10} {'density':<7} {'join':<12} {'rule':<50} {'right':>7} {'wrong':>7}"]
    totals: dict[tuple[str, str, str, str], list[int]] = {}
    for r in runs:
        for j in r.score.by_join:
            pairs = totals.setdefault((r.layer, r.density, j.reason, j.rule), [0, 0])
            pairs[0] += j.right
            pairs[1] += j.wrong
    for (layer, density, reason, rule), (right, wrong) in sorted(totals.items(), key=lambda kv: (kv[0][:2], -kv[1][1])):
        lines.append(f"{layer:<10} {density:<7} {reason:<12} {rule[:50]:<50} {right:>7} {wrong:>7}")
    return lines


def _wrong_pair_lines(runs: list[Run]) -> list[str]:
    """The wrong pairs summed over the runs of each density, and how many of them Alertmanager's
    group_by put in one group too (one alert name in one cluster at once: what no label of that key
    tells apart; busy streams overlap faults of one kind, docs/quality.md)."""
    lines = [f"{'layer':<10} {'density':<7} {'wrong pairs':>11} {'in one alertmanager group':>26}"]
    totals: dict[tuple[str, str], list[int]] = {}
    for r in runs:
        pairs = totals.setdefault((r.layer, r.density), [0, 0])
        pairs[0] += r.score.wrong_pairs
        pairs[1] += r.score.wrong_in_alertmanager_group or 0
    for (layer, density), (wrong, in_group) in totals.items():
        share = f"{in_group / wrong:.0%}" if wrong else "-"
        lines.append(f"{layer:<10} {density:<7} {wrong:>11} {in_group:>19} ({share:>4})")
    return lines


def _fault_lines(runs: list[Run], shown: int = 12) -> list[str]:
    """Per layer and density, the fault kinds that lose or mix the most pairs, summed over the runs:
    true pairs, those placed apart, and wrong pairs with another fault of the same kind or with
    another kind's alerts (docs/quality.md, "Where the remaining gap is")."""
    lines = [f"{'layer':<10} {'density':<7} {'fault kind':<34} {'true pairs':>10} {'apart':>7} {'share':>5} "
             f"{'wrong: same kind':>16} {'other kinds':>11}"]
    totals: dict[tuple[str, str], dict[str, list[int]]] = {}
    for r in runs:
        table = totals.setdefault((r.layer, r.density), {})
        for kind, counts in r.by_fault.items():
            row = table.setdefault(kind, [0, 0, 0, 0])
            for i, count in enumerate(counts):
                row[i] += count
    for (layer, density), table in totals.items():
        worst = sorted(table.items(), key=lambda kv: -sum(kv[1][1:]))[:shown]  # apart and wrong
        for kind, (true, apart, same, other) in worst:
            share = f"{apart / true:.0%}" if true else "-"
            lines.append(f"{layer:<10} {density:<7} {kind[:34]:<34} {true:>10} {apart:>7} {share:>5} {same:>16} "
                         f"{other:>11}")
    return lines


def _relabel(text: str) -> tuple[tuple[str, str], ...]:
    try:
        return tuple((old.strip(), new.strip()) for old, new in (pair.split("=") for pair in text.split(",") if pair))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected OLD=NEW pairs separated by commas") from None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--densities", default="quiet,medium,busy", help=f"of {', '.join(DENSITIES)}")
    parser.add_argument("--seeds", default="1-4", type=seed_range,
                        help="seed n measures estate template n mod 4 (default 1-4: each)")
    parser.add_argument("--hours", type=float, default=3.0, help="hours of measured stream per run (default 3)")
    parser.add_argument("--history-hours", type=float, default=2.0,
                        help="hours of history before the measured stream in the warm-estate and unseen-estate "
                             "splits (default 2; a daemon that has run for a day has seen 24)")
    parser.add_argument("--splits", default=",".join(SPLITS), help=f"of {', '.join(SPLITS)}")
    parser.add_argument("--layers", default="correlator,rules-only")
    parser.add_argument("--model-dir", type=Path, default=shipped_dir("models"))
    parser.add_argument("--json", action="store_true", help="print every run as JSON instead of the tables")
    parser.add_argument("--cluster-label", help="spell every estate's cluster label so (each template has its own: "
                                                "cluster, k8s_cluster, kubernetes_cluster), as an estate might")
    parser.add_argument("--relabel", default="", type=_relabel, metavar="OLD=NEW,...",
                        help="spell these labels so in every alert, as another relabeling or agent does (for "
                             "Prometheus's example Kubernetes configuration: pod=kubernetes_pod_name,"
                             "namespace=kubernetes_namespace,node=kubernetes_node,service=kubernetes_name)")
    parser.add_argument("--placements", action="store_true",
                        help="begin each recording with where every pod runs, as the daemon logs it when it reads "
                             "kube_pod_info (learning.placements)")
    parser.add_argument("--pod-node", action="store_true",
                        help="give every kube-prometheus and awesome-prometheus-alerts pod alert the node its pod "
                             "runs on, as rules joined with kube-state-metrics' kube_pod_info do (their own name "
                             "none)")
    args = parser.parse_args()
    naming = Naming(args.cluster_label, args.relabel, args.pod_node)
    tune_runtime()  # as `correlator replay` runs: its speed is measured here
    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as tmp:
        layers = _layers(args.model_dir, args.layers.split(","), Path(tmp))
        for density in args.densities.split(","):
            for split in args.splits.split(","):
                for seed in args.seeds:
                    print(f"{density} {split} seed {seed}...", file=sys.stderr)
                    runs += run(density, seed, split, args.hours, layers, Path(tmp), args.history_hours, naming,
                                args.placements)
    if args.json:
        print(json.dumps([{**{k: v for k, v in vars(r).items() if k not in ("score", "by_hour")},
                           "score": scoring.as_dict(r.score), "by_hour": [asdict(a) for a in r.by_hour]}
                          for r in runs], indent=1))
        return 0
    print(_HEADER)
    for r in runs:
        print(_line(r))
    print("\nmeans over seeds")
    print(_HEADER)
    for key in dict.fromkeys((r.density, r.split, r.layer) for r in runs):
        print(_line(_mean_run([r for r in runs if (r.density, r.split, r.layer) == key])))
    print("\nper vocabulary (all runs)")
    print("\n".join(_vocabulary_lines(runs)))
    print("\npairs placed together by join (all runs of a density)")
    print("\n".join(_join_lines(runs)))
    print("\nwrong pairs, and those in one alertmanager group_by group as well (all runs of a density)")
    print("\n".join(_wrong_pair_lines(runs)))
    print("\nby hour of the measured stream: its episodes among themselves (all runs of a density)")
    print("\n".join(_hour_lines(runs)))
    print("\nby fault kind: true pairs placed apart, and wrong pairs (all runs of a density; the most first)")
    print("\n".join(_fault_lines(runs)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
