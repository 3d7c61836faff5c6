"""bench/quality.py's tables: means over seeds, and the pairs each join made summed over runs."""

from datetime import datetime, timezone

from bench.quality import Run, _join_lines, _mean_run
from correlator.offline.scoring import Placed, Truth, TruthLine, score

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
