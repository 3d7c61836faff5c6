"""`correlator corpus`, `train` and `analyze` as a user runs them, operators' corrections as labels,
and the safety checks on loading a model."""

import hashlib
import json
import shutil

import pytest
import skops.io

from correlator.cli import main
from correlator.engine.core import Engine
from correlator.ml.artifact import ModelError, load
from correlator.rules.loader import load_rules
from correlator.shipped import shipped_dir
from tests.conftest import post_json


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("corpus")
    assert main(["corpus", "--seeds", "900-902", "--hours", "4", "--out-dir", str(directory)]) == 0
    return directory


@pytest.fixture(scope="module")
def trained(corpus_dir, tmp_path_factory):
    output = tmp_path_factory.mktemp("model")
    assert main(["train", "--data", str(corpus_dir / "labeled.jsonl"), "--output", str(output), "--folds", "2"]) == 0
    return output


def test_train_reports_cross_validated_figures_and_writes_a_loadable_model(trained, capsys):
    manifest = json.loads((trained / "manifest.json").read_text())
    assert manifest["format"] == 1 and manifest["training"]["incidents"] > 50
    for field in ("category", "service_area"):
        assert 0.0 < manifest["metrics"][field]["cv_accuracy"] <= 1.0
        assert 0.0 < manifest["metrics"][field]["cv_macro_f1"] <= 1.0
    model = load(trained)
    category, area = model.classify("w:node w:filesystem w:space w:filling w:up")
    assert 0.0 < category.confidence <= 1.0 and area.label in {"availability", "integrity", "confidentiality"}


def test_training_is_reproducible(corpus_dir, trained, tmp_path):
    assert main(["train", "--data", str(corpus_dir / "labeled.jsonl"), "--output", str(tmp_path), "--folds", "2"]) == 0
    first, second = load(trained), load(tmp_path)
    assert (first.category.named_steps["model"].coef_ == second.category.named_steps["model"].coef_).all()


def test_a_bad_training_file_names_its_line(tmp_path, capsys):
    data = tmp_path / "labeled.jsonl"
    data.write_text('{"id": "a", "alerts": []}\n{"id": "b", "category": "weather", "alerts": []}\n')
    assert main(["train", "--data", str(data), "--output", str(tmp_path / "model")]) == 1
    assert capsys.readouterr().err == f"correlator train: {data}:2: Invalid enum value 'weather' - at `$.category`\n"
    assert not (tmp_path / "model").exists()


def _copy(model_dir, tmp_path):
    target = tmp_path / "model"
    shutil.copytree(model_dir, target)
    return target


def test_a_modified_artifact_is_refused(tmp_path):
    model_dir = _copy(shipped_dir("models"), tmp_path)
    with (model_dir / "correlator-model.skops").open("ab") as artifact:
        artifact.write(b"\0")
    with pytest.raises(ModelError, match="checksum does not match manifest.json"):
        load(model_dir)


def test_another_model_format_is_refused_with_what_to_do(tmp_path):
    model_dir = _copy(shipped_dir("models"), tmp_path)
    manifest = json.loads((model_dir / "manifest.json").read_text())
    (model_dir / "manifest.json").write_text(json.dumps({**manifest, "format": 99}))
    with pytest.raises(ModelError, match="model format 99, this correlator reads format 1; retrain it with"):
        load(model_dir)


class Payload:
    """Stands for code an attacker would like a model file to run on load."""


def test_a_model_file_with_untrusted_types_is_refused(tmp_path):
    model_dir = _copy(shipped_dir("models"), tmp_path)
    artifact = model_dir / "correlator-model.skops"
    skops.io.dump({"idf": [1.0], "payload": Payload()}, artifact)
    manifest = json.loads((model_dir / "manifest.json").read_text())
    manifest["sha256"] = hashlib.sha256(artifact.read_bytes()).hexdigest()
    (model_dir / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="refusing to load types skops does not trust: .*Payload"):
        load(model_dir)


def test_serve_with_a_missing_model_says_what_to_do(tmp_path, capsys):
    config = tmp_path / "correlator.yaml"
    config.write_text(f"ml: {{model_dir: {tmp_path / 'nowhere'}}}\nstore: {{data_dir: {tmp_path}}}\n")
    assert main(["serve", "--config", str(config)]) == 2
    assert "no manifest.json; retrain it with `correlator train` or set ml.enabled: false" in capsys.readouterr().err


