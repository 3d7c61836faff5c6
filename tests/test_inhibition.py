"""Inhibition as Alertmanager decides it (inhibit/inhibit.go), whatever the order alerts arrive in."""

import pytest

from correlator.domain import IncidentState, JoinReason
from correlator.engine.core import EngineSettings
from correlator.rules.loader import load_rules
from correlator.shipped import shipped_dir
from tests.engine_scenarios import Scenario, alert, at, restored_from_the_store, rules_from

CRIT_OVER_WARN = {"name": "crit-over-warn", "kind": "suppress", "source_matchers": ['severity="critical"'],
                  "target_matchers": ['severity="warning"'], "equal": ["instance"]}
GROUP_BY_SERVICE = {"name": "by-service", "kind": "group", "matchers": ['service!=""'], "group_by": ["service"]}


def member(s: Scenario, name: str, **labels):
    [found] = [(i, m) for i in s.incidents for m in i.members.values()
               if m.labels["alertname"] == name and all(m.labels.get(k) == v for k, v in labels.items())]
    return found


def test_a_source_arriving_after_its_targets_takes_them_as_symptoms(tmp_path):
    s = Scenario(rules_from(tmp_path, CRIT_OVER_WARN))
    s.push(0, alert("HighLoad", severity="warning", instance="n1"), alert("HighLoad", severity="warning", instance="n2"))
    s.push(30, alert("NodeDown", severity="critical", instance="n1"))
    source_incident, _ = member(s, "NodeDown")
    incident, symptom = member(s, "HighLoad", instance="n1")
    assert incident is source_incident and symptom.why.reason == JoinReason.SYMPTOM
    assert member(s, "HighLoad", instance="n2")[1].why.reason == JoinReason.NEW_INCIDENT
    emptied = s.incidents[0]
    assert emptied.state is IncidentState.CLOSED and [e.kind for e in emptied.timeline][-3:] == ["alert_moved", "resolved", "closed"]
    assert [e.kind for e in source_incident.timeline].count("alert_inhibited") == 1


def test_the_symptom_explanation_names_the_source_alert(tmp_path):
    s = Scenario(rules_from(tmp_path, CRIT_OVER_WARN))
    s.push(0, alert("NodeDown", severity="critical", instance="n1"))
    s.push(10, alert("HighLoad", severity="warning", instance="n1"))
    _, source = member(s, "NodeDown")
    why = member(s, "HighLoad")[1].why
    assert why.reason == JoinReason.SYMPTOM and why.rule == "crit-over-warn" and why.labels == {"instance": "n1"}
    assert why.detail == f"inhibited by NodeDown ({source.fingerprint})"


def test_an_alert_matching_both_sides_is_not_inhibited_by_its_like(tmp_path):
    both = {"name": "both", "kind": "suppress", "source_matchers": ['s="1"'], "target_matchers": ['t="1"'],
            "equal": ["e"]}
    s = Scenario(rules_from(tmp_path, both))
    s.push(0, alert("A", s="1", t="1", e="x"))
    s.push(10, alert("B", s="1", t="1", e="x"))  # matches both sides: A (which does too) is disregarded
    assert [m.why.reason for i in s.incidents for m in i.members.values()] == [JoinReason.NEW_INCIDENT] * 2
    s.push(20, alert("C", t="1", e="x"))  # target only: any two-sided source inhibits it
    assert member(s, "C")[1].why.reason == JoinReason.SYMPTOM
    s.push(30, alert("Source", s="1", e="x"))  # source only: it inhibits the two-sided alerts too
    assert member(s, "A")[1].why.reason == member(s, "B")[1].why.reason == JoinReason.SYMPTOM
    assert member(s, "B")[0] is member(s, "Source")[0]  # B was alone: it joins the source's incident
    assert member(s, "A")[0] is member(s, "C")[0]  # A was placed with C: it stays with it, a symptom


