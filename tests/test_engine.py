"""The correlation engine, stage by stage, as timelines on a fake clock."""

import math
from datetime import timedelta

import pytest

from correlator.domain import Category, IncidentState, JoinReason, Level, Priority, ServiceArea, TransitionError
from correlator.engine.core import DELIVERY_DELAY_BUCKETS, EngineSettings, Outcome
from correlator.engine.views import incident_summary
from tests.engine_scenarios import Scenario, alert, at, restored_from_the_store, rules_from

GROUP_BY_NAMESPACE = {"name": "by-namespace", "kind": "group", "matchers": ['namespace!=""'],
                      "group_by": ["namespace"], "window": "10m", "max_duration": "1h"}


def test_alerts_with_the_same_group_key_form_one_incident(tmp_path):
    s = Scenario(rules_from(tmp_path, GROUP_BY_NAMESPACE))
    s.push(0, alert("PodCrash", namespace="shop", pod="a"))
    s.push(60, alert("PodNotReady", namespace="shop", pod="b"), alert("PodCrash", namespace="auth", pod="c"))
    assert s.groups() == [{"PodCrash/shop/a", "PodNotReady/shop/b"}, {"PodCrash/auth/c"}]
    incident = s.incidents[0]
    [_, second] = incident.members.values()
    assert second.why.reason == JoinReason.GROUP and second.why.rule == "by-namespace"
    assert second.why.labels == {"namespace": "shop"}


def test_an_alert_after_the_window_opens_a_new_incident(tmp_path):
    s = Scenario(rules_from(tmp_path, GROUP_BY_NAMESPACE))
    s.push(0, alert("A", namespace="shop"))
    s.push(11 * 60, alert("B", namespace="shop"))
    assert len(s.incidents) == 2


def test_max_duration_caps_how_long_an_incident_absorbs_alerts(tmp_path):
    s = Scenario(rules_from(tmp_path, GROUP_BY_NAMESPACE))
    for minute in range(0, 70, 5):  # every 5 minutes: always inside the window
        s.push(minute * 60, alert(f"A{minute}", namespace="shop"))
    assert [len(i.members) for i in s.incidents] == [13, 1]


def test_repeats_and_late_firing_snapshots_change_nothing(tmp_path):
    s = Scenario(rules_from(tmp_path, GROUP_BY_NAMESPACE))
    firing = alert("A", namespace="shop")
    s.push(0, firing).push(30, firing)
    s.push(60, alert("A", namespace="shop", ends=60))
    before = list(s.only().timeline)
    s.push(90, firing)
    assert s.only().timeline == before
    assert [e.kind for e in before].count("alert_resolved") == 1


def test_suppressed_alert_joins_the_source_incident_as_a_symptom(tmp_path):
    s = Scenario(rules_from(tmp_path, {"name": "crit-over-warn", "kind": "suppress",
                                       "source_matchers": ['severity="critical"'],
                                       "target_matchers": ['severity="warning"'], "equal": ["instance"]}))
    s.push(0, alert("NodeDown", severity="critical", instance="n1"))
    s.push(10, alert("HighLoad", severity="warning", instance="n1"), alert("HighLoad", severity="warning", instance="n2"))
    assert s.groups() == [{"NodeDown/n1", "HighLoad/n1"}, {"HighLoad/n2"}]
    symptom = list(s.incidents[0].members.values())[1]
    assert symptom.why.reason == JoinReason.SYMPTOM and symptom.why.labels == {"instance": "n1"}


def test_a_resolved_source_no_longer_suppresses(tmp_path):
    s = Scenario(rules_from(tmp_path, {"name": "s", "kind": "suppress", "source_matchers": ['severity="critical"'],
                                       "target_matchers": ['severity="warning"'], "equal": ["instance"]}))
    s.push(0, alert("NodeDown", severity="critical", instance="n1"))
    s.push(5, alert("NodeDown", severity="critical", instance="n1", ends=5))
    s.push(10, alert("HighLoad", severity="warning", instance="n1"))
    assert len(s.incidents) == 2


