"""Incidents follow their alerts: endsAt timers, the resolve hold from the last clearing, the flap
hold-down, titles that count alerts; all on event time, so replay and a live engine agree."""

import json
from datetime import datetime, timedelta, timezone

import msgspec
import pytest
from sqlalchemy import select

from correlator import wiring
from correlator.app import ENGINE, SERVICE
from correlator.config import parse_config
from correlator.domain import AlertStatus, Incident, IncidentState, JoinReason, Source, TimelineKind
from correlator.engine import decisions
from correlator.engine.core import EngineSettings
from correlator.engine_service import EngineService
from correlator.ingest.sources import parsers
from correlator.store.schema import incident_members, to_us
from correlator.units import rfc3339
from tests.conftest import post_json
from tests.engine_scenarios import Scenario, alert, at, rules_from
from tests.engine_store import incident_lines, live_engine, open_store, replayed_engine

GROUP_BY_NAMESPACE = {"name": "by-namespace", "kind": "group", "matchers": ['namespace!=""'],
                      "group_by": ["namespace"], "window": "10m", "max_duration": "1h"}
HOLD = 300
SETTINGS = EngineSettings(resolve_hold=timedelta(seconds=HOLD), learning=False,
                          flap_changes=4, flap_window=timedelta(hours=1), flap_hold=timedelta(minutes=30))


def kinds(incident) -> list[str]:
    return [event.kind for event in incident.timeline]


# -- an alert's endsAt -------------------------------------------------------------------------


def test_an_alert_whose_ends_at_passes_without_a_resend_resolves_and_so_does_its_incident(tmp_path):
    s = Scenario(rules_from(tmp_path), SETTINGS)
    s.push(0, alert("DiskFull", instance="a", expires=240))  # a v2 post: firing until endsAt
    s.advance(239)
    assert s.only().firing == 1
    s.advance(240)
    incident = s.only()
    [member] = incident.members.values()
    assert incident.firing == 0 and member.status is AlertStatus.RESOLVED and member.ends_at == at(240)
    resolved = next(e for e in incident.timeline if e.kind == "alert_resolved")
    assert resolved.at == at(240) and resolved.detail["timed_out"] is True
    s.advance(240 + HOLD - 1)
    assert incident.state is IncidentState.OPEN
    s.advance(240 + HOLD)
    assert incident.state is IncidentState.RESOLVED and incident.resolved_at == at(240 + HOLD)


def test_a_resend_extends_the_alert_and_its_member_carries_the_latest_ends_at(tmp_path):
    s = Scenario(rules_from(tmp_path), SETTINGS)
    s.push(0, alert("DiskFull", instance="a", expires=240))
    changed = s.engine.process(alert("DiskFull", instance="a", expires=420), at(180))  # re-sent, same episode
    incident = s.only()
    [member] = incident.members.values()
    assert changed == {incident.id} and member.ends_at == at(420) and len(incident.members) == 1
    s.advance(400)
    assert incident.firing == 1 and member.status is AlertStatus.FIRING
    s.advance(420)
    assert incident.firing == 0 and member.ends_at == at(420)
    s.advance(420 + HOLD)
    assert incident.resolved_at == at(420 + HOLD)


def test_a_resend_with_an_earlier_end_expires_the_alert_then(tmp_path):
    s = Scenario(rules_from(tmp_path), SETTINGS)
    s.push(0, alert("DiskFull", instance="a", expires=600))
    s.push(60, alert("DiskFull", instance="a", expires=120))
    s.advance(120)
    assert s.only().firing == 0 and next(iter(s.only().members.values())).ends_at == at(120)


def test_an_alert_without_ends_at_fires_until_resolved(tmp_path):
    s = Scenario(rules_from(tmp_path), SETTINGS)
    s.push(0, alert("DiskFull", instance="a"))  # Alertmanager's webhook: no endsAt while firing
    s.advance(7 * 86400)
    assert s.only().firing == 1 and s.only().state is IncidentState.OPEN


