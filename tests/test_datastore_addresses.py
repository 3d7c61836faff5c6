"""A datastore named by its address (learning/addresses.py): clients failing on `10.0.3.4:5432`
and the PostgreSQL server its exporter names `db03`, with the shipped relate rules."""

import pytest

from correlator.domain import JoinReason
from correlator.engine.core import EngineSettings
from correlator.learning.addresses import Addresses, Tie
from correlator.learning.entities import datastore_of, peer_addresses
from correlator.rules.loader import load_rules
from correlator.shipped import shipped_dir
from tests.engine_scenarios import Scenario, alert

SHIPPED = load_rules(shipped_dir("rules"))


@pytest.mark.parametrize("name, kind", [
    ("PostgresqlDown", "postgres"), ("MySQLDown", "mysql"), ("PostgreSQL: Service is down", "postgres"),
    ("PgbouncerErrors", "postgres"), ("RabbitmqMemoryHigh", "rabbitmq"), ("ElasticsearchClusterRed", "elasticsearch"),
    ("etcdMembersDown", "etcd"), ("UpgradeFailed", ""), ("DatabaseClientErrors", ""), ("HostDown", ""),
])
def test_a_datastore_is_read_from_its_alerts_name(name, kind):
    assert datastore_of({"alertname": name}) == kind


def test_a_datastore_is_read_from_its_scrape_job_when_the_name_does_not_say():
    assert datastore_of({"alertname": "High memory usage", "job": "rabbitmq"}) == "rabbitmq"
    assert datastore_of({"alertname": "High memory usage", "job": "node"}) == ""


def test_a_peer_named_by_a_datastores_port_is_an_address_of_that_kind():
    assert peer_addresses({"peer": "10.0.3.4:5432"}) == (("host||10.0.3.4", "postgres"),)
    assert peer_addresses({"server_address": "db.internal.example.com:3306"}) == (
        ("host||db.internal.example.com", "mysql"),)
    assert peer_addresses({"peer": "10.0.3.4:8080"}) == ()  # no datastore's port
    assert peer_addresses({"peer": "10.0.3.4"}) == ()  # no port at all


def test_a_peers_port_or_kind_may_be_labels_of_their_own_as_opentelemetry_names_them():
    assert peer_addresses({"server_address": "10.0.3.4", "server_port": "5432"}) == (("host||10.0.3.4", "postgres"),)
    assert peer_addresses({"server_address": "10.0.3.4", "db_system": "postgresql"}) == (
        ("host||10.0.3.4", "postgres"),)
    assert peer_addresses({"net_peer_name": "10.0.3.9", "messaging_system": "kafka"}) == (("host||10.0.3.9", "kafka"),)
    assert peer_addresses({"server_address": "10.0.3.4", "db_system": "other_sql"}) == ()


def quiet_outage(*extra: tuple[float, str, dict], client_port: str = "5432") -> Scenario:
    """A PostgreSQL server down on db03 (its exporter's name for the machine) and a client failing on
    10.0.3.4:5432 a minute later, in two quiet clusters, with `extra` alerts (at, name, labels) first."""
    scenario = Scenario(SHIPPED, EngineSettings())
    for when, name, labels in extra:
        scenario.push(when, alert(name, starts=when, **labels))
    scenario.push(300, alert("PostgresqlDown", starts=300, instance="db03:9187", job="postgres", cluster="vms"))
    scenario.push(360, alert("DatabaseClientErrors", starts=360, namespace="shop", service="checkout",
                             cluster="eu", peer=f"10.0.3.4:{client_port}"))
    return scenario


def holding(scenario: Scenario, name: str):
    return next(i for i in scenario.incidents if any(m.labels["alertname"] == name for m in i.members.values()))


def test_clients_failing_on_an_address_no_alert_tied_to_a_machine_join_the_only_server_of_its_kind_down():
    scenario = quiet_outage()
    outage = holding(scenario, "PostgresqlDown")
    assert sorted(m.labels["alertname"] for m in outage.members.values()) == ["DatabaseClientErrors", "PostgresqlDown"]
    client = next(m for m in outage.members.values() if m.labels["alertname"] == "DatabaseClientErrors")
    assert client.why.reason == JoinReason.RELATED and client.why.rule == "datastore-outage-explains-its-clients"
    assert "10.0.3.4 is taken to be db03: the only postgres server failing" in client.why.detail


def test_a_server_down_after_its_clients_failed_joins_them():
    scenario = Scenario(SHIPPED, EngineSettings())
    scenario.push(300, alert("DatabaseClientErrors", starts=300, namespace="shop", service="checkout", cluster="eu",
                             peer="10.0.3.4:5432"))
    scenario.push(330, alert("PostgresqlDown", starts=330, instance="db03:9187", job="postgres", cluster="vms"))
    outage = holding(scenario, "PostgresqlDown")
    assert sorted(m.labels["alertname"] for m in outage.members.values()) == ["DatabaseClientErrors", "PostgresqlDown"]
    assert [i for i in scenario.incidents if i.members] == [outage]


def test_a_server_alert_that_explains_nothing_is_no_other_server_failing():
    # Deadlocks on db04 explain no client's errors: db03 is still the only PostgreSQL server failing.
    scenario = quiet_outage((200, "PostgresqlDeadLocks", {"instance": "db04:9187", "job": "postgres", "cluster": "vms"}))
    assert len(holding(scenario, "PostgresqlDown").members) == 2


@pytest.mark.parametrize("extra, client_port", [
    # Two PostgreSQL servers alerting: which one the address is, nothing says.
    ([(200, "PostgresqlDown", {"instance": "db04:9187", "job": "postgres", "cluster": "vms"})], "5432"),
    # The address is tied to another machine (an alert named both its forms).
    ([(100, "HostHighCpuLoad", {"instance": "10.0.3.4:9100", "nodename": "db09", "cluster": "vms"})], "5432"),
    # A MySQL port: not a PostgreSQL server's clients.
    ([], "3306"),
], ids=["two-servers-of-its-kind", "address-tied-elsewhere", "another-kind"])
def test_an_address_is_taken_for_a_server_only_where_nothing_else_could_be_it(extra, client_port):
    scenario = quiet_outage(*extra, client_port=client_port)
    assert len(holding(scenario, "PostgresqlDown").members) == 1


@pytest.mark.parametrize("apart, tied", [(599.0, True), (601.0, False)])
def test_a_server_and_an_address_are_tied_only_within_the_reach_of_the_relate_rules(apart, tied):
    addresses = Addresses(reach=600.0)
    server, ties = addresses.ties((), "postgres", "host||db03", True, lambda address: False, 0.0)
    assert (server, ties) == (("postgres", "server", "host||db03"), [])
    addresses.observe(server, 0.0)
    client, ties = addresses.ties((("host||10.0.3.4", "postgres"),), "", None, False, lambda address: False, apart)
    assert client == ("postgres", "client", "host||10.0.3.4")
    assert ties == ([Tie("postgres", "host||10.0.3.4", "host||db03", True)] if tied else [])


def test_a_datastores_own_alert_naming_its_address_is_neither_a_client_nor_a_failing_server():
    # postgres_exporter's error names the server it scrapes (`server="db07:5432"`): not a client of
    # db07, and no outage either.
    addresses = Addresses(reach=600.0)
    assert addresses.ties((("host||db07", "postgres"),), "postgres", "host||10.0.9.9", False,
                          lambda address: False, 0.0) == (None, [])
