#!/usr/bin/env python3
"""Memory benchmark: the daemon's RSS with 10k, 100k (and, on request, 1M) active alerts.

`correlator serve` runs on a fresh SQLite store with the shipped rules and model. Distinct firing
alerts (bench/alerts.py: kube-prometheus-like label sets, 40 alert names) are posted as Alertmanager
webhooks until each size is reached, the engine is waited for, and RSS (VmRSS, and the peak VmHWM)
is read from /proc. The alerts' starts are spread over the hours before the run (bench/alerts.py:
all at once, they would be 40 storms). Beside it, in the same run: the idle daemon's RSS (the
reference) and the size of the alerts as JSON, so the per-alert figure reads as "bytes of memory
per byte of alert".

Three shapes of incidents:
  model    the shipped rules and model: online learning joins alerts on learned evidence;
  own      the shipped rules, learning off: every alert opens an incident of its own (worst case);
  grouped  the shipped rules plus one group rule by alertname, learning off: alerts share ~40 incidents.

`--in-process` runs the engine alone on the same alerts (parsed as the daemon parses them) and
reports the memory it holds (tracemalloc); `--top N` also lists the N largest allocation sites, so
memory can be attributed to structures.
Figures, not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import gc
import shutil
import sys
import tempfile
import time
import tracemalloc
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.alerts import ALERTNAMES, SPREAD, Starts, bodies  # noqa: E402
from bench.daemon import Daemon  # noqa: E402
from correlator import wiring  # noqa: E402
from correlator.shipped import shipped_dir  # noqa: E402

PER_BODY = 500  # alerts per webhook
POSTERS = 4  # concurrent requests
GROUP_RULE = """version: 1
rules:
  - name: bench-by-alertname
    kind: group
    group_by: [alertname]
    window: 24h
    max_duration: 7d
