"""The real-fault lab's rule files (bench/lab/lab_rules.py): the vendored public rule sets, with `for:`
durations that fit a run of minutes, valid for the Prometheus the lab runs."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.processes import require_program

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench" / "lab"))
from lab_rules import MAX_FOR, seconds, write_lab_rules  # noqa: E402


def alerts(directory: Path) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for path in sorted(directory.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                found.setdefault(rule["alert"], []).append(rule)
    return found


@pytest.mark.parametrize("node_rules", ["awesome", "kube"])
def test_the_lab_rules_are_valid_and_wait_at_most_half_a_minute(tmp_path, node_rules):
    left_out = write_lab_rules(tmp_path, node_rules)
    rules = alerts(tmp_path)
    assert "PostgresqlDown" in rules and "BlackboxProbeFailed" in rules  # the other targets' rules either way
    assert all(seconds(str(rule.get("for", "0s"))) <= MAX_FOR for variants in rules.values() for rule in variants)
    assert not set(left_out) & set(rules)
    checked = subprocess.run([require_program("promtool"), "check", "rules", *map(str, sorted(tmp_path.glob("*.yml")))],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_kube_prometheus_host_rules_select_the_labs_scrape_job(tmp_path):
    write_lab_rules(tmp_path, "kube")
    rules = alerts(tmp_path)
    assert "HostOutOfMemory" not in rules  # awesome-prometheus-alerts' host rules are replaced
    memory = rules["NodeMemoryHighUtilization"][0]
    assert 'job="node"' in memory["expr"] and "node-exporter" not in memory["expr"]
    assert "TargetDown" in rules
