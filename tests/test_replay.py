"""`correlator replay` and `serve --record`: the engine offline, in recorded event time."""

import json

from correlator import wiring
from correlator.cli import main
from correlator.config import Config
from correlator.engine.core import Engine
from correlator.ingest.sources import parsers
from correlator.offline.replay import replay as replay_recording
from correlator.rules.loader import load_rules
from correlator.shipped import shipped_dir
from tests.conftest import CAPTURES, post_json


def replay(tmp_path, recording, *extra):
    out = tmp_path / "incidents.jsonl"
    code = main(["replay", str(recording), "--out", str(out), *extra])
    incidents = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    return code, incidents


def test_replay_of_the_captured_traffic(tmp_path, capsys):
    code, incidents = replay(tmp_path, CAPTURES / "recording.jsonl")
    assert code == 0
    by_fingerprints = {tuple(i["fingerprints"]): i for i in incidents}
    # HighCPU on three nodes is one incident; the crash-looping pod on node1 is linked to it
    # (node-and-its-workloads); Prometheus's AlwaysFiring, a generic name, is an incident too.
    # No shipped rule groups HighCPU: the model clusters it.
    assert set(by_fingerprints) == {("7a89719ae5094d2a", "c2de2fe3aba38383", "d17564a9e0bc2360", "f735ca39333b8045"),
                                    ("735c39584b653633",)}
    cpu = by_fingerprints[("7a89719ae5094d2a", "c2de2fe3aba38383", "d17564a9e0bc2360", "f735ca39333b8045")]
    # Led by the likeliest cause (the first HighCPU), then what else fired.
    assert cpu["title"] == "HighCPU on node1 and 3 more alerts: 2 HighCPU, 1 KubePodCrashLooping (cluster=prod-eu)"
    assert cpu["priority"] == "P1"  # three hosts and a namespace (high impact) x critical
    # The lexicon reads the root alert's words (HighCPU: cpu): nothing is left to the model.
    assert (cpu["category"], cpu["classification_confidence"]) == ("capacity", {})
    for key in ("id", "title", "fingerprints", "category", "service_area", "priority", "team", "opened_at",
                "resolved_at"):
        assert all(key in incident for incident in incidents)
    summary = capsys.readouterr().err
    assert "8 notifications, 5 alerts in, 2 incidents out (reduction 2.5x)" in summary


def test_replay_applies_recorded_operator_actions_in_order(tmp_path, capsys):
    recording = tmp_path / "r.jsonl"
    lines = (CAPTURES / "recording.jsonl").read_text().splitlines()
    action = {"incident_id": "INC-000001", "action": "priority", "body": {"priority": "P3", "reason": "lab"},
              "actor": "alice", "requested_at": "2026-11-23T04:30:00Z"}
    recording.write_text("\n".join([*lines, json.dumps({"at": "2026-11-23T04:30:00Z", "source": "action",
                                                        "body": action})]) + "\n")
    code, incidents = replay(tmp_path, recording)
    assert code == 0
    assert [i["priority"] for i in incidents if i["id"] == "INC-000001"] == ["P3"]
    assert "1 operator actions" in capsys.readouterr().err


def test_a_long_replay_reports_its_progress():
    reports = []
    config = Config()
    engine = Engine(load_rules(shipped_dir("rules")), wiring.engine_settings(config))
    summary = replay_recording(engine, CAPTURES / "recording.jsonl", parsers({}), wiring.ingest_policy(config),
                               progress=lambda share, so_far: reports.append((share, so_far.notifications)),
                               progress_seconds=0.0)  # a report after every notification
    assert [n for _, n in reports] == list(range(1, summary.notifications + 1))
    shares = [share for share, _ in reports]
    assert shares == sorted(shares) and 0 < shares[0] < 1 and shares[-1] == 1.0


def test_replay_is_deterministic(tmp_path):
    first = replay(tmp_path, CAPTURES / "recording.jsonl")
    second = replay(tmp_path, CAPTURES / "recording.jsonl")
    assert first == second


def test_a_bad_line_stops_the_run_with_its_number(tmp_path, capsys):
    recording = tmp_path / "r.jsonl"
    lines = (CAPTURES / "recording.jsonl").read_text().splitlines()
    recording.write_text("\n".join([lines[0], "{not json", lines[1], '{"at": "x", "source": "a", "body": {}}']) + "\n")
    code, _ = replay(tmp_path, recording)
    assert code == 1
    assert f"{recording}:2: not a recording line" in capsys.readouterr().err