def test_a_target_placed_with_other_alerts_stays_with_them_as_a_symptom(tmp_path):
    s = Scenario(rules_from(tmp_path, CRIT_OVER_WARN, GROUP_BY_SERVICE))
    s.push(0, alert("HighLoad", severity="warning", instance="n1", service="shop"), alert("Latency", service="shop"))
    s.push(30, alert("NodeDown", severity="critical", instance="n1"))
    shop, high_load = member(s, "HighLoad")
    assert shop is member(s, "Latency")[0] and shop is not member(s, "NodeDown")[0]
    assert high_load.why.reason == JoinReason.SYMPTOM and "NodeDown" in high_load.why.detail
    s.push(60, alert("NodeDown", severity="critical", instance="n1", ends=60))
    assert member(s, "HighLoad")[1].why.reason == JoinReason.GROUP  # released: its explanation back


def test_a_resolved_source_releases_its_symptoms_to_the_other_stages(tmp_path):
    s = Scenario(rules_from(tmp_path, CRIT_OVER_WARN, GROUP_BY_SERVICE))
    s.push(0, alert("NodeDown", severity="critical", instance="n1"))
    s.push(10, alert("HighLoad", severity="warning", instance="n1", service="shop"),
           alert("DiskFull", severity="warning", instance="n1"))
    s.push(20, alert("Latency", service="shop"))  # its group's incident: HighLoad's group key led here
    s.push(60, alert("NodeDown", severity="critical", instance="n1", ends=60))
    source_incident, _ = member(s, "NodeDown")
    shop, high_load = member(s, "HighLoad")
    assert shop is not source_incident and high_load.why.reason == JoinReason.GROUP
    assert member(s, "Latency")[0] is source_incident  # joined before the release: stays
    own, disk = member(s, "DiskFull")
    assert own not in (source_incident, shop) and disk.why.reason == JoinReason.NEW_INCIDENT
    assert [e.kind for e in shop.timeline].count("alert_released") == 1
    s.advance(60 + 301)  # the source incident still has Latency firing: it stays open
    assert source_incident.state is IncidentState.OPEN


def test_the_source_incident_resolves_once_its_released_symptoms_leave(tmp_path):
    s = Scenario(rules_from(tmp_path, CRIT_OVER_WARN))
    s.push(0, alert("NodeDown", severity="critical", instance="n1"))
    s.push(10, alert("HighLoad", severity="warning", instance="n1"))
    s.push(60, alert("NodeDown", severity="critical", instance="n1", ends=60))
    source_incident, _ = member(s, "NodeDown")
    assert source_incident.firing == 0
    s.advance(60 + 301)
    assert source_incident.state is IncidentState.RESOLVED
    assert member(s, "HighLoad")[0].state is IncidentState.OPEN


def test_any_source_in_force_keeps_a_target_inhibited(tmp_path):
    """Alertmanager #4504: several sources may inhibit one target; it is released when none is left."""
    s = Scenario(rules_from(tmp_path, CRIT_OVER_WARN))
    s.push(0, alert("NodeDown", severity="critical", instance="n1"))
    s.push(5, alert("NodeFilesystemReadOnly", severity="critical", instance="n1"))
    s.push(10, alert("HighLoad", severity="warning", instance="n1"))
    s.push(60, alert("NodeDown", severity="critical", instance="n1", ends=60))
    incident, symptom = member(s, "HighLoad")
    _, other = member(s, "NodeFilesystemReadOnly")
    assert symptom.why.reason == JoinReason.SYMPTOM and other.fingerprint in symptom.why.detail
    assert incident is member(s, "NodeFilesystemReadOnly")[0]
    s.push(90, alert("NodeFilesystemReadOnly", severity="critical", instance="n1", ends=90))
    assert member(s, "HighLoad")[1].why.reason == JoinReason.NEW_INCIDENT


def test_inhibition_survives_a_restore(tmp_path):
    rules = rules_from(tmp_path, CRIT_OVER_WARN)
    s = Scenario(rules)
    s.push(0, alert("NodeDown", severity="critical", instance="n1"))
    s.push(10, alert("HighLoad", severity="warning", instance="n1"))
    restored = Scenario(rules)
    restored.engine.restore(s.incidents, [], [], *s.engine.sequences)
    restored.push(60, alert("NodeDown", severity="critical", instance="n1", ends=60))
    assert member(restored, "HighLoad")[1].why.reason == JoinReason.NEW_INCIDENT


