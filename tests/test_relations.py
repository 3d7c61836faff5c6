"""What relates two alerts when no rule of the user's does: the entities read from labels in the
vocabularies of the public exporters and tag schemes, and the shipped `relate` rules
(rules/40-relations.yaml) with the causes the public rule sets document (docs/learning.md)."""

import pytest

from correlator.domain import Category
from correlator.engine.blast import BlastRadius
from correlator.engine.core import EngineSettings
from correlator.learning.decay import Decay
from correlator.learning.entities import cluster_of, entities_of
from correlator.learning.topology import Topology
from correlator.ml.features import tokens
from correlator.rules.loader import load_rules
from correlator.rules.matchers import matches_all
from correlator.shipped import shipped_dir
from tests.engine_scenarios import Scenario, alert, at, make_busy, rules_from

SHIPPED = load_rules(shipped_dir("rules"))
KSM = {"job": "kube-state-metrics", "service": "kube-state-metrics", "instance": "10.96.0.42:8080"}


def test_the_exporter_service_of_a_kubernetes_alert_is_not_its_subject():
    node = entities_of({"node": "w3", "cluster": "eu", **KSM})
    pod = entities_of({"pod": "web-7d9f8c6b5-x2x9z", "namespace": "shop", "cluster": "eu", **KSM})
    assert "workload|eu|kube-state-metrics" not in node + pod
    # an application scraped by its own Service keeps it
    assert "workload|eu|web" in entities_of({"service": "web", "job": "web", "pod": "web-0", "cluster": "eu"})


def test_an_exporter_pod_is_where_the_exporter_runs_and_its_instance_the_subject():
    found = entities_of({"instance": "10.0.0.7:9100", "job": "node-exporter", "pod": "node-exporter-2x4kq",
                         "namespace": "monitoring", "cluster": "eu"})
    assert found == ("host||10.0.0.7",)


def test_a_client_names_the_datastore_it_depends_on():
    assert "host||db-1" in entities_of({"alertname": "AppDbErrors", "service": "api", "peer": "db-1:5432"})
    assert "host||db-1" in entities_of({"alertname": "PostgresqlDown", "instance": "10.0.0.3:9187",
                                        "server": "db-1.example.com:5432"})  # postgres_exporter
    assert "workload||orders-db" in entities_of({"service": "api", "peer_service": "orders-db"})
    assert "workload|eu|reviews" in entities_of({"destination_workload": "reviews", "cluster": "eu"})  # Istio


def test_kubernetes_tags_of_datadog_and_opentelemetry_name_the_same_entities():
    datadog = entities_of({"kube_deployment": "api", "pod_name": "api-7d9f8c6b5-x2x9z", "kube_namespace": "shop",
                           "kube_cluster_name": "eu"})
    otel = entities_of({"k8s_deployment_name": "api", "k8s_pod_name": "api-7d9f8c6b5-x2x9z",
                        "k8s_namespace_name": "shop", "k8s_cluster_name": "eu"})
    assert set(datadog) == set(otel) == {"pod|eu|api-7d9f8c6b5-x2x9z", "workload|eu|api", "namespace|eu|shop"}
    assert cluster_of({"k8s_cluster": "a"}) == cluster_of({"kubernetes_cluster": "a"}) == "a"


def test_a_cluster_label_spelt_another_way_scopes_what_the_alert_names():
    pod = {"pod": "api-7d9f8c6b5-x2x9z", "dc": "fra1"}
    for name in ("cluster_name", "kube_cluster", "eks_cluster_name", "clusterName", "dimension_ClusterName"):
        assert cluster_of({name: "eu", **pod}) == "eu"
        assert entities_of({name: "eu", **pod}) == entities_of({"cluster": "eu", **pod}) \
            == ("pod|eu|api-7d9f8c6b5-x2x9z", "workload|eu|api")
    # A datastore's cluster is what the alert is about, not where it is from: the site is.
    for name in ("CacheClusterId", "db_cluster_identifier", "es_cluster"):
        assert cluster_of({name: "orders", **pod}) == "fra1"
    assert cluster_of({"kube_cluster": "eu", "cluster": "us"}) == "us"  # the usual spelling first


def test_kubernetes_objects_spelt_as_other_relabelings_and_agents_do_name_the_same_entities():
    pod = "api-7d9f8c6b5-x2x9z"
    kube_prometheus = {"pod": pod, "namespace": "shop", "cluster": "eu"}
    for spelling in ({"kubernetes_pod_name": pod, "kubernetes_namespace": "shop"},  # Prometheus's example
                     {"podName": pod, "namespaceName": "shop"},  # New Relic
                     {"kube_pod_name": pod, "kube_namespace_name": "shop"}):  # Sysdig
        assert entities_of({**spelling, "cluster": "eu"}) == entities_of(kube_prometheus)
    # A node's alert from kube-state-metrics is about the node, not the exporter's address...
    node = {"job": "kube-state-metrics", "instance": "10.96.0.42:8080", "cluster": "eu"}
    assert entities_of({**node, "kubernetes_node": "w3"}) == entities_of({**node, "node": "w3"}) == ("host||w3",)
    # ...and the priority's blast radius counts its pods, as the model reads its words, alike.
    radius, classic, exported = BlastRadius(), BlastRadius(), BlastRadius()
    for n in range(5):
        radius.add({"pod": f"api-7d9f8c6b5-x2x9{n}", "namespace": "shop"})
        classic.add({"kubernetes_pod_name": f"api-7d9f8c6b5-x2x9{n}", "kubernetes_namespace": "shop"})
        exported.add({"exported_pod": f"api-7d9f8c6b5-x2x9{n}", "exported_namespace": "shop"})  # honor_labels off
    assert classic.breadth() == exported.breadth() == radius.breadth() == "1 services, 5+ pods"
    assert tokens({"alertname": "KubePodNotReady", "kubernetes_namespace": "shop", "k8s_cluster": "eu"}, {}) \
        == tokens({"alertname": "KubePodNotReady", "namespace": "shop", "cluster": "eu"}, {})
    # A bare `job` is the scrape job, not a Kubernetes Job; so is the target's own, `exported_job`.
    assert entities_of({"job": "node", "instance": "db1:9100"}) == ("host||db1",)
    assert entities_of({"exported_job": "node", "instance": "db1:9100"}) == ("host||db1",)


