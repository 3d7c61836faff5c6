"""The learned state stays bounded however many entities the estate names: the topology keeps its
most seen entities and only the edges between them; entity histories no start reached lately go."""

import random

from correlator.learning.cooccurrence import GAP, LOOKBACK, WINDOW
from correlator.learning.decay import Decay
from correlator.learning.joiner import CLUSTER_HISTORY, SWEEP_EVERY, Learner
from correlator.learning.topology import MAX_NEIGHBOURS, Topology
from correlator.rules.loader import load_rules
from correlator.shipped import shipped_dir


def test_the_topology_keeps_its_most_seen_entities_and_the_edges_between_them():
    topology, unbounded = Topology(Decay(), max_entities=10), Topology(Decay(), max_entities=1000)
    for n in range(20):  # pods on one host; three of them alert again and again
        pod = f"pod||hot-{n % 3}" if n % 2 else f"pod||web-{n}"
        for learned in (topology, unbounded):
            learned.observe((pod, "host||worker-1", f"host||worker-{2 + n % 2}"), float(n))
    ranked = sorted(unbounded.seen, key=unbounded.seen.__getitem__, reverse=True)
    assert len(topology.seen) <= 10 * 1.2 < len(unbounded.seen)
    assert {"host||worker-1", "pod||hot-0", "pod||hot-1", "pod||hot-2"} <= set(topology.seen)
    assert next(iter(topology.seen)) == ranked[0] == "host||worker-1"  # kept most seen first
    for entity, row in topology.edges.items():  # the edges between kept entities, as counted, in order
        assert entity in topology.seen and set(row) <= set(topology.seen)
        assert list(row.items()) == [(o, w) for o, w in unbounded.edges[entity].items() if o in topology.seen]


def test_entities_no_start_reached_within_the_lookback_are_forgotten():
    learner = Learner()
    for n in range(SWEEP_EVERY):
        t = n * LOOKBACK / 100  # a new host every alert, each quiet after
        learner.learn({"alertname": "HostDown", "instance": f"h{n}:9100"}, (str(n), t), t, t)
    assert len(learner.history) < 200
    assert f"host||h{SWEEP_EVERY - 1}" in learner.history


def test_past_the_cap_the_entities_with_the_latest_starts_are_kept(monkeypatch):
    monkeypatch.setattr("correlator.learning.joiner.MAX_HISTORY_ENTITIES", 100)
    learner, hosts = Learner(), SWEEP_EVERY - 1  # and one alert again: the sweep follows the last
    for n in range(hosts):  # a new host every second, all within the lookback
        learner.learn({"alertname": "HostDown", "instance": f"h{n}:9100"}, (str(n), float(n)), float(n), float(n))
        if n == hosts - 50:  # the first host alerts again: it is among the latest now
            learner.learn({"alertname": "HostDown", "instance": "h0:9100"}, ("0", float(n)), float(n), float(n))
    assert set(learner.history) == {"host||h0", *(f"host||h{n}" for n in range(hosts - 99, hosts))}


def test_a_clusters_background_slides_with_time_as_a_direct_count_gives_it():
    """The occasions of cluster-scoped relate rules in a cluster's control windows are counted from
    a window sliding over its starts: across the history's truncations (four here), every count is
    what counting the remembered starts directly gives (a side's start more than WINDOW from the
    one that began its last occasion begins another)."""
    learner, rng = Learner(load_rules(shipped_dir("rules")).relations), random.Random(5)
    names = ["KubeNodeNotReady", "KubePodNotReady", "CoreDNSDown", "ProbeFailed", "HostHighCpuLoad"]
    t, checked = 0.0, 0
    for n in range(3 * 2 * CLUSTER_HISTORY):
        t += rng.expovariate(1 / 20.0)
        labels = {"alertname": rng.choice(names), "cluster": "east", "pod": f"p{n}", "node": f"n{n % 7}"}
        learner.learn(labels, (str(n), t), t, t)
        if n % 37 == 0:
            starts = learner.cluster_history["east"]
            direct, began = {}, {}
            for start in starts:
                if t - start.at < GAP:
                    break  # in the order received: the rest are younger still
                sides = [*((name, True) for name in start.causes & learner._cluster_rules),
                         *((name, False) for name in start.effects & learner._cluster_rules)]
                for side in sides:
                    if side not in began or abs(start.started - began[side]) > WINDOW:
                        began[side] = start.started
                        if t - start.at < LOOKBACK:
                            direct[side] = direct.get(side, 0) + 1
            slid = {key: count for key, count in learner._cluster_background("east", starts, t).items() if count}
            assert slid == direct
            checked += bool(direct)
    assert checked > 20  # the control windows held starts of those rules most of the time


def test_the_workloads_indexed_by_application_stay_bounded(monkeypatch):
    monkeypatch.setattr("correlator.learning.topology.MAX_APPLICATIONS", 50)
    topology = Topology(Decay())
    for n in range(400):  # 100 applications of 4 workloads each, and one application of 40
        topology.observe((f"workload|eu|app{n // 4}-part{n % 4}", f"workload|eu|big-{n % 40}"), float(n))
    assert len(topology.applications) <= 50
    assert all(len(members) <= MAX_NEIGHBOURS for members in topology.applications.values())
    assert list(topology.applications["workload|eu|big"])[-1] == "workload|eu|big-39"  # the latest kept
    topology.reindex()  # a state saved without its index: rebuilt from the entities seen, within the same bounds
    assert len(topology.applications) <= 50
    assert all(len(members) <= MAX_NEIGHBOURS for members in topology.applications.values())
