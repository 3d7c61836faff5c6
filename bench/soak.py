#!/usr/bin/env python3
"""Soak benchmark: `correlator serve` (engine and model on, fresh SQLite store) under a steady load at
half its measured ingest rate for an hour, sampled every minute: RSS, open files, that minute's p99
request latency, the engine's lag. Flat is the bar: the verdict compares the second half of the run
with the first.

The load is bench/ingest.py's: Alertmanager webhooks (`--alerts` alerts each) from a bounded label
space (20 names x 2,000 hosts x 2 severities), so the active set fills up and then is re-sent, as
Alertmanager re-sends its groups; wrk generates it (a C load generator is not the bottleneck), one run
per sampling interval, each connection pausing between requests to hold the rate.
The full rate is measured first on the same daemon for `--measure` seconds (or given with `--rate`).
Figures, not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.daemon import Daemon  # noqa: E402
from bench.ingest import ensure_wrk, run_wrk, write_bodies  # noqa: E402

MIB = 2 ** 20


def sample(daemon: Daemon, minute: float, load: dict | None, alerts_per_request: int) -> dict:
    metrics = daemon.metrics()
    memory = daemon.memory()
    return {"minute": minute, "rss": memory["VmRSS"], "hwm": memory["VmHWM"], "fds": daemon.open_files(),
            "lag": metrics.get("correlator_engine_lag_seconds", 0.0),
            "processed": metrics.get("correlator_engine_alerts_total", 0.0),
            "incidents": metrics.get("correlator_incidents_open", 0.0), "store": daemon.store_bytes(),
            "rate": load["rps"] * alerts_per_request if load else 0.0,
            "p99_ms": load["p99_us"] / 1000 if load else 0.0,
            "errors": load["non2xx"] + load["socket_errors"] if load else 0}


def print_row(row: dict) -> None:
    print(f"{row['minute']:>6.1f} {row['rss'] / MIB:>8.0f} {row['hwm'] / MIB:>9.0f} {row['fds']:>6} "
          f"{row['rate']:>9,.0f} {row['p99_ms']:>8.1f} {row['errors']:>7} {row['lag']:>7.1f} "
          f"{row['incidents']:>10,.0f} {row['store'] / MIB:>9.0f}", flush=True)


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over x."""
    xs, ys = [x for x, _ in points], [y for _, y in points]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else 0.0


def verdict(rows: list[dict], interval_minutes: float) -> None:
    """Flat: RSS grows by less than 2% (or 8 MiB) over the second half, open files (give or take the
    couple of connections in flight) and p99 do not grow from the first half to the second, and the
    engine keeps up."""
    loaded = rows[1:]
    if len(loaded) < 4:
        print("\nverdict: too few samples to judge flatness (need 4 intervals)")
        return
    half = len(loaded) // 2
    first, second = loaded[:half], loaded[half:]
    rss_first = slope([(r["minute"], r["rss"] / MIB) for r in first])
    rss_second = slope([(r["minute"], r["rss"] / MIB) for r in second])
    growth = rss_second * (second[-1]["minute"] - second[0]["minute"])
    rss_flat = growth <= max(8.0, 0.02 * second[0]["rss"] / MIB)
    fds_flat = max(r["fds"] for r in second) <= max(r["fds"] for r in first) + 2
    p99_first, p99_second = (statistics.median(r["p99_ms"] for r in part) for part in (first, second))
    p99_flat = p99_second <= max(1.5 * p99_first, p99_first + 5)
    lag_ok = max(r["lag"] for r in second) <= 2 * 60 * interval_minutes
    print(f"\nRSS slope: {rss_first:+.2f} MiB/min over the first half, {rss_second:+.2f} MiB/min over the second "
          f"({growth:+.0f} MiB): {'flat' if rss_flat else 'GROWING'}")
    print(f"open files: at most {max(r['fds'] for r in first)} then {max(r['fds'] for r in second)}: "
          f"{'flat' if fds_flat else 'GROWING'}")
    print(f"p99 latency (median of the minutes): {p99_first:.1f} ms then {p99_second:.1f} ms: "
          f"{'flat' if p99_flat else 'GROWING'}")
    print(f"engine lag: at most {max(r['lag'] for r in second):.1f} s in the second half: "
          f"{'keeps up' if lag_ok else 'FALLING BEHIND'}")
    print(f"verdict: {'flat' if rss_flat and fds_flat and p99_flat and lag_ok else 'NOT flat'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60, help="length of the soak (default 60)")
    parser.add_argument("--interval", type=float, default=1, help="minutes between samples (default 1)")
    parser.add_argument("--rate", type=float, help="alerts/s to hold (default: half the measured full rate)")
    parser.add_argument("--measure", type=int, default=20, help="seconds of full load to measure the rate (default 20)")
    parser.add_argument("--alerts", type=int, default=100, help="alerts per request (default 100)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections (default 16)")
    args = parser.parse_args()
    ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="correlator-soak-") as tmp:
        workdir = Path(tmp)
        bodies = workdir / "bodies.jsonl"
        write_bodies(bodies, args.alerts, seed=args.alerts)
        daemon = Daemon(workdir, "soak")
        try:
            rate = args.rate
            if rate is None:
                full = run_wrk(daemon.url, bodies, connections=args.connections, duration=args.measure)
                rate = full["rps"] * args.alerts / 2
                print(f"full load: {full['rps'] * args.alerts:,.0f} alerts/s (p99 {full['p99_us'] / 1000:.1f} ms); "
                      f"holding {rate:,.0f} alerts/s", flush=True)
                # The full-load run leaves a backlog: start once the engine has worked it off.
                daemon.wait_processed((full["requests"] - full["non2xx"]) * args.alerts, timeout=1800)
            # Each connection pauses so that connections / pause ~= the target requests/s; the pause
            # is corrected after each interval for the time the requests themselves took.
            delay_ms = max(1, int(args.connections * 1000 / (rate / args.alerts)))
            print(f"\n{'minute':>6} {'RSS MiB':>8} {'peak MiB':>9} {'files':>6} {'alerts/s':>9} {'p99 ms':>8} "
                  f"{'non-2xx':>7} {'lag s':>7} {'incidents':>10} {'store MiB':>9}", flush=True)
            rows = [sample(daemon, 0.0, None, args.alerts)]
            print_row(rows[0])
            started = time.monotonic()
            for _ in range(max(1, round(args.minutes / args.interval))):
                load = run_wrk(daemon.url, bodies, connections=args.connections,
                               duration=max(1, round(args.interval * 60)), delay_ms=delay_ms)
                rows.append(sample(daemon, (time.monotonic() - started) / 60, load, args.alerts))
                print_row(rows[-1])
                delay_ms = max(1, round(delay_ms * rows[-1]["rate"] / rate))
        finally:
            daemon.stop()
    verdict(rows, args.interval)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
