"""Alert templates of the public rule sets, by family: the vocabulary of the labeled corpus.

Names, label schemas and annotation texts follow the node-exporter, kubernetes, etcd, mysqld and
postgres mixins, the blackbox exporter rules, awesome-prometheus-alerts and cert-manager-mixin.
A family belongs to the "train" or the "holdout" vocabulary (see correlator/offline/corpus.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from correlator.units import parse_duration

DAY = 86400
SHARED_ALERTNAMES = frozenset({"Watchdog", "PrometheusConfigurationReloadFailure", "PrometheusTargetMissing",
                               "PrometheusRuleFailures", "AlertmanagerFailedReload", "AlertmanagerConfigInconsistent"})
_RUNBOOKS = "https://runbooks.prometheus-operator.dev/runbooks/"
# family: vocabulary, annotation style, runbook URL prefix
FAMILIES = {
    "node": ("train", "mixin", _RUNBOOKS + "node/"),
    "kubernetes": ("train", "mixin", _RUNBOOKS + "kubernetes/"),
    "general": ("train", "mixin", _RUNBOOKS + "general/"),
    "etcd": ("train", "mixin", None),
    "prometheus": ("train", "mixin", _RUNBOOKS + "prometheus/"),
    "alertmanager": ("train", "mixin", _RUNBOOKS + "alertmanager/"),
    "exporter-mixin": ("train", "mixin", None),
    "blackbox": ("train", "awesome", None),
    "awesome": ("holdout", "awesome", None),
    "cert-manager": ("holdout", "mixin", "https://github.com/imusmanmalik/cert-manager-mixin/blob/main/RUNBOOK.md#"),
}


@dataclass(frozen=True)
class Template:
    name: str
    family: str
    severity: str
    for_: float  # the rule's `for`, seconds
    keys: tuple[str, ...]  # series labels: "name" (from the subject), "name:subject_key", "name=fixed value"
    summary: str
    description: str
    value: tuple[float, float] = (1, 1)


# Label schemas of the rules' series
_NODE = ("instance", "job")
_FS, _DEV = _NODE + ("device", "fstype", "mountpoint"), _NODE + ("device",)
_KSM = ("container=kube-state-metrics", "instance", "job=kube-state-metrics")
_KNODE = _KSM + ("node",)
_POD = ("container", "instance", "job=kube-state-metrics", "namespace", "pod")
_DEPLOY, _STS = _KSM + ("namespace", "deployment"), _KSM + ("namespace", "statefulset")
_PVC = ("endpoint=https-metrics", "instance:kubelet", "job=kubelet", "metrics_path=/metrics", "namespace", "node",
       "persistentvolumeclaim", "service=kubelet")
_PROBE, _API = ("instance:url", "job=blackbox"), ("instance:apiserver", "job=apiserver")
_CERT = ("exported_namespace", "name", "namespace=cert-manager")
_PROM = ("container=prometheus", "endpoint=web", "instance:prom", "job=prometheus-k8s", "namespace=monitoring",
        "pod:prom_pod", "service=prometheus-k8s")
_AM = ("container=alertmanager", "endpoint=web", "instance:am", "job=alertmanager-main", "namespace=monitoring",
      "pod:am_pod", "service=alertmanager-main")
_UNIT, _HWMON = _NODE + ("name", "state=failed", "type"), _NODE + ("chip", "sensor")
_CONDITION = _KNODE + ("condition", "status=true")


def _template(name, spec, keys, summary, description, value=(1, 1)) -> Template:
    family, severity, for_ = spec.split()
    return Template(name, family, severity, parse_duration(for_), keys, summary, description, value)


TEMPLATES = {row[0]: _template(*row) for row in [
    # node-exporter mixin
    ("NodeFilesystemSpaceFillingUp", "node warning 1h", _FS, "Filesystem is predicted to run out of space within the "
     "next 24 hours.", "Filesystem on {device}, mounted on {mountpoint}, at {instance} has only {value:.2f}% available "
     "space left and is filling up.", (20, 40)),
    ("NodeFilesystemAlmostOutOfSpace", "node warning 30m", _FS, "Filesystem has less than 5% space left.", "Filesystem "
     "on {device}, mounted on {mountpoint}, at {instance} has only {value:.2f}% available space left.", (3, 5)),
    ("NodeFilesystemFilesFillingUp", "node warning 1h", _FS, "Filesystem is predicted to run out of inodes within the "
     "next 24 hours.", "Filesystem on {device}, mounted on {mountpoint}, at {instance} has only {value:.2f}% available "
     "inodes left and is filling up.", (20, 40)),
    ("NodeNetworkReceiveErrs", "node warning 1h", _DEV, "Network interface is reporting many receive errors.",
     "{instance} interface {device} has encountered {value:.0f} receive errors in the last two minutes.", (0.02, 0.3)),
    ("NodeNetworkTransmitErrs", "node warning 1h", _DEV, "Network interface is reporting many transmit errors.",
     "{instance} interface {device} has encountered {value:.0f} transmit errors in the last two minutes.", (0.02, 0.3)),
    ("NodeHighNumberConntrackEntriesUsed", "node warning 0", _NODE, "Number of conntrack are getting close to the "
     "limit.", "{instance} {value:.4%} of conntrack entries are used.", (0.75, 0.99)),
    ("NodeTextFileCollectorScrapeError", "node warning 0", _NODE, "Node Exporter text file collector failed to scrape.",
     "Node Exporter text file collector on {instance} failed to scrape."),
    ("NodeClockSkewDetected", "node warning 10m", _NODE, "Clock skew detected.", "Clock at {instance} is out of sync "
     "by more than 0.05s. Ensure NTP is configured correctly on this host.", (0.05, 0.5)),
    ("NodeClockNotSynchronising", "node warning 10m", _NODE, "Clock not synchronising.", "Clock at {instance} is not "
     "synchronising. Ensure NTP is configured on this host.", (0, 0)),
    ("NodeRAIDDegraded", "node critical 15m", _DEV, "RAID Array is degraded.", "RAID array '{device}' at {instance} is "
     "in degraded state due to one or more disks failures. Number of spare drives is insufficient to fix issue "
     "automatically."),
    ("NodeRAIDDiskFailure", "node warning 0", _DEV + ("state=failed",), "Failed device in RAID array.", "At least one "
     "device in RAID array at {instance} failed. Array '{device}' needs attention and possibly a disk swap."),
    ("NodeMemoryHighUtilization", "node warning 15m", _NODE, "Host is running out of memory.", "Memory is filling up "
     "at {instance}, has been above 90% for the last 15 minutes, is currently at {value:.2f}%.\n", (90, 99.5)),
    ("NodeCPUHighUsage", "node info 15m", _NODE, "High CPU usage.", "CPU usage at {instance} has been above 90% for "
     "the last 15 minutes, is currently at {value:.2f}%.\n", (90, 100)),
    ("NodeSystemSaturation", "node warning 15m", _NODE, "System saturated, load per core is very high.", "System load "
     "per core at {instance} has been above 2 for the last 15 minutes, is currently at {value:.2f}.\nThis might "
     "indicate this instance resources saturation and can cause it becoming unresponsive.\n", (2, 9)),
    ("NodeDiskIOSaturation", "node warning 30m", _DEV, "Disk IO queue is high.", "Disk IO queue (aqu-sq) is high on "
     "{device} at {instance}, has been above 10 for the last 30 minutes, is currently at {value:.2f}.\nThis symptom "
     "might indicate disk saturation.\n", (10, 80)),
    ("NodeSystemdServiceFailed", "node warning 5m", _UNIT, "Systemd service has entered failed state.", "Systemd "
     "service {name} has entered failed state at {instance}"),
    # kubernetes-mixin, kube-prometheus, etcd-mixin
    ("KubePodCrashLooping", "kubernetes warning 15m", _POD + ("reason=CrashLoopBackOff",), "Pod is crash looping.",
     "Pod {namespace}/{pod} ({container}) is in waiting state (reason: \"CrashLoopBackOff\")."),
    ("KubePodNotReady", "kubernetes warning 15m", ("job=kube-state-metrics", "namespace", "pod"), "Pod has been in a "
     "non-ready state for more than 15 minutes.", "Pod {namespace}/{pod} has been in a non-ready state for longer than "
     "15 minutes."),
    ("KubeDeploymentReplicasMismatch", "kubernetes warning 15m", _DEPLOY, "Deployment has not matched the expected "
     "number of replicas.", "Deployment {namespace}/{deployment} has not matched the expected number of replicas for "
     "longer than 15 minutes."),
    ("KubeDeploymentRolloutStuck", "kubernetes warning 15m", _DEPLOY + ("condition=Progressing", "status=false"),
     "Deployment rollout is not progressing.", "Rollout of deployment {namespace}/{deployment} is not progressing for "
     "longer than 15 minutes."),
    ("KubeStatefulSetReplicasMismatch", "kubernetes warning 15m", _STS, "StatefulSet has not matched the expected "
     "number of replicas.", "StatefulSet {namespace}/{statefulset} has not matched the expected number of replicas for "
     "longer than 15 minutes."),
    ("KubeContainerWaiting", "kubernetes warning 1h", _POD + ("reason",), "Pod container waiting longer than 1 hour",
     "pod/{pod} in namespace {namespace} on container {container} has been in waiting state for longer than 1 hour. "
     "(reason: \"{reason}\")."),
    ("KubeJobFailed", "kubernetes warning 15m", _KSM + ("condition=true", "job_name", "namespace"), "Job failed to "
     "complete.", "Job {namespace}/{job_name} failed to complete. Removing failed job after investigation should clear "
     "this alert."),
    ("KubeNodeNotReady", "kubernetes warning 15m", _KNODE + ("condition=Ready", "status=true"), "Node is not ready.",
     "{node} has been unready for more than 15 minutes."),
    ("KubeNodeUnreachable", "kubernetes warning 15m",
     _KNODE + ("effect=NoSchedule", "key=node.kubernetes.io/unreachable"), "Node is unreachable.", "{node} is "
     "unreachable and some workloads may be rescheduled."),
    ("KubeNodePressure", "kubernetes info 10m", _CONDITION, "Node has as active Condition.", "{node} has active "
     "Condition {condition}. This is caused by resource usage exceeding eviction thresholds."),
    ("KubeletDown", "kubernetes critical 15m", ("job=kubelet", "metrics_path=/metrics"), "Target disappeared from "
     "Prometheus target discovery.", "Kubelet has disappeared from Prometheus target discovery."),
    ("KubeCPUOvercommit", "kubernetes warning 10m", (), "Cluster has overcommitted CPU resource requests.", "Cluster "
     "{cluster} has overcommitted CPU resource requests for Pods by {value:.4g} CPU shares and cannot tolerate node "
     "failure.", (0.2, 6)),
    ("KubeMemoryOvercommit", "kubernetes warning 10m", (), "Cluster has overcommitted memory resource requests.",
     "Cluster {cluster} has overcommitted memory resource requests for Pods by {value:.4g} bytes and cannot tolerate "
     "node failure.", (1e9, 4e10)),
    ("KubeHpaMaxedOut", "kubernetes warning 15m", _KSM + ("horizontalpodautoscaler", "namespace"), "HPA is running at "
     "max replicas", "HPA {namespace}/{horizontalpodautoscaler} has been running at max replicas for longer than 15 "
     "minutes."),
    ("CPUThrottlingHigh", "kubernetes info 15m",
     ("container", "instance:kubelet", "namespace", "pod", "service=kubelet"), "Processes experience elevated CPU "
     "throttling.", "{value:.4%} throttling of CPU in namespace {namespace} for container {container} in pod {pod}.",
     (0.25, 0.95)),
    ("KubePersistentVolumeFillingUp", "kubernetes critical 1m", _PVC, "PersistentVolume is filling up.", "The "
     "PersistentVolume claimed by {persistentvolumeclaim} in Namespace {namespace} is only {value:.4%} free.",
     (0.001, 0.03)),
    ("KubeAPIErrorBudgetBurn", "kubernetes critical 2m", ("long=1h", "short=5m"), "The _API server is burning too much "
     "error budget.", "The _API server is burning too much error budget."),
    ("KubeClientCertificateExpiration", "kubernetes warning 5m", _API, "Client certificate is about to expire.", "A "
     "client certificate used to authenticate to kubernetes apiserver is expiring in less than 7.0 days."),
    ("KubeVersionMismatch", "kubernetes warning 15m", (), "Different semantic versions of Kubernetes components "
     "running.", "There are {value:.0f} different semantic versions of Kubernetes components running.", (2, 3)),
    ("TargetDown", "general warning 10m", ("job", "namespace", "service"), "One or more targets are unreachable.",
     "{value:.4g}% of the {job}/{service} targets in {namespace} namespace are down."),
    ("Watchdog", "general none 0", (), "An alert that should always be firing to certify that Alertmanager is working "
     "properly.", "This is an alert meant to ensure that the entire alerting pipeline is functional.\nThis alert is "
     "always firing, therefore it should always be firing in Alertmanager\nand always fire against a receiver. There "
     "are integrations with various notification\nmechanisms that send a notification when this alert is not firing. "
     "For example the\n\"DeadMansSnitch\" integration in PagerDuty.\n"),
    ("etcdMembersDown", "etcd critical 10m", ("job=etcd",), "etcd cluster members are down.", "etcd cluster \"{job}\": "
     "members are down ({value:.0f})."),
    ("etcdHighNumberOfLeaderChanges", "etcd warning 5m", ("job=etcd",), "etcd cluster has high number of leader "
     "changes.", "etcd cluster \"{job}\": {value:.0f} leader changes within the last 15 minutes. Frequent elections "
     "may be a sign of insufficient resources, high network latency, or disruptions by other components and should be "
     "investigated.", (4, 12)),
    # exporter mixins (mysqld_exporter, postgres_exporter)
    ("MySQLDown", "exporter-mixin critical 5m", _NODE, "MySQL not up.", "MySQL {job} on {instance} is not up.", (0, 0)),
    ("MySQLReplicationNotRunning", "exporter-mixin critical 2m", _NODE, "Slave replication is not running", "Slave "
     "replication (IO or SQL) has been down for more than 2 minutes.", (0, 0)),
    ("MySQLReplicationLag", "exporter-mixin critical 1m", _NODE, "MySQL slave replication is lagging", "The mysql "
     "slave replication has fallen behind and is not recovering", (30, 900)),
    ("PostgreSQLDown", "exporter-mixin warning 5m", _NODE, "PostgreSQL is not processing queries.", "{instance} is "
     "rejecting query requests from the exporter, and thus probably not allowing DNS requests to work either. User "
     "services should not be effected provided at least 1 node is still alive.", (0, 0)),
    # blackbox-exporter (awesome-prometheus-alerts' rules, the usual ones for blackbox)
    ("BlackboxProbeFailed", "blackbox critical 0", _PROBE, "Blackbox probe failed", "Probe failed", (0, 0)),
    ("BlackboxSlowProbe", "blackbox warning 1m", _PROBE, "Blackbox slow probe", "Blackbox probe took more than 1s to "
     "complete", (1, 6)),
    ("BlackboxProbeHttpFailure", "blackbox critical 0", _PROBE, "Blackbox probe HTTP failure", "HTTP status code is "
     "not 200-399", (500, 504)),
    ("BlackboxSslCertificateWillExpireSoon", "blackbox warning 0", _PROBE, "Blackbox SSL certificate will expire soon",
     "SSL certificate expires in less than 20 days", (3 * DAY, 20 * DAY)),
    ("BlackboxSslCertificateExpired", "blackbox critical 0", _PROBE, "Blackbox SSL certificate expired", "SSL "
     "certificate has expired already", (-3 * DAY, 0)),
    # Prometheus and Alertmanager self-monitoring (mostly shared)
    ("PrometheusConfigurationReloadFailure", "awesome warning 0", _PROM, "Prometheus configuration reload failure",
     "Prometheus configuration reload error", (0, 0)),
    ("PrometheusTargetMissing", "awesome critical 0", _NODE, "Prometheus target missing", "A Prometheus target has "
     "disappeared. An exporter might be crashed.", (0, 0)),
    ("PrometheusRuleFailures", "prometheus critical 15m", _PROM + ("rule_group",), "Prometheus is failing rule "
     "evaluations.", "Prometheus {namespace}/{pod} has failed to evaluate {value:.0f} rules in the last 5m.", (1, 40)),
    ("PrometheusBadConfig", "prometheus critical 10m", _PROM, "Failed Prometheus configuration reload.", "Prometheus "
     "{namespace}/{pod} has failed to reload its configuration."),
    ("AlertmanagerFailedReload", "alertmanager critical 10m", _AM, "Reloading an Alertmanager configuration has "
     "failed.", "Configuration has failed to load for {namespace}/{pod}."),
    ("AlertmanagerConfigInconsistent", "alertmanager critical 20m",
     ("namespace=monitoring", "service=alertmanager-main"), "Alertmanager instances within the same cluster have "
     "different configurations.", "Alertmanager instances within the {job} cluster have different configurations."),
    ("PrometheusRuleEvaluationFailures", "awesome critical 0", _PROM, "Prometheus rule evaluation failures",
     "Prometheus encountered {value:.0f} rule evaluation failures, leading to potentially ignored alerts.", (1, 40)),
    ("PrometheusAlertmanagerConfigNotSynced", "awesome warning 0", _AM, "Prometheus AlertManager config not synced",
     "Configurations of AlertManager cluster instances are out of sync"),
    # awesome-prometheus-alerts: hosts
    ("HostOutOfMemory", "awesome warning 2m", _NODE, "Host out of memory", "Node memory is filling up (< 10% left)",
     (1, 10)),
    ("HostHighCpuLoad", "awesome warning 10m", _NODE, "Host high CPU load", "CPU load is > 80%", (0.8, 1)),
    ("HostOutOfDiskSpace", "awesome critical 2m", _FS, "Host out of disk space", "Disk is almost full (< 10% left)",
     (0.5, 10)),
    ("HostDiskWillFillIn24Hours", "awesome warning 2m", _FS, "Host disk will fill in 24 hours", "Filesystem is "
     "predicted to run out of space within the next 24 hours at current write rate", (10, 40)),
    ("HostNetworkReceiveErrors", "awesome warning 2m", _DEV, "Host Network Receive Errors", "Host {instance} interface "
     "{device} has encountered {value:.0f} receive errors in the last two minutes.", (0.02, 0.3)),
    ("HostNetworkTransmitErrors", "awesome warning 2m", _DEV, "Host Network Transmit Errors", "Host {instance} "
     "interface {device} has encountered {value:.0f} transmit errors in the last two minutes.", (0.02, 0.3)),
    ("HostUnusualNetworkThroughputIn", "awesome warning 5m", _DEV, "Host unusual network throughput in", "Host network "
     "interfaces are probably receiving too much data (> 100 MB/s)", (100, 400)),
    ("HostConntrackLimit", "awesome warning 5m", _NODE, "Host conntrack limit", "The number of conntrack is "
     "approaching limit", (0.8, 0.99)),
    ("HostClockSkew", "awesome warning 10m", _NODE, "Host clock skew", "Clock skew detected. Clock is out of sync. "
     "Ensure NTP is configured correctly on this host.", (0.05, 0.5)),
    ("HostSystemdServiceCrashed", "awesome warning 0", _UNIT, "Host systemd service crashed", "systemd service "
     "crashed"),
    ("HostPhysicalComponentTooHot", "awesome warning 5m", _HWMON, "Host physical component too hot", "Physical "
     "hardware component too hot", (76, 95)),
    ("HostNodeOvertemperatureAlarm", "awesome critical 0", _HWMON, "Host node overtemperature alarm", "Physical node "
     "temperature alarm triggered"),
    ("HostEdacCorrectableErrorsDetected", "awesome info 0", _NODE + ("controller",), "Host EDAC Correctable Errors "
     "detected", "Host {instance} has had {value:.0f} correctable memory errors reported by EDAC in the last 5 "
     "minutes.", (1, 30)),
    ("HostEdacUncorrectableErrorsDetected", "awesome warning 0", _NODE + ("controller",), "Host EDAC Uncorrectable "
     "Errors detected", "Host {instance} has had {value:.0f} uncorrectable memory errors reported by EDAC in the last "
     "5 minutes.", (1, 5)),
    ("HostOomKillDetected", "awesome warning 0", _NODE, "Host OOM kill detected", "OOM kill detected", (1, 4)),
    ("HostRaidArrayGotInactive", "awesome critical 0", _DEV, "Host RAID array got inactive", "RAID array {device} is "
     "in a degraded state due to one or more disk failures. The number of spare drives is insufficient to fix the "
     "issue automatically."),
    ("HostRaidDiskFailure", "awesome warning 2m", _NODE + ("md_device", "state=failed"), "Host RAID disk failure", "At "
     "least one device in RAID array on {instance} failed. Array {md_device} needs attention and possibly a disk swap"),
    # awesome-prometheus-alerts: exporters
    ("MysqlDown", "awesome critical 0", _NODE, "MySQL down", "MySQL instance is down on {instance}", (0, 0)),
    ("MysqlSlaveReplicationInterrupted", "awesome critical 0", _NODE, "MySQL Slave replication interrupted", "MySQL "
     "Slave replication interrupted on {instance}", (0, 0)),
    ("MysqlSlaveSqlThreadNotRunning", "awesome critical 0", _NODE, "MySQL Slave SQL thread not running", "MySQL Slave "
     "SQL thread not running on {instance}", (0, 0)),
    ("MysqlSlaveReplicationLag", "awesome critical 1m", _NODE, "MySQL Slave replication lag", "MySQL replication lag "
     "on {instance}", (30, 900)),
    ("MysqlTooManyConnections(>80%)", "awesome warning 2m", _NODE, "MySQL too many connections (> 80%) (instance "
     "{instance})", "More than 80% of MySQL connections are in use on {instance}", (80, 100)),
    ("PostgresqlDown", "awesome critical 0", _NODE, "Postgresql down", "Postgresql instance is down", (0, 0)),
    ("PostgresqlTooManyConnections", "awesome warning 2m", _NODE, "Postgresql too many connections", "PostgreSQL "
     "instance has too many connections (> 80%).", (80, 100)),
    ("PostgresqlReplicationLag", "awesome critical 0", _NODE, "Postgresql replication lag", "PostgreSQL replication "
     "lag is going up (> 30s)", (30, 900)),
    ("RedisDown", "awesome critical 0", _NODE, "Redis down", "Redis instance is down", (0, 0)),
    ("RedisOutOfSystemMemory", "awesome warning 2m", _NODE, "Redis out of system memory", "Redis is running out of "
     "system memory (> 90%)", (90, 99)),
    ("RedisRejectedConnections", "awesome critical 0", _NODE, "Redis rejected connections", "Some connections to Redis "
     "has been rejected", (1, 60)),
    ("RedisReplicationBroken", "awesome critical 0", _NODE, "Redis replication broken", "Redis instance lost a slave",
     (-1, -1)),
    ("RabbitmqNodeDown", "awesome critical 0", (), "RabbitMQ node down", "Less than 3 nodes running in RabbitMQ "
     "cluster", (1, 2)),
    ("RabbitmqTooManyUnackMessages", "awesome warning 1m", ("queue",), "RabbitMQ too many unack messages", "Too many "
     "unacknowledged messages", (1000, 40000)),
    ("ElasticsearchClusterRed", "awesome critical 0", _NODE + ("color=red",), "Elasticsearch Cluster Red", "Elastic "
     "Cluster Red status"),
    ("KafkaConsumersGroup", "awesome critical 1m", ("consumergroup",), "Kafka consumers group", "Kafka consumers group",
     (1000, 90000)),
    ("KafkaTopicsReplicas", "awesome critical 0", ("topic",), "Kafka topics replicas", "Kafka topic in-sync partition",
     (1, 2)),
    ("HaproxyBackendDown", "awesome critical 0", ("instance", "job=haproxy", "proxy"), "HAProxy backend down",
     "HAProxy backend is down", (0, 0)),
    ("NginxHighHttp5xxErrorRate", "awesome critical 1m", (), "Nginx high HTTP 5xx error rate", "Too many HTTP requests "
     "with status 5xx", (5, 60)),
    # awesome-prometheus-alerts: Kubernetes
    ("KubernetesNodeNotReady", "awesome critical 10m", _KNODE + ("condition=Ready", "status=true"), "Kubernetes node "
     "not ready (node {node})", "Node {node} has been unready for a long time", (0, 0)),
    ("KubernetesNodeMemoryPressure", "awesome critical 2m", _CONDITION, "Kubernetes memory pressure (node {node})",
     "Node {node} has MemoryPressure condition"),
    ("KubernetesNodeDiskPressure", "awesome critical 2m", _CONDITION, "Kubernetes disk pressure (node {node})", "Node "
     "{node} has DiskPressure condition"),
    ("KubernetesPodCrashLooping", "awesome warning 2m", _POD, "Kubernetes pod crash looping", "Pod {namespace}/{pod} "
     "is crash looping", (4, 9)),
    ("KubernetesPodNotHealthy", "awesome critical 15m", ("namespace", "pod"), "Kubernetes Pod not healthy", "Pod "
     "{namespace}/{pod} has been in a non-running state for longer than 15 minutes."),
    ("KubernetesDeploymentReplicasMismatch", "awesome warning 10m", _DEPLOY, "Kubernetes Deployment replicas mismatch",
     "Deployment {namespace}/{deployment} replicas mismatch", (1, 3)),
    ("KubernetesDeploymentGenerationMismatch", "awesome critical 10m", _DEPLOY, "Kubernetes Deployment generation "
     "mismatch", "Deployment {namespace}/{deployment} has failed but has not been rolled back."),
    ("KubernetesStatefulsetDown", "awesome critical 1m", _STS, "Kubernetes StatefulSet down", "StatefulSet "
     "{namespace}/{statefulset} went down", (1, 2)),
    ("KubernetesVolumeOutOfDiskSpace", "awesome warning 2m", _PVC, "Kubernetes Volume out of disk space", "Volume is "
     "almost full (< 10% left)", (0.5, 10)),
    ("KubernetesContainerOomKiller", "awesome warning 0", _POD, "Kubernetes Container oom killer", "Container "
     "{container} in pod {namespace}/{pod} has been OOMKilled {value:.0f} times in the last 10 minutes.", (1, 5)),
    ("ContainerHighThrottleRate", "awesome warning 5m", ("container", "namespace", "pod"), "Container high throttle "
     "rate", "Container is being throttled", (0.25, 0.95)),
    ("KubernetesJobFailed", "awesome warning 0", _KSM + ("condition=true", "job_name", "namespace"), "Kubernetes Job "
     "failed", "Job {namespace}/{job_name} failed to complete"),
    ("KubernetesHpaScaleMaximum", "awesome info 2m", _KSM + ("horizontalpodautoscaler", "namespace"), "Kubernetes HPA "
     "scale maximum", "HPA {namespace}/{horizontalpodautoscaler} has hit maximum number of desired pods"),
    ("KubernetesApiServerErrors", "awesome critical 2m", _API, "Kubernetes _API server errors", "Kubernetes _API "
     "server is experiencing high error rate", (3, 40)),
    ("KubernetesClientCertificateExpiresNextWeek", "awesome warning 0", _API, "Kubernetes client certificate expires "
     "next week", "A client certificate used to authenticate to the apiserver is expiring next week."),
    # cert-manager-mixin
    ("CertManagerCertExpirySoon", "cert-manager warning 1h", _CERT, "The cert `{name}` is {value_duration} from "
     "expiry, it should have renewed over a week ago.", "The domain that this cert covers will be unavailable after "
     "{value_duration}. Clients using endpoints that this cert protects will start to fail in {value_duration}.",
     (8 * DAY, 21 * DAY)),
    ("CertManagerCertNotReady", "cert-manager critical 10m", _CERT + ("condition=False",), "The cert `{name}` is not "
     "ready to serve traffic.", "This certificate has not been ready to serve traffic for at least 10m. If the cert is "
     "being renewed or there is another valid cert, the ingress controller _may_ be able to serve that instead."),
]}
def alertnames(vocabulary: str) -> frozenset[str]:
    """The alert names a vocabulary can produce."""
    if vocabulary not in ("train", "holdout", "all"):
        raise ValueError(f"unknown vocabulary {vocabulary!r}: expected train, holdout or all")
    return frozenset(name for name in TEMPLATES if name in SHARED_ALERTNAMES or vocabulary == "all"
                     or FAMILIES[TEMPLATES[name].family][0] == vocabulary)
