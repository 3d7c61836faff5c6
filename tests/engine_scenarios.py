"""Scenario helpers for engine tests: alerts pushed at offsets (seconds) from T0, a fake clock."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml

from correlator.domain import Alert, AlertStatus
from correlator.engine.core import Engine, EngineSettings
from correlator.engine_service import restore_engine
from correlator.ingest.fingerprint import fingerprint
from correlator.learning import state
from correlator.rules.loader import RuleSet, load_rules
from correlator.store import database
from correlator.store.incidents import IncidentRepository, Progress

T0 = datetime(2026, 11, 23, 4, 0, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def rules_from(tmp_path: Path, *rules: dict, catalog: list[dict] | None = None) -> RuleSet:
    directory = tmp_path / "rules"
    directory.mkdir(exist_ok=True)
    (directory / "rules.yaml").write_text(yaml.safe_dump({"version": 1, "catalog": catalog or [],
                                                          "rules": list(rules)}))
    return load_rules(directory)


def alert(name: str, *, starts: float = 0, ends: float | None = None, expires: float | None = None,
          annotations: dict | None = None, **labels: str) -> Alert:
    """Resolved at `ends` if given; else firing, until `expires` if given (a v2 post's endsAt)."""
    labels = {"alertname": name, **labels}
    status = AlertStatus.RESOLVED if ends is not None else AlertStatus.FIRING
    end = ends if ends is not None else expires
    return Alert(fingerprint(labels), labels, annotations or {}, status, at(starts),
                 at(end) if end is not None else None, "", "test", at(starts))


def make_busy(scenario: Scenario, start: float) -> None:
    """Twenty alerts on other hosts of cluster eu in the window from `start`: a busy cluster, where
    closeness alone relates nothing and a relate rule holds only where chance seldom brings its
    alerts."""
    for n in range(20):
        scenario.push(start + n * 20, alert("Noise", starts=start + n * 20, cluster="eu", instance=f"10.0.1.{n}:9100"))


RULES_ONLY = EngineSettings(learning=False)  # rule semantics, without the learned joining stage


class Scenario:
    def __init__(self, rules: RuleSet, settings: EngineSettings = RULES_ONLY, model=None):
        self.engine = Engine(rules, settings, model=model)

    def push(self, seconds: float, *alerts: Alert) -> "Scenario":
        for item in alerts:
            self.engine.process(item, at(seconds))
        return self

    def advance(self, seconds: float) -> "Scenario":
        self.engine.advance(at(seconds))
        return self

    @property
    def incidents(self):
        return list(self.engine.incidents.values())

    def groups(self) -> list[set[str]]:
        """Each incident as the set of its alerts' alertname/instance, for readable assertions."""
        return [{"/".join(v for k, v in sorted(m.labels.items()) if k != "severity") for m in i.members.values()}
                for i in self.engine.incidents.values()]

    def only(self):
        [incident] = self.incidents
        return incident


def restored_through_a_store(engine: Engine, into: Engine, path: Path, now: datetime) -> Engine:
    """`into` (a new engine) restored from what `engine` saved to a store at `path` at `now`: its
    incidents, problems and learned state, as the daemon restores after a restart."""
    store = database.create_engine(f"sqlite:///{path}")
    database.upgrade(store)
    repository = IncidentRepository(store)
    learned = (now, state.snapshot(engine.learner)) if engine.learner is not None else None
    repository.save(list(engine.incidents.values()), engine.problems.values(), Progress(), now, learned)
    restore_engine(into, repository, now, *engine.sequences)
    store.dispose()
    return into


def restored_from_the_store(s: Scenario, rules: RuleSet, tmp_path: Path, now: float) -> Scenario:
    """A new scenario (the settings of `s`) restored from what `s` saved to a store at `now`."""
    restored = Scenario(rules, s.engine.settings)
    restored_through_a_store(s.engine, restored.engine, tmp_path / "store.db", at(now))
    return restored
