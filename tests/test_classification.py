"""Classification from the root alert, the lexicon on vocabularies it was not written from, and
priority from the blast radius and the severity vocabularies (no model: rules and lexicon)."""

from datetime import datetime, timezone

import pytest

from correlator.domain import AlertStatus, Category, Explanation, JoinReason, Level, Member, Priority, ServiceArea
from correlator.engine.roots import in_causal_order, ranked
from correlator.ingest.fingerprint import fingerprint
from correlator.ml.lexicon import read
from tests.engine_scenarios import Scenario, alert, rules_from

T0 = datetime(2026, 12, 1, tzinfo=timezone.utc)

BY_CLUSTER = {"name": "by-cluster", "kind": "group", "group_by": ["cluster"], "window": "1h"}


def test_the_category_comes_from_the_root_alert_not_the_first_to_arrive(tmp_path):
    s = Scenario(rules_from(tmp_path, BY_CLUSTER))
    # The probe fires first, but a database outage lower in the stack explains it.
    s.push(0, alert("BlackboxProbeFailed", cluster="eu", instance="https://shop.example.com", job="blackbox"))
    s.push(60, alert("MysqlDown", cluster="eu", instance="db-1:9104", job="mysqld-exporter", starts=30))
    incident = s.only()
    assert incident.category == Category.SOFTWARE
    assert incident.classification.labels == {"alertname": "MysqlDown"}
    assert "alert MysqlDown" in incident.classification.detail


def test_the_root_is_recomputed_as_members_join(tmp_path):
    s = Scenario(rules_from(tmp_path, BY_CLUSTER))
    s.push(0, alert("KubePodCrashLooping", cluster="eu", namespace="shop", pod="api-7d9f8c6b5-x2x4z", starts=0))
    assert s.only().category == Category.SOFTWARE
    s.push(30, alert("NodeRAIDDiskFailure", cluster="eu", instance="node-3:9100", job="node-exporter", starts=-600))
    incident = s.only()
    assert (incident.category, incident.classification.labels) == (Category.HARDWARE,
                                                                     {"alertname": "NodeRAIDDiskFailure"})
    events = [e.detail for e in incident.timeline if e.kind == "classified"]
    assert [e["root"] for e in events] == ["KubePodCrashLooping", "NodeRAIDDiskFailure"]


def test_a_symptom_of_a_suppress_rule_is_not_the_root(tmp_path):
    rules = rules_from(tmp_path, {"name": "down-explains", "kind": "suppress", "equal": ["instance"],
                                  "source_matchers": ['alertname="InstanceDown"'],
                                  "target_matchers": ['alertname!="InstanceDown"']})
    s = Scenario(rules)
    s.push(0, alert("InstanceDown", instance="db-1:9100", job="node"))
    s.push(10, alert("HostOutOfMemory", instance="db-1:9100", job="node", starts=-30))
    incident = s.only()
    symptom = next(m for m in incident.members.values() if m.labels["alertname"] == "HostOutOfMemory")
    assert symptom.why.reason == JoinReason.SYMPTOM
    assert incident.classification.labels == {"alertname": "InstanceDown"}


def test_a_classify_rule_on_the_root_wins_over_the_lexicon(tmp_path):
    s = Scenario(rules_from(tmp_path, {"name": "ours", "kind": "classify", "matchers": ['alertname="HostOutOfMemory"'],
                                       "category": "software"}))
    s.push(0, alert("HostOutOfMemory", instance="db-1:9100", job="node"))
    incident = s.only()
    assert incident.category == Category.SOFTWARE and incident.classification.rule == "ours, lexicon"


def test_the_lexicon_alone_can_be_switched_off(tmp_path):
    from dataclasses import replace

    from correlator.engine.core import EngineSettings
    s = Scenario(rules_from(tmp_path), replace(EngineSettings(), classification=False))
    s.push(0, alert("HostOutOfMemory", instance="db-1:9100", job="node"))
    assert s.only().category is None


