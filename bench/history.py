#!/usr/bin/env python3
"""What months of kept history cost the reads that must not grow with it: the board's list of
resolved and closed incidents (polled), a restart's restore of the unclosed incidents and of
those closed in the last hour, and one alert's history page; then what the history retention's
sweep costs, once with half the history due and once with nothing due (every 10 minutes).

    PYTHONPATH=$PWD python3 bench/history.py --incidents 50000

Builds a SQLite store with the real schema holding N incidents over 90 days (all closed but 50),
5 member alerts (and their episodes) and 10 timeline events each, then times each read (the best
of 3) before and after `database.optimize` (what the daemon's retention sweep runs every 10
minutes). The reference, in the same run: one scan of every member row, what a restore used to
read."""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).parents[1]))

from correlator.api.incidents import _list  # noqa: E402
from correlator.config import SlaConfig  # noqa: E402
from correlator.store import alert_queries, database  # noqa: E402
from correlator.store.history import purge_history  # noqa: E402
from correlator.store.incidents import IncidentRepository  # noqa: E402
from correlator.store.alert_view import AlertView  # noqa: E402
from correlator.ingest.flapping import FlapDetector  # noqa: E402
from correlator.store.schema import (alerts, from_us, incident_events, incident_members, incidents,  # noqa: E402
                                     notifications)

T0 = 1_790_000_000_000_000  # microseconds: November 2026
MINUTE, DAY = 60_000_000, 86_400_000_000
OPEN = 50
MEMBERS = 5


def build(store, count: int) -> int:
    """Fills the store; returns the microsecond of the last opening ("now")."""
    rng = random.Random(1)
    header = {"title": "", "service_area": "availability", "classification": None, "classification_confidence": {},
              "impact": "low", "urgency": "low", "prioritisation": None, "services": [], "tier": 1,
              "assignment": None, "acknowledged_at_us": None, "closed_at_us": None, "last_alert_at_us": 0,
              "problem_id": None, "firing": 0, "priority_set_by_operator": False, "placement": 0}
    span = 90 * DAY
    for start in range(0, count, 5000):
        rows, members, events, episodes = [], [], [], []
        for n in range(start, min(start + 5000, count)):
            incident_id, opened = f"INC-{n + 1:06d}", T0 + n * span // count
            closed = n < count - OPEN
            rows.append({"id": incident_id, "state": "closed" if closed else "open", "priority": "P3",
                         "category": "software", "team": "", "opened_at_us": opened,
                         "updated_at_us": opened + 120 * MINUTE if closed else opened,
                         "resolved_at_us": opened + 60 * MINUTE if closed else None,
                         "group_key": f"alert:{n:016x}", "header": json.dumps({**header, "title": f"incident {n}",
                                                                               "last_alert_at_us": opened})})
            for j in range(MEMBERS):
                fingerprint = f"{rng.getrandbits(64):016x}"
                document = {"labels": {"alertname": "KubePodCrashLooping", "cluster": "eu", "pod": f"web-{n}-{j}"},
                            "annotations": {"summary": "a pod keeps restarting"}, "ends_at_us": opened + 10 * MINUTE,
                            "joined_at_us": opened + j, "why": {"reason": "related", "rule": "learned",
                                                                "labels": {}, "detail": ""},
                            "services": [], "placement": n * MEMBERS + j, "moved": False}
                members.append({"incident_id": incident_id, "fingerprint": fingerprint, "starts_at_us": opened,
                                "status": "resolved" if closed else "firing", "document": json.dumps(document)})
                episodes.append({"fingerprint": fingerprint, "starts_at_us": opened,
                                 "ends_at_us": opened + 10 * MINUTE if closed else None,
                                 "status": "resolved" if closed else "firing", "labels": json.dumps(document["labels"]),
                                 "annotations": json.dumps(document["annotations"]), "generator_url": "",
                                 "source": "alertmanager", "first_seen_us": opened, "last_seen_us": opened + 10 * MINUTE,
                                 "notifications": 3, "flapping": False})
                for at, kind in ((opened, "alert_joined"), (opened + 10 * MINUTE, "alert_resolved")):
                    events.append({"incident_id": incident_id, "at_us": at, "kind": kind, "actor": "correlator",
                                   "detail": json.dumps({"fingerprint": fingerprint})})
        with store.begin() as connection:
            for table, values in ((incidents, rows), (incident_members, members), (incident_events, events),
                                  (alerts, episodes)):
                connection.execute(table.insert(), values)
    with store.begin() as connection:  # the log's latest notification, which a restore reads up to
        connection.execute(notifications.insert().values(received_at_us=T0 + span, source="alertmanager",
                                                         alert_count=0, body=b"{}"))
    return T0 + span


def rebuild_view(store) -> None:
    with store.connect() as connection:
        AlertView(store, FlapDetector()).rebuild(connection)


def best_of_3(read) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        read()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=50_000, help="incidents kept (default 50,000)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        store = database.create_engine(f"sqlite:///{Path(directory) / 'history.db'}")
        database.upgrade(store)
        started = time.perf_counter()
        now = build(store, args.incidents)
        print(f"{args.incidents:,} incidents, {args.incidents * MEMBERS:,} members, "
              f"{args.incidents * MEMBERS * 2:,} events built in {time.perf_counter() - started:.1f} s", flush=True)
        repository = IncidentRepository(store)
        with store.connect() as connection:
            fingerprint = connection.execute(select(incident_members.c.fingerprint).limit(1)).scalar_one()
        done = (select(incidents).where(incidents.c.state.in_(["resolved", "closed"]))
                .order_by(incidents.c.opened_at_us.desc(), incidents.c.id.desc()))
        reads = {
            "board: newest 100 resolved or closed": lambda: _list(store, done, [], 100, None, SlaConfig()),
            "restore: the 50 unclosed": repository.load_unclosed,
            "restore: closed in the last hour": lambda: repository.load_closed_since(from_us(now) - timedelta(hours=1)),
            "restore: firing alerts without incident": lambda: alert_queries.firing_without_incident(store, 1),
            "restore: the alerts view's recent flaps": lambda: rebuild_view(store),
            "an alert's history page": lambda: alert_queries.alert_history(store, fingerprint, now_us=now, limit=100),
        }

        def scan() -> None:
            with store.connect() as connection:
                connection.execute(select(func.count()).select_from(incident_members)
                                   .where(incident_members.c.document.like("%never%"))).scalar()

        reference = best_of_3(scan)
        print(f"reference, one scan of every member row: {reference * 1000:.1f} ms")
        before = {name: best_of_3(read) for name, read in reads.items()}
        database.optimize(store)
        print(f"{'read':40} {'before optimize':>16} {'after':>10} {'after / scan':>13}")
        for name, read in reads.items():
            after = best_of_3(read)
            print(f"{name:40} {before[name] * 1000:13.1f} ms {after * 1000:7.1f} ms {after / reference:13.3f}")
        cutoff = now - 45 * DAY  # half the history is due
        for due in ("half the history", "nothing"):
            started = time.perf_counter()
            purged = purge_history(store, cutoff)
            took = time.perf_counter() - started
            print(f"retention sweep, {due} due: {took * 1000:.0f} ms ({took / reference:.2f} scans), deleted "
                  f"{purged.incidents:,} incidents and {purged.alerts:,} alert episodes")
        store.dispose()


if __name__ == "__main__":
    main()
