from datetime import datetime, timedelta, timezone

from correlator.domain import Incident, IncidentState, Problem, ProblemState
from correlator.engine import flapping, problems
from correlator.engine.expiry import Expiry
from correlator.engine.flapping import FlapTracker
from correlator.engine.problems import ProblemTracker

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _incident(signature: str) -> Incident:
    return Incident(f"INC-{signature}", IncidentState.OPEN, signature, T0, T0, signature)


def test_expiry_pops_the_touches_before_the_horizon_oldest_first():
    expiry = Expiry()
    for key, minutes in (("b", 5), ("a", 1), ("c", 9), ("a", 7)):
        expiry.touched(key, T0 + timedelta(minutes=minutes))
    assert list(expiry.before(T0 + timedelta(minutes=7))) == ["a", "b"]
    assert list(expiry.before(T0 + timedelta(minutes=7), inclusive=True)) == ["a"]
    assert list(expiry.before(T0 + timedelta(minutes=10))) == ["c"]


def test_a_flap_sweep_forgets_the_alerts_whose_latest_change_left_the_window_and_keeps_the_others():
    tracker = FlapTracker(max_changes=4, window=timedelta(minutes=10))
    tracker.change("touched-again", T0)
    for n in range(flapping.SWEEP_EVERY - 3):
        tracker.change(f"old-{n}", T0)
    tracker.change("touched-again", T0 + timedelta(minutes=15))
    tracker.change("new", T0 + timedelta(minutes=20))  # the sweep, at 20 minutes
    assert sorted(tracker._changes) == ["new", "touched-again"]


def test_a_problem_sweep_forgets_the_signatures_that_stopped_recurring():
    tracker = ProblemTracker(recurrences=3, period=timedelta(hours=1))
    for n in range(problems.SWEEP_EVERY - 2):
        tracker.opened(_incident(f"old-{n}"), T0, {})
    tracker.opened(_incident("recent"), T0 + timedelta(minutes=30), {})
    tracker.opened(_incident("new"), T0 + timedelta(minutes=80), {})  # the sweep, before it
    assert sorted(tracker._openings) == ["new", "recent"]


def _opened_many(tracker: ProblemTracker, signature: str, at: datetime, times: int = 1) -> None:
    for n in range(times):
        tracker.opened(Incident(f"INC-{signature}-{at:%H%M}-{n}", IncidentState.OPEN, signature, at, at, signature),
                       at, {})


def test_a_problem_that_stopped_recurring_goes_inactive_leaves_memory_once_saved_and_a_recurrence_opens_another():
    tracker = ProblemTracker(recurrences=3, period=timedelta(hours=1))
    _opened_many(tracker, "flapping-disk", T0, times=3)
    _opened_many(tracker, "still-recurring", T0 + timedelta(minutes=50), times=3)
    [quiet, busy] = tracker.problems.values()
    tracker.changed.clear()
    for n in range(problems.SWEEP_EVERY):  # other openings, 70 minutes on: the sweep comes among them
        _opened_many(tracker, f"once-{n}", T0 + timedelta(minutes=70))
    assert quiet.state is ProblemState.INACTIVE and busy.state is ProblemState.OPEN
    assert tracker.changed == {quiet.id}  # to be saved as inactive
    assert set(tracker.problems) == {quiet.id, busy.id}
    tracker.release_inactive()  # the caller saved it
    assert set(tracker.problems) == {busy.id}
    _opened_many(tracker, "flapping-disk", T0 + timedelta(minutes=90), times=3)
    [again] = [p for p in tracker.problems.values() if p.signature == "flapping-disk"]
    assert again.id != quiet.id and again.state is ProblemState.OPEN and len(again.incident_ids) == 3


def test_a_restored_open_problem_whose_openings_are_past_goes_inactive_at_the_next_sweep():
    tracker = ProblemTracker(recurrences=3, period=timedelta(hours=1))
    stored = Problem("PRB-000007", "flapping-disk", T0, T0, ["INC-1", "INC-2", "INC-3"])
    tracker.restore([stored], [], sequence=7)  # no opening of its signature within the period
    for n in range(problems.SWEEP_EVERY):
        _opened_many(tracker, f"once-{n}", T0 + timedelta(hours=2))
    assert stored.state is ProblemState.INACTIVE and tracker.changed == {"PRB-000007"}