def released_symptom_in_place(s: Scenario):
    s.push(600, alert("NodeDown", severity="critical", instance="n1", ends=600))
    return [(m.labels["alertname"], i.id, m.why) for i in s.incidents for m in i.members.values()]


def test_a_symptom_in_place_gets_its_explanation_back_after_a_restart(tmp_path):
    """Restored from the store, a symptom that stayed with the alerts it was placed with is
    released back in place with its explanation, as without a restart (placed again by the rules,
    it would open an incident of its own: its group's window has passed)."""
    rules = rules_from(tmp_path, CRIT_OVER_WARN, {**GROUP_BY_SERVICE, "window": "1m"})
    s = Scenario(rules)
    s.push(0, alert("HighLoad", severity="warning", instance="n1", service="shop"), alert("Latency", service="shop"))
    s.push(30, alert("NodeDown", severity="critical", instance="n1"))
    restored = restored_from_the_store(s, rules, tmp_path, 30)
    live = released_symptom_in_place(s)
    assert released_symptom_in_place(restored) == live
    assert [why.reason for name, _, why in live if name == "HighLoad"] == [JoinReason.GROUP]


def test_closing_the_source_incident_releases_its_symptoms_in_other_incidents(tmp_path):
    """An operator closes the source's incident while its alert still fires: it inhibits no more,
    so a symptom living in another incident is released as when the source resolves."""
    s = Scenario(rules_from(tmp_path, CRIT_OVER_WARN, GROUP_BY_SERVICE))
    s.push(0, alert("HighLoad", severity="warning", instance="n1", service="shop"), alert("Latency", service="shop"))
    s.push(30, alert("NodeDown", severity="critical", instance="n1"))
    source_incident, _ = member(s, "NodeDown")
    s.engine.resolve(source_incident.id, "ops", at(50))
    changed = s.engine.close(source_incident.id, "ops", at(60))
    shop, high_load = member(s, "HighLoad")
    assert high_load.why.reason == JoinReason.GROUP and shop.id in changed
    assert [e.kind for e in shop.timeline][-1] == "alert_released"
    s.push(90, alert("DiskSlow", severity="warning", instance="n1"))  # the closed source inhibits nothing
    assert member(s, "DiskSlow")[1].why.reason == JoinReason.NEW_INCIDENT


def test_a_symptom_in_place_gets_its_explanation_back_after_a_reload(tmp_path):
    rules = rules_from(tmp_path, CRIT_OVER_WARN, {**GROUP_BY_SERVICE, "window": "1m"})
    s = Scenario(rules)
    s.push(0, alert("HighLoad", severity="warning", instance="n1", service="shop"), alert("Latency", service="shop"))
    s.push(30, alert("NodeDown", severity="critical", instance="n1"))
    s.engine.reload(rules)
    placed = {name: (incident, why.reason) for name, incident, why in released_symptom_in_place(s)}
    assert placed["HighLoad"] == (placed["Latency"][0], JoinReason.GROUP)  # back in place, not in a new incident


@pytest.mark.parametrize("cluster_label", ["cluster", "k8s_cluster"])
def test_the_shipped_severity_inhibition_holds_within_one_cluster(cluster_label):
    # kube-prometheus runs an Alertmanager per cluster: a target down in one cluster (no namespace
    # on either side) does not inhibit its namesake's warning in another, but does in its own.
    scenario = Scenario(load_rules(shipped_dir("rules")))
    job = {"job": "node-exporter", "namespace": "monitoring", "service": "node-exporter"}
    scenario.push(0, alert("TargetDown", severity="critical", **job, **{cluster_label: "a"}))
    scenario.push(30, alert("TargetDown", severity="warning", **job, **{cluster_label: "b"}))
    scenario.push(60, alert("TargetDown", severity="warning", **job, **{cluster_label: "a"}))
    assert sorted(len(i.members) for i in scenario.incidents) == [1, 2]
    other = next(i for i in scenario.incidents if len(i.members) == 1)
    assert next(iter(other.members.values())).labels[cluster_label] == "b"


