"""Rule unit tests in YAML, like `promtool test rules`: alerts at time offsets in, incidents out.

    rule_dir: ..                 # the rules under test, relative to this file (optional)
    model: false                 # the rules alone: no model, no online learning (default: the
                                 # configured model and learning, as `serve` runs them)
    tests:
      - name: a node and the pods on it are one incident
        alerts:
          - {at: 0s, labels: {alertname: NodeDown, job: node, instance: "node-3:9100"}}
          - {at: 30s, labels: {alertname: KubePodCrashLooping, pod: web-1, node: node-3},
             resolved_at: 5m}
        evaluate_at: 10m         # default: the last event
        expect:                  # every incident, by the indexes of its alerts
          - {alerts: [0, 1], category: hardware, priority: P3, state: open}

Only the fields an expectation names are compared.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO

import msgspec
import yaml

from correlator import wiring
from correlator.domain import Alert, AlertStatus
from correlator.engine.core import Engine
from correlator.ingest.fingerprint import fingerprint
from correlator.rules.loader import RuleErrors
from correlator.units import parse_duration

# Rule tests run at a fixed instant, so that maintenance windows and time zones behave the same on
# every run; `start` overrides it.
DEFAULT_START = datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc)  # a Monday, noon UTC


class TestAlert(msgspec.Struct, forbid_unknown_fields=True):
    labels: dict[str, str]
    at: str = "0s"
    annotations: dict[str, str] = {}
    starts_at: str = ""
    resolved_at: str = ""


class Expectation(msgspec.Struct, forbid_unknown_fields=True):
    alerts: list[int]
    state: str | None = None
    category: str | None = None
    service_area: str | None = None
    priority: str | None = None
    team: str | None = None
    tier: int | None = None
    title: str | None = None


class TestCase(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    alerts: list[TestAlert]
    expect: list[Expectation]
    evaluate_at: str = ""
    start: datetime = DEFAULT_START


class TestFile(msgspec.Struct, forbid_unknown_fields=True):
    tests: list[TestCase]
    rule_dir: str = ""
    model: bool = True  # the learned layer as configured (ml.enabled, learning.enabled); false: rules alone


def _offset(text: str) -> timedelta:
    return timedelta(seconds=parse_duration(text))


def _mistakes(spec: TestFile) -> list[str]:
    """What in the file cannot run, each named by its path: a time that is no duration, an
    expectation naming an alert the test does not have."""
    found = []
    for t, case in enumerate(spec.tests):
        times = [(f"tests[{t}].evaluate_at", case.evaluate_at)]
        for a, item in enumerate(case.alerts):
            times += [(f"tests[{t}].alerts[{a}].{name}", getattr(item, name))
                      for name in ("at", "starts_at", "resolved_at")]
        for path, text in times:
            if text:
                try:
                    parse_duration(text)
                except ValueError as error:
                    found.append(f"{path}: {error}")
        for e, expectation in enumerate(case.expect):
            for index in expectation.alerts:
                if not 0 <= index < len(case.alerts):
                    numbered = f"numbered 0 to {len(case.alerts) - 1}" if case.alerts else "none"
                    found.append(f"tests[{t}].expect[{e}].alerts: no alert {index} (the test's alerts: {numbered})")
    return found


def _events(case: TestCase) -> list[tuple[datetime, int, Alert]]:
    events = []
    for index, item in enumerate(case.alerts):
        received = case.start + _offset(item.at)
        starts = case.start + _offset(item.starts_at) if item.starts_at else received
        key = fingerprint(item.labels)
        events.append((received, index, Alert(key, item.labels, item.annotations, AlertStatus.FIRING, starts, None,
                                               "", "test", received)))
        if item.resolved_at:
            ended = case.start + _offset(item.resolved_at)
            events.append((ended, index, Alert(key, item.labels, item.annotations, AlertStatus.RESOLVED, starts,
                                               ended, "", "test", ended)))
    return sorted(events, key=lambda event: event[0])


def run_case(case: TestCase, engine: Engine) -> list[str]:
    """The differences between what the case expects and what the engine did (empty: it passed)."""
    events = _events(case)
    keys: dict[tuple[str, datetime], int] = {}
    for received, index, alert in events:
        keys[(alert.fingerprint, alert.starts_at)] = index
        engine.process(alert, received)
    end = case.start + _offset(case.evaluate_at) if case.evaluate_at else (events[-1][0] if events else case.start)
    engine.advance(end)
    actual = {tuple(sorted(keys[key] for key in incident.members)): incident
              for incident in engine.incidents.values()}
    problems = []
    for expectation in case.expect:
        wanted = tuple(sorted(expectation.alerts))
        incident = actual.pop(wanted, None)
        if incident is None:
            problems.append(f"no incident with exactly alerts {list(wanted)}")
            continue
        for field in ("state", "category", "service_area", "priority", "team", "tier", "title"):
            want = getattr(expectation, field)
            got = getattr(incident, field)
            got = got.value if hasattr(got, "value") else got
            if want is not None and want != got:
                problems.append(f"incident with alerts {list(wanted)}: {field}: want {want!r}, got {got!r}")
    for members, incident in actual.items():
        problems.append(f"unexpected incident with alerts {list(members)} ({incident.title!r})")
    return problems


def run_rule_tests(files: list[Path], rules_dir: Path | None, config, out: IO[str]) -> bool:
    """Run the test files with the engine `serve` would run: `config`'s settings, learning and
    model (none when ml.enabled is false), unless a file says `model: false`. Raises
    ml.artifact.ModelError when the configured model does not load."""
    passed = failed = 0
    model = functools.cache(functools.partial(wiring.load_model, config))  # loaded once, when a file runs with it
    for path in files:
        try:
            spec = msgspec.convert(yaml.safe_load(path.read_text()), TestFile)
        except (OSError, yaml.YAMLError, msgspec.ValidationError) as error:
            out.write(f"ERROR {path}: {error}\n")
            failed += 1
            continue
        if mistakes := _mistakes(spec):
            out.write(f"ERROR {path}:\n" + "".join(f"  {mistake}\n" for mistake in mistakes))
            failed += 1
            continue
        directory = rules_dir or ((path.parent / spec.rule_dir) if spec.rule_dir else config.rules_dir)
        try:
            rules = wiring.load_rules(config, directory)
        except RuleErrors as errors:
            out.write(f"ERROR {path}: the rules in {directory} do not load:\n{errors}\n")
            failed += 1
            continue
        for case in spec.tests:
            settings = replace(wiring.engine_settings(config), learning=spec.model and config.learning.enabled)
            problems = run_case(case, Engine(rules, settings, model=model() if spec.model else None))
            if problems:
                failed += 1
                out.write(f"FAIL {case.name} ({path})\n" + "".join(f"  {p}\n" for p in problems))
            else:
                passed += 1
                out.write(f"ok   {case.name}\n")
    out.write(f"{passed} passed, {failed} failed\n")
    return failed == 0