def test_the_cloud_monitors_conventions_name_the_same_entities():
    # The CloudWatch exporter prefixes its dimensions; CloudWatch spells them in CamelCase.
    assert entities_of({"dimension_InstanceId": "i-0abc"}) == entities_of({"InstanceId": "i-0abc"}) \
        == entities_of({"instance_id": "i-0abc"}) == ("host||i-0abc",)
    assert entities_of({"dimension_DBInstanceIdentifier": "orders-db"}) == ("resource||orders-db",)
    assert entities_of({"dimension_FunctionName": "checkout"}) == ("workload||checkout",)
    # Azure Monitor: the resource id of a virtual machine is its host, of anything else a resource.
    arm = "/subscriptions/1f2e/resourceGroups/shop-rg/providers"
    assert entities_of({"resourceId": f"{arm}/Microsoft.Compute/virtualMachines/vm-web-01"}) == ("host||vm-web-01",)
    assert entities_of({"resourceId": f"{arm}/Microsoft.Sql/servers/sql1/databases/Orders"}) \
        == ("resource||servers/sql1/databases/orders",)
    assert entities_of({"resourceId": "not-an-id", "severity": "Sev2"}) == ()


def test_services_on_one_loopback_address_are_told_apart_by_their_port():
    assert entities_of({"instance": "127.0.0.1:9187"}) == ("host||127.0.0.1:9187",)
    assert "host||127.0.0.1:8080" in entities_of({"instance": "http://127.0.0.1:8080/health"})


def related_by(cause: str, effect: str) -> list[str]:
    return [r.name for r in SHIPPED.relations if not r.forbid and matches_all(r.cause, {"alertname": cause})
            and matches_all(r.effect, {"alertname": effect})]


