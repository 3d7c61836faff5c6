"""Alertmanager's own test tables (tests/testdata/upstream, with their provenance), run against
correlator: matcher parsing (UTF-8 and classic), Prometheus durations and inhibition.

Upstream's error texts are not compared: correlator words its errors its own way (with the position);
an error case checks that the input is refused. Every other difference is an exception listed in
the data file with its reason, and reported here as a skip."""

import json
from pathlib import Path

import pytest

from correlator.domain import JoinReason
from correlator.engine.inhibition import Inhibition
from correlator.rules.matchers import MatcherError, MatcherSyntax, parse_matchers
from correlator.rules.schema import Matchers, SuppressRule
from correlator.units import parse_duration
from tests.engine_scenarios import Scenario, alert, rules_from

UPSTREAM = Path(__file__).parent / "testdata" / "upstream"
MATCHERS = json.loads((UPSTREAM / "alertmanager-matcher-parse.json").read_text())
CLASSIC = json.loads((UPSTREAM / "alertmanager-labels-parse.json").read_text())
DURATIONS = json.loads((UPSTREAM / "prometheus-common-duration.json").read_text())
INHIBIT = json.loads((UPSTREAM / "alertmanager-inhibit.json").read_text())


def _ids(cases):
    return [f"{case['test']}:{case.get('name', case['input'])!r}" for case in cases]


def _parsed(text: str, syntax: MatcherSyntax) -> list[list[str]]:
    return [[m.name, m.type.value, m.value] for m in parse_matchers(text, syntax)]


@pytest.mark.parametrize("case", MATCHERS["cases"], ids=_ids(MATCHERS["cases"]))
def test_alertmanager_utf8_matcher_parser_table(case):
    if "error" in case:
        with pytest.raises(MatcherError):
            parsed = _parsed(case["input"], MatcherSyntax.UTF8)
            if case["test"] == "TestMatcher" and len(parsed) != 1:  # parse.Matcher: exactly one
                raise MatcherError(case["input"], 0, "expected 1 matcher")
        return
    expected = case["expected"]
    assert _parsed(case["input"], MatcherSyntax.UTF8) == (expected if case["test"] == "TestMatchers" else [expected])


@pytest.mark.parametrize("case", CLASSIC["cases"], ids=_ids(CLASSIC["cases"]))
def test_alertmanager_classic_matcher_parser_table(case):
    if "error" in case:
        with pytest.raises(MatcherError):
            _parsed(case["input"], MatcherSyntax.CLASSIC)
        return
    assert _parsed(case["input"], MatcherSyntax.CLASSIC) == case["expected"]


@pytest.mark.parametrize("case", [c for c in CLASSIC["cases"] if "expected" in c],
                         ids=_ids([c for c in CLASSIC["cases"] if "expected" in c]))
def test_what_the_classic_parser_accepts_loads_by_default(case):
    """Alertmanager 0.27+'s default: an existing configuration's matchers load. Where the UTF-8
    parser accepts the input too and reads it differently, correlator keeps the UTF-8 reading
    (docs/rules.md): that reading is checked instead."""
    try:
        wanted = _parsed(case["input"], MatcherSyntax.UTF8)
    except MatcherError:
        wanted = case["expected"]
    assert _parsed(case["input"], MatcherSyntax.FALLBACK) == wanted


@pytest.mark.parametrize("case", DURATIONS["cases"], ids=_ids(DURATIONS["cases"]))
def test_prometheus_duration_table(case):
    if case.get("error"):
        with pytest.raises(ValueError):
            parse_duration(case["input"])
    else:
        assert parse_duration(case["input"]) == pytest.approx(case["seconds"])


@pytest.mark.parametrize("name", sorted(DURATIONS["exceptions"]))
def test_prometheus_duration_exceptions(name):
    pytest.skip(DURATIONS["exceptions"][name])


# -- inhibition -----------------------------------------------------------------------------------

TARGET_MARK = "__hasequal_target"  # hasEqual is asked for an alert on the target side: a marker puts it there


@pytest.mark.parametrize("case", INHIBIT["TestInhibitRuleHasEqual"],
                         ids=[c["comment"] for c in INHIBIT["TestInhibitRuleHasEqual"]])
def test_alertmanager_has_equal_table(case):
    rule = SuppressRule(name="r", source_matchers=Matchers(), target_matchers=Matchers(parse_matchers(
        f'{TARGET_MARK}="1"')), equal=case["equal"])
    inhibition = Inhibition((rule,))
    resolved = set()
    for index, source in enumerate(case["sources"]):
        inhibition.add((str(index), None), source["labels"])
        if source["resolved"]:
            resolved.add((str(index), None))
    found = inhibition.inhibitor({**case["input"], TARGET_MARK: "1"}, ("input", None), lambda key: key not in resolved)
    assert (found is not None) is case["inhibited"]


def _rules(tmp_path, rules):
    return rules_from(tmp_path, *({"kind": "suppress", **rule} for rule in rules))


def _alert(labels: dict, **kwargs):
    return alert(labels.get("alertname", "upstream"), **kwargs, **{k: v for k, v in labels.items() if k != "alertname"})


def _muted(scenario: Scenario, labels: dict) -> bool:
    """Alertmanager's Mutes() for the alert with these labels (the latest episode): it fires as a symptom."""
    member = max((m for i in scenario.incidents for m in i.members.values()
                  if {k: v for k, v in m.labels.items() if k != "alertname" or "alertname" in labels} == labels),
                 key=lambda m: m.starts_at)
    return member.status == "firing" and member.why.reason == JoinReason.SYMPTOM


@pytest.mark.parametrize("table", ["TestInhibitRuleMatches", "TestInhibitRuleMatchers"])
@pytest.mark.parametrize("index", range(8))
def test_alertmanager_inhibit_rule_tables(tmp_path, table, index):
    data = INHIBIT[table]
    case = data["cases"][index]
    s = Scenario(_rules(tmp_path, data["rules"]))
    s.push(0, *(_alert(labels, starts=-60) for labels in data["sources"]))
    s.push(1, _alert(case["target"]))
    assert _muted(s, case["target"]) is case["inhibited"], case["comment"]


@pytest.mark.parametrize("index", range(3))
def test_alertmanager_inhibit_table(tmp_path, index):
    data = INHIBIT["TestInhibit"]
    case = data["cases"][index]
    s = Scenario(_rules(tmp_path, data["rules"]))
    for second, pushed in enumerate(case["alerts"]):
        s.push(second, _alert(pushed["labels"], starts=-60, **({"ends": second} if pushed.get("resolved") else {})))
    for labels, muted in case["expected"]:
        assert _muted(s, labels) is muted, case["comment"]


def test_alertmanager_inhibit_gc_table():
    pytest.skip(INHIBIT["TestInhibitRuleGC"]["exception"])


def test_alertmanager_inhibiting_acceptance(tmp_path):
    data = INHIBIT["TestInhibiting"]
    s = Scenario(_rules(tmp_path, data["rules"]))
    pushes = list(data["pushes"])
    for at, wanted in data["want"]:
        while pushes and pushes[0][0] <= at:
            second, labels = pushes.pop(0)
            s.push(second, _alert(labels, starts=second))
        notified = [dict(m.labels) for i in s.incidents for m in i.members.values()
                    if m.status == "firing" and m.why.reason != JoinReason.SYMPTOM]
        assert sorted(notified, key=str) == sorted(wanted, key=str), f"at {at}s"
