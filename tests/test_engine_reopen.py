"""An operator reopens a resolved incident: it is open again and follows its alerts."""

from datetime import timedelta

import pytest

from correlator.domain import IncidentState, TransitionError
from correlator.engine.core import EngineSettings
from tests.engine_scenarios import Scenario, alert, at, rules_from

SETTINGS = EngineSettings(resolve_hold=timedelta(minutes=5), reopen_window=timedelta(minutes=30),
                          close_after=timedelta(hours=1), learning=False)
GROUP_BY_NAMESPACE = {"name": "by-namespace", "kind": "group", "matchers": ['namespace!=""'],
                      "group_by": ["namespace"], "window": "10m", "max_duration": "1h"}


def resolved_incident(tmp_path) -> Scenario:
    s = Scenario(rules_from(tmp_path, GROUP_BY_NAMESPACE), SETTINGS)
    s.push(0, alert("A", namespace="shop"))
    s.push(60, alert("A", namespace="shop", ends=60))
    s.advance(360)
    assert s.only().state is IncidentState.RESOLVED
    return s


def test_a_reopened_incident_without_firing_alerts_resolves_again_after_the_hold(tmp_path):
    s = resolved_incident(tmp_path)
    s.engine.reopen(s.only().id, "alice", at(400), reason="customers still see errors")
    incident = s.only()
    assert incident.state is IncidentState.OPEN and incident.resolved_at is None
    assert incident.timeline[-1].kind == "reopened" and incident.timeline[-1].actor == "alice"
    assert incident.timeline[-1].detail == {"previous": IncidentState.RESOLVED, "reason": "customers still see errors"}
    s.advance(400 + 299)
    assert s.only().state is IncidentState.OPEN
    s.advance(400 + 300)
    assert s.only().state is IncidentState.RESOLVED and s.only().resolved_at == at(700)


def test_a_reopened_incident_takes_its_groups_next_alert(tmp_path):
    s = resolved_incident(tmp_path)
    s.engine.reopen(s.only().id, "alice", at(400))
    s.push(500, alert("B", namespace="shop", starts=500))
    s.advance(400 + 300)
    assert s.only().state is IncidentState.OPEN and s.only().firing == 1


def test_only_a_resolved_incident_can_be_reopened(tmp_path):
    s = Scenario(rules_from(tmp_path, GROUP_BY_NAMESPACE), SETTINGS)
    s.push(0, alert("A", namespace="shop"))
    with pytest.raises(TransitionError, match="is open: only a resolved incident can be reopened"):
        s.engine.reopen(s.only().id, "alice", at(10))
    assert [e.kind for e in s.only().timeline].count("reopened") == 0