@pytest.mark.parametrize("cause, effect", [
    ("KubeNodeNotReady", "KubePodNotReady"),  # kube-prometheus
    ("k8s_node_not_ready", "pod_not_ready"),  # snake_case in-house names
    ("Kubernetes node is not ready", "Pod is not ready"),  # words
    ("KubernetesNodeNotReady", "KubernetesPodCrashLooping"),  # awesome-prometheus-alerts
    ("KubernetesNodeReady", "KubernetesPodNotHealthy"),  # its older name: the condition the rule checks
    ("PrometheusAllTargetsMissing", "PrometheusTargetMissing"),  # targets, plural
    ("HostDiskWillFillIn24Hours", "KubernetesDiskPressure"), ("KubernetesOutOfDisk", "HostOutOfDiskSpace"),
    ("VaultSealed", "AppErrorsHigh"), ("ZookeeperNotOk", "KafkaProduceErrors"),  # a store its clients need
    ("HostDown", "HostOutOfMemory"), ("TargetDown", "KubePodNotReady"), ("node_unreachable", "pod_not_ready"),
    ("Unavailable by ICMP ping", "MySQL: Service is down"),  # Zabbix templates
    ("GCE instance host error", "KubeNodeNotReady"), ("VM Availability", "KubeNodeUnreachable"),  # GCP, Azure
    ("PostgresqlDown", "PostgresqlExporterError"), ("PostgresqlDown", "AppDatabaseErrors"),
    ("MySQL: Service is down", "db_client_errors"), ("RabbitmqMemoryHigh", "ProducerSendErrors"),
    ("ElasticsearchClusterRed", "HTTPErrorRateHigh"), ("RedisDown", "BlackboxProbeFailed"),
    ("CoreDNSDown", "DnsLookupFailures"), ("CoreDNSErrorsHigh", "BlackboxProbeDnsFailed"),
    ("SSLCertificateExpired", "BlackboxProbeHttpFailure"), ("cert_renewal_failed", "tls_handshake_errors"),
    ("CertManagerCertNotReady", "BlackboxSslCertificateWillExpireSoon"),  # a renewal failed: expiry nears
    ("Disk I/O errors detected", "CephOsdDown"), ("HostEdacUncorrectableErrorsDetected", "HostDown"),
    ("IPMIPowerSupplyFailed", "HostDown"), ("Power supply is in critical state", "Unavailable by ICMP ping"),
    ("psu_failed", "pod_not_ready"),  # a power supply failing takes its machine down
    ("NodeDiskIOErrors", "NodeDiskIOSaturation"),  # a failing disk's I/O waits, where a disk filling up is none
    ("CephOsdDown", "CephPgDegraded"), ("Redis instance is dead", "AppCacheErrors"),
    ("KubePodCrashLooping", "KubeDeploymentRolloutStuck"), ("Image pull failing", "Deployment rollout stuck"),
    ("KubernetesPodNotHealthy", "KubernetesStatefulsetReplicasMismatch"), ("pod_not_ready", "deployment_unavailable"),
    ("NodeNFSMountStale", "NodeSystemSaturation"), ("HostNfsStale", "HostCpuHighIowait"),  # node-exporter, awesome
    ("NFS mount is not responding", "Load average is too high (per CPU load over 1.5 for 5m)"),  # Zabbix
    ("HostUnusualDiskWriteRate", "HostCpuHighIowait"), ("NodeDiskIOSaturation", "NodeSystemSaturation"),
    # awesome-prometheus-alerts: a quorum lost, a disk or broker offline, a cache out of its memory
    ("RedisMissingMaster", "AppCacheErrors"), ("ZookeeperMissingLeader", "KafkaProduceErrors"),
    ("EtcdInsufficientMembers", "KubeAPIErrorBudgetBurn"), ("MinioDiskOffline", "ThanosStoreBucketHighOperationFailures"),
    ("KafkaBrokerOffline", "MessagePublishErrors"), ("RedisOutOfConfiguredMaxmemory", "AppCacheErrors"),
    ("RedisOutOfSystemMemory", "AppCacheErrors"),
    ("KubernetesMemoryPressure", "KubernetesContainerOomKiller"), ("KubernetesDiskPressure", "KubePodEvicted"),
    ("HostOomKillDetected", "ContainerOOMKilled"), ("HostOutOfMemory", "pod_oom_killed"),
    ("NodeIOError", "KubePodNotReady"), ("IO error on sda", "PostgresqlDown"),
    ("HostNfsStale", "host_load_high"), ("NodeDiskIOSaturation", "CassandraCompactionExecutorBlockedTasks"),
    # one machine lost, seen by each of its watchers
    ("KubeletDown", "KubeNodeNotReady"), ("KubeNodeNotReady", "KubeNodeUnreachable"),
    ("KubeletPlegDurationHigh", "TargetDown"), ("kubelet_down", "k8s_node_not_ready"),
    # its network link lost
    ("HostNetworkBondDegraded", "HostDown"), ("NodeNetworkInterfaceFlapping", "KubeNodeNotReady"),
    ("Interface eth0: Link down", "Unavailable by ICMP ping"),
    ("HostNetworkBondDegraded", "KubernetesNodeReady"), ("NodeNetworkInterfaceFlapping", "TargetDown"),
    # a stalled kernel stalls its machine
    ("HostKernelSoftLockup", "KubeletPlegDurationHigh"), ("kernel_soft_lockup", "scrape_target_missing"),
    ("Kernel hung task detected", "KubeNodeNotReady"),
    # ...and what runs on it
    ("HostKernelSoftLockup", "KubePodNotReady"), ("kernel_soft_lockup", "pod_not_ready"),
    ("Kernel hung task detected", "KubePodCrashLooping"),
    # one machine short of memory or disk, seen by its exporter, its kernel and its kubelet
    ("HostOutOfMemory", "KubernetesMemoryPressure"), ("HostOomKillDetected", "NodeMemoryHighUtilization"),
    ("host_disk_full", "k8s_node_disk_pressure"), ("NodeFilesystemAlmostOutOfSpace", "KubeNodeDiskPressure"),
    # an ingress controller down fails the probes behind it (across its cluster)
    ("NginxIngressControllerDown", "BlackboxProbeFailed"), ("Nginx: Service is down", "Web scenario failed"),
    ("HaproxyDown", "Synthetics test failing"),
    # one container failing, seen twice: killed for memory and crash looping (either way)
    ("KubernetesContainerOomKiller", "KubernetesPodCrashLooping"), ("KubePodCrashLooping", "KubeContainerOOMKilled"),
    ("Container restarting frequently", "Container OOM killed"),
    # one compromise, seen by each of its detectors
    ("CryptoCurrency:EC2/BitcoinTool.B!DNS", "Backdoor:EC2/C&CActivity.B"),
    ("Terminal_shell_in_container", "Unexpected_outbound_connection_destination"),
    # a workload its autoscaler can no longer grow saturates
    ("KubeHpaMaxedOut", "CPUThrottlingHigh"), ("KubernetesHpaScaleMaximum", "HttpSlowRequests"),
    ("hpa_maxed", "svc_latency_p99_high"),
    # a datastore down leaves its own replicas and partitions behind
    ("KafkaBrokerDown", "KafkaUnderReplicatedPartitions"), ("Kafka: Broker is down", "Kafka: Under-replicated partitions"),
    ("KafkaBrokerOffline", "KafkaTopicsReplicas"), ("KafkaBrokerDown", "UnderMinIsrPartitionCount"),
    ("ElasticsearchClusterRed", "ElasticsearchUnassignedShards"), ("MysqlDown", "MysqlSlaveIoThreadNotRunning"),
    ("RedisDown", "RedisDisconnectedSlaves"), ("MongodbDown", "MongodbReplicaMemberUnhealthy"),
    # the API server keeps its state in etcd (across its cluster), and etcd's alerts are one trouble
    ("etcdHighFsyncDurations", "KubeAPITerminatedRequests"), ("etcdNoLeader", "KubeAPIErrorBudgetBurn"),
    ("EtcdHighNumberOfLeaderChanges", "KubernetesApiServerErrors"), ("etcd_fsync_slow", "apiserver_slow"),
    ("etcdHighFsyncDurations", "etcdHighNumberOfLeaderChanges"), ("etcdHighCommitDurations", "KubeAPIDown"),
    # a service failing its dependency fails its callers
    ("MessagePublishErrors", "HttpHighErrorRate"), ("SqlConnectionErrors", "HTTPErrorRateHigh"),
    ("db_client_errors", "http_latency_high"), ("Redis: Connection timeout", "API 5xx rate high"),
    # one symptom read alike whatever the vocabulary: monitors that say a thing stopped answering or
    # reporting, Zabbix trigger names with their qualifier, in-house abbreviations (mem, conn)
    ("Host is not reporting", "Kubelet is not responding"), ("Kubelet is not responding", "Pod is not ready"),
    ("Zabbix agent is not available (for 3m)", "MySQL: Service is down"),
    ("Host has been restarted (uptime < 10m)", "Zabbix agent is not available (for 3m)"),
    ("Kernel hang detected", "KubeNodeNotReady"), ("host_mem_pressure", "k8s_node_mem_pressure"),
    ("Disk space is critically low (used > 90%)", "KubeNodeDiskPressure"), ("Disk space is low", "host_disk_full"),
    ("RAID array is degraded", "PostgresqlDown"), ("HostRaidArrayGotInactive", "HostDown"),
    ("Postgres is not responding", "db_client_errors"), ("pg_conn_exhausted", "db_client_errors"),
    ("rabbitmq_mem_alarm", "publish_errors"), ("Elasticsearch: Cluster health is RED", "HTTPErrorRateHigh"),
    ("Container restarting frequently", "Deployment replicas unavailable"),
])
def test_the_shipped_relations_read_the_causes_of_the_public_rule_sets_in_any_spelling(cause, effect):
    assert related_by(cause, effect)