def test_a_receive_time_out_of_range_is_a_bad_line_not_a_crash(tmp_path, capsys):
    recording = tmp_path / "r.jsonl"
    line = json.loads((CAPTURES / "recording.jsonl").read_text().splitlines()[0])
    recording.write_text(json.dumps({**line, "at": "9999-12-31T23:59:59-14:00"}) + "\n")
    code, _ = replay(tmp_path, recording)
    assert code == 1
    assert f"{recording}:1: at:" in capsys.readouterr().err


def test_skip_bad_reports_and_goes_on(tmp_path, capsys):
    recording = tmp_path / "r.jsonl"
    lines = (CAPTURES / "recording.jsonl").read_text().splitlines()
    recording.write_text("\n".join([lines[0], '{"at": "2026-11-23T04:22:00Z", "source": "nagios", "body": {}}',
                                    lines[1]]) + "\n")
    code, incidents = replay(tmp_path, recording, "--skip-bad")
    assert code == 0 and incidents
    assert "1 bad lines skipped" in capsys.readouterr().err


async def test_serve_record_writes_what_replay_reads(app_factory, tmp_path):
    recording = tmp_path / "recorded.jsonl"
    client = await app_factory(server={"record": str(recording)})
    for number in ("01", "02", "03"):
        assert (await post_json(client, "/api/v1/alertmanager",
                                (CAPTURES / f"alertmanager-0.25/webhook-{number}.json").read_bytes())).status == 200
    assert (await post_json(client, "/api/v1/alertmanager", b"{bad")).status == 400  # not recorded
    lines = [json.loads(line) for line in recording.read_text().splitlines()]
    assert [line["source"] for line in lines] == ["alertmanager"] * 3
    assert lines[0]["body"]["groupKey"] == '{}:{alertname="HighCPU", cluster="prod-eu"}'
    code, incidents = replay(tmp_path, recording)
    assert code == 0 and len(incidents) == 1 and len(incidents[0]["fingerprints"]) == 4


def test_replay_with_rules_that_do_not_load_says_so(tmp_path, capsys):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "broken.yaml").write_text("version: 1\nrules:\n  - {name: x, kind: group}\n")
    code, _ = replay(tmp_path, CAPTURES / "recording.jsonl", "--rules", str(rules))
    assert code == 2
    assert f"the rules in {rules} do not load" in capsys.readouterr().err


