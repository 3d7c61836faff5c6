"""`correlator serve` with the engine in its own process, as a user runs it: the engine child
correlates what serve stores, is restarted when it dies, stops with serve, and shows its metrics,
rules and reloads through serve."""

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from correlator.domain import RawNotification
from correlator.engine_process import wake_ups
from correlator.store.schema import engine_state, notifications
from correlator.store.writer import GroupCommitWriter
from tests.engine_scenarios import rules_from
from tests.engine_store import joined_per_alert, open_store
from tests.processes import Daemon, http_json, post_stream, running, wait_for
from tests.test_incident_lifecycle import AT_THREE
from tests.test_rule_reload import BROKEN, GOOD, metric

def engine_pids(daemon: Daemon) -> list[int]:
    return [int(pid) for pid in re.findall(r'msg="engine process started" pid=(\d+)', daemon.log())]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A child serve has not waited for yet is a zombie: gone for our purpose.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ", 1)[1][0] != "Z"


def caught_up(store) -> bool:
    """The engine's watermark is at the last stored notification."""
    with store.connect() as connection:
        last = connection.execute(select(func.max(notifications.c.id))).scalar()
        watermark = connection.execute(select(engine_state.c.value)
                                       .where(engine_state.c.name == "watermark")).scalar()
    return last is not None and watermark == last


def urllib_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def daemon_on(tmp_path, url: str, **config) -> Daemon:
    return Daemon(tmp_path, {"store": {"url": url, "data_dir": str(tmp_path / "data")}, **config})


def test_serve_role_engine_runs_the_engine_as_correlator_engine_does(tmp_path):
    log_path = tmp_path / "engine.log"
    with log_path.open("wb") as log:
        engine = subprocess.Popen([sys.executable, "-m", "correlator", "serve", "--role", "engine",
                                   "--db", f"sqlite:///{tmp_path / 'c.db'}"], stdout=log, stderr=log)
    try:
        wait_for(lambda: 'msg="engine running"' in log_path.read_text() or engine.poll() is not None,
                 timeout=60, what=f"the engine to run (log: {log_path})")
    finally:
        engine.terminate()
        engine.wait(timeout=30)
    assert engine.returncode == 0 and "Traceback" not in log_path.read_text(), log_path.read_text()


def test_the_engine_process_correlates_alerts_posted_to_serve(tmp_path, db_url):
    with running(daemon_on(tmp_path, db_url)) as daemon:
        assert http_json("POST", f"{daemon.url}/api/v2/alerts",
                         [{"labels": {"alertname": "DiskFull", "instance": f"db{n}:9100"}} for n in range(3)])[0] == 200
        incidents = wait_for(lambda: http_json("GET", f"{daemon.url}/api/v1/incidents")[1]["incidents"],
                             timeout=30, what="an incident from the engine process")
        assert sum(incident["firing"] for incident in incidents) == 3
        assert len(engine_pids(daemon)) == 1 and alive(engine_pids(daemon)[0])

        def engine_metrics() -> str | None:
            text = urllib_text(f"{daemon.url}/metrics")
            return text if 'correlator_engine_alerts_total{outcome="new"} 3.0' in text else None
        text = wait_for(engine_metrics, timeout=30, what="the engine's metrics in serve's /metrics")
        assert metric(text, "correlator_engine_lag_seconds ") == 0
        assert metric(text, "correlator_engine_restarts_total ") == 0
        assert text.count("# TYPE correlator_engine_alerts_total ") == 1


