"""A probe's URL and the workloads behind it (learning/topology.py, `_tie_applications`): a
blackbox probe of `https://shop.example.com/` and the errors of `shop-api`, with the shipped relate
rules (`failing-service-explains-its-probes`, `dependency-errors-explain-their-services-errors`)."""

import json

import pytest

from correlator.domain import JoinReason
from correlator.engine.core import EngineSettings
from correlator.learning.decay import Decay
from correlator.learning.entities import entities_of
from correlator.learning.topology import Topology
from correlator.rules.loader import load_rules
from correlator.rules.matchers import matches_all
from correlator.shipped import shipped_dir
from tests.engine_scenarios import Scenario, alert

SHIPPED = load_rules(shipped_dir("rules"))
PROBE = {"instance": "https://shop.example.com/", "job": "blackbox", "cluster": "eu"}


def observed(*labels: dict) -> Topology:
    topology = Topology(Decay())
    for at, each in enumerate(labels):
        topology.observe(entities_of(each), float(at), "eu")
    return topology


@pytest.mark.parametrize("probe_first", [True, False])
def test_a_probed_url_relates_to_the_workloads_named_after_its_application(probe_first):
    service = {"service": "shop-api", "cluster": "eu"}
    topology = observed(*((PROBE, service) if probe_first else (service, PROBE)))
    assert topology.related(entities_of(PROBE), 2.0, 8)["workload|eu|shop-api"] == "workload|eu|shop"
    # A workload's alert does not go back to the probes of its application.
    assert topology.related(("workload|eu|shop-api",), 2.0, 8) == {"workload|eu|shop-api": ""}


@pytest.mark.parametrize("workload", ["shop-api-v2", "shop-api_worker"])
def test_every_head_of_a_workloads_name_may_be_its_application(workload):
    probe = {"instance": "https://shop-api.example.com/healthz", "job": "blackbox", "cluster": "eu"}
    topology = observed({"deployment": workload, "cluster": "eu"}, probe)
    assert topology.related(entities_of(probe), 2.0, 8)[f"workload|eu|{workload}"] == "workload|eu|shop-api"


def test_the_workloads_of_a_probed_applications_namespace_are_its_own():
    service = {"deployment": "frontend", "namespace": "shop", "cluster": "eu"}
    topology = observed(service, PROBE)
    assert topology.related(entities_of(PROBE), 2.0, 8)["workload|eu|frontend"] == "workload|eu|shop"
    # A namespace of another cluster is another application.
    other = observed({"deployment": "frontend", "namespace": "shop", "cluster": "us"}, PROBE)
    assert "workload|us|frontend" not in other.related(entities_of(PROBE), 2.0, 8)


@pytest.mark.parametrize("url, application", [
    ("https://www.example.com/shop/", "shop"),  # a path of a shared host, routed to the application
    ("https://www.example.com/shop/healthz", "shop"),
    ("http://10.0.0.9:8080/shop/api/health", "shop"),
    ("https://www.example.com/healthz", None),  # an endpoint every application has
    ("https://www.example.com/v2/status", None),  # an API version
])
def test_a_probed_urls_first_path_segment_names_the_application_a_shared_host_routes_it_to(url, application):
    probe = {"instance": url, "job": "blackbox", "cluster": "eu"}
    topology = observed({"deployment": "frontend", "namespace": "shop", "cluster": "eu"}, probe)
    related = topology.related(entities_of(probe), 2.0, 8)
    assert related.get("workload|eu|frontend") == (f"workload|eu|{application}" if application else None)


def test_a_probe_joins_the_errors_of_a_workload_in_its_applications_namespace():
    run = scenario((300, "HTTPErrorRateHigh", {"deployment": "frontend", "namespace": "shop", "cluster": "eu"}),
                   (360, "BlackboxProbeFailed", PROBE))
    probe = next(m for m in holding(run, "HTTPErrorRateHigh").members.values()
                 if m.labels["alertname"] == "BlackboxProbeFailed")
    assert "workload frontend (cluster eu) runs in the namespace of workload shop (cluster eu)" in probe.why.detail


def test_a_workload_in_a_probed_applications_namespace_takes_in_its_probe_failing_first():
    run = scenario((300, "BlackboxProbeFailed", PROBE),
                   (330, "HTTPErrorRateHigh", {"deployment": "frontend", "namespace": "shop", "cluster": "eu"}))
    assert len(holding(run, "HTTPErrorRateHigh").members) == 2


@pytest.mark.parametrize("labels", [
    {"service": "shop-api", "cluster": "us"},  # the application of another cluster
    {"service": "shopfront", "cluster": "eu"},  # a name that only begins alike
    {"service": "api-shop", "cluster": "eu"},  # the application is the head of the name
], ids=["another-cluster", "no-hyphen", "not-the-head"])
def test_a_workload_not_named_after_the_probed_application_is_not_related_to_its_probe(labels):
    topology = observed(labels, PROBE)
    assert set(topology.related(entities_of(PROBE), 2.0, 8)).isdisjoint(entities_of(labels))


def test_an_application_no_probe_named_relates_nothing_by_name():
    # A service named `shop` alerting is no probe: `shop-api` is not taken for part of it.
    topology = observed({"service": "shop", "cluster": "eu"}, {"service": "shop-api", "cluster": "eu"})
    assert topology.probed_applications("workload|eu|shop-api", (), topology.seen) == []
    topology.observe(entities_of(PROBE), 2.0, "eu")
    assert topology.probed_applications("workload|eu|shop-api", (), topology.seen) == ["workload|eu|shop"]