def test_link_rule_joins_a_node_alert_and_the_pods_on_that_node(tmp_path):
    s = Scenario(rules_from(tmp_path, {"name": "node-pods", "kind": "link", "source_matchers": ['job="node"'],
                                       "source_label": "instance", "source_regex": "([^:]+)(?::\\d+)?",
                                       "target_label": "node"}))
    s.push(0, alert("NodeMemoryPressure", job="node", instance="node-3:9100"))
    s.push(20, alert("KubePodCrashLooping", namespace="shop", pod="web-1", node="node-3"),
           alert("KubePodCrashLooping", namespace="shop", pod="web-2", node="node-4"))
    assert len(s.incidents) == 2
    linked = list(s.incidents[0].members.values())[1]
    assert linked.labels["pod"] == "web-1"
    assert linked.why.reason == JoinReason.LINK and linked.why.labels == {"node": "node-3"}


def test_an_alert_a_link_placed_fires_again_after_its_incident_was_merged_away(tmp_path):
    # The link made the pod's alert a member of the node's incident; an operator merged that
    # incident into another. The pod's alert firing again minutes later finds no closed, empty
    # incident to flap back to: it opens one of its own.
    s = Scenario(rules_from(tmp_path, {"name": "node-pods", "kind": "link", "source_matchers": ['job="node"'],
                                       "source_label": "instance", "source_regex": "([^:]+)(?::\\d+)?",
                                       "target_label": "node", "window": "1m"}))
    s.push(0, alert("NodeMemoryPressure", job="node", instance="node-3:9100"))
    s.push(20, alert("KubePodCrashLooping", namespace="shop", pod="web-1", node="node-3"))
    s.push(30, alert("HttpErrors", namespace="shop", service="web"))
    node, other = s.incidents
    s.engine.merge(other.id, "alice", at(40), node.id)
    s.push(60, alert("KubePodCrashLooping", namespace="shop", pod="web-1", node="node-3", ends=60))
    s.push(200, alert("KubePodCrashLooping", starts=200, namespace="shop", pod="web-1", node="node-3"))
    refired = s.incidents[-1]
    assert refired.id not in (node.id, other.id) and len(refired.members) == 1


def test_after_a_restart_the_group_of_an_alert_a_link_placed_still_joins_its_incident(tmp_path):
    # The link put the database team's pod alert in the node's incident, and its group (by team)
    # with it: the team's next alert joins there, restarted in between or not.
    rules = rules_from(tmp_path, {"name": "node-pods", "kind": "link", "source_matchers": ['job="node"'],
                                  "source_label": "instance", "source_regex": "([^:]+)(?::\\d+)?",
                                  "target_label": "node", "window": "5m"},
                       {"name": "by-team", "kind": "group", "matchers": ['team="db"'], "group_by": ["team"],
                        "window": "5m"})
    s = Scenario(rules)
    s.push(0, alert("NodeDown", job="node", instance="node-3:9100"))
    s.push(10, alert("PostgresqlDown", pod="pg-0", node="node-3", team="db"))
    restored = restored_from_the_store(s, rules, tmp_path, 10)
    for engine in (s, restored):
        engine.push(30, alert("PostgresqlReplicationLag", instance="pg-1", team="db"))
        [incident] = engine.incidents
        assert list(incident.members.values())[-1].why.reason == JoinReason.GROUP


def test_after_a_restart_a_link_finds_the_incident_an_operator_merged_its_source_into(tmp_path):
    # The node's two alerts are two incidents; the operator merges the first one's into a third.
    # The link's key follows the alert moved last, whichever joined first: the pod's alert joins
    # the merged incident, restarted in between or not (a restore registers the alerts in the
    # order they were placed, not in the order they joined).
    rules = rules_from(tmp_path, {"name": "node-pods", "kind": "link", "source_matchers": ['job="node"'],
                                  "source_label": "instance", "source_regex": "([^:]+)(?::\\d+)?",
                                  "target_label": "node", "window": "5m"})
    s = Scenario(rules)
    s.push(0, alert("NodeDown", job="node", instance="node-3:9100"))
    s.push(10, alert("DiskFull", mountpoint="/data"))
    s.push(20, alert("NodeHighLoad", job="node", instance="node-3:9100"))
    down, disk, load = s.incidents
    s.engine.merge(disk.id, "alice", at(30), down.id)
    restored = restored_from_the_store(s, rules, tmp_path, 30)
    for engine in (s, restored):
        engine.push(40, alert("KubePodCrashLooping", pod="web-1", node="node-3"))
        assert {m.labels["alertname"] for m in engine.engine.incidents[disk.id].members.values()} == \
            {"NodeDown", "DiskFull", "KubePodCrashLooping"}
        assert len(engine.engine.incidents[load.id].members) == 1


