"""The synthetic labeled corpus: deterministic, consistent with its truth, readable by replay."""

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import datetime

import pytest

from correlator.ingest.fingerprint import fingerprint
from correlator.ingest.normalize import IngestPolicy
from correlator.ingest.sources import parsers
from correlator.offline.alert_templates import SHARED_ALERTNAMES, alertnames
from correlator.offline.corpus import generate, labeled_incidents, write
from correlator.offline.replay import ReplaySummary, read_recording

SCENARIOS = {"node_failure", "hardware_degradation", "disk_filling", "resource_saturation", "bad_deploy",
             "database_outage", "replication_broken", "network_partition", "cert_expiry", "config_error"}


@pytest.fixture(scope="module")
def corpus():
    return generate(42)


@pytest.fixture(scope="module")
def holdout():
    return generate(42, vocabulary="holdout")


def episodes(corpus):
    return [(alert["fingerprint"], datetime.fromisoformat(alert["startsAt"]))
            for _, _, body in corpus.notifications for alert in body["alerts"]]


def test_the_same_seed_gives_the_same_corpus_and_another_seed_another():
    assert generate(7, hours=2) == generate(7, hours=2)
    assert generate(8, hours=2).notifications != generate(7, hours=2).notifications


def test_the_corpus_does_not_depend_on_the_process_string_hashing(tmp_path):
    script = ("import sys; from pathlib import Path; from correlator.offline.corpus import generate, write; "
              "write(generate(7, hours=2, vocabulary='all'), Path(sys.argv[1]), Path(sys.argv[2]))")
    for hash_seed in ("1", "2"):
        subprocess.run([sys.executable, "-c", script, str(tmp_path / f"r{hash_seed}"), str(tmp_path / f"t{hash_seed}")],
                       check=True, env=os.environ | {"PYTHONHASHSEED": hash_seed})
    assert (tmp_path / "r1").read_bytes() == (tmp_path / "r2").read_bytes()
    assert (tmp_path / "t1").read_bytes() == (tmp_path / "t2").read_bytes()


def test_every_notified_episode_has_exactly_one_truth_entry(corpus):
    for _, source, body in corpus.notifications:
        assert source == "alertmanager" and body["version"] == "4"
        for alert in body["alerts"]:
            assert alert["fingerprint"] == fingerprint(alert["labels"])
            assert alert["labels"]["prometheus"] == "monitoring/k8s" and "cluster" in alert["labels"]
    truth = Counter((t.fingerprint, t.starts_at) for t in corpus.truth)
    assert set(truth) == set(episodes(corpus))
    assert set(truth.values()) == {1}


def test_notifications_are_alertmanager_groups_in_time_order(corpus):
    times = [at for at, _, _ in corpus.notifications]
    assert times == sorted(times)
    for _, _, body in corpus.notifications:
        assert {a["labels"]["alertname"] for a in body["alerts"]} == {body["groupLabels"]["alertname"]}
        for alert in body["alerts"]:
            assert (alert["endsAt"] == "0001-01-01T00:00:00Z") == (alert["status"] == "firing")
    # resends of a group, and the HA pair's duplicates
    assert len(corpus.notifications) > len({json.dumps(body, sort_keys=True) for _, _, body in corpus.notifications})
    assert any(a["status"] == "resolved" for _, _, body in corpus.notifications for a in body["alerts"])


def test_the_written_recording_replays_into_the_truth(corpus, tmp_path):
    write(corpus, tmp_path / "recording.jsonl", tmp_path / "truth.jsonl")
    summary = ReplaySummary()
    with (tmp_path / "recording.jsonl").open("rb") as lines:
        replayed = {(alert.fingerprint, alert.starts_at)
                    for _, alerts in read_recording(lines, parsers({}), IngestPolicy(), False, summary)
                    for alert in alerts}
    truth = [json.loads(line) for line in (tmp_path / "truth.jsonl").read_text().splitlines()]
    assert summary.notifications == len(corpus.notifications) and summary.bad_lines == 0
    assert replayed == {(t["fingerprint"], datetime.fromisoformat(t["startsAt"])) for t in truth}
    assert set(truth[0]) == {"fingerprint", "startsAt", "incident", "category", "service_area", "priority", "scenario"}
    assert all(t["startsAt"].endswith("Z") for t in truth)


def test_the_vocabularies_share_only_the_self_monitoring_names(corpus, holdout):
    assert SHARED_ALERTNAMES == {"Watchdog", "PrometheusConfigurationReloadFailure", "PrometheusTargetMissing",
                                 "PrometheusRuleFailures", "AlertmanagerFailedReload", "AlertmanagerConfigInconsistent"}
    assert alertnames("train") & alertnames("holdout") == SHARED_ALERTNAMES
    assert alertnames("all") == alertnames("train") | alertnames("holdout")
    seen = {name: {a["labels"]["alertname"] for _, _, body in c.notifications for a in body["alerts"]}
            for name, c in (("train", corpus), ("holdout", holdout))}
    assert seen["train"] <= alertnames("train") and seen["holdout"] <= alertnames("holdout")
    assert seen["train"] & seen["holdout"] <= SHARED_ALERTNAMES
    with pytest.raises(ValueError):
        generate(1, vocabulary="vendor")


def test_labeled_incidents_cover_every_true_incident_with_its_alerts(corpus):
    incidents = {i["id"]: i for i in labeled_incidents(corpus)}
    members = Counter(t.incident for t in corpus.truth if t.incident is not None)
    assert {i: len(incident["alerts"]) for i, incident in incidents.items()} == members
    for t in corpus.truth:
        if t.incident is None:
            assert t.scenario == "watchdog"
            continue
        incident = incidents[t.incident]
        assert (incident["category"], incident["service_area"], incident["priority"], incident["scenario"]) == \
            (t.category, t.service_area, t.priority, t.scenario)
    alert = next(iter(incidents.values()))["alerts"][0]
    assert set(alert) == {"labels", "annotations", "startsAt"} and "summary" in alert["annotations"]


@pytest.mark.parametrize("name", ["corpus", "holdout"])
def test_one_six_hour_seed_has_every_scenario_and_noise(name, request):
    corpus = request.getfixturevalue(name)
    scenarios = Counter(t.scenario for t in corpus.truth)
    assert SCENARIOS <= set(scenarios)
    assert {"isolated_warning", "flapping", "watchdog"} <= set(scenarios)
    assert {t.priority for t in corpus.truth} <= {"P1", "P2", "P3", "P4", "P5", None}
    # a flapping alert fires again as new episodes of one incident
    flaps = Counter((t.incident, t.fingerprint) for t in corpus.truth if t.scenario == "flapping")
    assert max(flaps.values()) > 1