# Alert names of public rule sets and monitors the lexicon's provenance list does not draw on for
# its training-vocabulary checks (Zabbix templates, AWS GuardDuty finding types, Falco rules,
# awesome-prometheus-alerts rules outside the corpus), with the category their documentation gives.
HELD_OUT = [
    ("High CPU utilization", {}, Category.CAPACITY),
    ("Lack of available memory", {}, Category.CAPACITY),
    ("Disk space is critically low", {}, Category.CAPACITY),
    ("Interface eth0: Link down", {}, Category.NETWORK),
    ("Interface eth0: High error rate (>2 for 5m)", {}, Category.NETWORK),  # an interface's errors are packets
    ("Unavailable by ICMP ping", {}, Category.HARDWARE),  # one host: its own fault (several: test below)
    ("Temperature is above critical threshold", {}, Category.HARDWARE),
    ("Fan is in critical state", {}, Category.HARDWARE),
    ("Power supply is in critical state", {}, Category.HARDWARE),
    ("System time is out of sync", {}, Category.SOFTWARE),
    ("Number of installed packages has been changed", {}, Category.HUMAN_ERROR),
    ("UnauthorizedAccess:EC2/SSHBruteForce", {}, Category.SECURITY),
    ("Terminal shell in container", {}, Category.SECURITY),
    ("HostSwapIsFillingUp", {}, Category.CAPACITY),
    ("HostNetworkInterfaceSaturated", {}, Category.NETWORK),
    ("SmartDeviceTemperatureWarning", {}, Category.HARDWARE),
    ("CassandraDown", {"job": "cassandra"}, Category.SOFTWARE),
    ("probe_dns_lookup_failed", {}, Category.NETWORK),
    ("HostContextSwitchingHigh", {}, Category.CAPACITY),
    # What happened to a certificate, not that it is one: expiry is a renewal missed.
    ("KubeClientCertificateExpiration", {}, Category.HUMAN_ERROR),
    ("CertManagerCertExpirySoon", {}, Category.HUMAN_ERROR),
    ("X509CertificateRenewalFailed", {}, Category.SOFTWARE),
    ("GrpcTlsHandshakeFailures", {}, Category.SECURITY),
    # GuardDuty threat purposes and Falco rules say security whatever the resource or protocol.
    ("Recon:EC2/PortProbeUnprotectedPort", {}, Category.SECURITY),
    ("Trojan:EC2/DNSDataExfiltration", {}, Category.SECURITY),
    ("Detect outbound connections to common miner pool ports", {}, Category.SECURITY),
    # Latency says where: a disk's is hardware, the kubelet's software, a replica's lag capacity.
    ("HostUnusualDiskWriteLatency", {}, Category.HARDWARE),
    # A disk's throughput and its time in IO are its load (a job writing too much), not its failure.
    ("HostUnusualDiskWriteRate", {}, Category.CAPACITY),
    ("HostUnusualDiskReadRate", {}, Category.CAPACITY),
    ("HostUnusualDiskIo", {}, Category.CAPACITY),
    ("KubeletPodStartUpLatencyHigh", {}, Category.SOFTWARE),
    ("MysqlSlaveReplicationLag", {}, Category.CAPACITY),
    ("Postgres replication delay too high", {}, Category.CAPACITY),
    # Too many of a resource is capacity; too many restarts is a program failing again and again.
    ("LokiProcessTooManyRestarts", {}, Category.SOFTWARE),
    ("PostgresqlTooManyConnections", {}, Category.CAPACITY),
    ("KubeletTooManyPods", {}, Category.CAPACITY),
    # The monitoring stack's own alerts are about it, whatever storage or rule they name: its
    # software failing, not a disk (kube-prometheus, awesome-prometheus-alerts).
    ("PrometheusRemoteStorageFailures", {}, Category.SOFTWARE),
    ("PrometheusTSDBReloadsFailing", {}, Category.SOFTWARE),
    ("PrometheusRuleFailures", {}, Category.SOFTWARE),
    ("AlertmanagerClusterDown", {}, Category.SOFTWARE),
    ("ThanosCompactHalted", {}, Category.SOFTWARE),
    ("PulsarHighNumberOfFunctionErrors", {}, Category.SOFTWARE),
    ("SpeedTestSlowInternetDownload", {}, Category.NETWORK),
    ("KubernetesOutOfDisk", {}, Category.CAPACITY),  # a node's condition: its disk is full, not failing
    ("HostKernelVersionDeviations", {}, Category.HUMAN_ERROR),  # hosts drifted apart: a change not rolled out
    # Cloud monitors' metrics: a volume's queue and IOPS are its load, not its failure.
    ("KubernetesPersistentvolumeError", {}, Category.HARDWARE),  # awesome-prometheus-alerts' spelling: one word
    ("KubernetesStatefulSetDown", {}, Category.SOFTWARE),  # and the CamelCase one: two
    ("PgbouncerErrors", {}, Category.SOFTWARE),
    ("KubernetesNodeReady", {}, Category.SOFTWARE),  # awesome-prometheus-alerts: fires when a node is not Ready
    ("HP iLO: Overall system health status is critical", {}, Category.HARDWARE),  # Zabbix's HP iLO template
    ("Website is down", {}, Category.NETWORK),  # a probe's: its network, unless its words say more
    ("VolumeQueueLength", {}, Category.CAPACITY),
    ("Data Disk IOPS Consumed Percentage", {}, Category.CAPACITY),
]