@pytest.mark.parametrize("cause, effect", [
    ("DnsLookupFailures", "DatabaseClientErrors"),  # a failed lookup is an effect, not a DNS outage
    ("PostgresqlDown", "HostHighCpuLoad"),  # a database does not explain its host
    ("KubePodCrashLooping", "KubePodNotReady"),  # a pod explains no other pod
    ("NodeFilesystemSpaceFillingUp", "KubePodNotReady"),
    ("Redis: Memory usage too high", "nic_rx_errors"),  # a cache does not explain its host's network card
    ("KubeDeploymentRolloutStuck", "KubePodCrashLooping"),  # a workload's rollout explains no pod
    ("PostgresqlDeadLocks", "AppDatabaseErrors"),  # a word read whole: deadlocks are no database that is dead
    ("PostgreSQL: Deadlocks detected", "DatabaseClientErrors"),
    ("NodeFilesystemSpaceFillingUp", "NodeSystemSaturation"),  # a disk filling up leaves no process waiting
    ("HostUnusualDiskReadLatency", "HostCpuHighIowait"),  # slow reads are the disk's symptom, not a load on it
    ("HostNfsStale", "KubePodNotReady"),
    ("HostOutOfMemory", "PostgresqlTooManyConnections"),  # `oom` read whole: TooMany is no OOM kill
    ("NodeFilesystemAlmostOutOfSpace", "RabbitmqTooManyConnections"),
    ("RatioErrorsHigh", "HttpSlowRequests"), ("MinioError", "KubePodNotReady"),  # `io` read whole too
    ("HostNfsStale", "PrometheusConfigurationReloadFailure"),  # a reload is no load
    ("NodeDiskIOSaturation", "Load balancer 5xx rate high"), ("NodeDiskIOSaturation", "SpeedtestSlowInternetDownload"),
    ("NodeDiskIOSaturation", "HaproxyFrontendSecurityBlockedRequests"),
    # a security detection is nobody's symptom, whatever channel it names
    ("CoreDNSDown", "CryptoCurrency:EC2/BitcoinTool.B!DNS"), ("CoreDNSDown", "Trojan:EC2/DNSDataExfiltration"),
    ("PostgresqlDown", "Unexpected_outbound_connection_destination"),
    ("KubeNodeNotReady", "Terminal_shell_in_container"), ("HostDown", "CryptoCurrency:EC2/BitcoinTool.B!DNS"),
    ("HostEdacUncorrectableErrorsDetected", "Launch_Privileged_Container"),
    ("HostKernelSoftLockup", "Detect_crypto_miners_using_the_Stratum_protocol"),
    ("HostNetworkInterfaceSaturated", "HostDown"),  # a busy link loses no machine
    ("HttpHighErrorRate", "SqlConnectionErrors"),  # a service's errors do not fail its database
    ("SqlConnectionErrors", "KubePodCrashLooping"),  # nor restart its pods
    ("HostOutOfMemory", "HostOutOfDiskSpace"),  # memory short is no disk full
    ("KubePersistentVolumeFillingUp", "KubeNodeDiskPressure"),  # a volume is its workload's, not the machine's
    ("NodeConntrackTableFull", "KubeNodeDiskPressure"),  # a table full is no disk full
    # a certificate that will expire is still valid, and an expired one fails handshakes, not slows them
    ("BlackboxSslCertificateWillExpireSoon", "BlackboxProbeFailed"),
    ("CertManagerCertExpirySoon", "TlsHandshakeErrors"),
    ("SSLCertificateExpired", "BlackboxSlowProbe"), ("tls_cert_expired", "endpoint_slow"),
    # a running node's kubelet evicts pods under pressure; a lost node's pods are deleted
    ("KubeNodeNotReady", "KubePodEvicted"), ("KubernetesNodeReady", "KubernetesPodEvicted"),
    ("NodeConntrackTableFull", "KubePodEvicted"), ("memcached_down", "KubePodEvicted"),
    ("TargetDownloadSlow", "KubePodNotReady"),  # a word that begins a longer one is read whole
    # a machine lost stops its exporter, so its clock, load, memory and disks' use fire no more, and
    # before it, they did not lose it
    ("HostDown", "HostClockNotSynchronising"), ("TargetDown", "NodeFilesystemAlmostOutOfSpace"),
    ("KubeNodeUnreachable", "NodeMemoryHighUtilization"), ("HostDown", "HostUnusualDiskReadLatency"),
    ("TargetDown", "NodeDiskIOSaturation"), ("HostDown", "HostHighCpuLoad"), ("TargetDown", "NodeLoad15"),
    # nor do a failing disk or memory module make its machine's disk fill up or its memory run high
    ("Disk I/O errors detected", "HostOutOfDiskSpace"), ("HostEdacUncorrectableErrorsDetected", "NodeMemoryHighUtilization"),
    ("IPMIPowerSupplyFailed", "HostHighCpuLoad"),
    ("HostOomKillDetected", "KubePodCrashLooping"),  # a machine's OOM kill explains the kills, not the restarts
    ("HaproxyBackendDown", "BlackboxProbeFailed"), ("NginxIngressControllerDown", "BlackboxSlowProbe"),
    # an autoscaler at its maximum saturates its workload, not the node's CPU or disks
    ("KubeHpaMaxedOut", "NodeCPUHighUsage"), ("KubernetesHpaScaleMaximum", "HostUnusualDiskReadLatency"),
    # a datastore's replicas are its own, a workload's replicas its rollout's
    ("PostgresqlDown", "KubeStatefulSetReplicasMismatch"), ("KafkaBrokerDown", "KubeDeploymentReplicasMismatch"),
])
def test_the_shipped_relations_do_not_relate_what_no_rule_set_documents(cause, effect):
    assert not related_by(cause, effect)


@pytest.mark.parametrize("alert", ["pg_instance_down", "PostgresqlDown", "RabbitmqNodeDown"])
def test_a_datastore_instance_down_is_no_machine_lost(alert):
    assert "one-machine-lost-seen-by-its-watchers" not in related_by(alert, "KubeNodeNotReady") \
        + related_by("KubeNodeNotReady", alert)


@pytest.mark.parametrize("cause", ["RabbitmqNodeDown", "CassandraNodeDown", "Elasticsearch node down"])
def test_a_datastore_node_down_is_no_kubernetes_node_and_explains_no_pod_by_it(cause):
    assert not {"node-not-ready-explains-its-pods", "node-not-ready-explains-pods-in-its-cluster"} \
        & set(related_by(cause, "KubePodNotReady"))
    assert "datastore-outage-explains-its-clients" in related_by(cause, "AppQueueErrors")