def test_an_expired_alert_ends_its_suppression(tmp_path):
    s = Scenario(rules_from(tmp_path, {"name": "s", "kind": "suppress", "source_matchers": ['severity="critical"'],
                                       "target_matchers": ['severity="warning"'], "equal": ["instance"]}), SETTINGS)
    s.push(0, alert("NodeDown", severity="critical", instance="n1", expires=60))
    s.push(90, alert("HighLoad", severity="warning", instance="n1"))
    assert len(s.incidents) == 2


def test_an_alert_re_sent_after_it_timed_out_fires_again_in_its_open_incident(tmp_path):
    s = Scenario(rules_from(tmp_path), SETTINGS)
    s.push(0, alert("DiskFull", instance="a", expires=240))
    s.advance(250)  # Prometheus paused: the alert timed out (the store reads it resolved too)
    s.push(300, alert("DiskFull", instance="a", expires=540))  # back, re-sending the same episode
    incident = s.only()
    [member] = incident.members.values()
    assert incident.firing == 1 and member.status is AlertStatus.FIRING and member.ends_at == at(540)
    s.advance(300 + HOLD)
    assert incident.state is IncidentState.OPEN


def test_an_alert_re_sent_after_its_incident_resolved_is_placed_again(tmp_path):
    s = Scenario(rules_from(tmp_path), SETTINGS)
    s.push(0, alert("DiskFull", instance="a", expires=240))
    s.advance(240 + HOLD)
    s.push(600, alert("DiskFull", instance="a", expires=840))
    # It fires again: a short episode firing again minutes after its end goes back to the incident
    # only it made up (a flap), which reopens.
    assert [(i.state, i.firing) for i in s.incidents] == [(IncidentState.OPEN, 1)]
    assert "reopened" in [e.kind for e in s.only().timeline]


# -- the resolve hold counts from the last clearing ------------------------------------------------


def test_the_hold_counts_from_the_last_time_every_alert_cleared(tmp_path):
    s = Scenario(rules_from(tmp_path, GROUP_BY_NAMESPACE), SETTINGS)
    s.push(0, alert("A", namespace="shop"))
    s.push(60, alert("A", namespace="shop", ends=60))  # all clear at 60: a hold until 360
    s.push(100, alert("B", namespace="shop", starts=100))
    s.push(204, alert("B", namespace="shop", starts=100, ends=204))  # all clear again at 204
    s.advance(360)
    assert s.only().state is IncidentState.OPEN  # resolved 156 s after its last alert cleared, before
    s.advance(204 + HOLD)
    assert s.only().state is IncidentState.RESOLVED and s.only().resolved_at == at(204 + HOLD)


def test_after_a_reopen_the_hold_counts_from_the_clearing_after_it(tmp_path):
    s = Scenario(rules_from(tmp_path, GROUP_BY_NAMESPACE), SETTINGS)
    s.push(0, alert("A", namespace="shop"))
    s.push(60, alert("A", namespace="shop", ends=60))  # a hold until 360
    incident = s.only()
    s.engine.resolve(incident.id, "oncall", at(100))
    s.push(150, alert("A", namespace="shop", starts=150))  # reopens
    s.push(336, alert("A", namespace="shop", starts=150, ends=336))
    s.advance(360)
    assert incident.state is IncidentState.OPEN  # resolved 24 s after its last alert cleared, before
    s.advance(336 + HOLD)
    assert incident.state is IncidentState.RESOLVED and incident.resolved_at == at(336 + HOLD)
    assert kinds(incident).count("reopened") == 1


# -- flapping ---------------------------------------------------------------------------------


def flap(s: Scenario, times: int, every: float = 120, up: float = 60, **labels) -> None:
    """One alert firing for `up` seconds every `every` seconds, `times` times."""
    for i in range(times):
        start = i * every
        s.push(start, alert("FlappyThing", starts=start, **labels))
        s.push(start + up, alert("FlappyThing", starts=start, ends=start + up, **labels))


