"""Metrics, Grafana dashboard and Prometheus rules, checked with the real promtool and Prometheus."""

import json
import re
import subprocess
import urllib.parse
from pathlib import Path

import pytest
import yaml

from correlator.app import SERVICE
from tests.conftest import CAPTURES, post_json
from tests.processes import Daemon, free_port, http_json, program, require_program, running, wait_for

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "config" / "grafana" / "dashboards" / "correlator-overview.json"
ALERT_RULES = ROOT / "config" / "prometheus" / "correlator-alerts.yml"


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([require_program("promtool"), *args], input=stdin, capture_output=True, text=True,
                          timeout=60, cwd=ALERT_RULES.parent)


def dashboard_expressions() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


async def test_promtool_finds_nothing_to_say_about_our_metrics(client):
    await post_json(client, "/api/v1/alertmanager", (CAPTURES / "alertmanager-0.25/webhook-01.json").read_bytes())
    await client.app[SERVICE].run_step()
    text = await (await client.get("/metrics")).text()
    result = promtool("check", "metrics", stdin=text)
    assert result.returncode == 0 and result.stdout.strip() == "" and result.stderr.strip() == "", result


def test_alerting_rules_pass_promtool_check_and_unit_tests():
    checked = promtool("check", "rules", ALERT_RULES.name)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", "correlator-alerts.test.yml")
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr


def test_the_dashboard_is_well_formed():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "correlator-overview" and "__inputs" not in dashboard
    [variable] = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert variable["name"] == "datasource" and variable["query"] == "prometheus"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"]) and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}"
            refs = [target["refId"] for target in panel["targets"]]
            assert panel["targets"] and len(refs) == len(set(refs))
            assert all(target["expr"].strip() for target in panel["targets"])


def test_the_provisioning_points_grafana_at_the_dashboard():
    provider = yaml.safe_load((ROOT / "config/grafana/provisioning/dashboards/correlator.yaml").read_text())
    assert provider["apiVersion"] == 1 and provider["providers"][0]["type"] == "file"
    datasource = yaml.safe_load((ROOT / "config/grafana/provisioning/datasources/prometheus.yaml").read_text())
    assert datasource["datasources"][0]["type"] == "prometheus"


@pytest.mark.e2e
def test_every_dashboard_and_alert_expression_finds_its_series_in_a_real_prometheus(tmp_path):
    binary = require_program("prometheus")
    # A destination that refuses connections: the forwarding series exist, deliveries are retried.
    forwarding = {"forwarding": {"destinations": [{"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/x"}]}}
    with running(Daemon(tmp_path, forwarding)) as daemon:
        for name in ("webhook-01", "webhook-02", "webhook-03", "webhook-04"):
            body = json.loads((CAPTURES / f"alertmanager-0.25/{name}.json").read_text())
            assert http_json("POST", f"{daemon.url}/api/v1/alertmanager", body)[0] == 200
        incident = wait_for(lambda: http_json("GET", f"{daemon.url}/api/v1/incidents")[1]["incidents"],
                            timeout=30, what="an incident")[0]
        for action in ("acknowledge", "resolve"):
            assert http_json("POST", f"{daemon.url}/api/v1/incidents/{incident['id']}/{action}", {})[0] == 200
        # ...and one incident that stays open.
        assert http_json("POST", f"{daemon.url}/api/v2/alerts",
                         [{"labels": {"alertname": "DiskFull", "instance": "db1:9100", "severity": "warning"}}])[0] == 200
        port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": "correlator", "static_configs": [{"targets": [f"127.0.0.1:{daemon.port}"]}]}],
        }))
        prom = f"http://127.0.0.1:{port}"
        args = [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'prom-data'}",
                f"--web.listen-address=127.0.0.1:{port}"]
        with program(args, tmp_path / "prometheus.log", f"{prom}/-/ready"):
            def query(expr: str):
                expr = expr.replace("$__rate_interval", "30s").replace("$__range", "5m")
                status, body = http_json("GET", f"{prom}/api/v1/query?query={urllib.parse.quote(expr)}")
                assert status == 200 and body["status"] == "success", (expr, body)
                return body["data"]["result"]

            expressions = dashboard_expressions()
            try:
                wait_for(lambda: all(query(expr) for expr in expressions), timeout=60,
                         what="every dashboard expression to return data")
            except AssertionError:
                empty = [expr for expr in expressions if not query(expr)]
                raise AssertionError(f"dashboard expressions without data: {empty}") from None
            names = set()
            for group in yaml.safe_load(ALERT_RULES.read_text())["groups"]:
                for rule in group["rules"]:
                    query(rule["expr"])  # valid PromQL
                    names |= set(re.findall(r"\bcorrelator_[a-z_]+", rule["expr"]))
            missing = [name for name in sorted(names) if not query(f"count({name})")]
            assert not missing, f"alerting rules use series that do not exist: {missing}"
