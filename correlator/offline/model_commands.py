"""The learned layer's subcommands: `train`, `analyze` and `corpus` (wiring, as in cli.py)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from correlator.units import number_in

log = logging.getLogger("correlator")


def add_commands(commands, config_flag) -> None:
    train = commands.add_parser(
        "train", help="train the classification model",
        description="Fit the category and service-area classifiers from labeled incidents (JSON Lines: {id, category, service_area, alerts: [{labels, "
                    "annotations, startsAt}]}), report cross-validated figures, and write the model (skops "
                    "file and manifest) to --output.")
    train.add_argument("--data", type=Path, action="append", default=[], metavar="FILE.jsonl",
                       help="labeled incidents (repeatable), e.g. from `correlator corpus`")
    train.add_argument("--corrections", action="store_true",
                       help="also learn from the incidents operators reclassified (read from the configured store)")
    train.add_argument("--output", type=Path, required=True, metavar="DIR",
                       help="model directory to write (point ml.model_dir at it)")
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    train.add_argument("--folds", type=number_in(int, 2), default=5, help="cross-validation folds (default 5)")
    config_flag(train)

    analyze = commands.add_parser(
        "analyze", help="cluster a recording offline and propose rules",
        description="Cluster every alert episode of a recording (DBSCAN over content, topology and time) and "
                    "propose YAML group/link rules for alert names that co-occur reliably, with their support "
                    "and confidence. Review the proposals and keep what is true.")
    analyze.add_argument("input", type=Path, metavar="INPUT.jsonl")
    analyze.add_argument("--out", type=Path, metavar="FILE", help="write the proposed rules here (default: stdout)")
    analyze.add_argument("--min-support", type=number_in(int, 1), default=3,
                         help="clusters a pair must share (default 3)")
    analyze.add_argument("--min-confidence", type=number_in(float, 0, 1), default=0.6,
                         help="share of each name's clusters that hold the other (default 0.6)")
    analyze.add_argument("--window", type=number_in(float, 1), default=900.0,
                         help="seconds apart that count as much as unrelated content (default 900)")
    analyze.add_argument("--skip-bad", action="store_true", help="report bad lines and go on (default: stop)")
    config_flag(analyze)

    corpus = commands.add_parser(
        "corpus", help="generate labeled synthetic recordings",
        description="Generate labeled recordings of synthetic estates (the data the shipped model is trained "
                    "and benchmarked on): per seed a recording and its truth, plus labeled incidents for "
                    "`correlator train`.")
    corpus.add_argument("--seeds", required=True, type=seed_range, metavar="A-B",
                        help="seed or range of seeds, e.g. 100-119")
    corpus.add_argument("--hours", type=number_in(float, 0.1), default=6.0, help="hours of alerts per seed (default 6)")
    corpus.add_argument("--vocabulary", choices=("train", "holdout", "all"), default="train",
                        help="alert-name families to draw from (default train)")
    corpus.add_argument("--out-dir", type=Path, required=True, metavar="DIR")


def seed_range(text: str) -> list[int]:
    """`N` or `A-B` (A <= B) as the seeds it names; an argparse type (its error is the usage's)."""
    first, dash, last = text.partition("-")
    last = last if dash else first
    if not first.isdecimal() or not last.isdecimal() or int(first) > int(last):
        raise argparse.ArgumentTypeError(f"expected a seed or a range of seeds such as 100-119, got {text!r}")
    return list(range(int(first), int(last) + 1))


def run(args: argparse.Namespace, load) -> int:
    return {"train": _train, "analyze": _analyze, "corpus": _corpus}[args.command](args, load)


def _train(args: argparse.Namespace, load) -> int:
    from correlator.ml.artifact import save
    from correlator.offline.training import read_labeled, train

    incidents, sources = [], []
    for path in args.data:
        try:
            with path.open("rb") as lines:
                found = read_labeled(lines, str(path))
        except ValueError as error:  # names the file, the line and the field
            print(f"correlator train: {error}", file=sys.stderr)
            return 1
        log.info("read labeled incidents", extra={"file": str(path), "incidents": len(found)})
        incidents += found
        sources.append({"file": path.name, "incidents": len(found)})
    if args.corrections:
        found = _corrections(load(args)[0])
        log.info("read operator corrections", extra={"incidents": len(found)})
        incidents += found
        sources.append({"corrections": len(found)})
    started = time.perf_counter()
    try:
        model, report = train(incidents, seed=args.seed, folds=args.folds)
    except ValueError as error:
        print(f"correlator train: {error}", file=sys.stderr)
        return 1
    training = {"sources": sources, "incidents": report.incidents, "alerts": report.alerts,
                "seed": args.seed, "folds": args.folds}
    manifest = save(model, args.output, training, report.metrics)
    print(json.dumps({"training": training, "metrics": report.metrics}, indent=2))
    print(f"model written to {args.output} ({time.perf_counter() - started:.1f}s); sha256 {manifest['sha256'][:12]}",
          file=sys.stderr)
    return 0


def _corrections(config):
    import msgspec

    from correlator.offline.training import LabeledIncident
    from correlator.store import database
    from correlator.store.incidents import IncidentRepository

    engine = database.create_engine(config.database_url)
    try:
        return [msgspec.convert(row, LabeledIncident, strict=False)
                for row in IncidentRepository(engine).corrections()]
    finally:
        engine.dispose()


def _analyze(args: argparse.Namespace, load) -> int:
    from correlator import wiring
    from correlator.ingest.sources import parsers
    from correlator.offline.analysis import analyze, rules_yaml
    from correlator.offline import overwrites
    from correlator.offline.replay import BadLine, ReplaySummary, bad_line_stop, read_recording, report_skipped

    if overwrites(args.out, args.input):
        print(f"correlator: --out {args.out} is the recording itself: writing the rules would destroy it",
              file=sys.stderr)
        return 2
    config, _ = load(args)
    summary = ReplaySummary()
    try:
        with args.input.open("rb") as lines:
            alerts = [(at, alert) for at, batch in read_recording(lines, parsers(wiring.field_mappings(config)),
                                                                  wiring.ingest_policy(config), args.skip_bad, summary)
                      for alert in batch]
    except BadLine as error:
        print(bad_line_stop(args.input, error), file=sys.stderr)
        return 1
    report_skipped(args.input, summary)
    result = analyze(alerts, window=args.window, min_support=args.min_support, min_confidence=args.min_confidence)
    text = rules_yaml(result.proposals, args.input.name)
    if args.out:
        args.out.write_text(text)
    else:
        sys.stdout.write(text)
    print(f"{result.episodes} alert episodes: {len(result.clusters)} clusters, {result.noise} alone; "
          f"{len(result.proposals)} rules proposed" + (f", written to {args.out}" if args.out else ""),
          file=sys.stderr)
    return 0


def _corpus(args: argparse.Namespace, _load) -> int:
    from correlator.offline.corpus import generate, labeled_incidents, write

    args.out_dir.mkdir(parents=True, exist_ok=True)
    labeled_path = args.out_dir / "labeled.jsonl"
    with labeled_path.open("w") as labeled:
        for seed in args.seeds:
            corpus = generate(seed, hours=args.hours, vocabulary=args.vocabulary)
            write(corpus, args.out_dir / f"seed-{seed}.recording.jsonl", args.out_dir / f"seed-{seed}.truth.jsonl")
            incidents = labeled_incidents(corpus)
            for incident in incidents:
                labeled.write(json.dumps(incident) + "\n")
            print(f"seed {seed}: {len(corpus.notifications)} notifications, {len(corpus.truth)} alert episodes, "
                  f"{len(incidents)} incidents", file=sys.stderr)
    print(f"labeled incidents written to {labeled_path}", file=sys.stderr)
    return 0