def test_a_flapping_alert_keeps_one_incident_open_for_the_hold_down(tmp_path):
    s = Scenario(rules_from(tmp_path), SETTINGS)
    flap(s, 4, instance="a")  # 8 state changes within the hour; each flap is back before the hold ends
    incident = s.only()
    assert [e.kind for e in incident.timeline].count("alert_joined") == 4
    assert [m.why.reason for m in incident.members.values()][1:] == [JoinReason.RECURRENCE] * 3
    flapping = next(e for e in incident.timeline if e.kind == "flapping")
    assert flapping.detail["changes"] == 5 and flapping.at == at(240)  # the fifth change
    last_clear = 3 * 120 + 60
    s.advance(last_clear + HOLD)
    assert incident.state is IncidentState.OPEN  # held down, not resolved after the usual hold
    s.advance(last_clear + 30 * 60)
    assert incident.state is IncidentState.RESOLVED and incident.resolved_at == at(last_clear + 30 * 60)
    resolved = incident.timeline[-1]
    assert "flap hold-down" in resolved.detail["detail"] and resolved.detail["hold_seconds"] == 1800


def test_a_flap_that_returns_within_the_hold_down_is_no_new_incident(tmp_path):
    s = Scenario(rules_from(tmp_path), SETTINGS)
    flap(s, 4, instance="a")
    s.push(1200, alert("FlappyThing", instance="a", starts=1200))  # 13 min after the last clear
    assert len(s.incidents) == 1 and s.only().firing == 1 and "reopened" not in kinds(s.only())


def test_an_alert_that_does_not_flap_resolves_after_the_usual_hold(tmp_path):
    s = Scenario(rules_from(tmp_path), SETTINGS)
    flap(s, 2, instance="a")  # 4 changes: not flapping
    s.advance(180 + HOLD)
    assert s.only().state is IncidentState.RESOLVED and "flapping" not in kinds(s.only())


def test_titles_count_alerts_not_firings(tmp_path):
    s = Scenario(rules_from(tmp_path), SETTINGS)
    flap(s, 4, instance="a")
    assert s.only().title == "FlappyThing on a"  # one alert, fired four times
    s2 = Scenario(rules_from(tmp_path, GROUP_BY_NAMESPACE), SETTINGS)
    flap(s2, 3, namespace="shop", instance="a")
    s2.push(400, alert("Other", namespace="shop", starts=400))
    assert s2.only().title == "FlappyThing and 1 more alert: 1 Other (namespace=shop)"  # two alerts, four firings


def test_a_title_leads_with_the_likeliest_cause_and_counts_the_rest_by_name():
    names = {"NodeDown": 2, "KubePodNotReady": 9, "KubeDeploymentReplicasMismatch": 3, "TargetDown": 1,
             "KubeNodeNotReady": 1}
    assert decisions.title(names, 16, None, {"cluster": "eu"}, "NodeDown", lambda: "node-7") == (
        "NodeDown on node-7 and 15 more alerts: 9 KubePodNotReady, 3 KubeDeploymentReplicasMismatch, 1 NodeDown"
        " and 2 more names (cluster=eu)")  # ties in the order first seen
    # Without a cause among them, the most frequent name leads; one name alone is counted.
    assert decisions.title({"A": 2, "B": 1}, 3, None, {}, "Gone", lambda: "x") == "A and 2 more alerts: 1 A, 1 B"
    assert decisions.title({"KubePodNotReady": 12}, 12, None, {"cluster": "eu"}) == "12 KubePodNotReady alerts (cluster=eu)"
    assert decisions.title({"NodeDown": 1}, 1, None, {}, "NodeDown", lambda: "node-7") == "NodeDown on node-7"


# -- replay and a live engine agree ----------------------------------------------------------------


