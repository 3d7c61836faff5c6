"""Hot reload: a broken rule file never replaces the rules in force."""

import shutil
import signal

from correlator.app import RELOADER, SERVICE
from tests.conftest import post_json
from tests.processes import Daemon, http_json, running, wait_for

GOOD = """version: 1
rules:
  - name: by-team
    kind: group
    group_by: [team]
"""
BROKEN = """version: 1
rules:
  - name: by-team
    kind: group
    group_by: [team]
    window: soon
"""


def metric(text: str, name: str) -> float:
    return next(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


async def serving_good_rules(app_factory, tmp_path):
    """A daemon whose rules directory holds GOOD as a.yaml: (its test client, the directory)."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "a.yaml").write_text(GOOD)
    return await app_factory(rules={"dir": str(rules)}), rules


async def test_reload_over_the_api_rejects_a_broken_file_and_keeps_the_rules(app_factory, tmp_path):
    client, rules = await serving_good_rules(app_factory, tmp_path)
    in_force = client.app[SERVICE].engine.rules
    (rules / "a.yaml").write_text(BROKEN)
    response = await post_json(client, "/api/v1/rules/reload", {})
    assert response.status == 400
    [detail] = (await response.json())["details"]
    assert detail["path"] == f"{rules / 'a.yaml'}:6" and "invalid duration 'soon'" in detail["reason"]
    assert client.app[SERVICE].engine.rules is in_force
    (rules / "a.yaml").write_text(GOOD.replace("[team]", "[team, cluster]"))
    response = await post_json(client, "/api/v1/rules/reload", {})
    assert response.status == 200 and (await response.json())["rules"] == 1
    assert client.app[SERVICE].engine.rules.groups[0].group_by == ["team", "cluster"]
    text = await (await client.get("/metrics")).text()
    assert metric(text, 'correlator_rules_reloads_total{outcome="failure",trigger="api"}') == 1
    assert metric(text, 'correlator_rules_reloads_total{outcome="success",trigger="api"}') == 1


async def test_a_file_that_is_not_utf8_or_an_infinite_rule_is_refused_naming_file_and_line(app_factory, tmp_path):
    client, rules = await serving_good_rules(app_factory, tmp_path)
    in_force = client.app[SERVICE].engine.rules
    (rules / "b.yaml").write_bytes(GOOD.replace("by-team", "by-team-b").encode() + b"# r\xe9seau\n")  # Latin-1
    response = await post_json(client, "/api/v1/rules/reload", {})
    assert response.status == 400
    [detail] = (await response.json())["details"]
    assert detail["path"] == f"{rules / 'b.yaml'}:6" and detail["reason"].startswith("not UTF-8 text: byte 0xe9")
    (rules / "b.yaml").write_text("version: 1\nrules:\n  - &r {name: x, kind: group, group_by: [*r]}\n")
    response = await post_json(client, "/api/v1/rules/reload", {})
    assert response.status == 400
    [detail] = (await response.json())["details"]
    assert detail["path"] == f"{rules / 'b.yaml'}:3" and "alias refers to a node that contains it" in detail["reason"]
    assert client.app[SERVICE].engine.rules is in_force
    checked = await (await post_json(client, "/api/v1/rules/check", {"name": "x.yaml", "content": "a: &a [*a]"})).json()
    assert checked["valid"] is False and "contains it" in checked["errors"][0]["reason"]
    status = await (await client.get("/api/v1/rules")).json()
    assert status["last_reload"]["outcome"] == "failure"


async def test_a_changed_file_is_picked_up(app_factory, tmp_path):
    client, rules = await serving_good_rules(app_factory, tmp_path)
    reloader = client.app[RELOADER]
    assert not await reloader.check_for_changes()
    (rules / "b.yaml").write_text(GOOD.replace("by-team", "by-team-2"))
    assert await reloader.check_for_changes()
    assert [g.name for g in client.app[SERVICE].engine.rules.groups] == ["by-team", "by-team-2"]


async def test_new_rules_apply_to_new_alerts(app_factory, tmp_path):
    client, rules = await serving_good_rules(app_factory, tmp_path)
    await post_json(client, "/api/v2/alerts", [{"labels": {"alertname": "A", "team": "db"}}])
    await client.app[SERVICE].run_step()
    (rules / "a.yaml").write_text(GOOD.replace("[team]", "[alertname]"))
    assert await client.app[RELOADER].check_for_changes()
    await post_json(client, "/api/v2/alerts", [{"labels": {"alertname": "B", "team": "web"}},
                                               {"labels": {"alertname": "B", "team": "ops"}}])
    await client.app[SERVICE].run_step()
    listing = await (await client.get("/api/v1/incidents")).json()
    # The two B alerts of different teams group by alertname now; A's incident is kept as it was.
    assert sorted(i["firing"] for i in listing["incidents"]) == [1, 2]


def test_sighup_reloads_the_daemon(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "a.yaml").write_text(GOOD)
    with running(Daemon(tmp_path, {"rules": {"dir": str(rules)}})) as daemon:
        (rules / "a.yaml").write_text(BROKEN)
        daemon.process.send_signal(signal.SIGHUP)
        wait_for(lambda: "rules rejected" in daemon.log(), timeout=20, what="the reload to be rejected")
        assert http_json("GET", f"{daemon.url}/readyz")[0] == 200
        shutil.copy(rules / "a.yaml", tmp_path / "broken.yaml")
        (rules / "a.yaml").write_text(GOOD)
        daemon.process.send_signal(signal.SIGHUP)
        wait_for(lambda: 'msg="rules reloaded" trigger=signal' in daemon.log(), timeout=20,
                 what="the reload to succeed")
