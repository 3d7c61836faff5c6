from datetime import datetime, timedelta, timezone

from correlator.domain import Incident, IncidentState
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