def _v2(name: str, starts: float, ends: float) -> bytes:
    return json.dumps([{"labels": {"alertname": name, "instance": "a"}, "startsAt": rfc3339(at(starts)),
                        "endsAt": rfc3339(at(ends))}]).encode()


def _generic(name: str) -> bytes:  # a script that re-sends "firing" and never "resolved"
    return json.dumps({"alerts": [{"labels": {"alertname": name, "host": "b"}, "status": "firing"}]}).encode()


# (seconds from T0, source, body): a v2 alert re-sent once then silent; a generic alert re-sent then
# silent past the silence timeout; a v2 alert flapping (three 60 s episodes, each expiring); and a
# late alert that moves replay's clock past every timer.
TRAFFIC = [(0, "prometheus", _v2("DiskFull", 0, 240)), (30, "generic", _generic("Backup")),
           (180, "prometheus", _v2("DiskFull", 0, 420)), (200, "generic", _generic("Backup")),
           *[(t, "prometheus", _v2("Flappy", t, t + 60)) for t in (400, 520, 640)],
           (3000, "prometheus", _v2("Late", 3000, 3600))]


@pytest.mark.parametrize("restart_after", [None, 700])
async def test_replay_and_a_live_engine_agree_on_alerts_that_time_out_and_flap(tmp_path, restart_after):
    rules = rules_from(tmp_path)
    policy = wiring.ingest_policy(parse_config({"ingest": {"silence_timeout": "10m"}}, environ={}))
    replayed = replayed_engine(tmp_path, rules, SETTINGS, policy, TRAFFIC)
    live = incident_lines(await live_engine(tmp_path, rules, SETTINGS, policy, restart_after, TRAFFIC))
    assert live == incident_lines(replayed)
    disk, backup, flappy, _ = live
    assert disk[0]["resolved_at"] == rfc3339(at(420 + HOLD))  # the re-sent endsAt, then the hold
    assert backup[0]["resolved_at"] == rfc3339(at(200 + 600 + HOLD))  # silent for the timeout, then the hold
    assert len(flappy[0]["fingerprints"]) == 1 and flappy[0]["resolved_at"] == rfc3339(at(700 + 1800))  # the flap hold-down


def _replica(replica: str, starts: float, ends: float, resolved: bool = False) -> bytes:
    """A Prometheus replica's v2 post of one alert: its own startsAt (it evaluates at its own moments)."""
    return json.dumps([{"labels": {"alertname": "AlwaysFiring", "instance": "a", "replica": replica},
                        "startsAt": rfc3339(at(starts)), "endsAt": rfc3339(at(ends))}]).encode()


# Two replicas report one alert 7 s apart, re-send it, and resolve it 7 s apart; a late alert then
# moves replay's clock past every timer.
HA_TRAFFIC = [(0, "prometheus", _replica("0", 0, 240)), (7, "prometheus", _replica("1", 7, 247)),
              (60, "prometheus", _replica("0", 0, 300)), (67, "prometheus", _replica("1", 7, 307)),
              (120, "prometheus", _replica("0", 0, 120)), (127, "prometheus", _replica("1", 7, 127)),
              (3000, "prometheus", _v2("Late", 3000, 3600))]