def test_link_works_whichever_side_fires_first(tmp_path):
    s = Scenario(rules_from(tmp_path, {"name": "node-pods", "kind": "link", "source_matchers": ['job="node"'],
                                       "source_label": "instance", "source_regex": "([^:]+)(?::\\d+)?",
                                       "target_label": "node"}))
    s.push(0, alert("KubePodCrashLooping", pod="web-1", node="node-3"))
    s.push(20, alert("NodeDown", job="node", instance="node-3:9100"))
    assert len(s.incidents) == 1


CATALOG = [{"service": "postgres", "tier": 1, "owner": "dba"},
           {"service": "checkout-api", "tier": 1, "customer_facing": True, "owner": "shop",
            "depends_on": ["postgres"]},
           {"service": "search", "tier": 3}]


def test_a_database_outage_and_the_api_errors_above_it_are_one_incident(tmp_path):
    s = Scenario(rules_from(tmp_path, {"name": "deps", "kind": "dependency", "window": "15m"}, catalog=CATALOG))
    s.push(0, alert("PostgresDown", service="postgres", severity="critical"))
    s.push(30, alert("HTTPErrors", service="checkout-api", severity="critical"), alert("SlowQueries", service="search"))
    assert len(s.incidents) == 2
    incident = s.incidents[0]
    api = list(incident.members.values())[1]
    assert api.why.reason == JoinReason.DEPENDENCY and "checkout-api depends on postgres" in api.why.detail
    assert incident.services == ("postgres", "checkout-api")
    # A tier-1 customer-facing service affected, urgency high: P1, owned by the database team.
    assert (incident.impact, incident.urgency, incident.priority) == (Level.HIGH, Level.HIGH, Priority.P1)
    assert incident.team == "dba"


# Which stage places an alert when several could: the first in the engine's order.

SUPPRESS_WARNINGS = {"name": "crit-over-warn", "kind": "suppress", "source_matchers": ['severity="critical"'],
                     "target_matchers": ['severity="warning"'], "equal": ["instance"]}
NODE_PODS = {"name": "node-pods", "kind": "link", "source_matchers": ['job="node"'], "source_label": "instance",
             "source_regex": "([^:]+)(?::\\d+)?", "target_label": "node"}


def test_an_alert_in_a_maintenance_window_is_recorded_though_a_firing_source_inhibits_it(tmp_path):
    s = Scenario(rules_from(tmp_path, SUPPRESS_WARNINGS, {
        "name": "warnings-off", "kind": "maintenance", "matchers": ['severity="warning"'],
        "windows": [{"start": "2026-11-23T04:00:00Z", "end": "2026-11-23T05:00:00Z"}]}))
    s.push(0, alert("NodeDown", severity="critical", instance="n1"))
    s.push(10, alert("HighLoad", severity="warning", instance="n1"))
    assert s.groups() == [{"NodeDown/n1"}]
    assert s.engine.outcomes[Outcome.MAINTENANCE] == 1


def test_an_inhibited_alert_joins_its_source_though_its_group_has_an_open_incident(tmp_path):
    s = Scenario(rules_from(tmp_path, SUPPRESS_WARNINGS, GROUP_BY_NAMESPACE))
    s.push(0, alert("PodCrash", severity="warning", namespace="shop", instance="n2"))
    s.push(5, alert("NodeDown", severity="critical", instance="n1"))
    s.push(10, alert("HighLoad", severity="warning", namespace="shop", instance="n1"))
    assert s.groups() == [{"PodCrash/n2/shop"}, {"NodeDown/n1", "HighLoad/n1/shop"}]
    assert list(s.incidents[1].members.values())[1].why.reason == JoinReason.SYMPTOM


