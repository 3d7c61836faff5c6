"""bench/quality.py's tables: means over seeds, the pairs each join made summed over runs, each hour's figures,
the pairs each fault kind lost and mixed."""

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from bench.estates import Naming
from bench.quality import Run, _by_fault, _by_hour, _fault_kinds, _fault_lines, _hour_lines, _join_lines, _layers, \
    _mean_run, run
from correlator.offline.scoring import Placed, Truth, TruthLine, score
from correlator.shipped import shipped_dir

T0 = datetime(2026, 11, 23, 4, tzinfo=timezone.utc)


def run_of(seed: int, placements: dict[str, Placed], true_ids: dict[str, str]) -> Run:
    truth = Truth(episodes={(fingerprint, T0): TruthLine(fingerprint, incident) for fingerprint, incident in
                            true_ids.items()})
    return Run("busy", seed, "mixed", "correlator", "lumen",
               score({(fingerprint, T0): placed for fingerprint, placed in placements.items()}, truth), 10, 1.0, 0.1)


def test_the_means_over_seeds_average_the_figures_and_the_join_table_sums_the_pairs():
    first = run_of(1, {"a": Placed("X", None, None, 0, "new_incident", ""), "b": Placed("X", None, None, 1, "storm", "storm")},
                   {"a": "t1", "b": "t1"})
    second = run_of(2, {"a": Placed("X", None, None, 0, "new_incident", ""), "b": Placed("X", None, None, 1, "storm", "storm"),
                        "c": Placed("X", None, None, 2, "related", "r")}, {"a": "t1", "b": "t2", "c": "t2"})
    mean = _mean_run([first, second])
    assert mean.score.grouping.pair_precision == (1.0 + 1 / 3) / 2 and mean.score.by_join == []
    lines = _join_lines([first, second])
    assert lines[1].split() == ["correlator", "busy", "storm", "storm", "1", "1"]
    assert lines[2].split() == ["correlator", "busy", "related", "r", "1", "1"]


def test_an_estate_that_spells_its_labels_another_way_is_grouped_and_prioritised_alike(tmp_path):
    # Prometheus's example Kubernetes configuration and a cluster label the templates do not use: a
    # spelling is no evidence of a fault (before they were read, pairwise F1 here fell from 0.89 to
    # 0.72 and priority within one level from 0.98 to 0.95).
    layers = _layers(shipped_dir("models"), ["correlator"], tmp_path)
    spelt = Naming("kube_cluster", (("pod", "kubernetes_pod_name"), ("namespace", "kubernetes_namespace"),
                                    ("node", "kubernetes_node"), ("service", "kubernetes_name")))
    own = run("quiet", 2, "familiar", 3, layers, tmp_path, 2)[0].score
    other = run("quiet", 2, "familiar", 3, layers, tmp_path, 2, spelt)[0].score
    assert own.grouping.pair_f1 > 0.8
    assert abs(other.grouping.pair_f1 - own.grouping.pair_f1) <= 0.01
    assert abs(other.classification.priority_within_one - own.classification.priority_within_one) <= 0.01


def test_each_hour_of_the_stream_is_scored_among_its_own_episodes():
    # Hour 0 holds a fault placed whole; hour 1 one split in two. The pair across the hours (a
    # fault of hour 0 whose last alert came 70 minutes in) counts in neither.
    later, last = T0 + timedelta(minutes=70), T0 + timedelta(minutes=75)
    truth = Truth(episodes={("a", T0): TruthLine("a", "t1"), ("b", T0): TruthLine("b", "t1"),
                            ("c", later): TruthLine("c", "t1"), ("d", later): TruthLine("d", "t2"),
                            ("e", last): TruthLine("e", "t2")})
    placements = {("a", T0): Placed("X", None, None), ("b", T0): Placed("X", None, None),
                  ("c", later): Placed("Y", None, None), ("d", later): Placed("Z", None, None),
                  ("e", last): Placed("W", None, None)}
    by_hour = _by_hour(placements, truth)
    assert [(a.episodes, a.pair_f1) for a in by_hour] == [(2, 1.0), (3, 0.0)]
    runs = [replace(run_of(seed, {}, {}), by_hour=by_hour) for seed in (1, 2)]
    assert [line.split()[2:4] for line in _hour_lines(runs)[1:]] == [["0", "2"], ["1", "2"]]


def test_each_fault_kind_shows_the_pairs_it_lost_and_those_it_mixed_with_another_fault(tmp_path):
    # Two switches lost (t1: a, b; t2: c) placed in one incident: two wrong pairs of one kind. A
    # database outage (t3: d, e) split in two: its one pair lost. A noise alert (f, no incident) in
    # the database's first incident: a wrong pair of two kinds, counted for both.
    truth_path = tmp_path / "truth.jsonl"
    kinds = {"a": "switch", "b": "switch", "c": "switch", "d": "database", "e": "database", "f": "noise"}
    truth_path.write_text("".join(f'{{"fingerprint": "{fingerprint}", "starts_at": "2026-11-23T04:00:00Z", '
                                  f'"incident": {incident}, "cause": "{kinds[fingerprint]}"}}\n'
                                  for fingerprint, incident in (("a", '"t1"'), ("b", '"t1"'), ("c", '"t2"'),
                                                                ("d", '"t3"'), ("e", '"t3"'), ("f", "null"))))
    truth = Truth(episodes={(f, T0): TruthLine(f, i) for f, i in
                            (("a", "t1"), ("b", "t1"), ("c", "t2"), ("d", "t3"), ("e", "t3"), ("f", None))})
    placements = {(f, T0): Placed(incident, None, None) for f, incident in
                  (("a", "X"), ("b", "X"), ("c", "X"), ("d", "Y"), ("f", "Y"), ("e", "Z"))}
    by_fault = _by_fault(placements, truth, _fault_kinds(truth_path))
    assert by_fault == {"switch": [1, 0, 2, 0], "database": [1, 1, 0, 1], "noise": [0, 0, 0, 1]}
    runs = [replace(run_of(seed, {}, {}), by_fault=by_fault) for seed in (1, 2)]
    lines = _fault_lines(runs)
    assert [line.split()[2:] for line in lines[1:]] == [["switch", "2", "0", "0%", "4", "0"],
                                                        ["database", "2", "2", "100%", "0", "2"],
                                                        ["noise", "0", "0", "-", "0", "2"]]
