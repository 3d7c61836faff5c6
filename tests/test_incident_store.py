"""Incidents saved to the store load back as the engine built them: the reasons of its decisions
and the kinds of timeline events are enum members again, not their stored values."""

import enum

from correlator.domain import JOIN_KINDS
from correlator.store import database
from correlator.store.incidents import IncidentRepository, Progress
from tests.engine_scenarios import Scenario, alert, at, rules_from

CRIT_OVER_WARN = {"name": "crit-over-warn", "kind": "suppress", "source_matchers": ['severity="critical"'],
                  "target_matchers": ['severity="warning"'], "equal": ["instance"]}
GROUP_BY_SERVICE = {"name": "by-service", "kind": "group", "matchers": ['service!=""'], "group_by": ["service"]}


def reasons_and_kinds(incidents) -> list:
    found = []
    for incident in incidents:
        whys = [m.why for m in incident.members.values()]
        whys += [incident.classification, incident.prioritisation, incident.assignment]
        found += [why.reason for why in whys if why is not None]
        for event in incident.timeline:
            found.append(event.kind)
            if event.kind in JOIN_KINDS:
                found += [detail["reason"] for detail in (event.detail, event.detail.get("kept", {})) if "reason" in detail]
    return found


def test_reasons_and_event_kinds_load_back_as_enum_members(tmp_path):
    rules = rules_from(tmp_path, CRIT_OVER_WARN, GROUP_BY_SERVICE)
    s = Scenario(rules)  # a symptom placed in place keeps its explanation before, in its event's detail
    s.push(0, alert("HighLoad", severity="warning", instance="n1", service="shop"), alert("Latency", service="shop"))
    s.push(30, alert("NodeDown", severity="critical", instance="n1"))
    store = database.create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    database.upgrade(store)
    repository = IncidentRepository(store)
    repository.save(s.incidents, [], Progress(), at(30))
    loaded = repository.load_unclosed()
    store.dispose()
    assert any("kept" in event.detail for incident in loaded for event in incident.timeline)
    live, back = reasons_and_kinds(s.incidents), reasons_and_kinds(loaded)
    assert back == live and all(isinstance(value, enum.Enum) for value in back)
    assert [type(value) for value in back] == [type(value) for value in live]