@pytest.mark.parametrize("restart_after", [None, 100])
async def test_ha_replicas_of_one_alert_are_one_episode_live_and_in_replay(tmp_path, restart_after):
    """Alertmanager merges alerts of one fingerprint whose activity overlaps (keeping the earlier
    startsAt): two replicas' startsAt are one episode, not "AlwaysFiring and 1 more alert"."""
    rules = rules_from(tmp_path)
    policy = wiring.ingest_policy(parse_config({"ingest": {"fingerprint_ignore_labels": {"prometheus": ["replica"]}}},
                                               environ={}))
    replayed = replayed_engine(tmp_path, rules, SETTINGS, policy, HA_TRAFFIC)
    live = incident_lines(await live_engine(tmp_path, rules, SETTINGS, policy, restart_after, HA_TRAFFIC))
    assert live == incident_lines(replayed)
    always = incident_lines(replayed)[0][0]
    assert always["title"] == "AlwaysFiring on a" and len(always["fingerprints"]) == 1
    assert always["resolved_at"] == rfc3339(at(120 + HOLD))  # the first replica's resolution, then the hold
    [incident] = [i for i in replayed.incidents.values() if i.title == "AlwaysFiring on a"]
    assert list(incident.members) == [(incident.members[next(iter(incident.members))].fingerprint, at(0))]
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    with store.connect() as connection:
        keys = connection.execute(select(incident_members.c.incident_id, incident_members.c.starts_at_us)).all()
    store.dispose()
    assert sorted(keys) == [(incident.id, to_us(at(0))), ("INC-000002", to_us(at(3000)))]


def _from_alertmanager(item):
    return msgspec.structs.replace(item, source=Source.ALERTMANAGER)


def test_an_alertmanager_view_with_a_later_starts_at_is_the_next_episode_and_ends_the_one_held(tmp_path):
    """Alertmanager keeps the earliest startsAt of the views of one alert it merges, and sends an
    alert that fired again before its group's next notification in place of the episode whose end
    it never sent: a later startsAt is the next episode, and the one held ended before it."""
    s = Scenario(rules_from(tmp_path), SETTINGS)
    s.push(30, _from_alertmanager(alert("PostgresqlDown", starts=0, instance="db-1")))
    s.push(40, _from_alertmanager(alert("PostgresqlDown", starts=-7, instance="db-1")))  # an earlier view: the same
    s.push(360, _from_alertmanager(alert("PostgresqlDown", starts=270, ends=330, instance="db-1")))
    incident = s.only()
    first, second = incident.members.values()
    assert (first.starts_at, first.status, first.ends_at) == (at(0), AlertStatus.RESOLVED, at(270))
    assert (second.starts_at, second.status, second.ends_at) == (at(270), AlertStatus.RESOLVED, at(330))
    # Another sender's later startsAt (a Prometheus replica's, a script's send time) is the same episode.
    s.push(400, alert("NodeDown", starts=400, instance="n1"))
    s.push(420, alert("NodeDown", starts=415, instance="n1"))
    [node] = [i for i in s.incidents if i is not incident]
    assert len(node.members) == 1 and node.firing == 1


# -- open only at N alerts ----------------------------------------------------------------------

AT_THREE = {"name": "three-nodes", "kind": "group", "matchers": ['alertname="NodeDown"'], "group_by": ["cluster"],
            "window": "10m", "min_alerts": 3}


def test_a_group_opens_no_incident_below_min_alerts_and_its_alerts_are_candidates(tmp_path):
    s = Scenario(rules_from(tmp_path, AT_THREE), SETTINGS)
    s.push(0, alert("NodeDown", cluster="eu", instance="n1"))
    s.push(60, alert("NodeDown", cluster="eu", instance="n2"), alert("NodeDown", cluster="us", instance="n9"))
    assert s.incidents == []
    held = s.engine.candidates()
    assert [(c.alert.labels["instance"], c.rule, c.group_labels, c.min_alerts) for c in held] == [
        ("n1", "three-nodes", {"cluster": "eu"}, 3), ("n2", "three-nodes", {"cluster": "eu"}, 3),
        ("n9", "three-nodes", {"cluster": "us"}, 3)]


