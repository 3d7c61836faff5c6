"""Incidents saved to the store load back as the engine built them: the reasons of its decisions
and the kinds of timeline events are enum members again, not their stored values."""

import enum
from datetime import timedelta

import pytest

from correlator.domain import JOIN_KINDS, IncidentState
from correlator.engine.views import incident_detail, incident_page, join_order
from correlator.engine.core import EngineSettings
from correlator.store import database
from correlator.store import incidents as incident_store
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


@pytest.mark.parametrize("members_limit, timeline_limit", [(None, None), (3, 2), (0, 0), (50, 50)])
def test_a_page_read_from_the_store_is_the_page_of_the_incident_the_engine_holds(tmp_path, db_url, members_limit,
                                                                                 timeline_limit):
    # five alerts of one service joining over time, in an order that is not their fingerprints'
    s = Scenario(rules_from(tmp_path, GROUP_BY_SERVICE))
    for second, name in enumerate(["Latency", "Errors", "HighLoad", "DiskFull", "Saturation"]):
        s.push(second * 10, alert(name, service="shop", instance=f"n{second}"))
    [incident] = s.incidents
    assert [m.fingerprint for m in sorted(incident.members.values(), key=join_order)] \
        != sorted(m.fingerprint for m in incident.members.values())
    store = database.create_engine(db_url)
    database.upgrade(store)
    repository = IncidentRepository(store)
    repository.save(s.incidents, [], Progress(), at(40))
    page = repository.read_page(incident.id, members_limit, timeline_limit)
    assert repository.read_page("INC-000404") is None and repository.state(incident.id) is IncidentState.OPEN
    store.dispose()
    assert incident_detail(page) == incident_detail(incident_page(incident, members_limit, timeline_limit))
    assert page.alerts == 5 and page.events == len(incident.timeline)


def test_a_restore_loads_every_unclosed_incident_whole_across_chunks_and_no_closed_one(tmp_path, db_url, monkeypatch):
    monkeypatch.setattr(incident_store, "LOAD_CHUNK", 2)  # five unclosed incidents: three chunks
    s = Scenario(rules_from(tmp_path, GROUP_BY_SERVICE), EngineSettings(
        learning=False, resolve_hold=timedelta(minutes=5), close_after=timedelta(hours=1)))
    s.push(0, alert("Gone"))
    s.push(30, alert("Gone", ends=30))
    s.advance(2 * 3600)  # closed
    for n in range(5):
        s.push(2 * 3600 + n, alert("Latency", service=f"s{n}"), alert("Errors", service=f"s{n}"))
    store = database.create_engine(db_url)
    database.upgrade(store)
    repository = IncidentRepository(store)
    repository.save(s.incidents, [], Progress(), at(2 * 3600 + 10))
    loaded = repository.load_unclosed()
    store.dispose()
    unclosed = sorted((i for i in s.incidents if i.state is not IncidentState.CLOSED), key=lambda i: i.id)
    assert len(unclosed) == 5 and all(len(i.members) == 2 for i in unclosed)
    assert [i.id for i in loaded] == [i.id for i in unclosed]
    assert [(list(i.members), i.timeline) for i in loaded] == [(list(i.members), i.timeline) for i in unclosed]