"""


def shaped_rules(workdir: Path, shape: str) -> Path:
    """A copy of the shipped rules, with the group rule for the grouped shape."""
    rules = workdir / f"rules-{shape}"
    shutil.copytree(shipped_dir("rules"), rules)
    if shape == "grouped":
        (rules / "90-bench-group.yaml").write_text(GROUP_RULE)
    return rules


def measure_daemon(workdir: Path, shape: str, sizes: list[int]) -> None:
    daemon = Daemon(workdir, shape, {"rules": {"dir": str(shaped_rules(workdir, shape))},
                                     "learning": {"enabled": shape == "model"}})
    try:
        daemon.wait_processed(0, 30)
        idle = daemon.memory()
        report_row({"shape": shape, "alerts": 0, "incidents": 0, "rss": idle["VmRSS"], "hwm": idle["VmHWM"],
                    "store": daemon.store_bytes(), "json": 0, "idle": idle["VmRSS"], "seconds": 0.0})
        posted = json_bytes = 0
        started, starts = time.monotonic(), Starts(sizes[-1])
        with concurrent.futures.ThreadPoolExecutor(POSTERS) as pool:
            for size in sizes:
                print(f"  {shape}: posting up to {size:,} alerts...", file=sys.stderr)
                pending = []
                for body in bodies(posted, size, PER_BODY, starts):
                    json_bytes += len(body)
                    pending.append(pool.submit(daemon.post, body))
                    if len(pending) >= 4 * POSTERS:
                        pending.pop(0).result()
                for future in pending:
                    future.result()
                posted = size
                values = daemon.wait_processed(posted, timeout=120 + posted / 200)
                status = daemon.memory()
                report_row({"shape": shape, "alerts": posted, "rss": status["VmRSS"], "hwm": status["VmHWM"],
                            "incidents": int(values.get("correlator_incidents_open", 0)),
                            "store": daemon.store_bytes(), "json": json_bytes, "idle": idle["VmRSS"],
                            "seconds": time.monotonic() - started})
    finally:
        daemon.stop()


HEADER = (f"{'shape':>8} {'active alerts':>13} {'open incidents':>14} {'RSS MiB':>8} {'peak MiB':>9} "
          f"{'RSS-idle MiB':>12} {'bytes/alert':>11} {'JSON bytes/alert':>16} {'RSS/JSON':>8} {'store MiB':>9} "
          f"{'seconds':>8}")


def report_row(r: dict) -> None:
    mib = 2 ** 20
    added = r["rss"] - r["idle"]
    per_alert = added / r["alerts"] if r["alerts"] else 0
    per_json = r["json"] / r["alerts"] if r["alerts"] else 0
    print(f"{r['shape']:>8} {r['alerts']:>13,} {r['incidents']:>14,} {r['rss'] / mib:>8.0f} {r['hwm'] / mib:>9.0f} "
          f"{added / mib:>12.0f} {per_alert:>11,.0f} {per_json:>16,.0f} "
          f"{(per_alert / per_json if per_json else 0):>8.1f} {r['store'] / mib:>9.0f} {r['seconds']:>8.0f}", flush=True)


def measure_engine(shape: str, sizes: list[int], top: int, frames: int) -> None:
    """The engine alone, fed the alerts as the daemon's engine service feeds them; its memory is what
    tracemalloc sees allocated and still held (exact, unlike an RSS delta inside one process)."""
    from correlator.cli import tune_runtime
    from correlator.config import Config, LearningConfig
    from correlator.engine.core import Engine
    from correlator.ingest.alertmanager import parse_alertmanager_webhook
    from correlator.ingest.fingerprint import _fingerprint_of_items
    from correlator.rules.loader import load_rules

    tune_runtime()
    config = Config(learning=LearningConfig(enabled=shape == "model"))
    model = wiring.load_model(config)
    with tempfile.TemporaryDirectory() as tmp:
        rules = load_rules(shaped_rules(Path(tmp), shape))
    engine = Engine(rules, wiring.engine_settings(config), keep_closed=False, model=model)
    policy = wiring.ingest_policy(config)
    tracemalloc.start(frames)
    processed = 0
    print(f"\n{'shape':>8} {'active alerts':>13} {'open incidents':>14} {'engine MiB':>10} {'bytes/alert':>11}"
          f" {'JSON bytes/alert':>16} {'seconds':>8}")
    started, json_bytes, starts = time.monotonic(), 0, Starts(sizes[-1])
    for size in sizes:
        for body in bodies(processed, size, PER_BODY, starts):
            json_bytes += len(body)
            now = datetime.now(timezone.utc)
            for alert in parse_alertmanager_webhook(body, now, policy).alerts:
                engine.process(alert, now)
            engine.release_closed()
            for incident in engine.incidents.values():  # what a save does
                incident.changed_members.clear()
        processed = size
        # The generator's fingerprints filled this cache; the daemon takes Alertmanager's.
        _fingerprint_of_items.cache_clear()
        gc.collect()
        held = tracemalloc.get_traced_memory()[0]
        print(f"{shape:>8} {size:>13,} {len(engine.incidents):>14,} {held / 2**20:>10.0f} {held / size:>11,.0f}"
              f" {json_bytes / size:>16,.0f} {time.monotonic() - started:>8.0f}")
    if top:
        snapshot = tracemalloc.take_snapshot()
        print(f"\nthe {top} largest allocation sites ({frames} frame(s) each):")
        for stat in snapshot.statistics("traceback" if frames > 1 else "lineno")[:top]:
            print(f"{stat.size / 2**20:8.1f} MiB {stat.size / processed:7.0f} B/alert {stat.count:>10,} blocks")
            for line in stat.traceback.format(limit=frames, most_recent_first=True):
                print(f"      {line.strip()}")
    tracemalloc.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000",
                        help="active alerts at which to measure, ascending (default 10000,100000; 1000000 works, slowly)")
    parser.add_argument("--shapes", default="model,own,grouped",
                        help="model, own, grouped, comma-separated (default all three)")
    parser.add_argument("--in-process", action="store_true", help="measure the engine alone, in this process")
    parser.add_argument("--top", type=int, default=0, metavar="N",
                        help="with --in-process: list the N largest allocation sites")
    parser.add_argument("--frames", type=int, default=1, help="frames per allocation site (default 1)")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    shapes = args.shapes.split(",")
    print(f"{len(ALERTNAMES)} alert names, {PER_BODY} alerts per webhook, starts spread over the {SPREAD} before",
          file=sys.stderr)
    if args.in_process:
        for shape in shapes:
            measure_engine(shape, sizes, args.top, args.frames)
        return 0
    print(HEADER, flush=True)
    with tempfile.TemporaryDirectory(prefix="correlator-memory-") as tmp:
        for shape in shapes:
            measure_daemon(Path(tmp), shape, sizes)
    print("(the first row of each shape is the idle daemon: the reference)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