@pytest.mark.parametrize("seeds", ["abc", "5-3", "1-", "-2"])
def test_a_seed_range_that_names_no_seed_is_refused_with_the_usage(tmp_path, capsys, seeds):
    with pytest.raises(SystemExit) as stopped:
        main(["corpus", "--seeds", seeds, "--out-dir", str(tmp_path)])
    assert stopped.value.code == 2 and not any(tmp_path.iterdir())
    assert f"--seeds: expected a seed or a range of seeds such as 100-119, got {seeds!r}" in capsys.readouterr().err


def test_train_names_a_missing_labeled_file(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "none.jsonl"), "--output", str(tmp_path / "model")]) == 1
    assert capsys.readouterr().err == f"correlator: {tmp_path / 'none.jsonl'}: No such file or directory\n"


def test_analyze_proposes_rules_that_load(tmp_path, capsys):
    assert main(["corpus", "--seeds", "1", "--hours", "24", "--out-dir", str(tmp_path)]) == 0
    proposed = tmp_path / "rules" / "proposed.yaml"
    proposed.parent.mkdir()
    assert main(["analyze", str(tmp_path / "seed-1.recording.jsonl"), "--out", str(proposed)]) == 0
    summary = capsys.readouterr().err
    assert "alert episodes:" in summary and "rules proposed" in summary
    rules = load_rules(proposed.parent)
    assert rules.groups or rules.links
    text = proposed.read_text()
    assert "# support " in text and ", confidence " in text


async def test_operator_corrections_become_training_labels(app_factory, tmp_path, corpus_dir):
    from correlator.app import SERVICE
    client = await app_factory()
    body = {"version": "4", "status": "firing", "alerts": [
        {"status": "firing", "labels": {"alertname": "NodeClockSkewDetected", "instance": "ip-10-0-0-1:9100",
                                        "severity": "warning"},
         "startsAt": "2026-11-23T04:00:00Z", "endsAt": "0001-01-01T00:00:00Z"}]}
    assert (await post_json(client, "/api/v1/alertmanager", body)).status == 200
    await client.app[SERVICE].run_step()
    [incident] = (await (await client.get("/api/v1/incidents")).json())["incidents"]
    response = await post_json(client, f"/api/v1/incidents/{incident['id']}/classify",
                               {"category": "human_error", "actor": "alice"})
    assert response.status == 200 and (await response.json())["category"] == "human_error"
    bad = await post_json(client, f"/api/v1/incidents/{incident['id']}/classify", {"category": "weather"})
    assert bad.status == 400 and "expected one of hardware, software" in await bad.text()
    corrections = client.app[SERVICE].repository.corrections()
    assert [(c["id"], c["category"]) for c in corrections] == [(incident["id"], "human_error")]
    assert corrections[0]["alerts"][0]["labels"]["alertname"] == "NodeClockSkewDetected"

    config = tmp_path / "train.yaml"
    config.write_text(f"store: {{data_dir: {tmp_path / 'data'}}}\n")
    output = tmp_path / "corrected-model"
    assert main(["train", "--data", str(corpus_dir / "labeled.jsonl"), "--corrections", "--config", str(config),
                 "--output", str(output), "--folds", "2"]) == 0
    manifest = json.loads((output / "manifest.json").read_text())
    assert {"corrections": 1} in manifest["training"]["sources"]


def test_the_rules_for_running_without_a_model_load_beside_the_shipped_ones(tmp_path):
    directory = tmp_path / "rules"
    shutil.copytree(shipped_dir("rules"), directory, ignore=shutil.ignore_patterns("tests"))
    for path in (shipped_dir("config") / "examples" / "rules-without-model").glob("*.yaml"):
        shutil.copy(path, directory / path.name)
    rules = load_rules(directory)
    assert [g.name for g in rules.groups] == ["probes-by-target", "workloads-by-namespace", "by-alertname"]
    # no broad classify regexes: the lexicon classifies with or without a model (a container over
    # its own memory limit is the one name the lexicon's words would read as capacity)
    assert [c.name for c in rules.classifiers] == ["security", "data-integrity", "container-out-of-memory"]
    Engine(rules)  # and the engine takes them


def test_the_fast_classifier_path_equals_scikit_learn(trained, corpus_dir):
    import msgspec

    from correlator.offline.training import LabeledIncident, incident_text
    model = load(trained)
    lines = (corpus_dir / "labeled.jsonl").read_text().splitlines()[:40]
    for line in lines:
        text = incident_text(msgspec.json.decode(line, type=LabeledIncident))
        for pipeline, fast in zip((model.category, model.service_area), model.classify(text)):
            probabilities = pipeline.predict_proba([text])[0]
            assert fast.label == pipeline.classes_[probabilities.argmax()]
            assert fast.confidence == pytest.approx(probabilities.max(), rel=1e-9)
