#!/usr/bin/env python3
"""Engine benchmark: alerts/s through the correlation engine alone (no HTTP, no store), with the
shipped rules, for 1k, 10k and 100k open alerts, and the slowdown from the smallest to the largest;
with the learned layer (online learning and joining, the shipped model's classification) and with
rules only, in the same run; and the learned state once the open alerts are loaded: its size (what
is held, and the bytes saved in the store) and whether a fresh learner restores it exactly (a
restart).

The measured stream mixes what Alertmanager sends: repeats of open alerts (most of it), new alerts
and resolutions. Per-alert cost should not depend on how many alerts are open. The garbage the
bench makes building that stream is collected before the clock starts; the engine's own is
collected, and timed, as in the daemon.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from correlator.cli import tune_runtime  # noqa: E402
from correlator.domain import Alert, AlertStatus  # noqa: E402
from correlator.engine.core import Engine, EngineSettings  # noqa: E402
from correlator.learning import state  # noqa: E402
from correlator.ml.artifact import load as load_model  # noqa: E402
from correlator.ingest.fingerprint import fingerprint  # noqa: E402
from correlator.rules.loader import load_rules  # noqa: E402
from correlator.shipped import shipped_dir  # noqa: E402

T0 = datetime(2026, 11, 23, tzinfo=timezone.utc)
K8S = ["KubePodCrashLooping", "KubePodNotReady", "KubeDeploymentReplicasMismatch", "KubeContainerWaiting",
       "KubeJobFailed", "KubePersistentVolumeFillingUp", "CPUThrottlingHigh", "KubeHpaMaxedOut"]
HOST = ["NodeFilesystemSpaceFillingUp", "NodeMemoryHighUtilization", "NodeNetworkReceiveErrs",
        "NodeClockSkewDetected", "NodeHighNumberConntrackEntriesUsed", "NodeDiskIOSaturation"]
PROBE = ["ProbeFailed", "SSLCertExpiringSoon", "ProbeSlowHttp"]


def make_alert(rng: random.Random, number: int, at: datetime) -> Alert:
    kind = rng.random()
    cluster = f"c{number % 4}"
    if kind < 0.6:
        labels = {"alertname": rng.choice(K8S), "cluster": cluster, "namespace": f"ns-{rng.randrange(2000)}",
                  "pod": f"pod-{number}", "node": f"worker-{rng.randrange(500)}",
                  "severity": rng.choice(["warning", "critical"])}
    elif kind < 0.9:
        labels = {"alertname": rng.choice(HOST), "cluster": cluster, "instance": f"worker-{number}:9100",
                  "job": "node-exporter", "severity": rng.choice(["warning", "critical", "info"])}
    else:
        labels = {"alertname": rng.choice(PROBE), "cluster": cluster, "instance": f"https://svc-{number}.example",
                  "job": "blackbox", "severity": "critical"}
    return Alert(fingerprint(labels), labels, {"summary": f"{labels['alertname']} #{number}"},
                 AlertStatus.FIRING, at, None, "", "bench", at)


def run(open_alerts: int, measured: int, seed: int, model, clock=time.perf_counter) -> dict:
    rng = random.Random(seed)
    engine = Engine(load_rules(shipped_dir("rules")), EngineSettings(learning=model is not None), model=model)
    step = timedelta(milliseconds=1)
    now = T0
    active: list[Alert] = []
    for number in range(open_alerts):
        now += step
        alert = make_alert(rng, number, now)
        engine.process(alert, now)
        active.append(alert)
    stream = []
    for offset in range(measured):
        now += step
        choice = rng.random()
        if choice < 0.6:  # a repeat snapshot of an open alert
            stream.append((rng.choice(active), now))
        elif choice < 0.85:  # a new alert
            alert = make_alert(rng, open_alerts + offset, now)
            active.append(alert)
            stream.append((alert, now))
        else:  # a resolution, and a new alert to keep the open count steady
            index = rng.randrange(len(active))
            old = active[index]
            stream.append((Alert(old.fingerprint, old.labels, old.annotations, AlertStatus.RESOLVED, old.starts_at,
                                 now, "", "bench", now), now))
            active[index] = make_alert(rng, open_alerts + measured + offset, now)
            stream.append((active[index], now))
    # The stream built above is garbage the collector would otherwise scan while the engine is
    # timed (timeit turns the collector off altogether; the engine's own garbage is measured here).
    gc.collect()
    started = clock()
    for alert, at in stream:
        engine.process(alert, at)
    seconds = clock() - started
    return {"open": open_alerts, "alerts": len(stream), "seconds": seconds, "rate": len(stream) / seconds,
            "incidents": sum(1 for i in engine.incidents.values() if i.active), "model": model is not None,
            "learned": learned_state(engine.learner) if engine.learner else {}}


def learned_state(learner) -> dict:
    """What the learner holds, the bytes a save writes, and whether a restart restores it exactly."""
    saved = state.snapshot(learner)
    started = time.perf_counter()
    restored = state.loaded(saved)
    seconds = time.perf_counter() - started
    return {**state.size(learner), "saved_bytes": sum(len(part) for part in saved.values()),
            "restored_exactly": state.snapshot(restored) == saved, "restore_seconds": round(seconds, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000", help="open alerts before measuring")
    parser.add_argument("--measured", type=int, default=50000, help="alerts in the measured stream")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cpu-time", action="store_true",
                        help="time the process's CPU, not the wall clock (on a machine shared with other work)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="measure each size and layer this many times, the layers taking turns, and print "
                             "the median with the range (a shared machine's speed drifts between runs)")
    args = parser.parse_args()
    tune_runtime()  # as `correlator serve` and `replay` do
    model = load_model(shipped_dir("models"))
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        runs: dict[bool, list[dict]] = {True: [], False: []}
        for attempt in range(1, args.repeat + 1):
            for with_model in (model, None):
                print(f"loading {size} open alerts, then measuring {args.measured} "
                      f"({'learned layer' if with_model else 'rules only'}, run {attempt} of {args.repeat})...",
                      file=sys.stderr)
                runs[with_model is not None].append(run(size, args.measured, args.seed, with_model,
                                                        time.process_time if args.cpu_time else time.perf_counter))
        for measured in runs.values():
            rates = sorted(r["rate"] for r in measured)
            results.append({**measured[-1], "rate": statistics.median(rates), "range": (rates[0], rates[-1])})
    base = {flag: next(r["rate"] for r in results if r["model"] is flag) for flag in (True, False)}
    print(f"\n{'open alerts':>11} {'layer':>16} {'open incidents':>15} {'alerts/s':>10} {'slowdown vs first':>18}"
          f" {'learned/rules-only':>18}" + (f" {'range of runs':>17}" if args.repeat > 1 else ""))
    for r in results:
        rules_only = next(o["rate"] for o in results if o["open"] == r["open"] and not o["model"])
        spread = f" {r['range'][0]:>8,.0f}-{r['range'][1]:<8,.0f}" if args.repeat > 1 else ""
        print(f"{r['open']:>11,} {'learned layer' if r['model'] else 'rules only':>16} {r['incidents']:>15,} "
              f"{r['rate']:>10,.0f} {base[r['model']] / r['rate']:>18.2f}x {r['rate'] / rules_only:>17.2f}{spread}")
    for r in results:
        if r["model"]:
            print(f"learned state after {r['open']:,} open alerts and the measured stream: {r['learned']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
