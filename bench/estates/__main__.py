"""`python -m bench.estates`: write labeled recordings for `correlator replay REC --truth LABELS`."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import DENSITIES, FAULTS, TEMPLATES, generate, write


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.estates", description=__doc__)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hours", type=float, default=3.0)
    parser.add_argument("--density", default="medium",
                        help="alert episodes per hour, or one of "
                             + ", ".join(f"{name} ({rate})" for name, rate in DENSITIES.items()))
    parser.add_argument("--estate", choices=sorted(TEMPLATES), help="estate template (default: drawn by the seed)")
    parser.add_argument("--faults", help=f"comma-separated fault kinds (default: all {len(FAULTS)})")
    parser.add_argument("--vocabularies", choices=("mixed", "familiar", "novel"), default="mixed")
    parser.add_argument("--out-dir", type=Path, required=True)
    args = parser.parse_args()
    density = DENSITIES[args.density] if args.density in DENSITIES else float(args.density)
    stream = generate(args.seed, args.hours, density, args.estate, args.faults.split(",") if args.faults else None,
                      args.vocabularies)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    name = f"{stream.estate}-{args.density}-{args.seed}"
    recording, truth = args.out_dir / f"{name}.jsonl", args.out_dir / f"{name}.truth.jsonl"
    write(stream, recording, truth)
    labeled = [e for e in stream.episodes if e.incident]
    print(f"{recording}: {len(stream.notifications)} notifications, {len(labeled)} alert episodes "
          f"({len(labeled) / args.hours:.0f}/h) in {len({e.incident for e in labeled})} incidents; truth in {truth}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
