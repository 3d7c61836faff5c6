"""The model in the engine: classifying what no rule classified, rules first, explanations, and
switching it off. With the shipped model. (Joining what no rule placed: test_learned_joining.py.)"""

from dataclasses import replace

import pytest

from correlator import wiring
from correlator.config import Config
from correlator.ml.artifact import load
from correlator.shipped import shipped_dir
from tests.engine_scenarios import Scenario, alert, rules_from


@pytest.fixture(scope="module")
def model():
    return load(shipped_dir("models"))


@pytest.fixture
def settings():
    return wiring.engine_settings(Config())


def node_alert(name: str, host: str, starts: float = 0, **labels):
    return alert(name, starts=starts, cluster="eu", instance=f"{host}:9100", job="node-exporter",
                 severity="warning", **labels)


def test_the_model_can_be_switched_off(tmp_path, model, settings):
    off = replace(settings, learning=False, classification=False)
    scenario = Scenario(rules_from(tmp_path), off, model=model)
    scenario.push(0, node_alert("NodeClockSkewDetected", "ip-10-0-0-1"))
    scenario.push(20, node_alert("NodeClockSkewDetected", "ip-10-0-0-2"))
    assert len(scenario.incidents) == 2
    assert all(i.category is None and i.classification_confidence == {} for i in scenario.incidents)


def test_the_classifier_decides_what_no_rule_or_lexicon_did_and_says_how_sure_it_is(tmp_path, model, settings):
    rules = rules_from(tmp_path, {"name": "integrity", "kind": "classify", "service_area": "integrity",
                                  "matchers": ['alertname=~"Frobnicator.*"']})
    scenario = Scenario(rules, settings, model=model)
    scenario.push(0, alert("FrobnicatorWobbly", cluster="eu", instance="10.0.0.7:8080", severity="warning"))
    incident = scenario.only()
    assert incident.service_area == "integrity"  # the rule's
    assert set(incident.classification_confidence) == {"category"}  # only the model's field
    assert incident.classification.rule == "integrity, model"
    assert f"(model, confidence {incident.classification_confidence['category']:.2f}" \
        in incident.classification.detail


def test_low_confidence_is_marked_as_such(tmp_path, model, settings):
    unsure = replace(settings, low_confidence=1.0)  # every model classification counts as low
    scenario = Scenario(rules_from(tmp_path), unsure, model=model)
    scenario.push(0, alert("SomethingOdd", cluster="eu", severity="warning"))
    incident = scenario.only()
    event = next(e for e in incident.timeline if e.kind == "classified")
    assert event.detail["low_confidence"] == ["category", "service_area"]
    assert incident.classification.detail.count(", low)") == 2


def test_an_operator_classification_stands(tmp_path, model, settings):
    scenario = Scenario(rules_from(tmp_path), settings, model=model)
    scenario.push(0, node_alert("NodeClockSkewDetected", "ip-10-0-0-1"))
    incident = scenario.only()
    scenario.engine.classify(incident.id, "alice", incident.opened_at, category="human_error")
    scenario.push(10, node_alert("NodeNetworkReceiveErrs", "ip-10-0-0-1"))
    assert incident.category == "human_error" and incident.classification.reason == "reclassified"
    assert incident.classification_confidence == {}


def test_replay_with_the_model_is_deterministic(tmp_path, model, settings):
    def run():
        scenario = Scenario(rules_from(tmp_path), settings, model=model)
        for n in range(30):
            scenario.push(n * 7, node_alert(["NodeClockSkewDetected", "NodeNetworkReceiveErrs"][n % 2],
                                            f"ip-10-0-0-{n % 5}", starts=n * 7))
        return [(i.id, sorted(i.members), i.category) for i in scenario.incidents]
    assert run() == run()
