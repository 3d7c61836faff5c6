"""correlator/offline/scoring.py against figures computed by hand on small partitions."""

from datetime import datetime, timedelta, timezone

import pytest

from correlator.offline.scoring import (JoinPairs, Placed, Span, TruthError, TruthLine, Truth, agreement,
                                alertmanager_groups, classification, pairs_by_join, pairs_lost_alone, read_placements,
                                read_truth, score, wrong_pairs_in_one_group)

T0 = datetime(2026, 11, 23, 4, tzinfo=timezone.utc)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_pairwise_counts_the_pairs_placed_together():
    # true {e1 e2} {e3 e4}; predicted {e1 e2 e3} {e4}: 1 of 3 predicted pairs is true, 1 of 2 true pairs found
    result = agreement(["a", "a", "b", "b"], [1, 1, 1, 2])
    assert (result.pair_precision, result.pair_recall) == pytest.approx((1 / 3, 1 / 2))
    assert result.pair_f1 == pytest.approx(0.4)


def test_bcubed_averages_each_episodes_view():
    # precision per episode: e1 2/3, e2 2/3, e3 1/3, e4 1; recall: e1 1, e2 1, e3 1/2, e4 1/2
    result = agreement(["a", "a", "b", "b"], [1, 1, 1, 2])
    assert result.bcubed_precision == pytest.approx((2 / 3 + 2 / 3 + 1 / 3 + 1) / 4)
    assert result.bcubed_recall == pytest.approx(3 / 4)


def test_every_alert_alone_has_no_pairs_and_bcubed_recall_of_incidents_per_episode():
    result = agreement(["a", "a", "a", "b"], range(4))
    assert (result.pair_precision, result.pair_recall, result.pair_f1) == (1.0, 0.0, 0.0)
    assert result.bcubed_precision == 1.0
    assert result.bcubed_recall == pytest.approx((1 / 3 * 3 + 1) / 4)  # = true incidents / episodes


def test_the_true_partition_scores_one_everywhere():
    result = agreement(["a", "a", "b", "c", "c", "c"], ["x", "x", "y", "z", "z", "z"])
    assert (result.pair_f1, result.bcubed_f1, result.incidents, result.true_incidents) == (1.0, 1.0, 3, 3)


def span(name: str, key: str, start: float, end: float | None) -> Span:
    return Span((name, at(start)), (key, "prod"), at(start), None if end is None else at(end))


def test_alertmanager_groups_a_key_while_any_of_it_fires_then_starts_a_new_group():
    groups = alertmanager_groups([
        span("a", "NodeDown", 0, 10), span("b", "NodeDown", 5, 30),  # overlapping: one group
        span("c", "NodeDown", 31, 40),  # after every alert of the key resolved: a new group
        span("d", "DiskFull", 6, 8),  # another key: its own group
    ])
    assert groups[("a", at(0))] == groups[("b", at(5))] != groups[("c", at(31))]
    assert groups[("d", at(6))] not in (groups[("a", at(0))], groups[("c", at(31))])


def test_an_alert_still_firing_keeps_its_group_open():
    groups = alertmanager_groups([span("a", "NodeDown", 0, None), span("b", "NodeDown", 600, 610)])
    assert groups[("a", at(0))] == groups[("b", at(600))]


def test_category_accuracy_and_priority_within_one_level_per_episode():
    labels = [TruthLine("f1", "i1", category="network", priority="P2"),
              TruthLine("f2", "i1", category="network", priority="P2"),
              TruthLine("f3", "i2", category="security", priority="P1")]
    placed = [Placed("x", "network", "P3"), Placed("x", "network", "P4"), Placed("y", None, None)]
    result = classification(labels, placed)
    assert result.category_accuracy == pytest.approx(2 / 3)
    assert result.priority_within_one == pytest.approx(1 / 3)  # P3 is within one of P2; P4 and none are not


def test_a_truth_line_without_starts_at_labels_every_episode_of_its_fingerprint(tmp_path):
    path = tmp_path / "truth.jsonl"
    path.write_text('{"fingerprint": "f1", "incident": "db-outage", "category": "software"}\n'
                    '{"fingerprint": "f2", "starts_at": "2026-11-23T04:00:00Z", "incident": "db-outage"}\n'
                    '{"fingerprint": "f3", "starts_at": "2026-11-23T05:00:00+01:00", "incident": null}\n')
    truth = read_truth(path)
    assert truth.label(("f1", at(0))).incident == truth.label(("f1", at(90))).incident == "db-outage"
    assert truth.label(("f2", at(0))).incident == "db-outage" and truth.label(("f2", at(1))) is None
    assert truth.label(("f3", at(0))).incident is None  # an offset is read as the same instant in UTC