def test_a_linked_alert_joins_by_its_link_though_its_group_has_an_open_incident(tmp_path):
    s = Scenario(rules_from(tmp_path, NODE_PODS, GROUP_BY_NAMESPACE))
    s.push(0, alert("PodCrash", namespace="shop", node="node-9"))
    s.push(5, alert("NodeDown", job="node", instance="node-3:9100"))
    s.push(10, alert("PodCrash", namespace="shop", node="node-3"))
    assert s.groups() == [{"PodCrash/shop/node-9"}, {"NodeDown/node-3:9100/node", "PodCrash/shop/node-3"}]
    assert list(s.incidents[1].members.values())[1].why.reason == JoinReason.LINK


def test_an_alert_below_its_groups_min_alerts_joins_an_incident_it_is_linked_to(tmp_path):
    s = Scenario(rules_from(tmp_path, NODE_PODS, {**GROUP_BY_NAMESPACE, "min_alerts": 3}))
    s.push(0, alert("NodeDown", job="node", instance="node-3:9100"))
    s.push(10, alert("PodCrash", namespace="shop", node="node-3"))
    assert s.groups() == [{"NodeDown/node-3:9100/node", "PodCrash/shop/node-3"}]
    assert not s.engine.candidates()


def test_maintenance_window_records_but_opens_no_incident(tmp_path):
    s = Scenario(rules_from(tmp_path, {"name": "db-upgrade", "kind": "maintenance", "matchers": ['cluster="eu"'],
                                       "windows": [{"start": "2026-11-23T04:00:00Z", "end": "2026-11-23T05:00:00Z"}]}))
    s.push(60, alert("Down", cluster="eu"), alert("Down", cluster="us"))
    s.push(3700, alert("Other", cluster="eu"))
    assert s.groups() == [{"Down/us"}, {"Other/eu"}]


def test_recurring_maintenance_window_in_its_time_zone(tmp_path):
    # 2026-11-23 is a Monday; 05:30 in Berlin is 04:30 UTC.
    s = Scenario(rules_from(tmp_path, {"name": "nightly", "kind": "maintenance", "windows": [
        {"weekdays": ["mon"], "start_time": "05:00", "duration": "1h", "timezone": "Europe/Berlin"}]}))
    s.push(30 * 60, alert("Backup"))
    s.push(61 * 60, alert("AfterWindow"))
    assert s.groups() == [{"AfterWindow"}]


def test_classification_and_its_explanation(tmp_path):
    s = Scenario(rules_from(tmp_path,
                            {"name": "disk", "kind": "classify", "matchers": ['alertname=~"Disk.*"'], "category": "capacity"},
                            {"name": "all", "kind": "classify", "service_area": "availability"}))
    s.push(0, alert("DiskFull"))
    incident = s.only()
    assert (incident.category, incident.service_area) == (Category.CAPACITY, ServiceArea.AVAILABILITY)
    assert incident.classification.rule == "disk, all"
    assert "classified" in [e.kind for e in incident.timeline]


@pytest.mark.parametrize("severity, priority", [("critical", Priority.P3), ("warning", Priority.P4), ("info", Priority.P5)])
def test_default_priority_without_a_catalog_follows_severity(tmp_path, severity, priority):
    s = Scenario(rules_from(tmp_path))
    s.push(0, alert("X", severity=severity))
    assert s.only().priority == priority


def test_a_more_severe_alert_reprioritises_the_incident(tmp_path):
    s = Scenario(rules_from(tmp_path, GROUP_BY_NAMESPACE))
    s.push(0, alert("A", namespace="shop", severity="warning"))
    s.push(10, alert("B", namespace="shop", severity="critical"))
    incident = s.only()
    assert incident.priority == Priority.P3 and incident.urgency == Level.HIGH
    assert [e.kind for e in incident.timeline if "prioritised" in e.kind] == ["prioritised", "reprioritised"]


