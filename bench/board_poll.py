#!/usr/bin/env python3
"""What one board viewer's poll of the incident list costs: `GET /api/v1/incidents` for the active
incidents answered in full (200) and revalidated with its ETag (304), with N open incidents.

    PYTHONPATH=$PWD python3 bench/board_poll.py --incidents 300 --requests 50

A fresh `correlator serve` (SQLite, shipped rules, model and learning off, so every alert opens an
incident of its own) receives N distinct alerts; then the same list is asked `--requests` times
each way. Prints the body size and the median latency of each."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from bench.daemon import Daemon  # noqa: E402

LIST = "/api/v1/incidents?limit=500&status=open,acknowledged,investigating,escalated"


def get(url: str, etag: str | None = None) -> tuple[int, int, str, float]:
    request = urllib.request.Request(url, headers={"If-None-Match": etag} if etag else {})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, len(response.read()), response.headers["ETag"], time.perf_counter() - started
    except urllib.error.HTTPError as error:  # urllib raises on 304
        return error.code, len(error.read()), error.headers["ETag"], time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=300)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        daemon = Daemon(Path(workdir), "board", {"ml": {"enabled": False}, "learning": {"enabled": False}})
        try:
            for first in range(0, args.incidents, 50):
                alerts = [{"labels": {"alertname": f"Check{n}", "instance": f"host-{n}"}, "status": "firing",
                           "annotations": {}, "startsAt": "2026-01-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z"}
                          for n in range(first, min(first + 50, args.incidents))]
                daemon.post(json.dumps({"version": "4", "status": "firing", "receiver": "bench",
                                        "alerts": alerts}).encode())
            url = daemon.url + LIST
            deadline = time.monotonic() + 120
            while len(json.loads(urllib.request.urlopen(url, timeout=30).read())["incidents"]) < args.incidents:
                if time.monotonic() > deadline:
                    raise SystemExit("the engine did not open every incident within 120 s")
                time.sleep(0.2)
            _, size, etag, _ = get(url)
            full = [get(url)[3] for _ in range(args.requests)]
            revalidated = [get(url, etag) for _ in range(args.requests)]
            assert {answer[0] for answer in revalidated} == {304}
            print(f"{args.incidents} open incidents: 200 with {size} bytes, median "
                  f"{statistics.median(full) * 1000:.1f} ms; 304 with {revalidated[0][1]} bytes, median "
                  f"{statistics.median(a[3] for a in revalidated) * 1000:.1f} ms")
        finally:
            daemon.stop()


if __name__ == "__main__":
    main()
