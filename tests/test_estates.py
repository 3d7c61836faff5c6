"""bench/estates, the benchmark's stream generator: deterministic, consistent with its truth, as
hard as specified (fault kinds, vocabularies, noise named like faults, every delivery path)."""

import json
import os
import random
import subprocess
import sys
from collections import Counter
from datetime import timedelta

import pytest

from bench.estates import DENSITIES, FAULTS, Naming, generate, truth_line, write
from correlator.domain.placements import decode_placements
from bench.estates.delivery import GROUP_INTERVAL, GROUP_WAIT, deliver
from bench.estates.stream import EVALUATED, EVALUATION_INTERVAL, NOVEL_VOCABULARIES, START, Episode
from bench.estates.topology import build_estate
from correlator.domain import Category
from correlator.ingest.normalize import IngestPolicy
from correlator.ingest.sources import parsers
from correlator.learning.entities import workload_of_pod
from correlator.learning.storms import lattice
from correlator.offline.replay import ReplaySummary, read_recording
from correlator.units import rfc3339


@pytest.fixture(scope="module")
def stream():
    return generate(5, hours=1, density=DENSITIES["medium"], estate="quarry")


def received_episodes(stream, tmp_path) -> Counter:
    recording = tmp_path / "r.jsonl"
    write(stream, recording, tmp_path / "t.jsonl")
    with recording.open("rb") as lines:
        return Counter((alert.fingerprint, alert.starts_at)
                       for _, alerts in read_recording(lines, parsers({}), IngestPolicy(), False, ReplaySummary())
                       for alert in alerts)


def test_the_same_seed_gives_the_same_stream_in_any_process(tmp_path):
    script = ("import sys; from pathlib import Path; from bench.estates import generate, write; "
              "write(generate(3, hours=0.5, density=200), Path(sys.argv[1]), Path(sys.argv[2]))")
    for hash_seed in ("1", "2"):
        subprocess.run([sys.executable, "-c", script, str(tmp_path / f"r{hash_seed}"), str(tmp_path / f"t{hash_seed}")],
                       check=True, env=os.environ | {"PYTHONHASHSEED": hash_seed})
    assert (tmp_path / "r1").read_bytes() == (tmp_path / "r2").read_bytes()
    assert (tmp_path / "t1").read_bytes() == (tmp_path / "t2").read_bytes()
    assert generate(4, hours=0.5, density=200).notifications != generate(3, hours=0.5, density=200).notifications


def test_every_truth_episode_is_received_and_every_received_one_is_in_the_truth(stream, tmp_path):
    received = received_episodes(stream, tmp_path)
    truth = {(e.fingerprint, e.start) for e in stream.episodes}
    assert len(truth) == len(stream.episodes)  # one line per episode
    assert truth == set(received)


def test_an_estate_spells_its_labels_as_the_naming_says_and_its_truth_follows(tmp_path):
    relabeled = generate(5, hours=1, density=DENSITIES["medium"], estate="harbor",
                         naming=Naming("kube_cluster", (("pod", "kubernetes_pod_name"), ("cluster", "site"))))
    names = {name for episode in relabeled.episodes for name in episode.labels}
    assert "kube_cluster" in names and "kubernetes_pod_name" in names
    assert not names & {"pod", "cluster", "site"}  # the cluster label is kube_cluster, whatever else says
    # Alertmanager groups by the estate's route, spelt so.
    groups = [n.body["groupLabels"] for n in relabeled.notifications if n.source == "alertmanager"]
    assert any("kube_cluster" in group for group in groups) and not any("cluster" in group for group in groups)
    assert set(received_episodes(relabeled, tmp_path)) == {(e.fingerprint, e.start) for e in relabeled.episodes}


def test_an_estate_whose_pod_alerts_name_their_node_gives_each_the_node_its_pod_runs_on():
    # As rules joined with kube_pod_info label them (bench/quality.py --pod-node); the public rule
    # sets' own pod alerts name no node.
    plain, placed = (generate(3, hours=1, density=DENSITIES["medium"], estate="lumen", naming=Naming(pod_node=on))
                     for on in (False, True))

    def pods(stream):
        return [e for e in stream.episodes if e.vocabulary in ("kube", "awesome") and "pod" in e.labels
                and "exporter" not in e.labels["pod"]]
    assert pods(placed) and all(e.labels.get("node") for e in pods(placed))
    placement = {}
    for e in pods(placed):  # one pod runs on one node, whichever alert names it
        placement.setdefault((e.cluster, e.labels["namespace"], e.labels["pod"]), set()).add(e.labels["node"])
    assert all(len(nodes) == 1 for nodes in placement.values())
    assert any("node" not in e.labels for e in pods(plain))
    assert len(plain.episodes) == len(placed.episodes)  # the same stream, labeled more


def test_a_stream_with_placements_begins_with_where_every_clusters_pods_run_as_the_daemon_logs_it():
    plain = generate(3, hours=1, density=DENSITIES["medium"], estate="lumen")
    placed = generate(3, hours=1, density=DENSITIES["medium"], estate="lumen", placements=True)
    head = [n for n in placed.notifications if n.source == "placement"]
    assert placed.notifications[:len(head)] == head and placed.notifications[len(head):] == plain.notifications
    told = [decode_placements(json.dumps(n.body).encode()) for n in head]
    assert len({placements.cluster for placements in told}) == len(told) == 3
    where = {(p.cluster, pod.namespace, pod.pod): pod.node for p in told for pod in p.pods}
    pods = [e for e in plain.episodes if e.vocabulary == "awesome" and "pod" in e.labels]
    assert pods and all((e.cluster, e.labels["namespace"], e.labels["pod"]) in where for e in pods)


