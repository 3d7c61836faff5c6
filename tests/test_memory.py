"""The engine's memory follows what differs between active alerts, not how often the same values repeat."""

from datetime import timedelta

import msgspec

from correlator.domain import IncidentState
from correlator.engine.core import EngineSettings
from correlator.store import database
from correlator.store.incidents import IncidentRepository, Progress
from tests.engine_scenarios import Scenario, alert, at, rules_from


def decoded(labels: dict) -> dict:
    """Labels as a request body yields them: every value a string object of its own."""
    return msgspec.json.decode(msgspec.json.encode(labels))


def test_members_share_the_label_values_they_repeat(tmp_path):
    s = Scenario(rules_from(tmp_path))
    first, second = (decoded({"severity": "critical", "cluster": "prod-eu", "instance": instance})
                     for instance in ("node1:9100", "node2:9100"))
    assert first["severity"] is not second["severity"]
    s.push(0, alert("DiskFull", **first), alert("DiskFull", **second))
    [one, other] = [member for incident in s.incidents for member in incident.members.values()]
    assert one.labels["severity"] is other.labels["severity"]
    assert one.labels["cluster"] is other.labels["cluster"]


def test_members_restored_from_the_store_share_the_label_values_they_repeat(tmp_path):
    s = Scenario(rules_from(tmp_path))
    s.push(0, alert("DiskFull", severity="critical", instance="node1:9100"),
           alert("DiskFull", severity="critical", instance="node2:9100"))
    store = database.create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    database.upgrade(store)
    repository = IncidentRepository(store)
    repository.save(s.incidents, [], Progress(), at(0))
    [one, other] = [member for incident in repository.load_unclosed() for member in incident.members.values()]
    assert one.labels["severity"] is other.labels["severity"]


def test_the_repository_forgets_the_incidents_it_saved_closed(tmp_path):
    # a daemon saves thousands of incidents a day; a closed one changes no more and the engine lets it go
    s = Scenario(rules_from(tmp_path), EngineSettings(learning=False, resolve_hold=timedelta(minutes=5),
                                                      close_after=timedelta(hours=1)))
    store = database.create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    database.upgrade(store)
    repository = IncidentRepository(store)
    for n in range(20):
        s.push(n * 60, alert(f"Flap{n}"))
        s.push(n * 60 + 30, alert(f"Flap{n}", ends=n * 60 + 30))
        repository.save(list(s.engine.incidents.values()), [], Progress(), at(n * 60 + 30))
    assert len(repository._saved_events) == 20
    s.advance(2 * 3600)
    repository.save(list(s.engine.incidents.values()), [], Progress(), at(2 * 3600))
    assert all(i.state is IncidentState.CLOSED for i in s.incidents) and repository._saved_events == {}
    store.dispose()