@pytest.mark.parametrize("name, labels, category", HELD_OUT, ids=[row[0] for row in HELD_OUT])
def test_the_lexicon_reads_alert_names_of_vocabularies_it_was_not_written_from(name, labels, category):
    assert read({"alertname": name, **labels}, {}).opinion() == category


@pytest.mark.parametrize("name, summary, category", [
    ("HostUnusualDiskWriteRate", "Disk is probably writing too much data (> 50 MB/s)", Category.CAPACITY),
    ("HostCpuHighIowait", "CPU iowait > 10%. A high iowait means that you are disk or network bound.",
     Category.CAPACITY),
    ("NodeDiskIoErrors", "Disk I/O errors on sda", Category.HARDWARE),  # the disk failing, not busy
])
def test_a_disks_load_is_capacity_and_its_io_errors_are_hardware(name, summary, category):
    assert read({"alertname": name, "instance": "db-1:9100"}, {"summary": summary}).opinion() == category


def test_annotations_count_but_quoted_label_values_do_not():
    summary = {"summary": "Job auth/nightly-export failed to complete."}
    assert read({"alertname": "JobFailed", "namespace": "auth", "job_name": "nightly-export"}, summary).category \
        is not Category.SECURITY
    assert read({"alertname": "Xyz"}, {"summary": "Replication is broken: the replica stopped"}).service_area \
        == ServiceArea.INTEGRITY


@pytest.mark.parametrize("name, summary", [
    ("VaultSealed", "Vault instance is sealed on 10.0.0.7:8200"),  # awesome-prometheus-alerts
    ("AlertmanagerFailedToSendAlerts", "An Alertmanager instance failed to send notifications."),  # its mixin
    ("ThanosCompactMultipleRunning", "No more than one Thanos Compact instance should be running at once."),
])
def test_a_service_instance_in_prose_is_no_machine(name, summary):
    assert read({"alertname": name, "instance": "10.0.0.7:8200"}, {"summary": summary}).opinion() \
        is not Category.HARDWARE


def test_an_instance_the_name_or_labels_speak_of_is_a_machine():
    assert read({"alertname": "InstanceDown"}, {"summary": "Instance 10.0.0.7:9100 down"}).layer == "node"
    assert read({"alertname": "StatusCheckFailed", "instance_id": "i-0abc"}, {}).layer == "node"


def test_label_values_a_sender_prefixes_are_still_the_estates_own_names():
    # Datadog's kube_namespace: a namespace called "routing" says nothing about the fault
    assert read({"alertname": "Job failed", "kube_namespace": "routing", "kube_service": "dns-sync"}, {}).category \
        is not Category.NETWORK