LEARNING = EngineSettings()


def test_a_database_outage_and_its_clients_errors_on_other_hosts_are_one_incident():
    scenario = Scenario(SHIPPED, LEARNING)
    scenario.push(0, alert("PostgresqlDown", cluster="vms", instance="10.0.0.3:9187", job="postgres",
                           server="db-1.example.com:5432"))
    for n, service in enumerate(["orders", "billing", "search"]):
        scenario.push(20 + n * 10, alert("DatabaseClientErrors", starts=20 + n * 10, cluster="eu", namespace=service,
                                         service=f"{service}-api", peer="db-1.example.com:5432"))
    outage = scenario.only()
    assert len(outage.members) == 4
    # Its title says what failed first, though its clients' errors are more.
    assert outage.title == "PostgresqlDown on 10.0.0.3 and 3 more alerts: 3 DatabaseClientErrors"
    assert any("same host db-1" in m.why.detail for m in outage.members.values() if m.why.detail)


@pytest.mark.parametrize("database_first", [True, False])
def test_clients_in_other_clusters_naming_a_database_service_are_its_outages(database_first):
    # In-house rules: the database's alerts say its service, the clients' say which service they
    # depend on, each in its own cluster (or datacenter).
    scenario = Scenario(SHIPPED, LEARNING)
    outage = alert("pg_instance_down", dc="fra2", service="pg-orders", hostname="db01.fra2.example.com")
    clients = [alert("db_client_errors", starts=30 + n * 10, dc=dc, service=f"{dc}-api", dependency="pg-orders")
               for n, dc in enumerate(["europe-west4", "us-central1"])]
    for at, each in ([(0, outage), (30, clients[0]), (40, clients[1])] if database_first
                     else [(30, clients[0]), (40, clients[1]), (60, outage)]):
        scenario.push(at, each)
    assert len(scenario.only().members) == 3


def test_a_client_joins_the_outage_it_names_rather_than_its_own_errors_which_follow_it():
    # The client's publish errors relate to the queue's alarm (their cause) and to the client's own
    # error rate, which fired first (their effect), as closely: the error rate follows into the
    # outage, where joining the error rate would have left the outage apart.
    scenario = Scenario(SHIPPED, LEARNING)
    scenario.push(0, alert("rabbitmq_mem_alarm", dc="zrh1", service="rmq-main", hostname="mq01.zrh1.example.com"))
    scenario.push(30, alert("svc_5xx_ratio_high", starts=30, dc="eu1", service="savings-api"))
    scenario.push(60, alert("publish_errors", starts=60, dc="eu1", service="savings-api", dependency="rmq-main"))
    [outage] = [incident for incident in scenario.incidents if incident.members]  # the error rate's merged into it
    assert [m.labels["alertname"] for m in outage.members.values()] == \
        ["rabbitmq_mem_alarm", "publish_errors", "svc_5xx_ratio_high"]
    assert outage.members[next(k for k, m in outage.members.items()
                               if m.labels["alertname"] == "publish_errors")].why.rule == "datastore-outage-explains-its-clients"


def test_a_service_two_clusters_run_their_own_of_is_not_a_third_clusters_dependency():
    scenario = Scenario(SHIPPED, LEARNING)
    for n, dc in enumerate(["a", "b"]):  # each cluster's own redis failed once, an hour ago
        scenario.push(n * 60, alert("redis_down", starts=n * 60, ends=n * 60 + 30, dc=dc, service="redis"))
    scenario.push(3600, alert("redis_down", starts=3600, dc="a", service="redis"))
    scenario.push(3630, alert("cache_client_errors", starts=3630, dc="d", service="d-api", dependency="redis"))
    outage = next(i for i in scenario.incidents if i.active and any(m.starts_at == at(3600) for m in i.members.values()))
    assert [m.labels["alertname"] for m in outage.members.values()] == ["redis_down"]


def test_a_host_down_takes_in_its_alerts_that_start_meanwhile_not_those_an_hour_later():
    # No inhibition: a host down for an hour would take in whatever starts on it by chance.
    scenario = Scenario(SHIPPED, LEARNING)
    host = {"cluster": "eu", "instance": "db-1:9100", "job": "node"}
    scenario.push(0, alert("HostDown", severity="critical", **host))
    scenario.push(60, alert("PostgresqlDown", starts=60, severity="critical", cluster="eu", instance="db-1:9187",
                            job="postgres"))
    scenario.push(3600, alert("HostOutOfMemory", starts=3600, severity="warning", **host))
    down, later = scenario.incidents
    assert len(down.members) == 2 and len(later.members) == 1
    database = next(m for m in down.members.values() if m.labels["alertname"] == "PostgresqlDown")
    assert database.why.rule == "down-host-explains-what-runs-on-it"


def test_in_a_busy_cluster_a_machine_lost_is_one_incident_though_its_pods_fail_often():
    # The node's pods crash-loop every half hour and the cluster is busy: that anything on the
    # node fails just after it is lost says nothing there (the broad rules, a host down explaining
    # what runs on it, are silent). A machine's own liveness alerts are rare on it, though: its
    # kubelet down and its node not ready a minute later are one machine lost.
    scenario = Scenario(SHIPPED, LEARNING)
    node = {"cluster": "eu", "node": "worker-3", **KSM}
    for n in range(8):
        scenario.push(n * 1800, alert("KubePodCrashLooping", starts=n * 1800, expires=n * 1800 + 300,
                                      pod=f"batch-{n}", **node))
    make_busy(scenario, 14000)
    scenario.push(14500, alert("KubeletDown", starts=14500, **node))
    scenario.push(14560, alert("KubeNodeNotReady", starts=14560, **node))
    node_lost = next(m for i in scenario.incidents for m in i.members.values()
                     if m.labels["alertname"] == "KubeNodeNotReady")
    assert node_lost.why.rule == "one-machine-lost-seen-by-its-watchers"
    assert "busy cluster: 0.00 of its alerts per 5m on these entities by chance" in node_lost.why.detail