def test_the_alert_that_reaches_min_alerts_opens_the_incident_with_every_candidate(tmp_path):
    s = Scenario(rules_from(tmp_path, AT_THREE), SETTINGS)
    s.push(0, alert("NodeDown", cluster="eu", instance="n1", expires=900))
    s.push(60, alert("NodeDown", cluster="eu", instance="n2"))
    s.push(120, alert("NodeDown", cluster="eu", instance="n3"))
    incident = s.only()
    assert s.groups() == [{"NodeDown/eu/n1", "NodeDown/eu/n2", "NodeDown/eu/n3"}]
    assert incident.opened_at == at(120) and incident.firing == 3 and s.engine.candidates() == ()
    why = next(iter(incident.members.values())).why
    assert why.reason == JoinReason.GROUP and why.rule == "three-nodes" and "reached min_alerts 3" in why.detail
    assert next(iter(incident.members.values())).ends_at == at(900)  # a candidate keeps its endsAt
    s.push(180, alert("NodeDown", cluster="eu", instance="n4"))
    assert len(s.only().members) == 4  # the group's incident is open: later alerts join it


def test_candidates_count_within_the_window_and_only_while_firing(tmp_path):
    s = Scenario(rules_from(tmp_path, AT_THREE), SETTINGS)
    s.push(0, alert("NodeDown", cluster="eu", instance="n1"))
    s.push(30, alert("NodeDown", cluster="eu", instance="n2"))
    s.push(40, alert("NodeDown", cluster="eu", instance="n2", ends=40))  # resolved: no longer counted
    s.push(500, alert("NodeDown", cluster="eu", instance="n3"))
    assert s.incidents == []
    s.advance(600)  # n1 arrived a window ago
    assert [c.alert.labels["instance"] for c in s.engine.candidates()] == ["n3"]
    s.push(700, alert("NodeDown", cluster="eu", instance="n4", expires=710))
    s.advance(720)  # n4's endsAt passed: no longer counted either
    s.push(730, alert("NodeDown", cluster="eu", instance="n5"))
    assert s.incidents == []
    s.push(740, alert("NodeDown", cluster="eu", instance="n6"))
    assert s.groups() == [{"NodeDown/eu/n3", "NodeDown/eu/n5", "NodeDown/eu/n6"}]


def test_one_alert_firing_again_is_one_alert_towards_min_alerts(tmp_path):
    s = Scenario(rules_from(tmp_path, AT_THREE), SETTINGS)
    for start in (0, 60, 120):  # a new startsAt each time (a sender without startsAt), never resolved
        s.push(start, alert("NodeDown", cluster="eu", instance="n1", starts=start))
    # While it fires, each send is the same episode (as Alertmanager merges them): one candidate.
    assert s.incidents == [] and [c.alert.starts_at for c in s.engine.candidates()] == [at(0)]


async def _node_down(client, engine, *instances) -> None:
    """NodeDown on each instance, posted by Alertmanager; then one engine step."""
    body = {"version": "4", "status": "firing", "alerts": [
        {"status": "firing", "labels": {"alertname": "NodeDown", "cluster": "eu", "instance": instance},
         "startsAt": "2026-11-23T04:00:00Z", "endsAt": "0001-01-01T00:00:00Z"} for instance in instances]}
    assert (await post_json(client, "/api/v1/alertmanager", body)).status == 200
    await engine.run_step()


async def test_candidates_show_in_the_api_and_metrics_until_their_group_opens(app_factory, tmp_path):
    rules_from(tmp_path, AT_THREE)
    client = await app_factory(rules={"dir": str(tmp_path / "rules")})
    service = client.app[SERVICE]

    await _node_down(client, service, "n1", "n2")
    held = (await (await client.get("/api/v1/candidates")).json())["candidates"]
    assert [(c["labels"]["instance"], c["rule"], c["group"], c["alerts"], c["min_alerts"]) for c in held] == [
        ("n1", "three-nodes", {"cluster": "eu"}, 2, 3), ("n2", "three-nodes", {"cluster": "eu"}, 2, 3)]
    assert (await (await client.get("/api/v1/incidents")).json())["incidents"] == []
    assert 'correlator_incident_candidates{rule="three-nodes"} 2.0' in await (await client.get("/metrics")).text()
    assert (await client.get("/api/v1/candidates?limit=0")).status == 400

    await _node_down(client, service, "n3")
    assert (await (await client.get("/api/v1/candidates")).json())["candidates"] == []
    [incident] = (await (await client.get("/api/v1/incidents")).json())["incidents"]
    assert incident["firing"] == 3


