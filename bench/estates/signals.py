"""What can go wrong, named five ways: each signal (an observable symptom) and the alert name it
gets in each vocabulary.

  kube      kube-prometheus: the kubernetes, node, etcd and exporter mixins, blackbox rules;
  awesome   awesome-prometheus-alerts (Host*, Kubernetes*, exporter rules), named as its site names
            them where it has the alert (`KubernetesNodeReady`: a node not Ready), in its style
            where it has none;
  zabbix    Zabbix templates' trigger names, posted to the generic endpoint as events;
  cloud     Datadog monitors, CloudWatch alarms, GuardDuty findings, via the generic endpoint;
  inhouse   an SRE team's own rules: snake_case names, their own label schema.

"-" means the vocabulary has no such alert: the symptom goes unseen in that estate. The natural
category is what an isolated firing of the signal (background noise) truly is.
"""

from __future__ import annotations

from dataclasses import dataclass

VOCABULARIES = ("kube", "awesome", "zabbix", "cloud", "inhouse")


@dataclass(frozen=True)
class Signal:
    name: str
    subject: str  # host | pod | workload | backend | probe | cluster | volume | cert | cloud
    category: str
    severity: str  # critical | warning | info
    names: dict[str, str]  # vocabulary -> alert name


# signal | subject | category | severity | kube | awesome | zabbix | cloud | inhouse
_TABLE = """
host_down|host|hardware|critical|TargetDown|HostDown|Unavailable by ICMP ping|Host is not reporting|node_unreachable
exporter_down|host|software|warning|TargetDown|PrometheusTargetMissing|Zabbix agent is not available (for 3m)|Agent check failing|scrape_target_missing
host_cpu|host|capacity|warning|NodeCPUHighUsage|HostHighCpuLoad|High CPU utilization (over 90% for 5m)|CPU usage is high|host_cpu_saturated
host_load|host|capacity|warning|NodeSystemSaturation|HostCpuHighIowait|Load average is too high (per CPU load over 1.5 for 5m)|System load is high|host_load_high
host_memory|host|capacity|warning|NodeMemoryHighUtilization|HostOutOfMemory|High memory utilization (>90% for 5m)|Memory usage is high|host_mem_pressure
host_oom|host|capacity|warning|NodeMemoryMajorPagesFaults|HostOomKillDetected|OOM killer invoked|OOM kill detected|host_oom_kill
host_fs_full|host|capacity|critical|NodeFilesystemAlmostOutOfSpace|HostOutOfDiskSpace|Disk space is critically low (used > 90%)|Disk space is low|host_disk_full
host_fs_readonly|host|hardware|critical|NodeFilesystemReadOnly|HostFilesystemDeviceError|Filesystem has become read-only|Filesystem is read-only|fs_readonly
host_disk_errors|host|hardware|warning|NodeDiskIOErrors|HostDiskMayFailSoon|Disk I/O errors detected|Disk errors detected|disk_io_errors
host_disk_latency|host|hardware|warning|NodeDiskIOSaturation|HostUnusualDiskReadLatency|Disk read/write request responses are too high|Disk latency is high|disk_latency_high
host_raid|host|hardware|critical|NodeRAIDDegraded|HostRaidArrayGotInactive|RAID array is degraded|RAID degraded|raid_degraded
host_ecc|host|hardware|warning|NodeEdacCorrectableErrors|HostEdacCorrectableErrorsDetected|Memory ECC correctable errors|Hardware memory errors|ecc_correctable
host_ecc_fatal|host|hardware|critical|NodeEdacUncorrectableErrors|HostEdacUncorrectableErrorsDetected|Memory ECC uncorrectable errors|Hardware memory failure|ecc_uncorrectable
host_temperature|host|hardware|critical|NodeHardwareTemperatureHigh|HostPhysicalComponentTooHot|Temperature is above critical threshold|Hardware temperature high|hw_temp_high
host_psu|host|hardware|critical|IPMIPowerSupplyFailed|HostPowerSupplyFailure|Power supply is in critical state|Power supply failed|psu_failed
host_nic_errors|host|network|warning|NodeNetworkReceiveErrs|HostNetworkReceiveErrors|Interface eth0: High error rate (>2 for 5m)|Network errors on interface|nic_rx_errors
host_link_down|host|network|critical|NodeNetworkInterfaceFlapping|HostNetworkBondDegraded|Interface eth0: Link down|Network interface down|nic_link_down
host_clock|host|software|warning|NodeClockNotSynchronising|HostClockNotSynchronising|System time is out of sync (diff with Zabbix server > 60s)|Clock skew detected|ntp_unsynced
host_reboot|host|hardware|warning|NodeRebootDetected|HostRebootDetected|Host has been restarted (uptime < 10m)|Host restarted|host_rebooted
host_unit_failed|host|software|warning|NodeSystemdServiceFailed|HostSystemdServiceCrashed|Service is not running|Process check failing|systemd_unit_failed
host_kernel_lockup|host|software|critical|NodeKernelSoftLockup|HostKernelSoftLockup|Kernel soft lockup detected|Kernel hang detected|kernel_soft_lockup
host_conntrack|host|capacity|warning|NodeConntrackTableFull|HostConntrackLimit|Conntrack table is nearly full|Conntrack usage high|conntrack_full
node_not_ready|host|software|warning|KubeNodeNotReady|KubernetesNodeReady|-|Kubernetes node not ready|k8s_node_not_ready
node_unreachable|host|network|warning|KubeNodeUnreachable|KubernetesNodeUnreachable|-|Kubernetes node unreachable|k8s_node_unreachable
node_pressure|host|capacity|warning|KubeNodeDiskPressure|KubernetesDiskPressure|-|Kubernetes node disk pressure|k8s_node_disk_pressure
node_memory_pressure|host|capacity|warning|KubeNodeMemoryPressure|KubernetesMemoryPressure|-|Kubernetes node memory pressure|k8s_node_mem_pressure
kubelet_down|host|software|critical|KubeletDown|KubernetesKubeletDown|-|Kubelet is not responding|kubelet_down
kubelet_pleg|host|software|warning|KubeletPlegDurationHigh|KubernetesKubeletPlegSlow|-|Kubelet PLEG is slow|kubelet_pleg_slow
cni_down|host|network|critical|CiliumAgentUnreachable|CalicoNodeNotReady|-|CNI agent is down|cni_agent_down
pod_not_ready|pod|software|warning|KubePodNotReady|KubernetesPodNotHealthy|-|Pod is not ready|pod_not_ready
pod_crashloop|pod|software|warning|KubePodCrashLooping|KubernetesPodCrashLooping|-|Container restarting frequently|pod_crashloop
pod_oom|pod|capacity|warning|KubeContainerOOMKilled|KubernetesContainerOomKiller|-|Container OOM killed|container_oom_killed
pod_pending|pod|capacity|warning|KubePodPending|KubernetesPodPending|-|Pod stuck pending|pod_pending
pod_image_pull|pod|software|warning|KubePodImagePullBackOff|KubernetesPodImagePullBackOff|-|Image pull failing|image_pull_backoff
pod_throttled|pod|capacity|info|CPUThrottlingHigh|ContainerHighThrottleRate|-|CPU throttling is high|cpu_throttled
pod_evicted|pod|capacity|warning|KubePodEvicted|KubernetesPodEvicted|-|Pod evicted|pod_evicted
deploy_replicas|workload|software|warning|KubeDeploymentReplicasMismatch|KubernetesDeploymentReplicasMismatch|-|Deployment replicas unavailable|deployment_unavailable
deploy_rollout|workload|software|warning|KubeDeploymentRolloutStuck|KubernetesDeploymentGenerationMismatch|-|Deployment rollout stuck|rollout_stuck
sts_replicas|workload|software|warning|KubeStatefulSetReplicasMismatch|KubernetesStatefulsetReplicasMismatch|-|StatefulSet replicas unavailable|statefulset_unavailable
ds_rollout|workload|software|warning|KubeDaemonSetRolloutStuck|KubernetesDaemonsetRolloutStuck|-|DaemonSet rollout stuck|daemonset_stuck
job_failed|workload|software|warning|KubeJobFailed|KubernetesJobFailed|Backup job failed|Job failed|job_failed
hpa_maxed|workload|capacity|warning|KubeHpaMaxedOut|KubernetesHpaScaleMaximum|-|HPA at max replicas|hpa_maxed
app_errors|workload|software|critical|HTTPErrorRateHigh|HttpHighErrorRate|-|High error rate on service|svc_5xx_ratio_high
app_latency|workload|software|warning|HTTPLatencyHigh|HttpSlowRequests|-|High latency on service|svc_latency_p99_high
app_db_errors|workload|software|warning|DatabaseClientErrors|SqlConnectionErrors|-|Database client errors|db_client_errors
app_dns_errors|workload|network|warning|DNSLookupFailures|DnsResolutionErrors|-|DNS resolution failures|dns_lookup_failures
app_queue_errors|workload|software|warning|ProducerSendErrors|MessagePublishErrors|-|Message publish errors|publish_errors
app_tls_errors|workload|security|warning|TLSHandshakeErrors|TlsHandshakeFailures|-|TLS handshake errors|tls_handshake_errors
pvc_full|volume|capacity|warning|KubePersistentVolumeFillingUp|KubernetesVolumeOutOfDiskSpace|-|Persistent volume almost full|pv_filling_up
pv_errors|volume|hardware|critical|KubePersistentVolumeErrors|KubernetesPersistentvolumeError|-|Persistent volume errors|pv_errors
apiserver_errors|cluster|software|critical|KubeAPIErrorBudgetBurn|KubernetesApiServerErrors|-|Kubernetes API errors|apiserver_errors
apiserver_latency|cluster|software|warning|KubeAPITerminatedRequests|KubernetesApiClientErrors|-|Kubernetes API latency|apiserver_slow
etcd_leader|cluster|software|warning|etcdHighNumberOfLeaderChanges|EtcdHighNumberOfLeaderChanges|-|etcd leader changes|etcd_leader_changes
etcd_fsync|cluster|hardware|warning|etcdHighFsyncDurations|EtcdHighFsyncDurations|-|etcd fsync slow|etcd_fsync_slow
coredns_down|cluster|network|critical|CoreDNSDown|CorednsDown|-|CoreDNS is down|coredns_down
coredns_errors|cluster|network|warning|CoreDNSErrorsHigh|CorednsPanicCount|-|CoreDNS SERVFAIL rate high|coredns_servfail
ingress_5xx|cluster|software|critical|NginxIngressHigh5xxRate|NginxHighHttp5xxErrorRate|-|Load balancer 5xx rate high|ingress_5xx_ratio
ingress_down|cluster|software|critical|NginxIngressControllerDown|NginxDown|-|Ingress controller down|ingress_controller_down
probe_failed|probe|network|critical|BlackboxProbeFailed|BlackboxProbeFailed|Web scenario failed|Synthetics test failing|endpoint_down
probe_slow|probe|network|warning|BlackboxSlowProbe|BlackboxProbeSlowHttp|Web response time is too high|Synthetics latency high|endpoint_slow
probe_status|probe|software|critical|BlackboxProbeHttpFailure|BlackboxProbeHttpFailure|Web scenario returned error code|Synthetics assertion failed|endpoint_bad_status
cert_expiring|cert|software|warning|BlackboxSslCertificateWillExpireSoon|BlackboxSslCertificateWillExpireSoon|SSL certificate expires in less than 7 days|SSL certificate expiring soon|tls_cert_expiry
cert_expired|cert|software|critical|BlackboxSslCertificateExpired|BlackboxSslCertificateExpired|SSL certificate has expired|SSL certificate expired|tls_cert_expired
cert_not_ready|cert|software|warning|CertManagerCertNotReady|CertManagerCertificateNotReady|-|Certificate renewal failing|cert_renewal_failed
pg_down|backend|software|critical|PostgresqlDown|PostgresqlDown|PostgreSQL: Service is down|Postgres is not responding|pg_instance_down
pg_exporter|backend|software|warning|PostgresqlExporterError|PostgresqlExporterError|PostgreSQL: Failed to get items|Postgres check failing|pg_exporter_error
pg_lag|backend|capacity|warning|PostgresqlReplicationLag|PostgresqlReplicationLag|PostgreSQL: Streaming lag with master is too high|Postgres replication delay|pg_replication_lag
pg_connections|backend|capacity|warning|PostgresqlTooManyConnections|PostgresqlTooManyConnections|PostgreSQL: Too many connections|Postgres connections high|pg_conn_exhausted
pg_deadlocks|backend|software|warning|PostgresqlDeadLocks|PostgresqlDeadLocks|PostgreSQL: Deadlocks detected|Postgres deadlocks|pg_deadlocks
pg_slow|backend|software|warning|PostgresqlSlowQueries|PostgresqlHighRollbackRate|PostgreSQL: Too many slow queries|Postgres slow queries|pg_slow_queries
mysql_down|backend|software|critical|MySQLDown|MysqlDown|MySQL: Service is down|MySQL is not responding|mysql_down
mysql_replication|backend|software|critical|MySQLReplicationNotRunning|MysqlSlaveIoThreadNotRunning|MySQL: Replication is not running|MySQL replication stopped|mysql_replication_broken
redis_down|backend|software|critical|RedisDown|RedisDown|Redis: Service is down|Redis is not responding|redis_down
redis_memory|backend|capacity|warning|RedisMemoryHigh|RedisOutOfConfiguredMaxmemory|Redis: Memory usage too high|Redis memory high|redis_mem_high
redis_rejected|backend|capacity|warning|RedisRejectedConnections|RedisRejectedConnections|Redis: Connections rejected|Redis rejected connections|redis_conn_rejected
kafka_broker_down|backend|software|critical|KafkaBrokerDown|KafkaBrokerOffline|Kafka: Broker is down|Kafka broker offline|kafka_broker_down
kafka_under_replicated|backend|software|warning|KafkaUnderReplicatedPartitions|KafkaTopicsReplicas|Kafka: Under-replicated partitions|Kafka under-replicated partitions|kafka_urp
kafka_lag|backend|capacity|warning|KafkaConsumerLagHigh|KafkaConsumersGroup|Kafka: Consumer lag is too high|Kafka consumer lag|kafka_consumer_lag
rabbit_down|backend|software|critical|RabbitMQNodeDown|RabbitmqNodeDown|RabbitMQ: Service is down|RabbitMQ node down|rabbitmq_down
rabbit_memory|backend|capacity|critical|RabbitMQMemoryAlarm|RabbitmqMemoryHigh|RabbitMQ: Memory alarm|RabbitMQ memory alarm|rabbitmq_mem_alarm
rabbit_queue|backend|capacity|warning|RabbitMQQueueGrowing|RabbitmqTooManyMessagesInQueue|RabbitMQ: Too many messages in queue|RabbitMQ queue depth high|rabbitmq_queue_depth
es_red|backend|software|critical|ElasticsearchClusterRed|ElasticsearchClusterRed|Elasticsearch: Cluster health is RED|Elasticsearch cluster red|es_cluster_red
es_disk|backend|capacity|warning|ElasticsearchDiskWatermarkHigh|ElasticsearchDiskOutOfSpace|Elasticsearch: Disk usage high|Elasticsearch disk high|es_disk_watermark
ceph_osd_down|backend|hardware|critical|CephOSDDown|CephOsdDown|Ceph: OSD is down|Ceph OSD down|ceph_osd_down
ceph_degraded|backend|hardware|warning|CephPGsDegraded|CephPgDegraded|Ceph: Placement groups degraded|Ceph degraded|ceph_pg_degraded
nfs_stale|host|hardware|critical|NodeNFSMountStale|HostNfsStale|NFS mount is not responding|NFS mount hung|nfs_stale
cloud_system_check|cloud|hardware|critical|-|-|-|StatusCheckFailed_System|-
cloud_instance_check|cloud|software|critical|-|-|-|StatusCheckFailed_Instance|-
cloud_retirement|cloud|hardware|warning|-|-|-|Instance scheduled for retirement|-
cloud_lb_unhealthy|cloud|network|critical|-|-|-|UnHealthyHostCount|-
cloud_network|cloud|network|warning|-|-|-|Zone network degradation|-
sec_shell|pod|security|critical|Terminal_shell_in_container|Terminal_shell_in_container|-|Interactive shell in container|falco_shell_in_container
sec_miner|pod|security|critical|Detect_crypto_miners_using_the_Stratum_protocol|Detect_crypto_miners_using_the_Stratum_protocol|-|CryptoCurrency:EC2/BitcoinTool.B!DNS|crypto_miner_detected
sec_outbound|pod|security|warning|Unexpected_outbound_connection_destination|Unexpected_outbound_connection_destination|-|Backdoor:EC2/C&CActivity.B|unexpected_egress
sec_bruteforce|host|security|warning|SSHBruteForceDetected|HostSshBruteForce|Too many failed SSH logins|UnauthorizedAccess:EC2/SSHBruteForce|ssh_bruteforce
sec_file_integrity|host|security|critical|FileIntegrityViolation|HostFileIntegrityChanged|/etc/passwd has been changed|File integrity violation|fim_violation
sec_privileged|pod|security|warning|Launch_Privileged_Container|Launch_Privileged_Container|-|Privileged container launched|privileged_container
sec_secret_access|cluster|security|warning|K8sSecretReadAnomaly|KubernetesSecretAccessAnomaly|-|Kubernetes secret access anomaly|secret_read_anomaly
"""


def _signals() -> dict[str, Signal]:
    signals = {}
    for row in _TABLE.strip().splitlines():
        name, subject, category, severity, *names = row.split("|")
        signals[name] = Signal(name, subject, category, severity,
                               {v: n for v, n in zip(VOCABULARIES, names) if n != "-"})
    return signals


SIGNALS = _signals()