def test_truth_labels_use_correlators_categories_and_priorities(stream):
    labeled = [truth_line(e) for e in stream.episodes if e.incident]
    assert {line["category"] for line in labeled} <= {str(c) for c in Category}
    assert {line["priority"] for line in labeled} <= {"P1", "P2", "P3", "P4", "P5"}
    assert all(line["starts_at"].endswith("Z") for line in labeled)


def test_the_stream_arrives_by_every_path_with_ha_duplicates(stream):
    sources = Counter(n.source for n in stream.notifications)
    assert set(sources) == {"alertmanager", "prometheus", "generic"}
    bodies = Counter(repr(n.body) for n in stream.notifications if n.source == "alertmanager")
    assert any(count > 1 for count in bodies.values())  # the HA pair posted the same notification twice
    webhook = next(n.body for n in stream.notifications if n.source == "alertmanager")
    assert webhook["version"] == "4" and {"groupKey", "truncatedAlerts", "commonLabels"} <= set(webhook)


def test_prometheus_alerts_start_on_their_rule_groups_evaluations_and_other_senders_alerts_do_not(stream):
    # As Prometheus stamps them: one phase per rule, the estate's evaluation interval apart.
    interval = EVALUATION_INTERVAL[stream.estate]
    by_name = {}
    for e in stream.episodes:
        by_name.setdefault((e.vocabulary, e.labels["alertname"]), set()).add(e.start)
    for (vocabulary, _), starts in by_name.items():
        offsets = [(start - min(starts)).total_seconds() for start in starts]
        if vocabulary in EVALUATED:
            assert all(offset % interval < 1e-3 or interval - offset % interval < 1e-3 for offset in offsets)
    assert any(len(starts) > 2 and lattice(sorted(s.timestamp() for s in starts)) == 0.0
               for (vocabulary, _), starts in by_name.items() if vocabulary not in EVALUATED)


@pytest.mark.parametrize("density", ["quiet", "busy"])
def test_the_density_knob_sets_alert_episodes_per_hour(density):
    stream = generate(2, hours=1, density=DENSITIES[density])
    episodes = sum(1 for e in stream.episodes if e.incident)
    assert 0.85 * DENSITIES[density] <= episodes <= 1.2 * DENSITIES[density]


def test_noise_fires_with_the_same_alert_names_as_faults():
    stream = generate(6, hours=1, density=DENSITIES["busy"])
    names = {cause: {e.labels["alertname"] for e in stream.episodes if (e.cause == "noise") == cause}
             for cause in (True, False)}
    assert len(names[True] & names[False]) >= 10
    noise = [e for e in stream.episodes if e.cause == "noise"]
    assert len({e.incident for e in noise}) == len(noise)  # each noise alert is its own incident


def test_the_catalogue_spans_the_layers_and_the_novel_setting_avoids_familiar_names():
    assert len(FAULTS) >= 30
    assert {kind.category for kind in FAULTS.values()} == {str(c) for c in Category}
    stream = generate(1, hours=1, density=DENSITIES["medium"], vocabularies="novel")
    assert {e.vocabulary for e in stream.episodes if e.incident} <= set(NOVEL_VOCABULARIES)


def test_a_cause_no_alert_shows_is_labeled_with_what_its_alerts_show():
    # a webhook or firewall change nobody alerts on: its alerts show software failing (docs/quality.md)
    stream = generate(7, hours=2, density=DENSITIES["quiet"],
                      faults=["admission_webhook_blocks_pods", "firewall_change_blocks_database"])
    faulty = [e for e in stream.episodes if e.cause in ("admission_webhook_blocks_pods",
                                                        "firewall_change_blocks_database")]
    assert faulty and {e.category for e in faulty} == {"software"}


@pytest.mark.parametrize("template", ["harbor", "lumen", "quarry", "tern"])
def test_pods_are_named_as_kubernetes_names_them(template):
    # <deployment>-<replicaset hash>-<suffix>, <daemonset>-<suffix>, <statefulset>-<ordinal>: the
    # generated parts from Kubernetes' own alphabet, so the workload a pod name was generated from
    # reads back as it does in a real cluster.
    estate = build_estate(random.Random(1), template, {})
    workloads = [w for c in estate.clusters for w in c.workloads if w.kind != "cronjob"]
    assert {w.kind for w in workloads} >= {"deployment", "statefulset", "daemonset"}
    assert all(workload_of_pod(pod.name) == w.name for w in workloads for pod in w.pods)


def test_an_alert_that_clears_and_fires_again_between_two_notifications_is_sent_as_its_latest_episode():
    # Alertmanager's aggregation group holds one alert per fingerprint: the episode that ended
    # after the first notification is replaced by the next before the group's next one, and one
    # that began and ended in between is never sent.
    estate = build_estate(random.Random(1), "harbor", {})
    labels = {"alertname": "HighLatency", "cluster": "a", "service": "api"}

    def episode(start: float, end: float) -> Episode:
        return Episode(labels, {}, START + timedelta(seconds=start), START + timedelta(seconds=end), "kube", "a",
                       None, None, None, None, False, "flapping")

    second_flush = (GROUP_WAIT + GROUP_INTERVAL).total_seconds()
    episodes = [episode(0, 60), episode(90, 120), episode(200, 400)]
    sent = [(alert["startsAt"], alert["status"]) for n in deliver(random.Random(2), estate, episodes,
                                                                START + timedelta(seconds=second_flush + 1))
            for alert in n.body["alerts"]]
    assert set(sent) == {(rfc3339(START), "firing"), (rfc3339(START + timedelta(seconds=200)), "firing")}