def test_a_security_detection_is_the_root_of_the_cpu_burn_it_causes(tmp_path):
    s = Scenario(rules_from(tmp_path, BY_CLUSTER))
    s.push(0, alert("HostHighCpuLoad", cluster="eu", instance="node-3:9100", job="node", starts=-240))
    s.push(30, alert("Detect outbound connections to common miner pool ports", cluster="eu", node="node-3",
                     pod="api-7d9f8c6b5-x2x4z", namespace="shop", starts=-180))
    incident = s.only()
    assert incident.category == Category.SECURITY
    assert incident.classification.labels == {"alertname": "Detect outbound connections to common miner pool ports"}


def test_an_expired_certificate_is_the_root_of_the_handshakes_failing(tmp_path):
    s = Scenario(rules_from(tmp_path, BY_CLUSTER))
    s.push(0, alert("X509CertificateExpired", cluster="eu", instance="https://shop.example.com", job="blackbox",
                    starts=-120))
    s.push(60, alert("GrpcTlsHandshakeFailures", cluster="eu", namespace="shop", deployment="checkout", starts=-60))
    incident = s.only()
    assert (incident.category, incident.classification.labels) == (Category.HUMAN_ERROR,
                                                                     {"alertname": "X509CertificateExpired"})


def test_one_host_down_is_not_a_network_fault_because_others_have_other_alerts(tmp_path):
    s = Scenario(rules_from(tmp_path, BY_CLUSTER))
    s.push(0, alert("InstanceDown", cluster="eu", instance="nfs-1:9100", job="node", severity="critical"))
    s.push(60, *(alert("NodeNFSMountStale", cluster="eu", instance=f"node-{n}:9100", job="node", starts=60)
                 for n in (1, 2, 3)))
    assert s.only().category == Category.HARDWARE


def test_one_alert_on_three_hosts_at_once_is_their_network(tmp_path):
    s = Scenario(rules_from(tmp_path, BY_CLUSTER))
    s.push(0, *(alert("Unavailable by ICMP ping", cluster="eu", host=f"node-{n}") for n in (1, 2, 3)))
    assert s.only().category == Category.NETWORK


def test_an_interface_down_explains_the_hosts_lost_after_it(tmp_path):
    # hosts are reached through their network; a host that is down reports nothing of its interfaces
    s = Scenario(rules_from(tmp_path, BY_CLUSTER))
    s.push(0, alert("Interface eth0: Link down", cluster="eu", host="node-1"))
    s.push(180, alert("Unavailable by ICMP ping", cluster="eu", host="node-2", starts=150))
    assert (s.only().category, s.only().classification.labels) == (Category.NETWORK,
                                                                    {"alertname": "Interface eth0: Link down"})


def test_hosts_losing_what_they_mount_together_share_that_not_their_network(tmp_path):
    s = Scenario(rules_from(tmp_path, BY_CLUSTER))
    s.push(0, *(alert("HostNfsStale", cluster="eu", instance=f"node-{n}:9100", job="node") for n in (1, 2, 3)))
    assert s.only().category == Category.HARDWARE
    assert "3 hosts sharing the storage" in s.only().classification.detail


@pytest.mark.parametrize("name, summary, category", [
    ("Unavailable by ICMP ping", "Unavailable by ICMP ping on db01", Category.HARDWARE),  # Zabbix
    ("NFS mount hung", "NFS mount hung on app03", Category.HARDWARE),  # what hung is what it names
])
def test_a_hint_the_summary_repeats_is_still_a_hint(name, summary, category):
    assert read({"alertname": name, "host": "db01"}, {"summary": summary}).opinion() == category


def test_a_scrape_target_lost_alone_is_its_exporter_and_beside_its_host_a_symptom(tmp_path):
    # the lab's killed exporter
    s = Scenario(rules_from(tmp_path, BY_CLUSTER))
    s.push(0, alert("PrometheusAllTargetsMissing", cluster="lab", job="node", severity="critical"))
    assert s.only().category == Category.SOFTWARE
    s = Scenario(rules_from(tmp_path, BY_CLUSTER))
    s.push(0, alert("PrometheusTargetMissing", cluster="eu", instance="node-3:9100", job="node", severity="critical"))
    s.push(60, alert("KubeNodeUnreachable", cluster="eu", node="node-3", starts=40))
    assert (s.only().category, s.only().classification.labels) == (Category.HARDWARE,
                                                                    {"alertname": "KubeNodeUnreachable"})


