#!/usr/bin/env python3
"""The real-fault lab: real exporters, Prometheus with awesome-prometheus-alerts rules and a real
Alertmanager posting to a running `correlator serve --record`, while a script breaks things.

    bench/lab/install.sh && python3 bench/lab/run.py --out /tmp/lab

Writes into --out: recording.jsonl (what Alertmanager sent, as the daemon recorded it), faults.jsonl
(the fault script's log), truth.jsonl (one line per alert episode: its fault, or null), results.json,
and the programs' configs and logs. Prints pairwise precision/recall/F1 of the daemon's live
incidents and of `replay` on the recording, and per fault whether it stayed one incident and apart
from the others. About 14 minutes; every program is stopped at the end, also on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
import urllib.request
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from faults import SCHEDULE, FaultScript  # noqa: E402
from lab_rules import write_lab_rules  # noqa: E402
from stack import Stack, wait_for  # noqa: E402
from truth import Score, derive_truth, read_episodes, read_faults, score  # noqa: E402

from correlator.config import Config  # noqa: E402
from correlator.engine.core import Engine  # noqa: E402
from correlator.ingest.sources import parsers  # noqa: E402
from correlator.replay import replay  # noqa: E402
from correlator.rules.loader import load_rules  # noqa: E402

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


def replay_placement(recording: Path) -> dict[tuple[str, datetime], str]:
    """Episode -> incident id, from `replay` of the recording with the shipped rules and model."""
    config = Config()
    model = config.load_model()
    engine = Engine(load_rules(config.rules_dir), config.engine_settings(model), model=model)
    replay(engine, recording, parsers(config.ingest.mappings), config.ingest_policy())
    return {key: incident.id for incident in engine.incidents.values() for key in incident.members}


def report(name: str, s: Score) -> str:
    per_fault = ", ".join(f"{fault} {n}" for fault, n in s.incidents_per_fault.items())
    sharing = "; ".join(" + ".join(f) for f in s.faults_sharing) or "none"
    return (f"{name:<7} pairwise P {s.precision:.2f} R {s.recall:.2f} F1 {s.f1:.2f} over {s.scored} fault episodes "
            f"({s.background} background)\n"
            f"        incidents per fault: {per_fault}  -> every fault one incident: {s.every_fault_one_incident}\n"
            f"        incidents holding two faults: {sharing}  -> faults apart: {s.faults_apart}")


def run_lab(out: Path, warmup: float, tail: float) -> None:
    left_out = write_lab_rules(out / "rules")
    say(f"lab rules written ({len(left_out)} long-wait rules left out: {', '.join(left_out)})")
    stack = Stack(out, out / "rules")
    script = FaultScript(stack, out / "faults.jsonl", say)
    try:
        stack.start()
        say(f"stack up: Prometheus {stack.url('prometheus')}, Alertmanager {stack.url('alertmanager')}, "
            f"correlator {stack.url('correlator')}, lab PostgreSQL port {stack.ports['postgres']}")
        recording = out / "recording.jsonl"
        wait_for(lambda: recording.exists() and recording.stat().st_size > 0, 120,
                 "the first notification from Alertmanager")
        say(f"first notification recorded; warming up {warmup:.0f}s")
        time.sleep(warmup)
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
            say("every lab program stopped")


def evaluate(out: Path) -> dict:
    recording = out / "recording.jsonl"
    truth = derive_truth(read_episodes(recording), read_faults(out / "faults.jsonl"))
    with (out / "truth.jsonl").open("w") as file:
        for line in truth:
            file.write(json.dumps(line) + "\n")
    results = {"replay": score(replay_placement(recording), truth)}
    live_path = out / "live-placement.json"
    if live_path.exists():
        live = {(fp, datetime.fromisoformat(at)): incident for fp, at, incident in json.loads(live_path.read_text())}
        results["live"] = score(live, truth)
    for name, s in results.items():
        print(report(name, s))
    print("fault episodes:")
    for line in truth:
        if line["incident"]:
            print(f"  {line['startsAt']}  {line['incident']:<14} {line['alertname']}")
    summary = {name: {**vars(s), "every_fault_one_incident": s.every_fault_one_incident,
                      "faults_apart": s.faults_apart} for name, s in results.items()}
    (out / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="an empty or new directory for this run")
    parser.add_argument("--warmup", type=float, default=60, help="seconds of steady state before the first fault")
    parser.add_argument("--tail", type=float, default=60, help="seconds after the last fault, for its resolves")
    parser.add_argument("--score-only", action="store_true",
                        help="only derive the truth and score an earlier run in --out")
    args = parser.parse_args()
    if not args.score_only:
        if args.out.exists() and any(args.out.iterdir()):
            parser.error(f"{args.out} is not empty: a run needs a directory of its own")
        args.out.mkdir(parents=True, exist_ok=True)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwinds through the cleanup
        run_lab(args.out, args.warmup, args.tail)
    evaluate(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