def test_assign_from_the_team_label(tmp_path):
    s = Scenario(rules_from(tmp_path, {"name": "team", "kind": "assign", "matchers": ['team!=""'], "team_label": "team"}))
    s.push(0, alert("X", team="payments"))
    assert s.only().team == "payments" and s.only().assignment.rule == "team"


def test_unacknowledged_incident_escalates_to_the_next_tier(tmp_path):
    s = Scenario(rules_from(tmp_path, {"name": "esc", "kind": "escalate", "after": {"P3": "15m"}}))
    s.push(0, alert("X", severity="critical"))
    s.advance(14 * 60)
    assert s.only().state is IncidentState.OPEN
    s.advance(15 * 60)
    incident = s.only()
    assert incident.state is IncidentState.ESCALATED and incident.tier == 2
    escalated = next(e for e in incident.timeline if e.kind == "escalated")
    assert escalated.at == at(15 * 60) and escalated.detail["rule"] == "esc"


SETTINGS = EngineSettings(resolve_hold=timedelta(minutes=5), reopen_window=timedelta(minutes=30),
                          close_after=timedelta(hours=1))


def test_an_incident_an_operator_raises_to_a_priority_with_an_escalation_time_escalates_by_it(tmp_path):
    s = Scenario(rules_from(tmp_path, {"name": "esc", "kind": "escalate", "after": {"P1": "15m"}}))
    s.push(0, alert("X", severity="critical"))  # P3: no escalation time
    s.engine.set_priority(s.only().id, "alice", at(60), Priority.P1)
    s.advance(14 * 60)
    assert s.only().state is IncidentState.OPEN
    s.advance(15 * 60)
    assert s.only().state is IncidentState.ESCALATED


def test_a_reopened_incident_escalates_when_it_stays_open_the_escalation_time_after_it_reopened(tmp_path):
    rules = rules_from(tmp_path, {"name": "esc", "kind": "escalate", "after": {"P3": "15m"}})
    for took_on in (None, "acknowledge", "escalate"):
        s = Scenario(rules, SETTINGS)
        s.push(0, alert("X", severity="critical"))
        if took_on:
            getattr(s.engine, took_on)(s.only().id, "alice", at(60))
        s.engine.resolve(s.only().id, "alice", at(120))
        s.engine.reopen(s.only().id, "alice", at(20 * 60))  # after its first escalation time
        s.advance(35 * 60 - 1)
        assert s.only().state is IncidentState.OPEN, took_on
        s.advance(35 * 60)
        assert s.only().state is IncidentState.ESCALATED, took_on
        escalated = [e for e in s.only().timeline if e.kind == "escalated" and e.actor == "correlator"]
        assert [e.at for e in escalated] == [at(35 * 60)], took_on


def test_incident_resolves_once_every_alert_resolved_and_the_hold_passed(tmp_path):
    s = Scenario(rules_from(tmp_path, GROUP_BY_NAMESPACE), SETTINGS)
    s.push(0, alert("A", namespace="shop"), alert("B", namespace="shop"))
    s.push(60, alert("A", namespace="shop", ends=60))
    s.advance(600)
    assert s.only().state is IncidentState.OPEN  # B still fires
    s.push(700, alert("B", namespace="shop", ends=700))
    s.advance(700 + 299)
    assert s.only().state is IncidentState.OPEN
    s.advance(700 + 300)
    assert s.only().state is IncidentState.RESOLVED and s.only().resolved_at == at(1000)


def test_a_refire_within_the_reopen_window_reopens(tmp_path):
    s = Scenario(rules_from(tmp_path, GROUP_BY_NAMESPACE), SETTINGS)
    s.push(0, alert("A", namespace="shop"))
    s.push(60, alert("A", namespace="shop", ends=60))
    s.advance(360)
    s.push(900, alert("A", namespace="shop", starts=900))
    incident = s.only()
    assert incident.state is IncidentState.OPEN and incident.resolved_at is None
    assert "reopened" in [e.kind for e in incident.timeline]


