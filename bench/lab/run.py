#!/usr/bin/env python3
"""The real-fault lab: real exporters, Prometheus with public rule sets and a real
Alertmanager posting to a running `correlator serve --record`, while a script breaks things.

    bench/lab/install.sh && python3 bench/lab/run.py --out /tmp/lab

Writes into --out: recording.jsonl (what Alertmanager sent, as the daemon recorded it), faults.jsonl
(the fault script's log), truth.jsonl (one line per alert episode: its fault, or background of its
own), results.json, and the programs' configs and logs. Prints pairwise precision/recall/F1 of the
daemon's live incidents and of `replay` on the recording, and per fault whether it stayed one
incident and apart from the others. About 38 minutes; every program is stopped at the end, also on
Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import defaultdict
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from faults import SCHEDULE, FaultScript  # noqa: E402
from lab_rules import NODE_RULES, write_lab_rules  # noqa: E402
from stack import ALERTMANAGER_TIMINGS, REPO, Stack, wait_for  # noqa: E402
from truth import BACKGROUND, LabScore, derive_truth, lab_score, read_episodes, read_faults  # noqa: E402

from correlator.offline.scoring import read_placements, read_truth  # noqa: E402

started = time.monotonic()


def say(message: str) -> None:
    print(f"[{time.monotonic() - started:6.0f}s] {message}", file=sys.stderr, flush=True)


def _get_json(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def _engine_caught_up(url: str) -> bool:
    with urllib.request.urlopen(url + "/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("correlator_engine_lag_seconds "):
                return float(line.split()[1]) == 0.0
    return False


def live_placement(url: str, max_pages: int = 20) -> dict[tuple[str, datetime], str]:
    """Episode -> incident id, as the running daemon decided."""
    placement, cursor = {}, None
    for _ in range(max_pages):
        page = _get_json(f"{url}/api/v1/incidents?limit=500" + (f"&cursor={cursor}" if cursor else ""))
        for summary in page["incidents"]:
            detail = _get_json(f"{url}/api/v1/incidents/{summary['id']}")
            for member in detail["members"]:
                placement[member["fingerprint"], datetime.fromisoformat(member["startsAt"].replace("Z", "+00:00"))] \
                    = summary["id"]
        cursor = page["next"]
        if cursor is None:
            return placement
    raise RuntimeError(f"more than {max_pages} pages of incidents")


def _partition(placement: dict) -> set[frozenset]:
    members = defaultdict(set)
    for episode, incident in placement.items():
        members[incident].add(episode)
    return {frozenset(m) for m in members.values()}


def report(name: str, s: LabScore) -> str:
    a = s.agreement
    per_fault = ", ".join(f"{fault} {n}" for fault, n in s.incidents_per_fault.items())
    sharing = "; ".join(" + ".join(f) for f in s.faults_sharing) or "none"
    return (f"{name:<7} pairwise P {a.pair_precision:.2f} R {a.pair_recall:.2f} F1 {a.pair_f1:.2f}, "
            f"BCubed F1 {a.bcubed_f1:.2f}; {a.episodes} episodes, {a.true_incidents} true incidents, "
            f"{a.incidents} incidents; {s.background_with_faults} background episodes in a fault's incident\n"
            f"        incidents per fault: {per_fault}  -> every fault one incident: {s.every_fault_one_incident}\n"
            f"        incidents holding two faults: {sharing}  -> faults apart: {s.faults_apart}")


class DaemonRestarts(threading.Thread):
    """Deploys during the faults: at each offset (seconds into the faults) the daemon stops (SIGTERM)
    and starts again on its store, while Alertmanager keeps sending (it retries what the stopped
    daemon refused). The thread lives until `finish`: the kernel ends a lab program when the thread
    that started it exits (PR_SET_PDEATHSIG), so the daemon it restarts must not outlive it."""

    def __init__(self, stack: Stack, offsets: tuple[float, ...]):
        super().__init__(name="daemon-restarts", daemon=True)
        self.stack, self.offsets, self._done = stack, offsets, threading.Event()

    def run(self) -> None:
        origin = time.monotonic()
        for at in self.offsets:
            if self._done.wait(max(0.0, origin + at - time.monotonic())):
                return
            say(f"restarting the daemon ({at:.0f}s into the faults)")
            daemon = self.stack.programs["correlator"]
            daemon.stop()
            daemon.start(timeout=60)
            say("daemon restarted")
        self._done.wait()

    def finish(self) -> None:
        self._done.set()
        if self.is_alive():
            self.join(timeout=90)


def run_lab(out: Path, warmup: float, tail: float, burn_cores: int, node_rules: str, alertmanager_timing: str,
            alertmanager_group_by: tuple[str, ...], restarts: tuple[float, ...] = ()) -> None:
    left_out = write_lab_rules(out / "rules", node_rules)
    say(f"lab rules written ({len(left_out)} long-wait rules left out: {', '.join(left_out)})")
    stack = Stack(out, out / "rules", alertmanager_timing, alertmanager_group_by)
    script = FaultScript(stack, out / "faults.jsonl", say, burn_cores)
    restarter = DaemonRestarts(stack, restarts)
    try:
        stack.start()
        say(f"stack up: Prometheus {stack.url('prometheus')}, Alertmanager {stack.url('alertmanager')}, "
            f"correlator {stack.url('correlator')}, lab PostgreSQL port {stack.ports['postgres']}")
        recording = out / "recording.jsonl"
        wait_for(lambda: recording.exists() and recording.stat().st_size > 0, 120,
                 "the first notification from Alertmanager")
        say(f"first notification recorded; warming up {warmup:.0f}s")
        time.sleep(warmup)
        if restarts:
            restarter.start()
        script.run(SCHEDULE)
        say(f"faults done; {tail:.0f}s for the last resolves")
        time.sleep(tail)
    finally:
        script.close()
        for name in ("prometheus", "alertmanager"):
            if name in stack.programs:
                stack.programs[name].stop()
        try:
            if "correlator" in stack.programs:
                wait_for(lambda: _engine_caught_up(stack.url("correlator")), 60, "the daemon's engine to catch up")
                (out / "live-placement.json").write_text(json.dumps(
                    [[fp, at.isoformat(), incident] for (fp, at), incident in
                     live_placement(stack.url("correlator")).items()]))
        finally:
            stack.close()
            restarter.finish()
            say("every lab program stopped")


def evaluate(out: Path) -> dict:
    """Truth from the run, `correlator replay --truth` on its recording, and the lab's per-fault figures
    for the replay and for the live daemon."""
    recording, truth_path, replayed = out / "recording.jsonl", out / "truth.jsonl", out / "replay-incidents.jsonl"
    faults = read_faults(out / "faults.jsonl")
    lines = derive_truth(read_episodes(recording), faults)
    truth_path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    table = subprocess.run([sys.executable, "-m", "correlator", "replay", str(recording), "--out", str(replayed),
                            "--truth", str(truth_path)], env={**os.environ, "PYTHONPATH": str(REPO)},
                           capture_output=True, text=True, check=True, timeout=300)
    print(table.stdout)
    truth = read_truth(truth_path)
    placements = {"replay": {e: p.incident for e, p in read_placements(replayed).items()}}
    live_path = out / "live-placement.json"
    if live_path.exists():
        placements["live"] = {(fp, datetime.fromisoformat(at)): incident
                              for fp, at, incident in json.loads(live_path.read_text())}
    results = {name: lab_score(placement, truth) for name, placement in placements.items()}
    for name, s in results.items():
        print(report(name, s))
    if "live" in placements:
        print(f"live and replay made the same incidents: {_partition(placements['live']) == _partition(placements['replay'])}")
    print("fault episodes:")
    for line in lines:
        if line["incident"] and not line["incident"].startswith(BACKGROUND):  # null: the heartbeat
            print(f"  {line['starts_at']}  {line['incident']:<14} {line['alertname']}")
    for fault in faults:
        if not any(line["incident"] == fault.id for line in lines):
            print(f"  {fault.id}: no alert of its own (already firing on its target when it began: "
                  f"{', '.join(fault.already_firing) or 'nothing'})")
    summary = {name: {**asdict(s), "every_fault_one_incident": s.every_fault_one_incident,
                      "faults_apart": s.faults_apart} for name, s in results.items()}
    (out / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="an empty or new directory for this run")
    parser.add_argument("--warmup", type=float, default=60, help="seconds of steady state before the first fault")
    parser.add_argument("--tail", type=float, default=60, help="seconds after the last fault, for its resolves")
    parser.add_argument("--burn-cores", type=int, default=1,
                        help="cores the CPU burn keeps busy (default 1). HostHighCpuLoad fires above 80%% of all "
                             "cores, so on a quiet machine with n cores only a burn of n cores crosses it")
    parser.add_argument("--node-rules", choices=NODE_RULES, default="awesome",
                        help="the host's alert rules: awesome-prometheus-alerts (default) or the kube-prometheus "
                             "node-exporter mixin and its TargetDown; the other targets' are awesome-prometheus-alerts'")
    parser.add_argument("--alertmanager-timing", choices=sorted(ALERTMANAGER_TIMINGS), default="lab",
                        help="Alertmanager's group_wait/group_interval/repeat_interval: the lab's 2s/5s/1m (default), "
                             "the README's recommended 10s/30s/4h (give --tail 60), or Alertmanager's documented "
                             "defaults, 30s/5m/4h, which hold new alerts and resolves up to 5 minutes (give --tail 330 "
                             "for the last resolves)")
    parser.add_argument("--alertmanager-group-by", default="alertname,cluster",
                        type=lambda value: tuple(label.strip() for label in value.split(",") if label.strip()),
                        help="the labels Alertmanager's route groups by, comma-separated (default alertname,cluster); "
                             "'...' makes every alert a group of its own, as Alertmanager's documentation advises "
                             "for a receiver that aggregates itself")
    parser.add_argument("--restart-at", default="", metavar="SECONDS,...",
                        type=lambda value: tuple(float(at) for at in value.split(",") if at.strip()),
                        help="restart the daemon (SIGTERM, then start on its store) this many seconds into the "
                             "faults, as a deploy would: live and replay should still make the same incidents")
    parser.add_argument("--score-only", action="store_true",
                        help="only derive the truth and score an earlier run in --out")
    args = parser.parse_args()
    if not args.score_only:
        if args.out.exists() and any(args.out.iterdir()):
            parser.error(f"{args.out} is not empty: a run needs a directory of its own")
        args.out.mkdir(parents=True, exist_ok=True)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwinds through the cleanup
        run_lab(args.out, args.warmup, args.tail, args.burn_cores, args.node_rules, args.alertmanager_timing,
                args.alertmanager_group_by, args.restart_at)
    evaluate(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
