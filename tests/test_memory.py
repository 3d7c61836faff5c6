"""The engine's memory follows what differs between active alerts, not how often the same values repeat."""

import msgspec

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