def test_in_a_busy_cluster_a_machine_that_loses_its_link_is_one_incident_with_its_target_down():
    # A switch port goes: the host's bond degrades, then its exporter's target is down. The host
    # sees an alert every ten minutes, so a host down explaining everything on it says nothing
    # there; a link lost explaining its machine lost is narrow enough to beat chance.
    scenario = Scenario(SHIPPED, LEARNING)
    host = {"cluster": "eu", "instance": "worker-3:9100", "job": "node"}
    for n in range(24):
        scenario.push(n * 600, alert("HostSystemdServiceCrashed", starts=n * 600, expires=n * 600 + 300, **host))
    make_busy(scenario, 14500)
    scenario.push(14900, alert("HostNetworkBondDegraded", starts=14900, **host))
    scenario.push(14960, alert("TargetDown", starts=14960, **host))
    down = next(m for i in scenario.incidents for m in i.members.values() if m.labels["alertname"] == "TargetDown")
    assert down.why.rule == "lost-link-explains-its-machine-lost"
    assert "busy cluster: 0.00 of its alerts per 5m on these entities by chance" in down.why.detail


def test_a_service_failing_to_publish_explains_its_error_rate_within_minutes_not_later():
    service = {"cluster": "eu", "namespace": "shop", "service": "checkout"}
    for late, rule in ((60, "dependency-errors-explain-their-services-errors"), (240, "")):
        scenario = Scenario(SHIPPED, LEARNING)
        for n in range(24):  # the cluster has been watched for hours, the service busy but never failing
            scenario.push(n * 600, alert("HttpTrafficHigh", starts=n * 600, expires=n * 600 + 300, **service))
        make_busy(scenario, 14500)
        scenario.push(14900, alert("MessagePublishErrors", starts=14900, **service))
        scenario.push(14900 + late, alert("HttpHighErrorRate", starts=14900 + late, **service))
        errors = next(m for i in scenario.incidents for m in i.members.values()
                      if m.labels["alertname"] == "HttpHighErrorRate")
        assert errors.why.rule == rule


def test_a_stale_nfs_mount_explains_its_hosts_load_minutes_later():
    scenario = Scenario(SHIPPED, LEARNING)
    host = {"cluster": "eu", "instance": "app-1:9100", "job": "node", "severity": "warning"}
    scenario.push(0, alert("NodeNFSMountStale", **host))
    scenario.push(240, alert("NodeSystemSaturation", starts=240, **host))
    stall = scenario.only()
    load = next(m for m in stall.members.values() if m.labels["alertname"] == "NodeSystemSaturation")
    assert load.why.rule == "storage-stall-explains-host-saturation"


def test_a_host_down_relates_by_when_its_alerts_started_not_when_they_were_delivered():
    # Alertmanager delivers a group's new alerts up to a group_interval (5m) after they started.
    host = {"cluster": "eu", "instance": "db-1:9100", "job": "node"}
    delivered_late = Scenario(SHIPPED, LEARNING)
    delivered_late.push(0, alert("HostDown", severity="critical", **host))
    delivered_late.push(330, alert("PostgresqlDown", starts=60, severity="critical", cluster="eu",
                                   instance="db-1:9187", job="postgres"))
    (down,) = delivered_late.incidents
    database = next(m for m in down.members.values() if m.labels["alertname"] == "PostgresqlDown")
    assert database.why.rule == "down-host-explains-what-runs-on-it"
    # Delivered together with the host down, but started four minutes after it: not its effect by
    # the rule (3 minutes: what a host down brings fires within its rules' `for`).
    started_later = Scenario(SHIPPED, LEARNING)
    started_later.push(300, alert("HostDown", severity="critical", **host),
                       alert("HostOutOfMemory", starts=240, severity="warning", **host))
    assert not any(m.why.rule == "down-host-explains-what-runs-on-it"
                   for incident in started_later.incidents for m in incident.members.values())


def test_across_a_cluster_a_node_not_ready_explains_pods_not_ready_not_a_crash_loop_just_before_it():
    # A lost node's pods go not ready, pending or terminating. A crash loop is containers restarting
    # on a node that runs: across a cluster, one that started just before a node went not ready is
    # another fault's (on the node's own pods, `node-not-ready-explains-its-pods` still relates it).
    assert "node-not-ready-explains-pods-in-its-cluster" \
        not in related_by("KubeNodeNotReady", "KubePodCrashLooping")
    assert "node-not-ready-explains-its-pods" in related_by("KubeNodeNotReady", "KubePodCrashLooping")
    scenario = Scenario(SHIPPED, LEARNING)
    scenario.push(0, alert("KubePodCrashLooping", cluster="eu", namespace="shop", pod="web-7d9f8c6b5-x2x9z", **KSM))
    scenario.push(21, alert("KubeNodeNotReady", starts=21, cluster="eu", node="w3", **KSM))
    scenario.push(80, alert("KubePodNotReady", starts=80, cluster="eu", namespace="billing",
                            pod="invoices-5c8d7f9b4-k2k9p", **KSM))
    crash, node = scenario.incidents
    assert [m.labels["alertname"] for m in crash.members.values()] == ["KubePodCrashLooping"]
    assert [m.labels["alertname"] for m in node.members.values()] == ["KubeNodeNotReady", "KubePodNotReady"]


def test_a_rollout_stuck_long_after_its_pods_failed_joins_them():
    # The rollout waits its progress deadline (10 minutes) and its alert its `for`.
    scenario = Scenario(SHIPPED, LEARNING)
    scenario.push(0, alert("KubePodCrashLooping", cluster="eu", namespace="shop", pod="web-7d9f8c6b5-x2x9z", **KSM))
    scenario.push(720, alert("KubeDeploymentRolloutStuck", starts=720, cluster="eu", namespace="shop",
                             deployment="web", **KSM))
    rollout = next(m for m in scenario.only().members.values()
                   if m.labels["alertname"] == "KubeDeploymentRolloutStuck")
    assert rollout.why.rule == "failing-pods-explain-their-workloads-rollout"