def test_alerts_split_out_after_they_cleared_make_an_incident_that_resolves_after_the_hold(tmp_path):
    s = Scenario(rules_from(tmp_path, GROUP_BY_NAMESPACE), SETTINGS)
    s.push(0, alert("A", namespace="shop"), alert("B", namespace="shop"))
    s.push(60, alert("B", namespace="shop", ends=60))
    s.engine.split(s.only().id, "alice", at(120), [alert("B", namespace="shop").fingerprint])
    s.advance(120 + 299)
    source, split_out = s.incidents
    assert split_out.state is IncidentState.OPEN
    s.advance(120 + 300)
    assert (source.state, split_out.state) == (IncidentState.OPEN, IncidentState.RESOLVED)


def test_a_refire_after_the_reopen_window_is_a_new_incident(tmp_path):
    s = Scenario(rules_from(tmp_path, GROUP_BY_NAMESPACE), SETTINGS)
    s.push(0, alert("A", namespace="shop"))
    s.push(60, alert("A", namespace="shop", ends=60))
    s.advance(360)
    s.push(360 + 31 * 60, alert("A", namespace="shop", starts=360 + 31 * 60))
    assert [i.state for i in s.incidents] == [IncidentState.RESOLVED, IncidentState.OPEN]


def test_resolved_incidents_close_after_close_after(tmp_path):
    s = Scenario(rules_from(tmp_path), SETTINGS)
    s.push(0, alert("A"))
    s.push(60, alert("A", ends=60))
    s.advance(360 + 3600)
    assert s.only().state is IncidentState.CLOSED and s.only().closed_at == at(360 + 3600)


def test_recurring_incidents_open_a_problem(tmp_path):
    s = Scenario(rules_from(tmp_path, GROUP_BY_NAMESPACE), SETTINGS)
    for day in range(3):
        start = day * 86400
        s.push(start, alert("DiskFull", namespace="shop", starts=start))
        s.push(start + 60, alert("DiskFull", namespace="shop", starts=start, ends=start + 60))
        s.advance(start + 7200)
    [problem] = s.engine.problems.values()
    assert problem.incident_ids == [i.id for i in s.incidents]
    assert all(i.problem_id == problem.id for i in s.incidents)


def test_invalid_transitions_are_refused(tmp_path):
    s = Scenario(rules_from(tmp_path))
    s.push(0, alert("A"))
    with pytest.raises(TransitionError, match="cannot become closed"):
        s.engine._transition(s.only(), IncidentState.CLOSED, at(1), "tester")


def test_the_same_input_gives_the_same_incidents(tmp_path):
    def run():
        s = Scenario(rules_from(tmp_path, GROUP_BY_NAMESPACE), SETTINGS)
        for second in range(0, 3600, 37):
            s.push(second, alert(f"A{second % 5}", namespace=f"ns{second % 3}", starts=second - second % 600))
        s.advance(7200)
        return [incident_summary(i) for i in s.incidents]
    assert run() == run()


def test_new_episodes_are_counted_by_how_long_after_they_started_they_came(tmp_path):
    # Alertmanager's group_wait (30s by default) delays a group's first alerts, and its
    # group_interval (5 minutes by default) a group's later ones: an SRE reads the route's delays here.
    s = Scenario(rules_from(tmp_path))
    s.push(30, alert("Disk", instance="a"))  # group_wait
    s.push(290, alert("Disk", instance="b", starts=40))  # a later alert of the group: up to a group_interval
    s.push(300, alert("Disk", instance="b", starts=40))  # a re-send of it: no new episode
    s.push(300, alert("Cpu", instance="c", starts=301))  # a sender's clock ahead: no delay, not a negative one
    assert dict(zip(DELIVERY_DELAY_BUCKETS, s.engine.delivery_delays)) == {
        5.0: 1, 15.0: 0, 30.0: 1, 60.0: 0, 120.0: 0, 300.0: 1, 600.0: 0, 1800.0: 0, math.inf: 0}
    assert s.engine.delivery_delay_seconds == 30 + 250