def test_of_two_probe_alerts_at_one_moment_the_one_saying_what_failed_is_the_root(tmp_path):
    # the lab's killed app: the probe fails and its HTTP status says the app, not the network
    s = Scenario(rules_from(tmp_path, BY_CLUSTER))
    target = {"cluster": "lab", "instance": "http://127.0.0.1:34829/", "job": "blackbox", "severity": "critical"}
    s.push(0, alert("BlackboxProbeFailed", **target), alert("BlackboxProbeHttpFailure", **target))
    incident = s.only()
    assert (incident.category, incident.classification.labels) == (Category.SOFTWARE,
                                                                     {"alertname": "BlackboxProbeHttpFailure"})


def test_impact_counts_what_is_affected_not_the_exporter_every_alert_carries(tmp_path):
    s = Scenario(rules_from(tmp_path, BY_CLUSTER))
    ksm = {"cluster": "eu", "instance": "10.2.3.4:8443", "job": "kube-state-metrics", "namespace": "shop",
           "severity": "warning"}
    s.push(0, *(alert("KubePodNotReady", pod=f"api-7d9f8c6b5-{suffix}", **ksm) for suffix in ("x2x4z", "b7k9q")))
    incident = s.only()
    # one deployment's pods: a service (medium), not three places
    assert (incident.impact, incident.priority) == (Level.MEDIUM, Priority.P3)


def test_three_hosts_are_a_high_impact(tmp_path):
    s = Scenario(rules_from(tmp_path, BY_CLUSTER))
    s.push(0, *(alert("NodeFilesystemAlmostOutOfSpace", cluster="eu", instance=f"10.0.0.{n}:9100", job="node-exporter",
                      severity="warning") for n in (1, 2, 3)))
    assert (s.only().impact, s.only().priority) == (Level.HIGH, Priority.P2)


def test_a_probed_url_failing_in_production_is_a_customer_facing_service_of_unknown_tier(tmp_path):
    # medium, as a customer-facing service of the catalog is; high when the catalog says tier 1
    probe = alert("ProbeFailed", env="production", instance="https://shop.example.com/health", severity="critical")
    s = Scenario(rules_from(tmp_path))
    s.push(0, probe)
    assert (s.only().impact, s.only().priority) == (Level.MEDIUM, Priority.P2)
    assert "1 probed targets (production)" in s.only().prioritisation.detail
    shop = {"service": "shop", "tier": 1, "customer_facing": True,
            "matchers": ['instance=~"https://shop.example.com/.*"']}
    s = Scenario(rules_from(tmp_path, catalog=[shop]))
    s.push(0, probe)
    assert (s.only().impact, s.only().priority) == (Level.HIGH, Priority.P1)


def test_outside_production_the_impact_is_a_level_lower(tmp_path):
    s = Scenario(rules_from(tmp_path, BY_CLUSTER))
    s.push(0, *(alert("NodeFilesystemAlmostOutOfSpace", cluster="shop-stg", instance=f"10.0.0.{n}:9100",
                      job="node-exporter", severity="warning") for n in (1, 2, 3)))
    assert (s.only().impact, s.only().priority) == (Level.MEDIUM, Priority.P3)
    assert "(outside production)" in s.only().prioritisation.detail


def test_a_security_incident_on_one_pod_is_at_least_a_medium_impact(tmp_path):
    s = Scenario(rules_from(tmp_path))
    s.push(0, alert("Trojan:EC2/DNSDataExfiltration", host="i-0a1b2c3d", severity="High"))
    assert (s.only().category, s.only().impact, s.only().priority) == (Category.SECURITY, Level.MEDIUM, Priority.P2)


def test_one_host_under_two_names_is_one_host(tmp_path):
    s = Scenario(rules_from(tmp_path, BY_CLUSTER))
    s.push(0, alert("HostHighCpuLoad", cluster="eu", instance="db04.fra2.example.tv:9100", job="node"),
           alert("HostOutOfMemory", cluster="eu", hostname="db04"))
    assert s.only().impact == Level.LOW


