#!/usr/bin/env python3
"""Fuzz a real daemon: many hostile requests against `correlator serve` on 127.0.0.1.

Four generators share the cases (weights in GENERATORS):
  mutated  - captured Alertmanager and Prometheus bodies with random edits (tests/fuzz_inputs.py `mutate`),
  shaped   - hypothesis bodies shaped like each ingest format, with hostile fields,
  actions  - operator actions on real incidents with hostile bodies (hypothesis),
  openapi  - schemathesis cases from the OpenAPI document, valid and invalid, for every operation.
It prints progress, then: cases run, answers by status, 5xx (must be 0), crashes (connection failures,
the daemon dying, tracebacks in its log) and the slowest cases. Exits 1 if any 5xx or crash.
Figures, not a test. `PYTHONPATH=$PWD python bench/fuzz.py --cases 100000 --seed 1`
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import requests  # noqa: E402
import schemathesis  # noqa: E402
import yaml  # noqa: E402
from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402

from tests.fuzz_inputs import ENDPOINTS, bodies, captures, encode, json_values, mutate, text  # noqa: E402
from tests.processes import Daemon, http_json  # noqa: E402

TOKEN = "fuzz-token"
# Cases per round by generator: hypothesis and schemathesis generate ~10-50 cases/s here, the mutator
# hundreds, so it carries the volume and mutates what the others generated too.
GENERATORS = {"mutated": 8000, "shaped": 200, "actions": 200, "openapi": 100}
CORPUS_SIZE = 2000  # generated bodies kept for the mutator
ACTIONS = ["acknowledge", "investigate", "assign", "comment", "priority", "classify", "escalate", "resolve", "reopen",
           "close", "merge", "split", "nonexistent"]
ACTION_FIELDS = ["actor", "team", "tier", "text", "priority", "reason", "category", "service_area", "other_id",
                 "fingerprints"]
SLOWEST_SHOWN = 10
_INCIDENT_ID = re.compile(r"(?<=^/api/v1/incidents)/[^/]+/")


@dataclass(order=True)
class Outcome:
    seconds: float
    generator: str = field(compare=False)
    method: str = field(compare=False)
    path: str = field(compare=False)
    status: int = field(compare=False)
    body: bytes = field(compare=False, repr=False)


@dataclass
class Tally:
    statuses: Counter = field(default_factory=Counter)
    by_generator: Counter = field(default_factory=Counter)
    server_errors: list[Outcome] = field(default_factory=list)
    crashes: list[str] = field(default_factory=list)
    slowest: list[Outcome] = field(default_factory=list)

    @property
    def cases(self) -> int:
        return sum(self.by_generator.values())

    def record(self, outcome: Outcome) -> None:
        self.statuses[outcome.status] += 1
        self.by_generator[outcome.generator] += 1
        if outcome.status >= 500:
            self.server_errors.append(outcome)
        self.slowest = sorted([*self.slowest, outcome], reverse=True)[:SLOWEST_SHOWN]


class Client:
    """One keep-alive connection; reconnects after the server closes it (a 413, say)."""

    def __init__(self, daemon: Daemon, tally: Tally):
        self.daemon, self.tally = daemon, tally
        self.corpus: list[tuple[str, bytes]] = []  # (path, body) of generated cases, for the mutator
        self.connection = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=60)

    def send(self, generator: str, method: str, path: str, body: bytes | None, headers: dict | None = None) -> None:
        if generator != "mutated" and body:
            self.corpus.append((path, body))
            del self.corpus[:-CORPUS_SIZE]
        headers = {"Content-Type": "application/json", **self.daemon.auth_headers, **(headers or {})}
        started = time.perf_counter()
        for attempt in range(2):
            try:
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
                response.read()
                break
            except (http.client.HTTPException, OSError) as error:
                self.connection.close()
                if attempt or self.daemon.process.poll() is not None:
                    self.tally.crashes.append(f"{generator} {method} {path}: {error!r}")
                    return
        if response.getheader("Connection", "").lower() == "close":
            self.connection.close()
        self.tally.record(Outcome(time.perf_counter() - started, generator, method, path, response.status,
                                  body or b""))


def mutated_cases(client: Client, rng: random.Random, count: int) -> None:
    seeds = [(ENDPOINTS.get(source, "/api/v1/alerts/zabbix"), body) for source, found in captures().items()
             for body in found] + [("/api/v1/alerts/zabbix", b'{"tags": {"host": "db1"}, "clock": 1764650000}')]
    for _ in range(count):
        path, body = rng.choice(seeds if not client.corpus or rng.random() < 0.5 else client.corpus)
        client.send("mutated", "POST", path, mutate(body, rng))


def _run(test, count: int, case_seed: int) -> None:
    settings(max_examples=count, deadline=None, database=None, phases=[Phase.generate],
             suppress_health_check=list(HealthCheck))(seed(case_seed)(test))()


def shaped_cases(client: Client, rng: random.Random, count: int) -> None:
    sources = st.sampled_from(sorted(ENDPOINTS))

    @given(data=st.data())
    def post(data):
        source = data.draw(sources)
        client.send("shaped", "POST", ENDPOINTS[source], encode(data.draw(st.one_of(bodies(source), json_values()))))
    _run(post, count, rng.getrandbits(64))


def action_cases(client: Client, rng: random.Random, count: int, incident_ids: list[str]) -> None:
    ids = st.sampled_from(incident_ids or ["INC-000001"]) | text()
    fields = st.dictionaries(st.sampled_from(ACTION_FIELDS) | text(), json_values(6), max_size=4)

    @given(incident=ids, action=st.sampled_from(ACTIONS), body=fields | json_values())
    def act(incident, action, body):
        quoted = requests.utils.quote(incident.encode(errors="surrogatepass"), safe="")
        path = f"/api/v1/incidents/{quoted}/{action}"
        client.send("actions", "POST", path, encode(body))
    _run(act, count, rng.getrandbits(64))


def openapi_cases(client: Client, rng: random.Random, count: int, session: requests.Session) -> None:
    schema = schemathesis.openapi.from_dict(yaml.safe_load((HERE.parent / "correlator/api/openapi.yaml").read_text()))
    cases = st.one_of(schema.as_strategy(GenerationMode.POSITIVE), schema.as_strategy(GenerationMode.NEGATIVE))

    @given(case=cases)
    def call(case):
        started = time.perf_counter()
        try:
            response = case.call(base_url=client.daemon.url, session=session, headers=client.daemon.auth_headers,
                                 timeout=60)
        except requests.RequestException as error:
            client.tally.crashes.append(f"openapi {case.method} {case.formatted_path}: {error!r}")
            return
        body = response.request.body or b""
        client.tally.record(Outcome(time.perf_counter() - started, "openapi", case.method, case.formatted_path,
                                    response.status_code, body if isinstance(body, bytes) else body.encode()))
    _run(call, count, rng.getrandbits(64))


def seed_incidents(daemon: Daemon) -> list[str]:
    """Incidents for the actions to act on; the engine opens them from these alerts."""
    for body in captures()["prometheus"]:
        http_json("POST", f"{daemon.url}/api/v2/alerts", json.loads(body), headers=daemon.auth_headers)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        _, page = http_json("GET", f"{daemon.url}/api/v1/incidents", headers=daemon.auth_headers)
        if page["incidents"]:
            return [incident["id"] for incident in page["incidents"]]
        time.sleep(0.2)
    return []


def report(tally: Tally, seconds: float, daemon: Daemon) -> int:
    log_errors = [line for line in daemon.log().splitlines() if "Traceback" in line or '"level": "error"' in line]
    print(f"\ncases run: {tally.cases} in {seconds:.0f} s ({tally.cases / seconds:.0f}/s); by generator: "
          + ", ".join(f"{name} {n}" for name, n in sorted(tally.by_generator.items())))
    print("answers by status: " + ", ".join(f"{status}: {n}" for status, n in sorted(tally.statuses.items())))
    by_route = Counter(f"{o.method} {_INCIDENT_ID.sub('/{id}/', o.path)}" for o in tally.server_errors)
    print(f"5xx: {len(tally.server_errors)}" + "".join(f"; {route}: {n}" for route, n in by_route.most_common()))
    for outcome in tally.server_errors[:10]:
        print(f"  {outcome.status} {outcome.generator} {outcome.method} {outcome.path} {outcome.body[:200]!r}")
    print(f"crashes: {len(tally.crashes)} (failed connections {len(tally.crashes)}, daemon exited: "
          f"{daemon.process.poll() is not None}); error lines in the daemon's log: {len(log_errors)}")
    for line in [*tally.crashes, *log_errors][:10]:
        # A log line's head says what failed, the end of its traceback why.
        print(f"  {line[:300]}" + (f" ... {line[-600:]}" if len(line) > 900 else line[300:]))
    print(f"slowest {SLOWEST_SHOWN}:")
    for outcome in tally.slowest:
        print(f"  {outcome.seconds * 1000:8.1f} ms  {outcome.status} {outcome.generator} {outcome.method} "
              f"{outcome.path[:60]}  body {len(outcome.body)} B {outcome.body[:60]!r}")
    failed = tally.server_errors or tally.crashes or log_errors or daemon.process.poll() is not None
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=100_000, help="requests to send (default 100000)")
    parser.add_argument("--seed", type=int, default=1, help="seed of every generator (default 1)")
    parser.add_argument("--store-url", help="database URL (default: SQLite in a temporary directory)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="correlator-fuzz-") as tmp:
        config = {"auth": {"default": {"bearer_tokens": [TOKEN]}}, "log": {"format": "json"},
                  "ingest": {"mappings": {"zabbix": {"alerts": "$", "labels": "tags", "starts_at": "clock"}}}}
        if args.store_url:
            config["store"] = {"url": args.store_url}
        daemon = Daemon(Path(tmp), config, token=TOKEN).start()
        try:
            tally = Tally()
            client, session = Client(daemon, tally), requests.Session()
            incident_ids = seed_incidents(daemon)
            print(f"daemon on {daemon.url}; {len(incident_ids)} incidents to act on; {args.cases} cases, seed {args.seed}")
            started, last_print = time.monotonic(), 0.0
            while tally.cases + len(tally.crashes) < args.cases and daemon.process.poll() is None:
                for name, weight in GENERATORS.items():
                    count = min(weight, args.cases - tally.cases - len(tally.crashes))
                    if count <= 0:
                        break
                    if name == "mutated":
                        mutated_cases(client, rng, count)
                    elif name == "shaped":
                        shaped_cases(client, rng, count)
                    elif name == "actions":
                        action_cases(client, rng, count, incident_ids)
                    else:
                        openapi_cases(client, rng, count, session)
                if time.monotonic() - last_print > 10:
                    last_print = time.monotonic()
                    elapsed = last_print - started
                    print(f"  {tally.cases:>7} cases  {tally.cases / elapsed:6.0f}/s  5xx {len(tally.server_errors)}  "
                          f"crashes {len(tally.crashes)}", flush=True)
            return report(tally, time.monotonic() - started, daemon)
        finally:
            daemon.stop()


if __name__ == "__main__":
    sys.exit(main())
