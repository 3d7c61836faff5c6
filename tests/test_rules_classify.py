"""`correlator rules classify`: how each alerting rule of the estate's Prometheus rule files is
described when its alert fires alone, before any of them fires."""

import json

from correlator.cli import main

RULE_FILE = """
groups:
  - name: node
    rules:
      - alert: NodeFilesystemAlmostOutOfSpace
        expr: node_filesystem_avail_bytes / node_filesystem_size_bytes < 0.05
        for: 30m
        labels: {severity: critical}
        annotations:
          summary: Filesystem has less than 5% space left.
          description: Filesystem on {{ $labels.device }} at {{ $labels.instance }} has only {{ $value }}% left.
      - record: instance:node_cpu:rate5m
        expr: rate(node_cpu_seconds_total[5m])
      - alert: Watchdog
        expr: vector(1)
        labels: {severity: none}
"""

# The Prometheus Operator's form, as kube-prometheus ships it, after another YAML document.
MANIFEST = """
apiVersion: v1
kind: Namespace
metadata: {name: monitoring}
---
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: prometheus-k8s-prometheus-rules}
spec:
  groups:
    - name: prometheus
      rules:
        - alert: PrometheusRemoteStorageFailures
          expr: rate(prometheus_remote_storage_failed_samples_total[5m]) > 0.01
          labels: {severity: critical}
          annotations:
            summary: Prometheus fails to send samples to remote storage.
        - alert: FrobnicatorQuuxHigh
          expr: frobnicator_quux > 3
          labels: {severity: warning}
"""


def _readings(capsys, *args) -> tuple[dict[str, dict], str]:
    assert main(["rules", "classify", "--json", *args]) == 0
    out, err = capsys.readouterr()
    return {reading["alert"]: reading for reading in map(json.loads, out.splitlines())}, err


def test_each_alerting_rule_is_read_alone_with_what_decided_it(tmp_path, capsys):
    (tmp_path / "node.rules.yml").write_text(RULE_FILE)
    (tmp_path / "prometheus-rules.yaml").write_text(MANIFEST)
    readings, summary = _readings(capsys, str(tmp_path / "node.rules.yml"), str(tmp_path / "prometheus-rules.yaml"))

    assert set(readings) == {"NodeFilesystemAlmostOutOfSpace", "Watchdog", "PrometheusRemoteStorageFailures",
                             "FrobnicatorQuuxHigh"}  # the recording rule is no alert
    full = readings["NodeFilesystemAlmostOutOfSpace"]
    assert (full["category"], full["decided_by"], full["group"]) == ("capacity", "lexicon", "node")
    assert "space" in full["detail"] and "$labels" not in full["detail"]
    # The storage it names is the monitoring stack's: its software failing, not a disk.
    assert readings["PrometheusRemoteStorageFailures"]["category"] == "software"
    # Words the lexicon does not know: the model's guess, said to be one.
    unknown = readings["FrobnicatorQuuxHigh"]
    assert unknown["incident"] and unknown["decided_by"] == "model" and "confidence" in unknown["detail"]
    assert readings["Watchdog"]["incident"] is False  # the shipped heartbeats rule
    assert summary.startswith("4 alerting rules: 1 open no incident; decided by lexicon 2, model 1")
    # The relate rules each is in: a host out of disk is one machine's, seen by its watchers; what no
    # rule knows joins others only on learned evidence.
    assert "one-machine-out-of-disk-seen-by-its-watchers" in full["cause_in"] + full["effect_in"]
    assert unknown["cause_in"] == unknown["effect_in"] == []
    assert summary.strip().endswith("; 2 in no relate rule")  # the heartbeat and the unknown one


def test_the_text_output_names_the_relate_rules_each_alert_is_in(tmp_path, capsys):
    (tmp_path / "node.rules.yml").write_text(RULE_FILE)
    assert main(["rules", "classify", str(tmp_path / "node.rules.yml")]) == 0
    lines = dict(line.split(": ", 1) for line in capsys.readouterr().out.splitlines())
    disk = lines["NodeFilesystemAlmostOutOfSpace"]
    assert "relate rules: cause in one-machine-out-of-disk-seen-by-its-watchers" in disk
    assert lines["Watchdog"] == "opens no incident alone; in no relate rule"


def test_without_the_model_what_the_lexicon_cannot_read_is_left_unclassified(tmp_path, capsys):
    (tmp_path / "prometheus-rules.yaml").write_text(MANIFEST)
    readings, _ = _readings(capsys, "--no-model", str(tmp_path / "prometheus-rules.yaml"))
    assert readings["FrobnicatorQuuxHigh"]["category"] is None
    assert readings["PrometheusRemoteStorageFailures"]["category"] == "software"


def test_a_file_without_alerting_rules_is_refused_naming_it(tmp_path, capsys):
    path = tmp_path / "alertmanager.yml"
    path.write_text("route: {receiver: correlator}\nreceivers: [{name: correlator}]\n")
    assert main(["rules", "classify", str(path)]) == 1
    assert f"{path}: no alerting rule" in capsys.readouterr().err


def test_a_directory_is_read_file_by_file_passing_over_those_without_alerts(tmp_path, capsys):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "node.rules.yml").write_text(RULE_FILE)
    (rules / "prometheus-rules.yaml").write_text(MANIFEST)
    (rules / "recording.yml").write_text("groups: [{name: r, rules: [{record: a:b, expr: up}]}]\n")
    readings, summary = _readings(capsys, str(rules))
    assert len(readings) == 4 and summary.startswith("4 alerting rules")
    (rules / "broken.yml").write_text("groups: [\n")
    assert main(["rules", "classify", str(rules)]) == 1
    assert "broken.yml" in capsys.readouterr().err
