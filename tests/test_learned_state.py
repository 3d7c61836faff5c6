"""The learned state outside the engine: saved with the engine step, restored at start, shown by
the API and `correlator learned`, warm-started from a recording, exported as relate rules."""

import json
from datetime import datetime, timedelta, timezone

from correlator.app import SERVICE
from correlator.cli import main
from correlator.learning import state
from correlator.learning.joiner import Learner
from correlator.rules.loader import load_rules
from tests.conftest import post_json

T0 = datetime(2026, 11, 23, 4, 0, tzinfo=timezone.utc)


def webhook(alerts: list[dict]) -> dict:
    return {"version": "4", "status": "firing", "alerts": [
        {"status": "firing", "labels": labels, "startsAt": at, "endsAt": "0001-01-01T00:00:00Z"}
        for labels, at in ((a["labels"], a["at"]) for a in alerts)]}


def history(outages: int = 10) -> list[tuple[datetime, dict]]:
    """A database outage and its client's errors on one host, every two hours, on ten hosts."""
    found = []
    for n in range(outages):
        at = T0 + timedelta(hours=2 * n)
        host = f"db-{n}:9187"
        found.append((at, {"alertname": "PostgresqlDown", "instance": host, "cluster": "eu"}))
        found.append((at + timedelta(seconds=90), {"alertname": "PostgresqlTooManyErrors", "instance": host,
                                                   "cluster": "eu"}))
    return found


def write_recording(path, alerts: list[tuple[datetime, dict]]) -> None:
    with path.open("w") as out:
        for at, labels in alerts:
            stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
            out.write(json.dumps({"at": stamp, "source": "alertmanager",
                                  "body": webhook([{"labels": labels, "at": stamp}])}) + "\n")


def test_a_snapshot_restores_what_was_learned_exactly():
    learner = Learner()
    for n, (at, labels) in enumerate(history()):
        learner.learn({**labels, "node": f"w{n % 3}"}, (str(n), at), at.timestamp(), at.timestamp(),
                      {"summary": f"{labels['alertname']} on db-host-{n}"})  # a name no label gave yet
    client = {"alertname": "SqlErrors", "service": "shop", "upstream": "db-0:5432", "cluster": "eu"}
    later = (at + timedelta(minutes=1)).timestamp()
    learner.learn(client, ("client", later), later, later)
    copy = state.loaded(state.snapshot(learner))
    assert copy.cooccurrence.counts == learner.cooccurrence.counts
    assert copy.topology.edges == learner.topology.edges and copy.topology.seen == learner.topology.seen
    assert copy.topology.dependency_edges == learner.topology.dependency_edges
    assert copy.topology.by_dependency("workload|eu|shop", "host||db-0")
    [shop] = state.topology_view(copy, 10, "shop")
    assert {"entity": "host||db-0", "alerts": 1.0, "dependency": True} in shop["related"]
    assert copy.topology.clusters == learner.topology.clusters and set(learner.topology.clusters) == {"eu"}
    assert copy.topology.bursts == learner.topology.bursts and learner.topology.bursts
    assert copy.topology.prose == learner.topology.prose and "host||db-host-0" in learner.topology.prose
    assert copy.storms.rates == learner.storms.rates and copy.storms.storms == learner.storms.storms
    assert copy.cluster_since == learner.cluster_since == {"eu": history()[0][0].timestamp()}
    assert state.associations_view(copy, 10) == state.associations_view(learner, 10)


def test_a_state_saved_before_edges_said_what_depends_on_what_reads_every_edge_as_where_a_thing_runs():
    learner = Learner()
    client = {"alertname": "SqlErrors", "service": "shop", "upstream": "db-0:5432", "cluster": "eu"}
    learner.learn(client, ("client", T0), T0.timestamp(), T0.timestamp())
    saved = state.snapshot(learner)
    part = json.loads(saved["topology"])
    del part["body"]["dependency_edges"]  # as an earlier version wrote it
    saved["topology"] = json.dumps(part).encode()
    copy = state.loaded(saved)
    assert copy.topology.edges == learner.topology.edges
    assert not copy.topology.by_dependency("workload|eu|shop", "host||db-0")