def test_a_bad_truth_line_is_reported_with_its_number(tmp_path):
    path = tmp_path / "truth.jsonl"
    path.write_text('{"fingerprint": "f1", "incident": "a"}\n\n{"fingerprint": "f2", "incident": "b", '
                    '"priority": "high"}\n')
    with pytest.raises(TruthError) as failure:
        read_truth(path)
    assert failure.value.number == 3 and "P1..P5" in failure.value.reason
    # a category or service area correlator never gives would score every episode wrong: refused
    for field, value in (("category", "Software"), ("service_area", "uptime")):
        path.write_text(f'{{"fingerprint": "f1", "incident": "a", "{field}": "{value}"}}\n')
        with pytest.raises(TruthError) as failure:
            read_truth(path)
        assert failure.value.number == 1 and f"Invalid enum value '{value}' - at `$.{field}`" in failure.value.reason


def test_score_leaves_out_unlabeled_and_null_episodes_and_counts_them():
    truth = Truth(episodes={("f1", at(0)): TruthLine("f1", "i1"), ("f2", at(0)): TruthLine("f2", "i1"),
                            ("hb", at(0)): TruthLine("hb", None), ("gone", at(0)): TruthLine("gone", "i2")})
    placements = {("f1", at(0)): Placed("INC-1", None, None), ("f2", at(0)): Placed("INC-1", None, None),
                  ("hb", at(0)): Placed("INC-2", None, None), ("other", at(0)): Placed("INC-1", None, None)}
    result = score(placements, truth, [Span(e, ("x",), at(0), None) for e in placements])
    assert result.grouping.episodes == 2 and result.grouping.pair_f1 == 1.0
    assert (result.missing, result.unlabeled) == (1, 1)
    assert result.alertmanager.pair_f1 == 1.0


def test_each_pair_is_counted_for_the_join_that_placed_its_later_episode():
    # incident X: a opens it, b joins by storm (right with a), c by rule r (right with a and b),
    # d by rule r (truly elsewhere: wrong with a, b and c); incident Y: e alone.
    def placed(incident, order, reason, rule=""):
        return Placed(incident, None, None, order, reason, rule)
    scored = [(placed("X", 2, "related", "r"), "t1"), (placed("X", 0, "new_incident"), "t1"),
              (placed("X", 1, "storm", "storm"), "t1"), (placed("X", 3, "related", "r"), "t2"),
              (placed("Y", 0, "new_incident"), "t1")]
    assert pairs_by_join(scored) == [JoinPairs("related", "r", 2, 3), JoinPairs("storm", "storm", 1, 0)]


def test_wrong_pairs_that_one_alertmanager_group_holds_too_are_counted():
    # X holds t1, t1, t2 (two wrong pairs) and Y holds t1, t3 (one). Alertmanager groups the two
    # t1 of X with the t2 (g), and the episodes of Y apart (h, i): one wrong pair of X is in g, the
    # other (the second t1 is in h) is not; Y's is in no common group.
    true_ids = ["t1", "t1", "t2", "t1", "t3"]
    predicted = ["X", "X", "X", "Y", "Y"]
    assert wrong_pairs_in_one_group(true_ids, predicted, ["g", "h", "g", "h", "i"]) == 1
    assert wrong_pairs_in_one_group(true_ids, predicted, ["g"] * 5) == 3
    assert wrong_pairs_in_one_group(true_ids, predicted, ["a", "b", "c", "d", "e"]) == 0


def test_score_counts_the_wrong_pairs_and_those_alertmanager_groups_as_well():
    truth = Truth(episodes={(f, at(0)): TruthLine(f, i) for f, i in (("a", "i1"), ("b", "i2"), ("c", "i3"))})
    placements = {(f, at(0)): Placed("INC-1", None, None) for f in "abc"}
    spans = [Span(("a", at(0)), ("Down", "c1"), at(0), None), Span(("b", at(0)), ("Down", "c1"), at(0), None),
             Span(("c", at(0)), ("Slow", "c1"), at(0), None)]
    result = score(placements, truth, spans)
    assert (result.wrong_pairs, result.wrong_in_alertmanager_group) == (3, 1)
    assert score(placements, truth).wrong_in_alertmanager_group is None


def test_true_pairs_lost_to_an_episode_left_alone_are_counted():
    # t1 has four episodes: two together in X, one alone in Y, one with t2 in Z. The alone one
    # loses its three pairs; the one in Z loses two more, which are not the alone kind.
    assert pairs_lost_alone(["t1", "t1", "t1", "t1", "t2"], ["X", "X", "Y", "Z", "Z"]) == 3


def test_placements_read_the_join_of_each_episode_and_older_two_field_episodes(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text('{"id": "INC-1", "episodes": [["aa", "2026-11-23T04:00:00Z", "2026-11-23T04:00:01Z", '
                   '"new_incident", ""], ["bb", "2026-11-23T04:01:00Z", "2026-11-23T04:01:02Z", "related", "r"]]}\n'
                   '{"id": "INC-2", "episodes": [["cc", "2026-11-23T04:02:00Z"]]}\n')
    placements = read_placements(out)
    assert placements[("bb", at(1))] == Placed("INC-1", None, None, 1, "related", "r")
    assert placements[("cc", at(2))] == Placed("INC-2", None, None, 0, "", "")
