"""Random walks through the engine: alerts firing, flapping, resolving and firing again among
shipped, link and group rules, timers, and every operator action, in any order. Whatever the
order, the engine keeps going (an operator's refusal is an InvalidAction or TransitionError,
nothing else), and what it holds stays consistent: each episode is in one incident at most, and an
incident's firing count is its firing members.

Deterministic (seeded): the same walks on every run, so CI fails on a real defect only, naming
the seed and step to replay. They find the defect this file was written for: an alert a link rule
placed in an incident an operator then merged away flapped back to that closed, empty incident,
and the engine raised on it (the daemon skips such an alert after three attempts)."""

import random
import shutil
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from correlator.domain import Alert, AlertStatus, InvalidAction, Priority, TransitionError
from correlator.domain.errors import UnknownIncident
from correlator.engine.core import Engine, EngineSettings
from correlator.ingest.fingerprint import fingerprint
from correlator.rules.loader import load_rules
from correlator.shipped import shipped_dir
from tests.engine_scenarios import restored_through_a_store

T0 = datetime(2026, 12, 1, tzinfo=timezone.utc)
EXTRA_RULES = {"version": 1, "rules": [
    {"name": "node-pods", "kind": "link", "source_matchers": ['job="node"'], "source_label": "instance",
     "source_regex": "([^:]+)(?::\\d+)?", "target_label": "node", "window": "2m"},
    {"name": "by-team", "kind": "group", "matchers": ['team="db"'], "group_by": ["team"], "window": "5m",
     "max_duration": "1h"},
]}
# A small estate, so that alerts fire again, flap, share entities and fall under each kind of rule.
POOL = [
    {"alertname": "NodeMemoryPressure", "job": "node", "instance": "node-1:9100", "cluster": "eu"},
    {"alertname": "KubeNodeNotReady", "node": "node-1", "cluster": "eu"},
    {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "web-7d9f8c6b5-x2x9z", "node": "node-1",
     "cluster": "eu"},
    {"alertname": "KubePodNotReady", "namespace": "shop", "pod": "web-7d9f8c6b5-q8w4r", "node": "node-2",
     "cluster": "eu"},
    {"alertname": "KubePodNotReady", "namespace": "shop", "pod": "api-5c7b9d4f6-kk2lm", "node": "node-2",
     "cluster": "eu"},
    {"alertname": "TargetDown", "job": "node", "instance": "node-2:9100", "cluster": "eu"},
    {"alertname": "PostgresqlDown", "instance": "db-1:9187", "team": "db", "cluster": "eu"},
    {"alertname": "PostgresqlTooManyConnections", "instance": "db-1:9187", "team": "db", "cluster": "eu"},
    {"alertname": "HttpHighErrorRate", "service": "web", "namespace": "shop", "peer": "db-1", "cluster": "eu"},
    {"alertname": "BlackboxProbeFailed", "instance": "https://shop.example.com/", "job": "blackbox",
     "cluster": "eu"},
    {"alertname": "NodeClockNotSynchronising", "instance": "node-3:9100", "job": "node", "cluster": "us"},
    {"alertname": "KubePodNotReady", "namespace": "shop", "pod": "web-7d9f8c6b5-zz9kp", "cluster": "us"},
]


def _rules():
    directory = Path(tempfile.mkdtemp(prefix="correlator-walks-"))
    try:
        for path in shipped_dir("rules").glob("*.yaml"):
            shutil.copy(path, directory)
        (directory / "99-walks.yaml").write_text(yaml.safe_dump(EXTRA_RULES))
        return load_rules(directory)
    finally:
        shutil.rmtree(directory)


RULES = _rules()
SETTINGS = EngineSettings(resolve_hold=timedelta(minutes=2), flap_changes=3, flap_window=timedelta(minutes=30),
                          flap_hold=timedelta(minutes=10), reopen_window=timedelta(minutes=10),
                          close_after=timedelta(minutes=30), classification=False)
REFUSED = (InvalidAction, TransitionError, UnknownIncident)


ACTIONS = ["acknowledge", "investigate", "resolve", "reopen", "close", "escalate", "set_priority", "merge", "split"]
STEPS = 400