async def test_the_learned_state_is_saved_with_the_step_and_restored_at_start(app_factory, db_url):
    every_step = {"save_every": "0s"}  # the default saves every 5 minutes of event time
    first = await app_factory(url=db_url, learning=every_step)
    for at, labels in history(3):
        stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert (await post_json(first, "/api/v1/alertmanager", webhook([{"labels": labels, "at": stamp}]))).status == 200
    await first.app[SERVICE].run_step()
    before = first.app[SERVICE].engine.learner
    await first.close()
    second = await app_factory(url=db_url, learning=every_step)
    after = second.app[SERVICE].engine.learner
    assert after.topology.seen == before.topology.seen and after.cooccurrence.counts == before.cooccurrence.counts
    body = await (await second.get("/api/v1/learned/topology", params={"entity": "db-1"})).json()
    assert [e["entity"] for e in body["entities"]] == ["host||db-1"]  # machines are named across clusters and body["saved_at"]


async def test_the_learned_endpoints_name_a_bad_parameter(app_factory):
    client = await app_factory()
    response = await client.get("/api/v1/learned/associations", params={"limit": "0"})
    assert response.status == 400 and (await response.json())["details"][0]["path"] == "limit"


def test_learned_associations_of_a_recording_become_relate_rules_that_load(tmp_path, capsys):
    recording = tmp_path / "history.jsonl"
    write_recording(recording, history())
    assert main(["learned", "rules", "--recording", str(recording), "--db", f"sqlite:///{tmp_path}/c.db"]) == 0
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "learned.yaml").write_text(capsys.readouterr().out)
    [rule] = load_rules(rules_dir).relations
    assert {m.value for m in [*rule.cause, *rule.effect]} == {"PostgresqlDown", "PostgresqlTooManyErrors"}


def test_warm_start_saves_what_a_recording_teaches_in_the_store(tmp_path, capsys):
    recording, db = tmp_path / "history.jsonl", f"sqlite:///{tmp_path}/c.db"
    write_recording(recording, history())
    assert main(["learned", "warm-start", str(recording), "--db", db]) == 0
    assert main(["learned", "associations", "--db", db]) == 0
    [association] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert association["alertnames"] == ["PostgresqlDown", "PostgresqlTooManyErrors"]


def test_a_recording_with_a_bad_line_stops_a_warm_start_unless_told_to_skip_it_and_name_it(tmp_path, capsys):
    recording, db = tmp_path / "history.jsonl", f"sqlite:///{tmp_path}/c.db"
    write_recording(recording, history())
    lines = recording.read_text().splitlines(keepends=True)
    recording.write_text("".join([*lines[:3], "not json\n", *lines[3:]]))
    assert main(["learned", "warm-start", str(recording), "--db", db]) == 1
    err = capsys.readouterr().err
    assert f"{recording}:4: " in err and "(use --skip-bad to go on)" in err
    assert main(["learned", "warm-start", str(recording), "--db", db, "--skip-bad"]) == 0
    assert f"{recording}:4: skipped: " in capsys.readouterr().err
    assert main(["learned", "associations", "--db", db]) == 0
    [association] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert association["alertnames"] == ["PostgresqlDown", "PostgresqlTooManyErrors"]


def test_an_empty_answer_says_why_and_what_would_fill_it(tmp_path, capsys):
    db = f"sqlite:///{tmp_path}/c.db"
    assert main(["learned", "associations", "--db", db]) == 0
    out, err = capsys.readouterr()
    assert out == "" and "nothing learned yet" in err and "learned warm-start" in err
    recording = tmp_path / "history.jsonl"
    write_recording(recording, history(outages=2))  # two outages: too few to tell from chance
    assert main(["learned", "associations", "--recording", str(recording), "--db", db]) == 0
    out, err = capsys.readouterr()
    assert out == "" and "no alert-name pair is associated yet" in err and "at least 4 times" in err
    assert main(["learned", "topology", "--recording", str(recording), "--db", db, "--filter", "nonesuch"]) == 0
    out, err = capsys.readouterr()
    assert out == "" and "no entity's value contains 'nonesuch'" in err
