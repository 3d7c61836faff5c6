"""Rule files: loading with precise errors, `rules check`, `rules test`, and the shipped rules."""

import io
from pathlib import Path

import pytest

from correlator.cli import main
from correlator.config import parse_config
from correlator.rules.loader import RuleErrors, load_rules, parse_rule_file
from correlator.offline.rule_tests import run_rule_tests
from correlator.shipped import shipped_dir

TESTDATA = Path(__file__).parent / "testdata" / "rules"
BAD = sorted((TESTDATA / "bad").glob("*.yaml"))


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_rule_files_give_file_line_and_reason(path):
    with pytest.raises(RuleErrors) as raised:
        parse_rule_file(path.read_text(), f"bad/{path.name}")
    assert str(raised.value) == path.with_suffix(".expected").read_text().strip()


def test_a_directory_with_one_broken_file_loads_nothing(tmp_path):
    (tmp_path / "good.yaml").write_text((TESTDATA / "good" / "rules.yaml").read_text())
    (tmp_path / "zz-broken.yaml").write_text((TESTDATA / "bad" / "version.yaml").read_text())
    with pytest.raises(RuleErrors):
        load_rules(tmp_path)


def test_rule_names_are_unique_across_files(tmp_path):
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text((TESTDATA / "good" / "rules.yaml").read_text())
    with pytest.raises(RuleErrors, match="'by-namespace' is already used in"):
        load_rules(tmp_path)


def test_a_matcher_string_in_braces_is_accepted():
    rules = load_rules(TESTDATA / "good")
    [group] = rules.groups
    assert [str(m) for m in group.matchers] == ['namespace!=""']


def test_rules_check_prints_every_error_and_fails(capsys):
    assert main(["rules", "check", str(TESTDATA / "bad")]) == 1
    out = capsys.readouterr().out
    expected = sum(len(path.with_suffix(".expected").read_text().strip().splitlines()) for path in BAD)
    assert out.count(".yaml:") == expected and "broken.yaml:13: rules[2].catgory: unknown key" in out


def test_rules_check_passes_the_shipped_rules(capsys):
    assert main(["rules", "check", str(shipped_dir("rules"))]) == 0
    assert ": OK" in capsys.readouterr().out


def test_the_shipped_rule_tests_pass():
    out = io.StringIO()
    assert run_rule_tests(sorted((shipped_dir("rules") / "tests").glob("*.yaml")), None,
                          parse_config({}, environ={}), out), out.getvalue()
    assert " 0 failed" in out.getvalue()


def test_a_failing_rule_test_shows_what_differed(tmp_path):
    test = tmp_path / "t.yaml"
    test.write_text(f"""
rule_dir: {TESTDATA / 'good'}
tests:
  - name: grouping by namespace
    alerts:
      - {{at: 0s, labels: {{alertname: A, namespace: shop, severity: critical}}}}
      - {{at: 1m, labels: {{alertname: B, namespace: shop}}}}
      - {{at: 1m, labels: {{alertname: C, namespace: auth}}}}
    expect:
      - {{alerts: [0, 1], priority: P1}}
      - {{alerts: [2, 0]}}
""")
    out = io.StringIO()
    assert not run_rule_tests([test], None, parse_config({}, environ={}), out)
    assert out.getvalue().splitlines() == [
        "FAIL grouping by namespace (" + str(test) + ")",
        "  incident with alerts [0, 1]: priority: want 'P1', got 'P3'",
        "  no incident with exactly alerts [0, 2]",
        "  unexpected incident with alerts [2] ('C')",
        "0 passed, 1 failed",
    ]


def test_a_rule_test_that_cannot_run_names_each_mistake_by_its_path(tmp_path):
    test = tmp_path / "t.yaml"
    test.write_text(f"""
rule_dir: {TESTDATA / 'good'}
tests:
  - name: runs
    alerts:
      - {{at: 0s, labels: {{alertname: A, namespace: shop}}}}
    expect:
      - {{alerts: [0]}}
  - name: cannot run
    alerts:
      - {{at: soon, labels: {{alertname: A, namespace: shop}}}}
    expect:
      - {{alerts: [0, 3]}}
""")
    out = io.StringIO()
    assert not run_rule_tests([test], None, parse_config({}, environ={}), out)
    assert out.getvalue().splitlines() == [
        f"ERROR {test}:",
        "  tests[1].alerts[0].at: invalid duration 'soon': expected a number and a unit such as 30s, 5m, 4h, 1d",
        "  tests[1].expect[0].alerts: no alert 3 (the test's alerts: numbered 0 to 0)",
        "0 passed, 1 failed",
    ]


@pytest.mark.parametrize("window, message", [
    ("300", "rules[0].window: expected a duration with a unit such as 300s or 5m, got the bare number 300"),
    ('"300y"', "rules[0].window: invalid duration '300y': out of range"),
])
def test_durations_alertmanager_refuses_are_refused_naming_the_key(tmp_path, window, message):
    (tmp_path / "r.yaml").write_text(f"version: 1\nrules:\n  - name: g\n    kind: group\n    group_by: [a]\n"
                                     f"    window: {window}\n")
    with pytest.raises(RuleErrors) as raised:
        load_rules(tmp_path)
    assert f"r.yaml:6: {message}" in str(raised.value)