def test_a_dns_outage_and_the_lookups_and_probes_that_fail_in_its_cluster_are_one_incident():
    scenario = Scenario(SHIPPED, LEARNING)
    scenario.push(0, alert("CoreDNSDown", cluster="eu", job="coredns", namespace="kube-system"))
    scenario.push(40, alert("DnsLookupFailures", starts=40, cluster="eu", namespace="shop", service="web"))
    scenario.push(70, alert("BlackboxProbeDnsFailed", starts=70, cluster="eu", instance="https://shop.example.com",
                            job="blackbox"))
    scenario.push(400, alert("DnsLookupFailures", starts=400, cluster="us", namespace="shop", service="web"))
    outage, elsewhere = scenario.incidents
    assert len(outage.members) == 3 and len(elsewhere.members) == 1
    assert {m.why.rule for m in outage.members.values()} >= {"dns-failure-explains-failing-lookups-in-its-cluster"}


def test_a_node_not_ready_and_the_pods_of_its_cluster_are_one_incident_and_other_alerts_stay_apart():
    scenario = Scenario(SHIPPED, LEARNING)
    scenario.push(0, alert("KubeNodeNotReady", cluster="eu", node="w3", **KSM))
    scenario.push(60, alert("KubePodNotReady", starts=60, cluster="eu", namespace="shop", pod="web-7d9f8c6b5-x2x9z", **KSM))
    scenario.push(90, alert("NodeFilesystemSpaceFillingUp", starts=90, cluster="eu", instance="10.0.0.9:9100",
                            job="node-exporter"))
    scenario.push(100, alert("KubeDeploymentReplicasMismatch", starts=100, cluster="eu", namespace="billing",
                             deployment="invoices", job="kube-state-metrics"))
    node, disk, deployment = scenario.incidents
    assert len(node.members) == 2 and len(disk.members) == len(deployment.members) == 1
    pod = next(m for m in node.members.values() if m.labels["alertname"] == "KubePodNotReady")
    assert pod.why.rule == "node-not-ready-explains-pods-in-its-cluster"


def test_across_a_cluster_a_node_not_ready_explains_the_pods_failing_within_minutes_not_later():
    scenario = Scenario(SHIPPED, LEARNING)
    scenario.push(0, alert("KubeNodeNotReady", cluster="eu", node="w3", **KSM))
    scenario.push(240, alert("KubePodNotReady", starts=240, cluster="eu", namespace="shop", pod="web-7d9f8c6b5-x2x9z",
                             **KSM))
    scenario.push(480, alert("KubePodCrashLooping", starts=480, cluster="eu", namespace="billing",
                             pod="invoices-5c8d7f9b4-k2k9p", **KSM))
    node, later = scenario.incidents
    assert {m.labels["alertname"] for m in node.members.values()} == {"KubeNodeNotReady", "KubePodNotReady"}
    assert [m.labels["alertname"] for m in later.members.values()] == ["KubePodCrashLooping"]


def test_a_switch_down_links_lost_and_other_machines_lost_in_its_cluster_minutes_later_are_one_incident():
    # A top-of-rack switch: two nodes' links flap; a third node behind it fires no link alert of its
    # own, but its kubelet and its exporter are lost 90 seconds later. Another cluster's machine
    # lost meanwhile, and one of this cluster after the rule's 5 minutes, are other faults.
    scenario = Scenario(SHIPPED, LEARNING)
    scenario.push(0, alert("NodeNetworkInterfaceFlapping", cluster="eu", instance="10.0.0.1:9100", job="node-exporter",
                           device="eth0"),
                  alert("NodeNetworkInterfaceFlapping", cluster="eu", instance="10.0.0.2:9100", job="node-exporter",
                        device="eth0"))
    scenario.push(90, alert("KubeNodeNotReady", starts=90, cluster="eu", node="w3", **KSM))
    scenario.push(95, alert("TargetDown", starts=95, cluster="us", instance="10.9.0.7:9100", job="node-exporter"))
    scenario.push(500, alert("KubeNodeUnreachable", starts=500, cluster="eu", node="w9", **KSM))
    switch, elsewhere, later = scenario.incidents
    assert [m.labels["alertname"] for m in switch.members.values()] == ["NodeNetworkInterfaceFlapping"] * 2 \
        + ["KubeNodeNotReady"]
    node = next(m for m in switch.members.values() if m.labels["alertname"] == "KubeNodeNotReady")
    assert node.why.rule == "lost-links-explain-machines-lost-in-its-cluster"
    assert len(elsewhere.members) == len(later.members) == 1


def test_an_nfs_server_hanging_and_the_load_of_its_clients_in_its_cluster_are_one_incident():
    # The mounts of two hosts go stale; a third client has no mount check of its own, but its load
    # climbs a minute later. A disk busy on one host explains no other host's load, nor does the
    # NFS stall explain a host's load in another cluster.
    scenario = Scenario(SHIPPED, LEARNING)
    scenario.push(0, alert("HostNfsStale", cluster="eu", instance="app1:9100", job="node"),
                  alert("HostNfsStale", cluster="eu", instance="app2:9100", job="node"))
    scenario.push(60, alert("HostHighLoad", starts=60, cluster="eu", instance="app3:9100", job="node"))
    scenario.push(65, alert("HostHighLoad", starts=65, cluster="us", instance="web9:9100", job="node"))
    stall, elsewhere = scenario.incidents
    assert [m.labels["alertname"] for m in stall.members.values()] == ["HostNfsStale"] * 2 + ["HostHighLoad"]
    assert stall.members[next(k for k, m in stall.members.items() if m.labels["alertname"] == "HostHighLoad")].why.rule \
        == "shared-storage-stall-explains-host-saturation-in-its-cluster"
    assert len(elsewhere.members) == 1
    assert related_by("NodeNFSMountStale", "NodeSystemSaturation") == \
        ["storage-stall-explains-host-saturation", "shared-storage-stall-explains-host-saturation-in-its-cluster"]
    assert related_by("NodeDiskIOSaturation", "NodeSystemSaturation") == ["storage-stall-explains-host-saturation"]


def test_kubernetes_alerts_reported_by_one_exporter_are_not_related_by_it():
    scenario = Scenario(SHIPPED, LEARNING)
    scenario.push(0, alert("KubePodCrashLooping", cluster="eu", namespace="shop", pod="web-0", **KSM))
    scenario.push(30, alert("KubeJobFailed", starts=30, cluster="eu", namespace="batch", job_name="report-1", **KSM))
    assert len(scenario.incidents) == 2