@pytest.mark.parametrize("labels, urgency", [
    ({"severity": "disaster"}, Level.HIGH), ({"severity": "High"}, Level.HIGH), ({"severity": "Sev0"}, Level.HIGH),
    ({"severity": "5"}, Level.HIGH), ({"priority": "P1"}, Level.HIGH), ({"severity": "Average"}, Level.MEDIUM),
    ({"severity": "error"}, Level.MEDIUM), ({"priority": "3"}, Level.MEDIUM), ({"level": "warn"}, Level.MEDIUM),
    ({"severity": "information"}, Level.LOW), ({"priority": "P5"}, Level.LOW), ({}, Level.MEDIUM),
    ({"severity": "ticket"}, Level.MEDIUM),
    # The sender's own ranking decides over the threshold it crossed (a Datadog monitor's P5 in "warning").
    ({"alert_type": "warning", "priority": "P5"}, Level.LOW), ({"severity": "info", "priority": "P2"}, Level.HIGH),
    ({"severity": "critical", "urgency": "low"}, Level.LOW), ({"alert_type": "error", "priority": "normal"}, Level.MEDIUM),
    ({"severity": "critical", "priority": "system-node-critical"}, Level.HIGH),
])
def test_urgency_reads_the_severity_vocabularies(tmp_path, labels, urgency):
    s = Scenario(rules_from(tmp_path))
    s.push(0, alert("Something", **labels))
    assert s.only().urgency == urgency


def test_the_root_weighs_severity_as_urgency_reads_it_whatever_the_label_is_called():
    # Two symptoms of one layer starting together: the more severe is the likelier cause, whether
    # the rule set says `severity` or `level` (Datadog: `alert_type`).
    def root(label: str) -> str:
        members = [Member(fingerprint({"alertname": name, label: severity}), T0, {"alertname": name, label: severity},
                          {}, AlertStatus.FIRING, None, T0, Explanation(JoinReason.GROUP, "r"), ())
                   for name, severity in (("ServiceErrorsHigh", "warning"), ("ServiceLatencyHigh", "critical"))]
        return ranked(members)[0].name
    assert root("severity") == root("level") == root("alert_severity") == "ServiceLatencyHigh"


def test_a_relate_rule_orders_the_roots_only_where_it_names_both_sides_and_not_both_ways(tmp_path):
    def member(name: str, minute: int) -> Member:
        labels = {"alertname": name}
        return Member(fingerprint(labels), T0.replace(minute=minute), labels, {}, AlertStatus.FIRING, None, T0,
                      Explanation(JoinReason.GROUP, "r"), ())

    def roots(*relations: dict) -> list[str]:
        rules = rules_from(tmp_path, *({"kind": "relate", **r} for r in relations))
        # The clients' errors started a minute before the queue's memory alarm.
        return [c.name for c in in_causal_order(ranked([member("PublishErrors", 0), member("QueueMemoryAlarm", 1)]),
                                                rules.causal_roles)]
    both_sides = {"name": "queue-explains-publishers", "cause": ['alertname="QueueMemoryAlarm"'],
                  "effect": ['alertname="PublishErrors"']}
    assert roots() == ["PublishErrors", "QueueMemoryAlarm"]
    assert roots(both_sides) == ["QueueMemoryAlarm", "PublishErrors"]
    # A rule whose effect is any alert says nothing of this one; nor do rules both ways.
    assert roots({"name": "alarm-explains-anything", "cause": ['alertname="QueueMemoryAlarm"']}) == \
        ["PublishErrors", "QueueMemoryAlarm"]
    # Nor does one whose effect only excludes: any alert but those.
    assert roots({"name": "alarm-explains-anything-but-clocks", "cause": ['alertname="QueueMemoryAlarm"'],
                  "effect": ['alertname!~".*Clock.*"']}) == ["PublishErrors", "QueueMemoryAlarm"]
    assert roots(both_sides, {"name": "publishers-explain-queue", "cause": ['alertname="PublishErrors"'],
                              "effect": ['alertname="QueueMemoryAlarm"']}) == ["PublishErrors", "QueueMemoryAlarm"]