async def test_candidates_are_rebuilt_after_a_restart(app_factory, tmp_path, db_url):
    """A restarted engine holds the same candidates (rebuilt from the store's firing alerts that
    no incident holds) and opens the group's incident at the same alert as without a restart."""
    rules_from(tmp_path, AT_THREE)
    client = await app_factory(url=db_url, rules={"dir": str(tmp_path / "rules")})
    service = client.app[SERVICE]

    await _node_down(client, service, "n1", "n2")
    await service.stop()
    restarted = EngineService(client.app[ENGINE], service.engine.rules, service.engine.settings, parsers({}),
                              wiring.ingest_policy(parse_config({}, environ={})))
    await restarted.restore()
    assert restarted.candidates == service.candidates and len(restarted.candidates) == 2
    await _node_down(client, restarted, "n1")  # a re-send: still two alerts
    assert restarted.engine.incidents == {}
    await _node_down(client, restarted, "n3")
    [incident] = restarted.engine.incidents.values()
    assert incident.firing == 3 and restarted.candidates == ()


def test_a_restart_rebuilds_candidates_once_per_episode_of_replicas(tmp_path):
    """The store lists each replica's startsAt apart; the candidates rebuilt from it count the
    alert once, as the engine did (its replicas' views are one episode)."""
    s = Scenario(rules_from(tmp_path, AT_THREE), SETTINGS)
    n1, replica = (alert("NodeDown", cluster="eu", instance="n1", starts=t) for t in (0, 7))
    n2 = alert("NodeDown", cluster="eu", instance="n2", starts=30)
    s.push(0, n1).push(7, replica).push(30, n2)
    restarted = Scenario(rules_from(tmp_path, AT_THREE), SETTINGS)
    restarted.engine.restore([], [], [], 0, 0)
    restarted.engine.restore_unplaced([n1, replica, n2])
    assert [(c.alert.labels["instance"], c.alert.starts_at) for c in restarted.engine.candidates()] == [
        (c.alert.labels["instance"], c.alert.starts_at) for c in s.engine.candidates()] == [("n1", at(0)), ("n2", at(30))]


def test_only_by_reads_events_recorded_after_it_was_last_asked():
    opened = datetime(2026, 12, 3, tzinfo=timezone.utc)
    incident = Incident("INC-1", IncidentState.OPEN, "t", opened, opened, "g")
    incident.record(opened, TimelineKind.CREATED)
    assert incident.only_by("correlator")
    incident.record(opened, TimelineKind.ALERT_JOINED)
    assert incident.only_by("correlator")
    incident.record(opened, TimelineKind.ACKNOWLEDGED, actor="alice")
    assert not incident.only_by("correlator")
    incident.timeline = incident.timeline[:1]  # a timeline put in place anew is read anew
    assert incident.only_by("correlator")


def test_a_flapping_alert_firing_again_long_after_its_last_clear_is_a_new_incident(tmp_path):
    # Its flaps hold its incident open, but twenty minutes and more after its last episode ended it
    # fires for another cause (a busy service's error rate, a fault every quarter hour).
    s = Scenario(rules_from(tmp_path), SETTINGS)
    flap(s, 4, instance="a")  # flapping; the last clear at 420 s
    s.push(420 + 21 * 60, alert("FlappyThing", instance="a", starts=420 + 21 * 60))
    assert len(s.incidents) == 2
    held, new = sorted(s.incidents, key=lambda i: i.opened_at)
    assert held.state is IncidentState.OPEN and len(held.members) == 4  # still held down, not rejoined
    assert [m.why.reason for m in new.members.values()] == [JoinReason.NEW_INCIDENT]