def test_services_of_a_lab_on_one_loopback_address_stay_apart():
    scenario = Scenario(SHIPPED, LEARNING)
    scenario.push(0, alert("PostgresqlDown", cluster="lab", instance="127.0.0.1:9187", job="postgres"))
    scenario.push(60, alert("HostHighCpuLoad", starts=60, cluster="lab", instance="127.0.0.1:9100", job="node"))
    scenario.push(300, alert("BlackboxProbeHttpFailure", starts=300, cluster="lab", instance="http://127.0.0.1:8080/",
                             job="blackbox"))
    assert len(scenario.incidents) == 3


def test_an_alert_that_names_only_its_scrape_job_is_about_the_job():
    assert entities_of({"alertname": "TargetDown", "job": "node", "cluster": "lab"}) == ("workload|lab|node",)
    assert entities_of({"alertname": "PrometheusTargetMissing", "job": "node", "instance": "127.0.0.1:9100"}) == \
        ("host||127.0.0.1:9100",)  # the scrape job of an alert about a target is only its reporter
    scenario = Scenario(SHIPPED, LEARNING)  # an exporter killed, as the lab's kube-prometheus rules see it
    scenario.push(0, alert("PrometheusAllTargetsMissing", cluster="lab", job="node"))
    scenario.push(30, alert("TargetDown", starts=28, cluster="lab", job="node"))
    scenario.push(400, alert("TargetDown", starts=400, cluster="lab", job="postgres"))
    exporter, other = scenario.incidents
    assert len(exporter.members) == 2 and len(other.members) == 1


def test_a_workload_and_a_host_are_related_only_through_the_pod():
    topology = Topology(Decay())
    topology.observe(entities_of({"pod": "api-7d9f8c6b5-x2x9z", "node": "w3", "cluster": "eu"}), 0.0)
    assert "host||w3" in dict(topology.neighbours("pod|eu|api-7d9f8c6b5-x2x9z", 1.0))
    assert "host||w3" not in dict(topology.neighbours("workload|eu|api", 1.0))  # api runs on many hosts
    topology.observe(entities_of({"service": "api", "peer": "db-1:5432", "cluster": "eu"}), 2.0)
    assert "host||db-1" in dict(topology.neighbours("workload|eu|api", 3.0))  # a client and its database


def test_alerts_without_a_cluster_label_have_no_cluster_to_relate_in():
    scenario = Scenario(SHIPPED, LEARNING)
    scenario.push(0, alert("KubeNodeNotReady", node="w3", job="kube-state-metrics"))
    scenario.push(60, alert("KubePodNotReady", starts=60, namespace="shop", pod="web-0", job="kube-state-metrics"))
    assert len(scenario.incidents) == 2


def test_a_cause_takes_in_effects_that_started_shortly_before_it_not_long_before(tmp_path):
    long_window = {"name": "node-pods", "kind": "relate", "cause": ['alertname="KubeNodeNotReady"'],
                   "effect": ['alertname="KubePodNotReady"'], "window": "30m"}
    scenario = Scenario(rules_from(tmp_path, long_window), LEARNING)
    scenario.push(0, alert("KubePodNotReady", cluster="eu", pod="web-0", node="w3"))
    scenario.push(1200, alert("KubeNodeNotReady", starts=1200, cluster="eu", node="w3"))  # 20 minutes after
    scenario.push(2400, alert("KubePodNotReady", starts=2400, cluster="eu", pod="web-1", node="w3"))  # 20 after it
    earlier, node = scenario.incidents
    assert len(earlier.members) == 1 and len(node.members) == 2


def test_across_a_cluster_a_cause_takes_in_only_the_effects_that_started_just_before_it():
    scenario = Scenario(SHIPPED, LEARNING)
    scenario.push(0, alert("KubePodNotReady", cluster="eu", namespace="shop", pod="web-0", **KSM))
    scenario.push(300, alert("KubeNodeNotReady", starts=300, cluster="eu", node="w3", **KSM))
    scenario.push(360, alert("KubePodNotReady", starts=360, cluster="eu", namespace="shop", pod="api-0", **KSM))
    earlier, node = scenario.incidents
    assert len(earlier.members) == 1 and len(node.members) == 2


def test_a_datastore_alert_explains_its_clients_errors_that_fired_a_moment_before_it():
    # The clients' errors fire first and are about the database too (the data layer): the relate
    # rule says which explains which, so the database's connections exhausted are the root.
    scenario = Scenario(SHIPPED, LEARNING)
    scenario.push(0, alert("DatabaseClientErrors", cluster="eu", namespace="orders", service="orders-api",
                           peer="db-1.example.com:5432", severity="critical"))
    scenario.push(5, alert("PostgresqlTooManyConnections", starts=3, cluster="vms", instance="10.0.0.3:9187",
                           job="postgres", server="db-1.example.com:5432", severity="warning"))
    incident = scenario.only()
    assert next(m for m in incident.members.values() if m.labels["alertname"] == "PostgresqlTooManyConnections"
                ).why.rule == "datastore-outage-explains-its-clients"
    assert incident.classification.labels == {"alertname": "PostgresqlTooManyConnections"}
    assert incident.classification.detail.endswith(
        "; DatabaseClientErrors is an effect of PostgresqlTooManyConnections (rule datastore-outage-explains-its-clients)")
    assert incident.category == Category.CAPACITY
    assert incident.title.startswith("PostgresqlTooManyConnections on ")


@pytest.mark.parametrize("cause, effect", [
    ("etcdHighFsyncDurations", "KubeAggregatedAPIErrors"),  # an aggregated API is another server
    ("etcdNoLeader", "API 5xx rate high"),  # a service's API is no API server
    ("etcdHighFsyncDurations", "Admission webhook errors on apiserver"),  # the webhook's fault
    ("EtcdCertificateExpiring", "KubeAPIDown"),  # a certificate that will expire is still valid
])
def test_etcd_explains_the_api_servers_requests_across_its_cluster_and_nothing_else_of_it(cause, effect):
    assert "etcd-trouble-explains-the-api-server-in-its-cluster" not in related_by(cause, effect)