def test_the_tie_survives_a_restart_whichever_alerts_next():
    from correlator.learning import state
    from correlator.learning.joiner import Learner

    learner = Learner()
    learner.topology.observe(entities_of({"service": "shop-api", "cluster": "eu"}), 0.0, "eu")
    restored = state.loaded(state.snapshot(learner))
    restored.topology.observe(entities_of(PROBE), 1.0, "eu")
    assert "workload|eu|shop-api" in restored.topology.related(entities_of(PROBE), 2.0, 8)


def test_a_workloads_place_in_its_namespaces_application_survives_a_restart():
    # Its name does not tell it (`frontend` in `shop`): only the alert that named both did.
    from correlator.learning import state
    from correlator.learning.joiner import Learner

    learner = Learner()
    learner.topology.observe(entities_of({"deployment": "frontend", "namespace": "shop", "cluster": "eu"}), 0.0, "eu")
    restored = state.loaded(state.snapshot(learner))
    restored.topology.observe(entities_of(PROBE), 1.0, "eu")
    assert restored.topology.related(entities_of(PROBE), 2.0, 8)["workload|eu|frontend"] == "workload|eu|shop"


@pytest.mark.parametrize("probe, explained", [
    ("BlackboxProbeFailed", True), ("BlackboxProbeHttpFailure", True), ("endpoint_bad_status", True),
    ("Synthetics test failing", True), ("BlackboxSslCertificateExpired", False), ("BlackboxProbeSlowHttp", False),
    ("Synthetics latency high", False),
])
def test_a_services_errors_explain_its_probes_failing_not_slow_nor_their_certificates(probe, explained):
    rule = next(rule for rule in SHIPPED.relations if rule.name == "failing-service-explains-its-probes")
    assert matches_all(rule.cause, {"alertname": "HTTPErrorRateHigh"})
    assert matches_all(rule.effect, {"alertname": probe}) == explained


def scenario(*pushed: tuple[float, str, dict]) -> Scenario:
    run = Scenario(SHIPPED, EngineSettings())
    for when, name, labels in pushed:
        run.push(when, alert(name, starts=when, **labels))
    return run


def holding(run: Scenario, name: str):
    return next(i for i in run.incidents if any(m.labels["alertname"] == name for m in i.members.values()))


@pytest.mark.parametrize("cause", ["HTTPErrorRateHigh", "DatabaseClientErrors"])
def test_a_probe_failing_after_its_applications_errors_joins_them(cause):
    run = scenario((300, cause, {"service": "shop-api", "namespace": "shop", "cluster": "eu"}),
                   (400, "BlackboxProbeFailed", PROBE))
    incident = holding(run, cause)
    probe = next(m for m in incident.members.values() if m.labels["alertname"] == "BlackboxProbeFailed")
    assert probe.why.reason == JoinReason.RELATED
    assert "workload shop-api (cluster eu) is named after workload shop (cluster eu), the application a probe's URL names" \
        in probe.why.detail


@pytest.mark.parametrize("apart, joined", [(290.0, True), (330.0, False)])
def test_a_probe_joins_its_applications_errors_only_within_minutes(apart, joined):
    run = scenario((300, "HTTPErrorRateHigh", {"service": "shop-api", "cluster": "eu"}),
                   (300 + apart, "BlackboxProbeFailed", PROBE))
    assert (len(holding(run, "HTTPErrorRateHigh").members) == 2) == joined


def test_a_service_failing_after_its_probe_takes_in_the_probes_incident():
    # A probe fails within a minute, an error rate waits its `for`: the cause comes after its effect.
    run = scenario((300, "BlackboxProbeFailed", PROBE),
                   (330, "HTTPErrorRateHigh", {"service": "shop-api", "cluster": "eu"}))
    incident = holding(run, "HTTPErrorRateHigh")
    probe = next(m for m in incident.members.values() if m.labels["alertname"] == "BlackboxProbeFailed")
    assert probe.why.reason == JoinReason.ABSORBED
    assert [i for i in run.incidents if i.members] == [incident]


def test_a_sibling_failing_after_the_probe_joined_another_workload_stays_apart():
    # The probe is shop-api's: shop-worker's errors minute later do not take it, nor join it.
    run = scenario((300, "HTTPErrorRateHigh", {"service": "shop-api", "cluster": "eu"}),
                   (330, "BlackboxProbeFailed", PROBE),
                   (360, "HTTPErrorRateHigh", {"service": "shop-worker", "cluster": "eu"}))
    probe = holding(run, "BlackboxProbeFailed")
    assert sorted(m.labels.get("service", "") for m in probe.members.values()) == ["", "shop-api"]


def test_a_probe_of_another_application_stays_apart():
    run = scenario((300, "HTTPErrorRateHigh", {"service": "cart-api", "cluster": "eu"}),
                   (400, "BlackboxProbeFailed", PROBE))
    assert len(holding(run, "HTTPErrorRateHigh").members) == 1


def test_the_topology_view_shows_what_relates_by_name(tmp_path, capsys):
    from datetime import datetime, timedelta, timezone

    from correlator.cli import main
    from tests.test_learned_state import write_recording

    start = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
    write_recording(tmp_path / "history.jsonl", [
        (start, {"alertname": "HTTPErrorRateHigh", "service": "shop-api", "cluster": "eu"}),
        (start + timedelta(minutes=1), {"alertname": "BlackboxProbeFailed", **PROBE})])
    assert main(["learned", "topology", "--recording", str(tmp_path / "history.jsonl"), "--filter", "shop",
                 "--db", f"sqlite:///{tmp_path}/c.db"]) == 0
    shown = {entity["entity"]: entity["by_name"] for entity in map(json.loads, capsys.readouterr().out.splitlines())}
    assert shown["workload|eu|shop"] == ["workload|eu|shop-api"]
    assert shown["workload|eu|shop-api"] == ["workload|eu|shop"]
