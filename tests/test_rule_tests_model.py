"""`correlator rules test` runs the engine `serve` runs: the configured model and learning, unless a
test file says `model: false` (the rules alone)."""

import pytest

from correlator.cli import main

QUIET_HOST = """
{header}
tests:
  - name: alerts no rule knows, on one quiet host
    alerts:
      - {{at: 0s, labels: {{alertname: QuuxFrobbed, instance: "db1:9100", severity: critical}}}}
      - {{at: 10s, labels: {{alertname: QuuxWibbled, instance: "db1:9100", severity: critical}}}}
      - {{at: 20s, labels: {{alertname: QuuxSnarfed, instance: "db1:9100", severity: critical}}}}
    expect:
{expect}
"""
ONE_INCIDENT = "      - {alerts: [0, 1, 2], category: %s}"
ALONE = "\n".join(f"      - {{alerts: [{index}]}}" for index in range(3))


def run(tmp_path, header: str, expect: str, *flags: str) -> int:
    path = tmp_path / "quiet-host.yaml"
    path.write_text(QUIET_HOST.format(header=header, expect=expect))
    return main(["rules", "test", *flags, str(path)])


def test_rule_tests_run_with_the_configured_model_and_learning(tmp_path, capsys):
    # Learning joins them on the quiet host they share; no rule or lexicon word classifies them: the model does.
    assert run(tmp_path, "", ONE_INCIDENT % "software") == 0, capsys.readouterr().out


@pytest.mark.parametrize("how", ["flag", "config"])
def test_without_the_model_nothing_classifies_them(tmp_path, capsys, monkeypatch, how):
    if how == "config":
        monkeypatch.setenv("CORRELATOR_ML_ENABLED", "false")
    assert run(tmp_path, "", ONE_INCIDENT % "software", *(["--no-model"] if how == "flag" else [])) == 1
    assert "incident with alerts [0, 1, 2]: category: want 'software', got None" in capsys.readouterr().out


def test_a_file_can_ask_for_the_rules_alone(tmp_path, capsys):
    assert run(tmp_path, "model: false", ALONE) == 0, capsys.readouterr().out


def test_a_configured_model_that_does_not_load_stops_it_as_it_stops_serve(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CORRELATOR_ML_MODEL_DIR", str(tmp_path / "no-model"))
    assert run(tmp_path, "", ONE_INCIDENT % "software") == 2
    assert "no-model" in capsys.readouterr().err
