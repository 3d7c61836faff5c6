"""End to end with the real Debian `prometheus-alertmanager` and `prometheus` on 127.0.0.1."""

from datetime import datetime, timedelta, timezone

import pytest
import yaml

from tests.processes import Daemon, free_port, http_json, program, require_program, running, wait_for

pytestmark = pytest.mark.e2e
TOKEN = "e2e-token"


def rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
def daemon(tmp_path):
    with running(Daemon(tmp_path, {"auth": {"default": {"bearer_tokens": [TOKEN]}}}, token=TOKEN)) as daemon:
        yield daemon


def test_alertmanager_webhooks_are_stored_once_and_resolved(tmp_path, daemon):
    binary = require_program("prometheus-alertmanager")
    port = free_port()
    config = tmp_path / "alertmanager.yml"
    config.write_text(yaml.safe_dump({
        "route": {"receiver": "correlator", "group_by": ["alertname", "cluster"],
                  "group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h"},
        "receivers": [{"name": "correlator", "webhook_configs": [{
            "url": f"{daemon.url}/api/v1/alertmanager", "send_resolved": True,
            "http_config": {"authorization": {"type": "Bearer", "credentials": TOKEN}}}]}],
    }))
    am = f"http://127.0.0.1:{port}"
    args = [binary, f"--config.file={config}", f"--storage.path={tmp_path / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="]
    with program(args, tmp_path / "alertmanager.log", f"{am}/-/ready"):
        started = datetime.now(timezone.utc) - timedelta(seconds=5)
        alerts = [{"labels": {"alertname": "HighCPU", "cluster": "e2e", "instance": f"node{i}:9100"},
                   "annotations": {"summary": f"CPU high on node{i}"}, "startsAt": rfc3339(started)}
                  for i in (1, 2, 3)]
        assert http_json("POST", f"{am}/api/v2/alerts", alerts)[0] == 200

        stored = wait_for(lambda: len(daemon.alerts(status="firing")) == 3 and daemon.alerts(status="firing"),
                          timeout=30, what="three firing alerts from Alertmanager")
        assert {a["source"] for a in stored} == {"alertmanager"}
        # Each comes with the fingerprint Alertmanager computed; once each, however often it was re-sent.
        assert len({a["fingerprint"] for a in stored}) == 3

        ended = rfc3339(datetime.now(timezone.utc) - timedelta(seconds=1))
        resolved = [{**alert, "endsAt": ended} for alert in alerts]
        assert http_json("POST", f"{am}/api/v2/alerts", resolved)[0] == 200
        final = wait_for(lambda: all(a["status"] == "resolved" for a in daemon.alerts()) and daemon.alerts(),
                         timeout=30, what="the three alerts to be resolved")
        assert len(final) == 3
        assert {a["fingerprint"] for a in final} == {a["fingerprint"] for a in stored}


def test_prometheus_sends_straight_to_the_v2_endpoint(tmp_path, daemon):
    binary = require_program("prometheus")
    port = free_port()
    (tmp_path / "rules.yml").write_text(yaml.safe_dump({"groups": [{"name": "e2e", "rules": [{
        "alert": "AlwaysFiring", "expr": "vector(1)", "labels": {"severity": "warning"},
        "annotations": {"summary": "Always firing (value {{ $value }})"}}]}]}))
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({
        "global": {"evaluation_interval": "1s", "external_labels": {"cluster": "e2e"}},
        "rule_files": [str(tmp_path / "rules.yml")],
        "alerting": {"alertmanagers": [{
            "static_configs": [{"targets": [f"127.0.0.1:{daemon.port}"]}],
            "authorization": {"type": "Bearer", "credentials": TOKEN}}]},
    }))
    prom = f"http://127.0.0.1:{port}"
    args = [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'prom-data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--rules.alert.resend-delay=1s"]
    with program(args, tmp_path / "prometheus.log", f"{prom}/-/ready"):
        [alert] = wait_for(lambda: [a for a in daemon.alerts() if a["notifications"] >= 2],
                           timeout=60, what="AlwaysFiring sent twice by Prometheus")
    assert alert["labels"] == {"alertname": "AlwaysFiring", "cluster": "e2e", "severity": "warning"}
    assert alert["source"] == "prometheus" and alert["status"] == "firing"
    assert alert["annotations"]["summary"] == "Always firing (value 1)"
    assert "vector%281%29" in alert["generatorURL"]
