#!/usr/bin/env python3
"""How long a rules reload waits while the engine digests one huge notification (a 100k-alert
Alertmanager body by default), on a SQLite store, in the same run:

- idle: the reload with nothing to process (the reload's own cost);
- bounded: the daemon's steps (engine_service.STEP_ALERTS alerts at most), the reload asked for
  after the first step, while the second holds the engine;
- whole: one step for the whole notification (what a step did before steps could end inside a
  notification), the reload asked for while it holds the engine.

Prints seconds, the steps taken while the reload waited, and the ratios to idle."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from correlator import wiring  # noqa: E402
from correlator.cli import tune_runtime  # noqa: E402
from correlator.config import parse_config  # noqa: E402
from correlator.engine_service import STEP_ALERTS, EngineService  # noqa: E402
from correlator.ingest.sources import parsers  # noqa: E402
from correlator.ml.artifact import load as load_model  # noqa: E402
from correlator.rules.loader import load_rules  # noqa: E402
from correlator.shipped import shipped_dir  # noqa: E402
from correlator.store import database  # noqa: E402
from correlator.store.notification_alerts import encode_alerts  # noqa: E402
from correlator.store.schema import notifications, to_us  # noqa: E402

NAMES = 40


def huge_body(count: int) -> bytes:
    alerts = [{"status": "firing", "labels": {"alertname": f"Alert{i % NAMES}", "instance": f"host{i}:9100",
                                              "cluster": f"c{i % 4}", "severity": "warning"},
               "annotations": {}, "startsAt": "2026-11-23T03:00:00Z", "endsAt": "0001-01-01T00:00:00Z"}
              for i in range(count)]
    return msgspec.json.encode({"version": "4", "status": "firing", "receiver": "correlator", "groupLabels": {},
                                "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am",
                                "groupKey": "{}", "alerts": alerts})


async def reload_wait(directory: Path, body: bytes, count: int, step_alerts: int, model, pending: bool) -> tuple[
        float, int, int]:
    """(seconds the reload took, steps completed meanwhile, alerts processed meanwhile)."""
    store = database.create_engine(f"sqlite:///{directory / 'store.db'}")
    database.upgrade(store)
    config = parse_config({}, environ={})
    if pending:  # stored as ingest stores it: the body and the alerts parsed from it
        received_at = datetime.now(timezone.utc)
        alerts = parsers({})["alertmanager"](body, received_at, wiring.ingest_policy(config)).alerts
        with store.begin() as connection:
            connection.execute(notifications.insert().values(
                received_at_us=to_us(received_at), source="alertmanager", alert_count=count, body=body,
                alerts=encode_alerts(alerts)))
    rules_dir = config.rules_dir
    service = EngineService(store, load_rules(rules_dir), wiring.engine_settings(config), parsers({}),
                            wiring.ingest_policy(config), model=model, step_alerts=step_alerts)
    await service.restore()
    steps = 0

    async def stepping() -> None:
        nonlocal steps
        while await service.run_step():
            steps += 1
        steps += 1

    if pending and step_alerts < count:
        await service.run_step()  # the engine is inside the notification when the reload comes
    task = asyncio.create_task(stepping())
    while pending and not service._lock.locked():  # the reload comes while a step holds the engine
        await asyncio.sleep(0.001)
    started = time.perf_counter()
    await service.reload(rules_dir)
    seconds = time.perf_counter() - started
    waited_steps, waited_alerts = steps, sum(service.engine.outcomes.values())
    await task
    store.dispose()
    return seconds, waited_steps, waited_alerts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--model", action="store_true", help="with the shipped model (as serve runs by default)")
    args = parser.parse_args()
    tune_runtime()  # as serve runs
    model = load_model(shipped_dir("models")) if args.model else None
    body = huge_body(args.alerts)
    results = {}
    for name, step_alerts, pending in (("idle", STEP_ALERTS, False), ("bounded", STEP_ALERTS, True),
                                       ("whole", args.alerts, True)):
        with tempfile.TemporaryDirectory() as directory:
            results[name] = asyncio.run(reload_wait(Path(directory), body, args.alerts, step_alerts, model, pending))
        seconds, steps, alerts = results[name]
        print(f"{name:8} reload took {seconds:8.3f} s  ({steps} steps, {alerts} alerts processed meanwhile)")
    idle = results["idle"][0]
    print(f"bounded / idle: {results['bounded'][0] / idle:.1f}x   whole / idle: {results['whole'][0] / idle:.1f}x   "
          f"whole / bounded: {results['whole'][0] / results['bounded'][0]:.1f}x")


if __name__ == "__main__":
    main()