class Walk:
    def __init__(self, seed: int, actions: list[str] = ACTIONS, tick: timedelta = timedelta(0)):
        """`tick`: the time each step takes besides the steps that let time pass."""
        self.rng = random.Random(seed)
        self.engine = Engine(RULES, SETTINGS)
        self.actions, self.tick = actions, tick
        self.now = T0
        self.started: dict[int, datetime | None] = {}  # pool index -> startsAt of its firing episode

    def step(self) -> str:
        """One random step; returns what it did (for the failure message)."""
        self.now += self.tick
        rng, choice = self.rng, self.rng.random()
        if choice < 0.45:
            index = rng.randrange(len(POOL))
            if self.started.get(index) is None:  # a new episode, started a little before it is sent
                self.started[index] = self.now - timedelta(seconds=rng.choice([0, 10, 60]))
            self.engine.process(self._alert(index, AlertStatus.FIRING, self.started[index]), self.now)
            return f"fires {index}"
        if choice < 0.7:
            index = rng.randrange(len(POOL))
            if self.started.get(index) is not None:
                self.engine.process(self._alert(index, AlertStatus.RESOLVED, self.started[index]), self.now)
                self.started[index] = None
            return f"resolves {index}"
        if choice < 0.85:
            self.now += timedelta(seconds=rng.choice([5, 30, 90, 200, 700]))
            self.engine.advance(self.now)
            return "time passes"
        return self._operator_acts()

    def _alert(self, index: int, status: AlertStatus, starts: datetime) -> Alert:
        labels = POOL[index]
        return Alert(fingerprint(labels), labels, {"summary": f"{labels['alertname']} on {labels.get('node', '')}"},
                     status, starts, self.now if status is AlertStatus.RESOLVED else None, "", "walk", self.now)

    def _operator_acts(self) -> str:
        ids = sorted(i.id for i in self.engine.incidents.values() if i.state.value != "closed")
        if not ids:
            return "no incident to act on"
        rng, action = self.rng, self.rng.choice(self.actions)
        incident_id = rng.choice(ids)
        try:
            if action == "merge":
                self.engine.merge(incident_id, "alice", self.now, rng.choice(ids))
            elif action == "split":
                members = sorted({m.fingerprint for m in self.engine.incidents[incident_id].members.values()})
                self.engine.split(incident_id, "alice", self.now, [rng.choice(members)] if members else [])
            elif action == "set_priority":
                self.engine.set_priority(incident_id, "alice", self.now, Priority.P1)
            else:
                getattr(self.engine, action)(incident_id, "alice", self.now)
        except REFUSED:
            pass  # an action the incident's state does not allow: refused
        return f"{action} {incident_id}"

    def check(self) -> None:
        seen = {}
        for incident in self.engine.incidents.values():
            firing = sum(m.status is AlertStatus.FIRING for m in incident.members.values())
            assert incident.firing == firing, f"{incident.id}: firing {incident.firing}, members firing {firing}"
            if incident.active:
                for key in incident.members:
                    assert key not in seen, f"{key} is in {seen.get(key)} and {incident.id}"
                    seen[key] = incident.id


@pytest.mark.parametrize("seed", range(100))
def test_a_random_walk_of_alerts_timers_and_operator_actions_keeps_the_engine_consistent(seed):
    walk = Walk(seed)
    for number in range(STEPS):
        done = walk.step()
        try:
            walk.check()
        except AssertionError as error:
            raise AssertionError(f"seed {seed}, step {number} ({done}): {error}") from None


# -- a restart changes nothing -------------------------------------------------------------------
# The daemon rebuilds the engine from the store after a restart (or a failed step). Restored at any
# step, the engine goes on to the same decisions as the one that ran through: the same incidents,
# states and members. Each step takes a second (receive times are distinct, as they are live).
# Operators merge and split here too. Two cases remain (docs/decisions.md), in 5 of 700 walks: an
# incident that closes drops the keys it held, where a restore, which does not load it, gives them
# to another unclosed incident holding alerts of them; and a group key an alert brought to its
# incident stays there when the alert is split out, where the restore does not know it.


def unclosed(engine: Engine) -> dict[str, tuple]:
    return {i.id: (i.state, i.priority, i.team, sorted(i.members)) for i in engine.incidents.values()
            if i.state.value != "closed"}


@pytest.mark.parametrize("seed", range(30))
def test_an_engine_restored_from_the_store_at_any_step_decides_as_the_one_that_ran_through(seed, tmp_path):
    through = Walk(seed, ACTIONS, timedelta(seconds=1))
    walk = Walk(seed, ACTIONS, timedelta(seconds=1))
    restart_at = 40 + seed * 37 % 200
    for number in range(300):
        if number == restart_at:
            walk.engine = restored_through_a_store(walk.engine, Engine(RULES, SETTINGS), tmp_path / "store.db",
                                                   walk.now)
            assert unclosed(walk.engine) == unclosed(through.engine)
        done, _ = walk.step(), through.step()
        assert unclosed(walk.engine) == unclosed(through.engine), \
            f"seed {seed}, restarted at step {restart_at}, step {number} ({done})"
