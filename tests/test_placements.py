"""Where pods run, read from Prometheus (`kube_pod_info`) so that a pod's alert, which names no
node, is about the node it runs on (correlator/placements.py)."""

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import aiohttp
import pytest
import yaml
from aiohttp import web

from correlator.domain.placements import Placements, PodPlacement
from correlator.config import PlacementSourceConfig
from correlator.placements import PlacementError, PlacementPoller, changes, placement_of
from tests.processes import (Daemon, free_port, http_json, program, require_program, running, served_in_thread,
                             wait_for)

TOKEN = "placements-token"
PODS = {("shop", "web-0"): "worker-3", ("billing", "ledger-0"): "worker-4"}


def test_a_prometheus_answer_gives_each_pod_its_node_and_leaves_unscheduled_pods_out():
    answer = {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"__name__": "kube_pod_info", "namespace": "shop", "pod": "web-0", "node": "worker-3",
                    "host_ip": "10.0.0.3", "uid": "a"}, "value": [1700000000.0, "1"]},
        {"metric": {"__name__": "kube_pod_info", "namespace": "shop", "pod": "web-1", "node": ""},
         "value": [1700000000.0, "1"]}]}}
    assert placement_of(json.dumps(answer).encode(), "eu") == {("eu", "shop", "web-0"): "worker-3"}


def test_a_view_of_several_clusters_places_each_pod_in_the_cluster_its_series_names():
    answer = {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"namespace": "shop", "pod": "web-0", "node": "w-1", "cluster": "eu"}, "value": [0, "1"]},
        {"metric": {"namespace": "shop", "pod": "web-0", "node": "w-7", "k8s_cluster": "us"}, "value": [0, "1"]}]}}
    now = placement_of(json.dumps(answer).encode())
    assert now == {("eu", "shop", "web-0"): "w-1", ("us", "shop", "web-0"): "w-7"}
    assert changes({}, now) == [Placements("eu", [PodPlacement("shop", "web-0", "w-1")]),
                                Placements("us", [PodPlacement("shop", "web-0", "w-7")])]


@pytest.mark.parametrize("answer, reason", [
    ({"status": "error", "errorType": "bad_data", "error": "parse error at char 4"}, "parse error at char 4"),
    ({"status": "success", "data": {"resultType": "matrix", "result": []}}, "expected an instant vector"),
    ("<html>proxy error</html>", "not a Prometheus query answer"),
])
def test_an_answer_with_no_placement_says_why(answer, reason):
    body = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode()
    with pytest.raises(PlacementError, match=reason):
        placement_of(body)


def test_only_what_changed_is_told_again():
    before = {("eu", "shop", "web-0"): "worker-3", ("eu", "shop", "web-1"): "worker-4"}
    now = {("eu", "shop", "web-0"): "worker-5", ("eu", "shop", "web-2"): "worker-4"}
    assert changes(before, now) == [Placements("eu", [
        PodPlacement("shop", "web-0", "worker-5"), PodPlacement("shop", "web-1", ""),
        PodPlacement("shop", "web-2", "worker-4")])]
    assert changes(now, now) == []


async def test_a_source_that_does_not_answer_is_logged_once_and_only_the_leader_asks(caplog):
    appended = []

    async def append(raw):
        appended.append(raw)
    leads = [True]
    source = PlacementSourceConfig(url=f"http://127.0.0.1:{free_port()}", cluster="eu")  # nothing listens
    poller = PlacementPoller([source], 1.0, append, lambda: leads[0])
    poller.known[0] = {("eu", "shop", "web-0"): "worker-3"}
    async with aiohttp.ClientSession() as session:
        assert await poller.round(session) == 0 and await poller.round(session) == 0
        assert poller.known[0] == {("eu", "shop", "web-0"): "worker-3"}  # what it told stays in force
        leads[0] = False
        assert await poller.round(session) == 0
    assert appended == [] and poller.known == {}  # a replica that leads again tells all of it
    assert [r.getMessage() for r in caplog.records].count("placement source failed; asked again later") == 1


class PrometheusBehindAuth:
    """A Prometheus behind an authenticating proxy: `/api/v1/query` answers 401 without the bearer
    token, and `kube_pod_info` with it."""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/v1/query", self.query)
        return app

    async def query(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"status": "error", "error": "unauthorized"}, status=401)
        assert request.query["query"] == "kube_pod_info"
        return web.json_response({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {"namespace": namespace, "pod": pod, "node": node}, "value": [0, "1"]}
            for (namespace, pod), node in PODS.items()]}})