def test_the_shipped_severity_inhibition_holds_on_one_thing_only():
    # Alertmanager (kube-prometheus's inhibit rule) mutes a namespace's warnings of a name while one
    # of its alerts of that name is critical; an incident is one fault's, so the critical alert of a
    # pod takes in the warning of the same pod, not that of another pod of the namespace.
    scenario = Scenario(load_rules(shipped_dir("rules")))
    where = {"cluster": "eu", "namespace": "shop"}
    scenario.push(0, alert("KubePodCrashLooping", severity="critical", pod="web-0", **where))
    scenario.push(40, alert("KubePodCrashLooping", severity="warning", pod="web-0", **where))
    scenario.push(60, alert("KubePodCrashLooping", severity="warning", pod="api-1", **where))
    pods = sorted((sorted((m.labels["pod"], m.why.reason) for m in i.members.values())) for i in scenario.incidents)
    assert pods == [[("api-1", JoinReason.NEW_INCIDENT)], [("web-0", JoinReason.NEW_INCIDENT), ("web-0", JoinReason.SYMPTOM)]]


def test_a_symptom_released_into_a_storm_that_takes_in_its_incident_moves_once(tmp_path):
    # A critical and a warning TargetDown: their incident holds only that name. Released, the
    # warning (started with a burst of the name, delivered late) makes the burst a storm, whose
    # incident takes in the incidents of its alerts that hold only its name: the warning's own.
    same_name = {"name": "crit-over-warn", "kind": "suppress", "source_matchers": ['severity="critical"'],
                 "target_matchers": ['severity="warning"'], "equal": ["alertname", "cluster"]}
    s = Scenario(rules_from(tmp_path, same_name), EngineSettings())  # learning on: storms
    s.push(0, alert("Other", cluster="eu", instance="o"))  # then an hour without TargetDown: a rare name
    h = 3600
    for n in range(3):  # 100 seconds apart: no storm yet
        s.push(h + 100 * n + 1, alert("TargetDown", starts=h + 100 * n, cluster="eu", instance=f"x{n}"))
    s.push(h + 601, alert("TargetDown", starts=h + 600, severity="critical", cluster="eu", instance="c"))
    s.push(h + 605, alert("TargetDown", starts=h + 5, severity="warning", cluster="eu", instance="w"))
    held, symptom = member(s, "TargetDown", instance="w")
    assert symptom.why.reason == JoinReason.SYMPTOM and held is member(s, "TargetDown", instance="c")[0]
    s.push(h + 660, alert("TargetDown", starts=h + 600, severity="critical", cluster="eu", instance="c", ends=h + 660))
    storm, released = member(s, "TargetDown", instance="w")
    assert released.why.reason == JoinReason.STORM and storm is member(s, "TargetDown", instance="x0")[0]
    assert held.state is IncidentState.CLOSED and not held.members
    assert [e.kind for e in storm.timeline].count("alert_released") == 1


def test_a_released_symptom_related_to_another_alert_of_its_incident_stays_there(tmp_path):
    # The host's load was a symptom of its node down; the disk failing on the host joined them.
    # The node comes back: the load is placed again on evidence, and the disk explains it where it
    # is (the learned stage sends no new episode back to its alert's earlier incident; this is no
    # new episode).
    disk = {"name": "disk-explains-load", "kind": "relate", "cause": ['alertname="DiskFailing"'],
            "effect": ['alertname="HighLoad"'], "window": "10m"}
    s = Scenario(rules_from(tmp_path, CRIT_OVER_WARN, disk), EngineSettings())
    s.push(0, alert("NodeDown", severity="critical", cluster="eu", instance="n1"))
    s.push(10, alert("HighLoad", starts=10, severity="warning", cluster="eu", instance="n1"))
    s.push(20, alert("DiskFailing", starts=20, cluster="eu", instance="n1"))
    incident, symptom = member(s, "HighLoad")
    assert symptom.why.reason == JoinReason.SYMPTOM and member(s, "DiskFailing")[0] is incident
    s.push(60, alert("NodeDown", severity="critical", cluster="eu", instance="n1", ends=60))
    held, released = member(s, "HighLoad")
    assert held is incident and released.why.rule == "disk-explains-load"
