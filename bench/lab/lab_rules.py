"""The lab's copies of the vendored rule files: the same rules, with `for:` durations that fit a
run of minutes.

A `for:` above MAX_FOR becomes MAX_FOR. Rules that wait an hour or more (under-utilisation over a
week, bloat, kernel deviations, a reboot pending) are left out: shortened, they would fire on a
healthy host and say nothing about the faults.

The host's rules come from one of two rule sets (`NODE_RULES`): awesome-prometheus-alerts
(`rules/node-exporter.yml`, the default) or the kube-prometheus node-exporter mixin with its
`TargetDown` (`rules-kube/`), whose selectors name the mixin's scrape job `node-exporter`: the
copies name the lab's, `node`. The other targets' rules are awesome-prometheus-alerts' either way.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

VENDORED = Path(__file__).resolve().parent / "rules"
KUBE_PROMETHEUS = Path(__file__).resolve().parent / "rules-kube"
NODE_RULES = ("awesome", "kube")
MAX_FOR = 30.0
LEFT_OUT_FROM = 3600.0
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")


def seconds(duration: str) -> float:
    """A Prometheus duration (`1h30m`, `0m`) in seconds."""
    parts = _DURATION.findall(duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise ValueError(f"not a Prometheus duration: {duration!r}")
    return sum(int(n) * _UNITS[u] for n, u in parts)


def rule_files(node_rules: str = "awesome") -> list[Path]:
    """The vendored rule files the lab runs, with the host's from `node_rules` (of NODE_RULES)."""
    files = sorted(VENDORED.glob("*.yml"))
    if node_rules == "kube":
        files = [path for path in files if path.name != "node-exporter.yml"] + sorted(KUBE_PROMETHEUS.glob("*.yml"))
    return files


def write_lab_rules(out: Path, node_rules: str = "awesome") -> list[str]:
    """Writes one lab copy per rule file the lab runs into `out`; returns the alert names left out."""
    out.mkdir(parents=True, exist_ok=True)
    left_out = []
    for path in rule_files(node_rules):
        document = yaml.safe_load(path.read_text().replace('job="node-exporter"', 'job="node"'))
        for group in document["groups"]:
            kept = []
            for rule in group["rules"]:
                wait = seconds(str(rule.get("for", "0s")))
                if wait >= LEFT_OUT_FROM:
                    left_out.append(rule["alert"])
                    continue
                if wait > MAX_FOR:
                    rule["for"] = f"{MAX_FOR:.0f}s"
                kept.append(rule)
            group["rules"] = kept
        (out / path.name).write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    return left_out