async def test_a_source_that_asks_for_a_bearer_token_is_sent_it():
    runner = web.AppRunner(PrometheusBehindAuth().app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    appended = []

    async def append(raw):
        appended.append(raw)
    try:
        without = PlacementPoller([PlacementSourceConfig(url=url, cluster="eu")], 1.0, append, lambda: True)
        with_token = PlacementPoller([PlacementSourceConfig(url=url, cluster="eu", bearer_token=TOKEN)], 1.0,
                                     append, lambda: True)
        async with aiohttp.ClientSession() as session:
            assert await without.round(session) == 0
            assert without.failing == {0: f"{url}/api/v1/query answered HTTP 401"}
            assert await with_token.round(session) == 1
    finally:
        await runner.cleanup()
    assert [json.loads(raw.body) for raw in appended] == [{"cluster": "eu", "pods": [
        {"namespace": "billing", "pod": "ledger-0", "node": "worker-4"},
        {"namespace": "shop", "pod": "web-0", "node": "worker-3"}]}]


class KubeStateMetrics:
    """Serves `kube_pod_info` in the exposition format, as kube-state-metrics does."""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/metrics", self.metrics)
        return app

    async def metrics(self, _request: web.Request) -> web.Response:
        lines = ["# HELP kube_pod_info [STABLE] Information about pod.", "# TYPE kube_pod_info gauge"]
        lines += [f'kube_pod_info{{namespace="{namespace}",pod="{pod}",uid="u-{pod}",host_ip="10.0.0.9",'
                  f'pod_ip="10.1.0.9",node="{node}",created_by_kind="StatefulSet",created_by_name="x",'
                  f'priority_class="",host_network="false"}} 1' for (namespace, pod), node in PODS.items()]
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")


def rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.mark.e2e
def test_a_pod_alert_joins_its_node_lost_as_the_real_prometheus_places_it_live_and_in_replay(tmp_path):
    binary = require_program("prometheus")
    port = free_port()
    with served_in_thread(KubeStateMetrics()) as (_, ksm):
        config = tmp_path / "prometheus.yml"
        config.write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s"},
            "scrape_configs": [{"job_name": "kube-state-metrics", "honor_labels": True,
                                "static_configs": [{"targets": [ksm.removeprefix("http://")]}]}]}))
        prom = f"http://127.0.0.1:{port}"
        args = [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'prom-data'}",
                f"--web.listen-address=127.0.0.1:{port}"]
        recording = tmp_path / "recording.jsonl"
        daemon = Daemon(tmp_path, {"auth": {"default": {"bearer_tokens": [TOKEN]}},
                                   "learning": {"placements": [{"url": prom, "cluster": "e2e"}],
                                                "placements_every": "1s"}}, token=TOKEN)
        document = yaml.safe_load(daemon.config_path.read_text())
        document["server"]["record"] = str(recording)
        daemon.config_path.write_text(yaml.safe_dump(document))
        with program(args, tmp_path / "prometheus.log", f"{prom}/-/ready"), running(daemon):
            def placed():
                lines = recording.read_text().splitlines() if recording.exists() else []
                return [json.loads(line) for line in lines if json.loads(line)["source"] == "placement"]
            [told] = wait_for(placed, timeout=60, what="the pods' placement read from Prometheus")
            assert told["body"] == {"cluster": "e2e", "pods": [
                {"namespace": "billing", "pod": "ledger-0", "node": "worker-4"},
                {"namespace": "shop", "pod": "web-0", "node": "worker-3"}]}
            started = datetime.now(timezone.utc) - timedelta(minutes=2)
            for offset, labels in [(0, {"alertname": "KubeNodeNotReady", "node": "worker-3"}),
                                   (30, {"alertname": "KubePodNotReady", "namespace": "shop", "pod": "web-0"})]:
                alert = {"labels": {**labels, "cluster": "e2e", "severity": "warning"},
                         "startsAt": rfc3339(started + timedelta(seconds=offset))}
                assert http_json("POST", f"{daemon.url}/api/v2/alerts", [alert], daemon.auth_headers)[0] == 200
            def both_in_one():
                listed = http_json("GET", f"{daemon.url}/api/v1/incidents", headers=daemon.auth_headers)[1]
                details = [http_json("GET", f"{daemon.url}/api/v1/incidents/{i['id']}", headers=daemon.auth_headers)[1]
                           for i in listed["incidents"]]
                return [d for d in details if len(d["members"]) == 2]
            [detail] = wait_for(both_in_one, timeout=30, what="one incident of both alerts")
            pod = next(m for m in detail["members"] if m["labels"]["alertname"] == "KubePodNotReady")
            assert pod["why"]["rule"] == "node-not-ready-explains-its-pods"
            assert "same host worker-3" in pod["why"]["detail"]
        replayed = subprocess.run([sys.executable, "-m", "correlator", "replay", str(recording), "--out",
                                   str(tmp_path / "out.jsonl")], capture_output=True, text=True, timeout=120)
        assert replayed.returncode == 0, replayed.stderr
        [offline] = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
        assert [episode[4] for episode in offline["episodes"]] == ["", "node-not-ready-explains-its-pods"]