def test_replay_scores_its_incidents_against_a_truth_file(tmp_path, capsys):
    from bench.estates import generate, write
    recording, truth = tmp_path / "r.jsonl", tmp_path / "truth.jsonl"
    write(generate(1, hours=0.5, density=60, estate="harbor"), recording, truth)
    code, incidents = replay(tmp_path, recording, "--truth", str(truth), "--json")
    assert code == 0
    score = json.loads(capsys.readouterr().out)
    labeled = sum(1 for line in truth.read_text().splitlines() if json.loads(line)["incident"] is not None)
    assert score["grouping"]["episodes"] == labeled and score["missing"] == 0
    assert score["alone"]["pair_f1"] == 0.0 and score["alertmanager"]["episodes"] == labeled
    assert set(score["by_vocabulary"]) == {json.loads(line)["vocabulary"] for line in truth.read_text().splitlines()}
    # the output names each incident's episodes, so a score can be recomputed from the file alone
    assert sum(len(i["episodes"]) for i in incidents) == sum(i["alerts"] for i in incidents)
    # in join order, each with the join that placed it; the pairs each join made are scored
    first = next(i for i in incidents if len(i["episodes"]) > 1)["episodes"]
    assert first[0][3] in ("new_incident", "group") and [e[2] for e in first] == sorted(e[2] for e in first)
    joins = {(j["reason"], j["rule"]): j for j in score["by_join"]}
    assert sum(j["right"] + j["wrong"] for j in joins.values()) == sum(
        len(i["episodes"]) * (len(i["episodes"]) - 1) // 2 for i in incidents)


def test_replay_prints_the_score_table_beside_its_references(tmp_path, capsys):
    from bench.estates import generate, write
    recording, truth = tmp_path / "r.jsonl", tmp_path / "truth.jsonl"
    write(generate(2, hours=0.5, density=60, estate="lumen"), recording, truth)
    code, _ = replay(tmp_path, recording, "--truth", str(truth), "--baseline-group-by", "alertname,k8s_cluster")
    out = capsys.readouterr().out
    assert code == 0
    for row in ("correlator", "every alert alone", "alertmanager group_by", "category accuracy", "vocabulary",
                "by the join that placed the later episode"):
        assert row in out


def test_a_draft_truth_file_is_the_replay_to_correct_and_scores_once_corrected(tmp_path, capsys):
    draft = tmp_path / "draft.jsonl"
    code, incidents = replay(tmp_path, CAPTURES / "recording.jsonl", "--draft-truth", str(draft))
    assert code == 0
    assert f"5 episodes written to {draft}" in capsys.readouterr().err
    lines = [json.loads(line) for line in draft.read_text().splitlines()]
    # one line per placed episode, incident by incident in join order, with what a person reads it by
    assert [(line["fingerprint"], line["starts_at"], line["incident"]) for line in lines] == [
        (fingerprint, starts_at, incident["id"]) for incident in incidents
        for fingerprint, starts_at, *_ in incident["episodes"]]
    crash = next(line for line in lines if line["alertname"] == "KubePodCrashLooping")
    assert crash["labels"]["pod"] == "checkout-api-7d9f-abcde" and "alertname" not in crash["labels"]
    assert crash["summary"] == "Pod checkout/checkout-api-7d9f-abcde is crash looping"
    cpu = next(i for i in incidents if crash["fingerprint"] in i["fingerprints"])
    assert (crash["category"], crash["priority"]) == (cpu["category"], cpu["priority"])

    def scored(truth_lines):
        truth = tmp_path / "truth.jsonl"
        truth.write_text("".join(json.dumps(line) + "\n" for line in truth_lines))
        assert replay(tmp_path, CAPTURES / "recording.jsonl", "--truth", str(truth), "--json")[0] == 0
        return json.loads(capsys.readouterr().out)

    as_written = scored(lines)
    assert as_written["grouping"]["episodes"] == 5 and as_written["grouping"]["pair_f1"] == 1.0
    classified = as_written["classification"]
    assert classified["category_accuracy"] == classified["priority_within_one"] == 1.0
    # the person says AlwaysFiring belongs with the CPU incident, and that the crash loop is software
    corrected = [{**line, "incident": cpu["id"]} if line["alertname"] == "AlwaysFiring" else
                 {**line, "category": "software"} if line is crash else line for line in lines]
    score = scored(corrected)
    assert score["grouping"]["pair_precision"] == 1.0 and score["grouping"]["pair_recall"] == 6 / 10
    assert score["classification"]["category_accuracy"] == 4 / 5


def test_a_draft_truth_file_never_overwrites_what_the_replay_reads(tmp_path, capsys):
    truth = tmp_path / "truth.jsonl"
    truth.write_text('{"fingerprint": "7a89719ae5094d2a", "incident": "a"}\n')
    for draft, what in ((truth, "the truth file it scores against"), (tmp_path / "incidents.jsonl", "one file")):
        draft.touch()
        code, _ = replay(tmp_path, CAPTURES / "recording.jsonl", "--truth", str(truth), "--draft-truth", str(draft))
        assert code == 2 and what in capsys.readouterr().err
    assert truth.read_text() == '{"fingerprint": "7a89719ae5094d2a", "incident": "a"}\n'


def test_a_bad_truth_file_stops_replay_with_its_line_number(tmp_path, capsys):
    truth = tmp_path / "truth.jsonl"
    truth.write_text('{"fingerprint": "f1"}\n')
    code, _ = replay(tmp_path, CAPTURES / "recording.jsonl", "--truth", str(truth))
    assert code == 2
    assert f"{truth}: line 1: not a truth line" in capsys.readouterr().err


def test_a_truth_file_of_another_recording_says_that_nothing_was_scored(tmp_path, capsys):
    truth = tmp_path / "truth.jsonl"  # labels an alert this recording does not hold
    truth.write_text('{"fingerprint": "0123456789abcdef", "starts_at": "2026-11-23T04:00:00Z", "incident": "a"}\n')
    code, _ = replay(tmp_path, CAPTURES / "recording.jsonl", "--truth", str(truth))
    assert code == 0
    assert f"{truth}: none of the 1 episodes it labels with an incident is in this replay" in capsys.readouterr().err


def test_a_file_it_cannot_read_or_write_is_named_in_one_line(tmp_path, capsys):
    out = str(tmp_path / "out.jsonl")
    assert main(["replay", str(tmp_path / "none.jsonl"), "--out", out]) == 1
    assert capsys.readouterr().err == f"correlator: {tmp_path / 'none.jsonl'}: No such file or directory\n"
    blocked = tmp_path / "file" / "out.jsonl"  # under a file: no directory to write in
    (tmp_path / "file").write_text("")
    assert main(["replay", str(CAPTURES / "recording.jsonl"), "--out", str(blocked)]) == 1
    assert capsys.readouterr().err == f"correlator: {blocked}: Not a directory\n"  # before replaying anything
    recording = tmp_path / "r.jsonl"
    recording.write_bytes((CAPTURES / "recording.jsonl").read_bytes())
    for command in (["replay", str(recording), "--out"], ["analyze", str(recording), "--out"]):
        assert main([*command, str(recording)]) == 2
        assert "is the recording itself" in capsys.readouterr().err
        assert recording.read_bytes() == (CAPTURES / "recording.jsonl").read_bytes()
    assert main(["learned", "topology", "--recording", str(tmp_path / "none.jsonl"),
                 "--db", f"sqlite:///{tmp_path / 'c.db'}"]) == 1
    assert "none.jsonl: No such file or directory" in capsys.readouterr().err


def test_score_options_without_a_truth_file_are_refused_not_ignored(tmp_path, capsys):
    code, incidents = replay(tmp_path, CAPTURES / "recording.jsonl", "--json")
    assert code == 2 and not incidents
    assert "--json and --baseline-group-by shape the score of --truth" in capsys.readouterr().err


def test_ctrl_c_stops_a_replay_with_one_line(tmp_path, capsys, monkeypatch):
    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr("correlator.offline.replay.replay", interrupted)  # as Ctrl-C lands mid-replay
    code, _ = replay(tmp_path, CAPTURES / "recording.jsonl")
    assert code == 130 and capsys.readouterr().err == "correlator: interrupted\n"


def test_skip_bad_names_each_bad_line_and_why(tmp_path, capsys):
    recording = tmp_path / "r.jsonl"
    lines = (CAPTURES / "recording.jsonl").read_text().splitlines()
    recording.write_text("\n".join([lines[0], '{"at": "2026-11-23T04:22:00Z", "source": "nagios", "body": {}}',
                                    lines[1], "not json"]) + "\n")
    code, _ = replay(tmp_path, recording, "--skip-bad")
    err = capsys.readouterr().err.splitlines()
    assert code == 0
    assert f"correlator: {recording}:2: skipped: unknown source 'nagios'; expected one of" in err[0]
    assert err[1].startswith(f"correlator: {recording}:4: skipped: not a recording line:")
    assert "2 bad lines skipped" in err[2]


def test_skip_bad_names_the_first_bad_lines_and_counts_the_rest(tmp_path, capsys):
    from correlator.offline.replay import MAX_BAD_LINES_KEPT
    recording = tmp_path / "r.jsonl"
    lines = (CAPTURES / "recording.jsonl").read_text().splitlines()
    recording.write_text("\n".join([lines[0], *["x" * 10_000] * 100]) + "\n")
    code, _ = replay(tmp_path, recording, "--skip-bad")
    err = capsys.readouterr().err.splitlines()
    assert code == 0 and len(err) == MAX_BAD_LINES_KEPT + 2  # the named lines, the rest counted, the summary
    assert [line.split(":")[2] for line in err[:MAX_BAD_LINES_KEPT]] == [str(n) for n in range(2, 22)]
    assert max(len(line) for line in err) < 500  # a long line is not echoed whole
    assert err[MAX_BAD_LINES_KEPT] == \
        f"correlator: {recording}: 80 more bad lines skipped (the first 20 are named above)"
    assert "100 bad lines skipped" in err[-1]