async def test_a_killed_engine_process_is_restarted_and_nothing_is_lost_or_applied_twice(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with running(daemon_on(tmp_path, url)) as daemon:
        [first] = engine_pids(daemon)
        acknowledged, answers = await post_stream(daemon.url, fault_after=400, until=1200,
                                                  fault=lambda: os.kill(first, signal.SIGKILL))
        assert set(answers) == {200}, answers  # ingest never waited for the engine
        wait_for(lambda: len(engine_pids(daemon)) == 2, timeout=30, what="serve to restart the engine")
        store = open_store(url)
        wait_for(lambda: caught_up(store), timeout=60, what="the restarted engine to catch up")
        joined = joined_per_alert(store)
        assert set(joined) == acknowledged, "alerts the engine lost"
        assert set(joined.values()) == {1}, "alerts the engine applied twice"
        text = wait_for(lambda: urllib_text(f"{daemon.url}/metrics"), timeout=10, what="metrics")
        assert metric(text, "correlator_engine_restarts_total ") == 1
        assert 'msg="engine process exited; restarting it" code=-9' in daemon.log()


def test_sigterm_to_serve_stops_the_engine_process_too(tmp_path):
    daemon = daemon_on(tmp_path, f"sqlite:///{tmp_path / 'store.db'}").start()
    [engine] = engine_pids(daemon)
    assert daemon.stop(signal.SIGTERM) == 0
    assert not alive(engine)
    log = daemon.log()
    assert 'msg="engine stopped"' in log and "restarting" not in log
    assert log.index('msg="engine stopped"') < log.index('msg="store closed"')


def test_readiness_shows_the_rules_the_engine_process_runs(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "a.yaml").write_text(GOOD)
    with running(daemon_on(tmp_path, f"sqlite:///{tmp_path / 'store.db'}", rules={"dir": str(rules)})) as daemon:
        status, ready = http_json("GET", f"{daemon.url}/readyz")
        assert status == 200 and ready["rules"]["files"] == [str(rules / "a.yaml")] and ready["rules"]["rules"] == 1
        assert ready["rules"]["last_reload"] == {**ready["rules"]["last_reload"], "trigger": "start",
                                                 "outcome": "success", "errors": []}


def test_a_rule_reload_over_the_api_reaches_the_engine_process(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "a.yaml").write_text(GOOD)
    with running(daemon_on(tmp_path, f"sqlite:///{tmp_path / 'store.db'}", rules={"dir": str(rules)})) as daemon:
        (rules / "a.yaml").write_text(BROKEN)
        with pytest.raises(urllib.error.HTTPError) as rejected:
            http_json("POST", f"{daemon.url}/api/v1/rules/reload", {})
        assert rejected.value.code == 400
        [detail] = json.loads(rejected.value.read())["details"]
        assert detail["path"] == f"{rules / 'a.yaml'}:6" and "invalid duration 'soon'" in detail["reason"]
        (rules / "a.yaml").write_text(GOOD + GOOD.split("rules:\n", 1)[1].replace("by-team", "by-team-2"))
        status, answer = http_json("POST", f"{daemon.url}/api/v1/rules/reload", {})
        assert status == 200 and answer == {"status": "reloaded", "files": [str(rules / "a.yaml")], "rules": 2}
        assert http_json("GET", f"{daemon.url}/readyz")[1]["rules"]["last_reload"]["trigger"] == "api"
        wait_for(lambda: metric(urllib_text(f"{daemon.url}/metrics"),
                                'correlator_rules_reloads_total{outcome="success",trigger="api"}') == 1,
                 timeout=10, what="the engine's reload counted in serve's /metrics")


def test_candidates_held_by_the_engine_process_show_in_serve(tmp_path):
    rules_from(tmp_path, AT_THREE)
    config = {"rules": {"dir": str(tmp_path / "rules")}}
    with running(daemon_on(tmp_path, f"sqlite:///{tmp_path / 'store.db'}", **config)) as daemon:
        assert http_json("POST", f"{daemon.url}/api/v2/alerts", [
            {"labels": {"alertname": "NodeDown", "cluster": "eu", "instance": instance}} for instance in ("n1", "n2")
        ])[0] == 200
        held = wait_for(lambda: http_json("GET", f"{daemon.url}/api/v1/candidates")[1]["candidates"], timeout=30,
                        what="the candidates published by the engine process")
        assert sorted((c["labels"]["instance"], c["rule"], c["alerts"], c["min_alerts"]) for c in held) == [
            ("n1", "three-nodes", 2, 3), ("n2", "three-nodes", 2, 3)]
        assert len(http_json("GET", f"{daemon.url}/api/v1/candidates?limit=1")[1]["candidates"]) == 1


async def test_the_engine_process_is_woken_by_each_ingest_commit(db_url):
    """LISTEN/NOTIFY on PostgreSQL, PRAGMA data_version on SQLite: the engine reads soon after a
    commit, not at its next fallback poll."""
    store = open_store(db_url)
    woken = asyncio.Event()
    waking = asyncio.create_task(wake_ups(store, woken.set))
    writer = GroupCommitWriter(store)
    await asyncio.to_thread(writer.start)
    try:
        await asyncio.wait_for(woken.wait(), 10)  # once at start: commits made before it watched
        woken.clear()
        await writer.write([], RawNotification("generic", datetime.now(timezone.utc), b"{}"))
        await asyncio.wait_for(woken.wait(), 10)
    finally:
        waking.cancel()
        await asyncio.gather(waking, return_exceptions=True)
        await asyncio.to_thread(writer.close)
        store.dispose()
