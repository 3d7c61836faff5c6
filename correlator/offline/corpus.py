"""Labeled synthetic alert traffic: a seeded estate, faults cascading through its layers, and the
webhook notifications an Alertmanager pair delivers, each alert episode with its true incident.

It trains the shipped model (`labeled_incidents`: the `correlator train --data` format) and
benchmarks correlation (`write`: a recording for `correlator replay` and its truth).

Vocabularies. Alert names, label schemas and annotation texts are those of public rule sets, so
that what is learned transfers to real estates. Every scenario has templates in two namings:
  train    node-exporter mixin, kubernetes-mixin (with kube-prometheus' TargetDown), etcd-mixin,
           the mysqld_exporter and postgres_exporter mixins, and the usual blackbox_exporter rules;
  holdout  awesome-prometheus-alerts' Host*, Kubernetes* and exporter rules (MySQL, PostgreSQL,
           Redis, RabbitMQ, Elasticsearch, Kafka, HAProxy, Nginx, Prometheus) and cert-manager-mixin;
  shared   SHARED_ALERTNAMES (Prometheus/Alertmanager self-monitoring and Watchdog), which every
           estate runs whichever naming it uses: the only names both vocabularies produce.
`vocabulary="all"` draws from both. A model's score on holdout corpora next to its score on train
corpora measures how much it leans on alert names it has seen.

Estate: 2-3 clusters of 8-30 Kubernetes nodes; namespaces whose Deployments and StatefulSets have
pods on those nodes; databases, caches and brokers on VMs (primary and replica) used by some of
the namespaces; a probed public URL per namespace. Faults arrive as a Poisson process (4-10 an
hour), each scenario's rules fire after their real `for` durations, with random symptom subsets,
and resolve when the fault ends (5-90 minutes); noise adds one-off warnings and flapping alerts
(scenarios "isolated_warning", "flapping": each its own incident) and the Watchdog heartbeat
(scenario "watchdog", incident None). Incident ids: "s<seed>-F<n>" faults, "s<seed>-N<n>" noise.
Truth priority is ITIL impact x urgency: impact from the blast radius of the incident's alerts (3+
hosts, 5+ pods or a customer-facing probe of a production cluster: high; a service: medium; hosts
alone: low), urgency from the worst severity. Alertmanager: group_by [alertname, cluster], group_wait 30s,
group_interval 5m, repeat_interval 1h, send_resolved, and its notification-log dedup rules; the
HA pair delivers about 30% of notifications twice.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from correlator.ingest.fingerprint import fingerprint
from correlator.offline.alert_templates import FAMILIES, TEMPLATES, Template, alertnames
from correlator.units import rfc3339

BASE = datetime(2026, 11, 2, tzinfo=timezone.utc)
GROUP_WAIT, GROUP_INTERVAL, REPEAT_INTERVAL = timedelta(seconds=30), timedelta(minutes=5), timedelta(hours=1)
EVALUATION_INTERVAL = 30.0
RECEIVER, EXTERNAL_URL = "correlator", "https://alertmanager.monitoring.example.net"
# Alerts about what customers reach: with a production cluster's, the blast radius is high.
_CUSTOMER_FACING = frozenset({"BlackboxProbeFailed", "BlackboxSlowProbe", "BlackboxProbeHttpFailure",
                              "BlackboxSslCertificateWillExpireSoon", "BlackboxSslCertificateExpired",
                              "NginxHighHttp5xxErrorRate", "CertManagerCertExpirySoon", "CertManagerCertNotReady"})
_MATRIX = {"high": {"high": "P1", "medium": "P2", "low": "P3"}, "medium": {"high": "P2", "medium": "P3", "low": "P4"},
           "low": {"high": "P3", "medium": "P4", "low": "P5"}}
_URGENCY = {"critical": "high", "warning": "medium"}

_PROD_CLUSTERS = ("prod-eu-1", "prod-eu-2", "prod-us-1", "prod-us-2", "prod-ap-1")
_OTHER_CLUSTERS = ("staging", "staging-eu", "qa-us-1", "dev-eu-1")
_NAMESPACES = ("checkout", "payments", "catalog", "search", "auth", "orders", "inventory", "notifications", "billing",
               "shipping", "recommendations", "gateway", "reporting", "media", "accounts", "ledger", "pricing", "cart")
_APPS = ("api", "web", "worker", "consumer", "grpc", "scheduler", "frontend")
_STATEFUL = ("redis", "zookeeper", "nats", "minio", "memcached")
_UNITS = ("kubelet.service", "containerd.service", "chronyd.service", "systemd-resolved.service", "sssd.service",
          "node-problem-detector.service", "auditd.service")
_POD_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' name-suffix alphabet
# kind: exporter port and job; the same signal in each naming, per role
_SERVICE_KINDS = {
    "mysql": (9104, "mysqld-exporter", {
        "down": [["MySQLDown", "MysqlDown"]],
        "replication": [
            ["MySQLReplicationNotRunning", "MysqlSlaveReplicationInterrupted", "MysqlSlaveSqlThreadNotRunning"],
            ["MySQLReplicationLag", "MysqlSlaveReplicationLag"]],
        "saturation": [["MysqlTooManyConnections(>80%)"]]}),
    "postgres": (9187, "postgres-exporter", {"down": [["PostgreSQLDown", "PostgresqlDown"]],
                                             "replication": [["PostgresqlReplicationLag"]],
                                             "saturation": [["PostgresqlTooManyConnections"]]}),
    "redis": (9121, "redis-exporter", {"down": [["RedisDown"]], "replication": [["RedisReplicationBroken"]],
                                       "saturation": [["RedisOutOfSystemMemory"], ["RedisRejectedConnections"]]}),
    "rabbitmq": (15692, "rabbitmq", {"down": [["RabbitmqNodeDown"]], "saturation": [["RabbitmqTooManyUnackMessages"]]}),
    "elasticsearch": (9114, "elasticsearch-exporter", {"down": [["ElasticsearchClusterRed"]]}),
    "kafka": (9308, "kafka-exporter", {"down": [["KafkaTopicsReplicas"]], "replication": [["KafkaTopicsReplicas"]],
                                       "saturation": [["KafkaConsumersGroup"]]}),
}


@dataclass(frozen=True)
class TruthAlert:
    """One alert episode and the incident it truly belongs to (None: noise to ignore, the Watchdog)."""

    fingerprint: str
    starts_at: datetime
    incident: str | None
    category: str | None
    service_area: str | None
    priority: str | None
    scenario: str


@dataclass
class Corpus:
    seed: int
    notifications: list[tuple[datetime, str, dict]]  # (receive time, source, Alertmanager webhook body), by time
    truth: list[TruthAlert]


@dataclass
class _Workload:
    namespace: str
    kind: str  # deployment | statefulset
    name: str
    pods: list[tuple[str, str]]  # (pod, node)
    consumes: _Service | None = None


@dataclass
class _Service:
    kind: str
    hosts: tuple[str, str]  # primary, replica
    users: list[str]  # namespaces


@dataclass
class _Cluster:
    name: str
    prod: bool
    nodes: list[str]
    vms: list[str]
    ips: dict[str, str]
    workloads: list[_Workload]
    services: list[_Service]
    urls: dict[str, str]  # namespace -> its probed public URL
    lb: str
    addresses: dict[str, str]  # ksm, apiserver, prom, am: monitoring targets' instance

    def pods_on(self, node: str) -> list[tuple[_Workload, str]]:
        return [(w, pod) for w in self.workloads for pod, on in w.pods if on == node]


@dataclass
class _Incident:
    id: str
    scenario: str
    category: str
    service_area: str
    cluster: _Cluster


@dataclass
class _Episode:
    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    start: datetime
    end: datetime | None  # None: still firing when the recording ends
    incident: _Incident | None


def _suffix(r: random.Random, n: int) -> str:
    return "".join(r.choice(_POD_CHARS) for _ in range(n))


def _estate(r: random.Random) -> list[_Cluster]:
    first = r.choice(_PROD_CLUSTERS)
    names = [first] + r.sample([n for n in _PROD_CLUSTERS + _OTHER_CLUSTERS if n != first], r.randint(1, 2))
    return [_cluster(r, name, 10 + 16 * index + r.randrange(16)) for index, name in enumerate(names)]


def _cluster(r: random.Random, name: str, net: int) -> _Cluster:
    style, pool = r.choice(("aws", "short", "gke")), f"{r.getrandbits(32):08x}"
    ips: dict[str, str] = {}

    def host(role: str) -> str:
        while True:
            ip = f"10.{net}.{r.randrange(64)}.{r.randint(2, 254)}"
            if style == "aws":
                hostname = "ip-" + ip.replace(".", "-")
            elif style == "gke" and role == "node":
                hostname = f"gke-{name}-default-pool-{pool}-{_suffix(r, 4)}"
            else:
                hostname = f"{role}-{r.getrandbits(16):04x}"
            if hostname not in ips:
                ips[hostname] = ip
                return hostname

    nodes = [host("node") for _ in range(r.randint(8, 30))]
    namespaces = r.sample(_NAMESPACES, r.randint(4, 12))
    workloads = []
    for ns in namespaces:
        for app in r.sample(_APPS, r.randint(1, 3)):
            template_hash = _suffix(r, r.choice((9, 10)))
            workloads.append(_Workload(ns, "deployment", f"{ns}-{app}", [
                (f"{ns}-{app}-{template_hash}-{_suffix(r, 5)}", r.choice(nodes)) for _ in range(r.randint(1, 6))]))
        if r.random() < 0.3:
            sts = f"{ns}-{r.choice(_STATEFUL)}"
            workloads.append(_Workload(ns, "statefulset", sts, [(f"{sts}-{i}", r.choice(nodes))
                                                                 for i in range(r.randint(1, 3))]))
    kinds = ["mysql"] + r.sample([k for k in _SERVICE_KINDS if k != "mysql"], r.randint(1, 3))
    services = [_Service(kind, (host(kind), host(kind)), r.sample(namespaces, r.randint(1, min(3, len(namespaces)))))
                for kind in kinds]
    for service in services:
        if service.kind in ("kafka", "rabbitmq"):
            for w in workloads:
                if w.namespace in service.users and w.name.endswith(("worker", "consumer")):
                    w.consumes = service
    prod = name.startswith("prod")
    domain = r.choice(("example.com", "shop.example.com", "example.io")) if prod else f"{name}.example.net"
    urls = {ns: r.choice((f"https://{ns}.{domain}/healthz", f"https://{domain}/{ns}/health")) for ns in namespaces}
    pod_ip = lambda port: f"10.{net}.{r.randint(64, 127)}.{r.randint(2, 254)}:{port}"  # noqa: E731
    addresses = {"ksm": pod_ip(8443), "apiserver": f"10.{net}.0.{r.randint(2, 9)}:443",
                 "prom": pod_ip(9090), "prom_1": pod_ip(9090), "am": pod_ip(9093)}
    return _Cluster(name, prod, nodes, [h for s in services for h in s.hosts], ips, workloads, services, urls,
                    host("lb"), addresses)


# Subjects: the values a template's keys read.
def _host(h: str) -> dict:
    return {"instance": f"{h}:9100", "job": "node-exporter"}


def _knode(c: _Cluster, h: str) -> dict:
    return {"instance": c.addresses["ksm"], "node": h}


def _pod(c: _Cluster, w: _Workload, pod: str, node: str) -> dict:
    return {"instance": c.addresses["ksm"], "kubelet": f"{c.ips[node]}:10250", "namespace": w.namespace, "pod": pod,
            "container": w.name.removeprefix(w.namespace + "-"), "node": node}


def _workload(c: _Cluster, w: _Workload) -> dict:
    return {"instance": c.addresses["ksm"], "namespace": w.namespace, "deployment": w.name, "statefulset": w.name,
            "horizontalpodautoscaler": w.name}


def _db(s: _Service, h: str) -> dict:
    port, job, _ = _SERVICE_KINDS[s.kind]
    return {"instance": f"{h}:{port}", "job": job, "topic": f"{s.users[0]}.events", "queue": f"{s.users[0]}.tasks"}


def _prom(c: _Cluster, replica: int = 0) -> dict:
    return {"prom": c.addresses["prom_1" if replica else "prom"], "prom_pod": f"prometheus-k8s-{replica}",
            "rule_group": "/etc/prometheus/rules/prometheus-k8s-rulefiles-0/monitoring-kubernetes.yaml;kubernetes-apps",
            "am": c.addresses["am"], "am_pod": "alertmanager-main-0"}


class _Fault:
    """One ground-truth incident being simulated: the alerts its cause makes fire."""

    def __init__(self, sim: _Simulator, incident: _Incident, start: datetime, minutes: float):
        self.sim, self.incident, self.c, self.rng = sim, incident, incident.cluster, sim.rng
        self.start, self.end = start, start + timedelta(minutes=minutes)

    def has(self, names: list[str]) -> bool:
        return any(name in self.sim.names for name in names)

    def fire(self, names: list[str], subject: dict, after: float = 0.0, p: float = 1.0, until: float | None = None,
             ready: bool = False, primary: bool = False) -> None:
        """`names`: one signal as each vocabulary names it. It fires `after` seconds into the fault plus its rule's
        `for` (unless the condition had been pending long before: `ready`), and ends with the fault or at `until`.
        The primary symptom always fires: a fault nobody is alerted about is not an incident."""
        options = [name for name in names if name in self.sim.names]
        if not options or self.rng.random() >= p:
            return
        template = TEMPLATES[self.rng.choice(options)]
        start = self.start + timedelta(seconds=after + (0 if ready else template.for_))
        if primary:
            self.end = max(self.end, start + timedelta(minutes=self.rng.uniform(2, 10)))
        end = self.start + timedelta(seconds=until) if until is not None else \
            self.end + timedelta(seconds=self.rng.uniform(0, 90))
        if start < end:
            self.sim.add(template, subject, start, end, self.incident)


def _node_failure(f: _Fault) -> None:
    c, r = f.c, f.rng
    h = r.choice(c.nodes)
    f.fire(["PrometheusTargetMissing"], _host(h), primary=True)
    if len(c.nodes) < 10:  # TargetDown needs more than 10% of a job's targets down
        for job, namespace in (("node-exporter", "monitoring"), ("kubelet", "kube-system")):
            f.fire(["TargetDown"], {"job": job, "namespace": namespace, "service": job, "value": 100 / len(c.nodes)},
                   p=0.7)
    f.fire(["KubeNodeNotReady", "KubernetesNodeNotReady"], _knode(c, h), after=40, p=0.9)  # node-monitor-grace-period
    f.fire(["KubeNodeUnreachable"], _knode(c, h), after=40, p=0.7)
    for w, pod in c.pods_on(h):
        f.fire(["KubePodNotReady", "KubernetesPodNotHealthy"], _pod(c, w, pod, h), after=40, p=0.6)
        if w.kind == "deployment":  # its pods are rescheduled elsewhere once the 5-minute toleration is over
            f.fire(["KubeDeploymentReplicasMismatch", "KubernetesDeploymentReplicasMismatch"], _workload(c, w),
                   after=40, until=r.uniform(400, 2700), p=0.5)
        else:  # a StatefulSet's pod waits for its node
            f.fire(["KubeStatefulSetReplicasMismatch", "KubernetesStatefulsetDown"], _workload(c, w), after=40, p=0.8)


def _hardware_degradation(f: _Fault) -> None:
    c, r = f.c, f.rng
    h = r.choice(c.nodes + c.vms)
    parts = {"disk": ["NodeRAIDDiskFailure", "HostRaidDiskFailure"], "memory": ["HostEdacCorrectableErrorsDetected"],
             "thermal": ["HostPhysicalComponentTooHot"]}
    part = r.choice([part for part, names in parts.items() if f.has(names)])
    subject = _host(h) | {"device": "md0", "md_device": "md0", "controller": str(r.randrange(2)),
                          "chip": "platform_coretemp_0", "sensor": f"temp{r.randint(1, 9)}"}
    f.fire(parts[part], subject, primary=True)
    if part == "disk":
        f.fire(["NodeRAIDDegraded", "HostRaidArrayGotInactive"], subject, after=r.uniform(0, 600), p=0.6)
        f.fire(["NodeDiskIOSaturation"], subject | {"device": r.choice(("sda", "sdb", "nvme1n1"))}, p=0.3)  # rebuild
    elif part == "memory":
        f.fire(["HostEdacUncorrectableErrorsDetected"], subject, after=r.uniform(60, 1800), p=0.5)
        f.fire(["PrometheusTargetMissing"], _host(h), after=r.uniform(300, 2400), p=0.2)  # the kernel panics
    else:
        f.fire(["HostNodeOvertemperatureAlarm"], subject, after=r.uniform(60, 900), p=0.4)
        f.fire(["NodeSystemSaturation", "HostHighCpuLoad"], _host(h), p=0.3)  # thermal throttling


def _disk_filling(f: _Fault) -> None:
    c, r = f.c, f.rng
    claims = [w for w in c.workloads if w.kind == "statefulset"]
    if claims and r.random() < 0.3:
        w = r.choice(claims)
        pod, node = r.choice(w.pods)
        f.fire(["KubePersistentVolumeFillingUp", "KubernetesVolumeOutOfDiskSpace"],
               _pod(c, w, pod, node) | {"persistentvolumeclaim": f"data-{pod}"}, primary=True)
        f.fire(["KubeStatefulSetReplicasMismatch", "KubernetesStatefulsetDown"], _workload(c, w),
               after=r.uniform(60, 900), p=0.3)  # the store stops when its volume is full
        return
    h = r.choice(c.nodes + c.vms)
    mounts = ("/", "/var/lib/containerd", "/var/lib/kubelet", "/var/log") if h in c.nodes else ("/", "/data")
    subject = _host(h) | {"device": r.choice(("/dev/nvme0n1p1", "/dev/nvme1n1", "/dev/sda1", "/dev/xvda1")),
                          "fstype": r.choice(("ext4", "xfs")), "mountpoint": r.choice(mounts)}
    f.fire(["NodeFilesystemSpaceFillingUp", "HostDiskWillFillIn24Hours"], subject, ready=True, primary=True)
    f.fire(["NodeFilesystemAlmostOutOfSpace", "HostOutOfDiskSpace"], subject, after=r.uniform(120, 2400), p=0.6)
    f.fire(["NodeFilesystemFilesFillingUp"], subject, ready=True, p=0.1)  # many small files: inodes run out too
    if h in c.nodes:
        f.fire(["KubeNodePressure", "KubernetesNodeDiskPressure"], _knode(c, h) | {"condition": "DiskPressure"},
               after=r.uniform(300, 2400), p=0.3)


def _resource_saturation(f: _Fault) -> None:
    c, r = f.c, f.rng
    if r.random() < 0.5:  # one node
        h = r.choice(c.nodes)
        memory = r.random() < 0.5
        f.fire(["NodeMemoryHighUtilization", "HostOutOfMemory"] if memory else ["NodeCPUHighUsage", "HostHighCpuLoad"],
               _host(h), primary=True)
        if memory:
            f.fire(["HostOomKillDetected"], _host(h), after=r.uniform(60, 900), p=0.5)
            f.fire(["KubeNodePressure", "KubernetesNodeMemoryPressure"], _knode(c, h) | {"condition": "MemoryPressure"},
                   after=r.uniform(60, 900), p=0.3)
        else:
            f.fire(["NodeSystemSaturation"], _host(h), p=0.5)
        for w, pod in c.pods_on(h):  # the OOM killer's victims crash; on a busy CPU, containers get throttled
            f.fire(["KubernetesContainerOomKiller", "KubePodCrashLooping"] if memory else
                   ["CPUThrottlingHigh", "ContainerHighThrottleRate"],
                   _pod(c, w, pod, h), after=r.uniform(60, 900), p=0.25)
        return
    w = r.choice([w for w in c.workloads if w.kind == "deployment"])  # one workload outgrows its limits
    f.fire(["KubeHpaMaxedOut", "KubernetesHpaScaleMaximum"], _workload(c, w), primary=True)
    for pod, node in w.pods:
        f.fire(["CPUThrottlingHigh", "ContainerHighThrottleRate"], _pod(c, w, pod, node), after=r.uniform(0, 600),
               p=0.5)
    f.fire(["KubeCPUOvercommit"], {}, after=r.uniform(0, 600), p=0.25)
    f.fire(["KubeMemoryOvercommit"], {}, after=r.uniform(0, 600), p=0.15)
    for s in c.services:
        if w.namespace in s.users:
            for names in _SERVICE_KINDS[s.kind][2].get("saturation", []):
                f.fire(names, _db(s, s.hosts[0]) | {"consumergroup": w.name}, after=r.uniform(0, 600), p=0.3)


def _bad_deploy(f: _Fault) -> None:
    c, r = f.c, f.rng
    w = r.choice([w for w in c.workloads if w.kind == "deployment"])
    template_hash = _suffix(r, 10)  # the new ReplicaSet's pods crash; the old ones keep serving
    for i in range(r.randint(1, 3)):
        pod = _pod(c, w, f"{w.name}-{template_hash}-{_suffix(r, 5)}", r.choice(c.nodes))
        f.fire(["KubePodCrashLooping", "KubernetesPodCrashLooping"], pod, after=r.uniform(20, 90), primary=i == 0)
    f.fire(["KubeDeploymentReplicasMismatch", "KubernetesDeploymentReplicasMismatch"], _workload(c, w), p=0.6)
    f.fire(["KubeDeploymentRolloutStuck", "KubernetesDeploymentGenerationMismatch"], _workload(c, w), after=600,
           p=0.5)  # progressDeadlineSeconds
    f.fire(["BlackboxProbeHttpFailure", "NginxHighHttp5xxErrorRate"], {"url": c.urls[w.namespace]},
           after=r.uniform(30, 180), p=0.5)
    if w.consumes is not None:  # the backlog grows while the consumers crash
        f.fire(_SERVICE_KINDS[w.consumes.kind][2]["saturation"][0], _db(w.consumes, w.consumes.hosts[0])
               | {"consumergroup": w.name}, after=r.uniform(120, 600), p=0.6)


def _database_outage(f: _Fault) -> None:
    c, r = f.c, f.rng
    s = r.choice([s for s in c.services if f.has(_SERVICE_KINDS[s.kind][2]["down"][0])])
    f.fire(_SERVICE_KINDS[s.kind][2]["down"][0], _db(s, s.hosts[0]), primary=True)
    for w in c.workloads:
        if w.namespace in s.users and w.kind == "deployment":
            for pod, node in w.pods:
                f.fire(["KubePodNotReady", "KubernetesPodNotHealthy"], _pod(c, w, pod, node), after=r.uniform(10, 60),
                       p=0.3)  # readiness checks the database
                f.fire(["KubePodCrashLooping", "KubernetesPodCrashLooping"], _pod(c, w, pod, node),
                       after=r.uniform(30, 120), p=0.15)
            f.fire(["KubeDeploymentReplicasMismatch", "KubernetesDeploymentReplicasMismatch"], _workload(c, w),
                   after=r.uniform(10, 60), p=0.3)
    for ns in s.users:
        f.fire(["BlackboxProbeHttpFailure", "BlackboxProbeFailed", "NginxHighHttp5xxErrorRate"], {"url": c.urls[ns]},
               after=r.uniform(10, 90), p=0.6)


def _replication_broken(f: _Fault) -> None:
    c, r = f.c, f.rng
    s = r.choice([s for s in c.services if f.has(_SERVICE_KINDS[s.kind][2].get("replication", [[]])[0])])
    roles = _SERVICE_KINDS[s.kind][2]["replication"]
    replica = _db(s, s.hosts[0] if s.kind == "redis" else s.hosts[1])  # Redis reports it on the primary
    f.fire(roles[0], replica, primary=True)
    for names in roles[1:]:
        f.fire(names, replica, after=r.uniform(30, 600), p=0.6)


def _network_partition(f: _Fault) -> None:
    c, r = f.c, f.rng
    hosts = r.sample(c.nodes, r.randint(2, 6))
    device = r.choice(("eth0", "ens5", "eno1", "bond0"))
    for i, h in enumerate(hosts):
        f.fire(["PrometheusTargetMissing"], _host(h), p=1.0 if i == 0 else 0.6, primary=i == 0)
        # a failing switch or link corrupts frames well before it drops them
        f.fire(["NodeNetworkReceiveErrs", "HostNetworkReceiveErrors"], _host(h) | {"device": device},
               after=-r.uniform(0, 4200), p=0.4)
        f.fire(["NodeNetworkTransmitErrs", "HostNetworkTransmitErrors"], _host(h) | {"device": device},
               after=-r.uniform(0, 4200), p=0.3)
        f.fire(["NodeHighNumberConntrackEntriesUsed", "HostConntrackLimit"], _host(h), p=0.15)
        f.fire(["KubeNodeUnreachable"], _knode(c, h), after=40, p=0.5)
        f.fire(["KubeNodeNotReady", "KubernetesNodeNotReady"], _knode(c, h), after=40, p=0.4)
    if len(hosts) / len(c.nodes) > 0.1:
        f.fire(["TargetDown"], {"job": "node-exporter", "namespace": "monitoring", "service": "node-exporter",
                                "value": 100 * len(hosts) / len(c.nodes)}, p=0.8)
    touched = sorted({w.namespace for h in hosts for w, _ in c.pods_on(h)})
    for ns in touched[:3]:
        f.fire(["BlackboxProbeFailed", "BlackboxSlowProbe"], {"url": c.urls[ns]}, after=r.uniform(0, 60), p=0.4)
        f.fire(["HaproxyBackendDown"], {"instance": f"{c.lb}:8405", "proxy": f"be_{ns}"}, p=0.3)
    f.fire(["HostUnusualNetworkThroughputIn"], _host(c.lb) | {"device": device}, p=0.3)  # clients retry through the LB
    f.fire(["etcdHighNumberOfLeaderChanges"], {}, after=60, p=0.3)
    f.fire(["etcdMembersDown"], {}, p=0.15)
    f.fire(["KubeletDown"], {}, p=0.1)  # the Prometheus itself was on the wrong side


def _cert_expiry(f: _Fault) -> None:
    c, r = f.c, f.rng
    if r.random() < 0.3:  # the _API server's client certificates
        f.fire(["KubeClientCertificateExpiration", "KubernetesClientCertificateExpiresNextWeek"],
               {"apiserver": c.addresses["apiserver"]}, ready=True, primary=True)
        return
    expired = r.random() < 0.3  # an issuer failing renewals: every certificate it covers runs out together
    for i, ns in enumerate(r.sample(sorted(c.urls), r.randint(1, min(4, len(c.urls))))):
        subject = {"url": c.urls[ns], "exported_namespace": ns, "name": f"{ns}-tls"}
        f.fire(["BlackboxSslCertificateWillExpireSoon", "CertManagerCertExpirySoon"], subject, ready=True,
               primary=i == 0)
        if expired:
            after = r.uniform(120, 1800)
            f.fire(["BlackboxSslCertificateExpired", "CertManagerCertNotReady"], subject, after=after, p=0.8)
            f.fire(["BlackboxProbeFailed"], subject, after=after, p=0.5)


def _config_error(f: _Fault) -> None:
    c, r = f.c, f.rng
    variant = r.choice(("prometheus", "alertmanager", "platform"))
    if variant == "prometheus":  # a bad rule or scrape config: what it should alert on goes unseen
        f.incident.service_area = "integrity"
        for replica in (0, 1):
            f.fire(["PrometheusConfigurationReloadFailure", "PrometheusBadConfig"], _prom(c, replica), p=0.7 if replica
                   else 1.0, primary=replica == 0)
        f.fire(["PrometheusRuleFailures", "PrometheusRuleEvaluationFailures"], _prom(c), p=0.3)
    elif variant == "alertmanager":  # notifications may be lost
        f.incident.service_area = "integrity"
        f.fire(["AlertmanagerFailedReload"], _prom(c), primary=True)
        f.fire(["AlertmanagerConfigInconsistent", "PrometheusAlertmanagerConfigNotSynced"], _prom(c), p=0.6)
    else:  # a half-finished upgrade, or a misconfigured admission webhook failing _API requests
        f.fire(["KubeAPIErrorBudgetBurn", "KubernetesApiServerErrors"], {"apiserver": c.addresses["apiserver"]},
               primary=True)
        f.fire(["KubeVersionMismatch"], {}, ready=True, p=0.4)
        for w in r.sample([w for w in c.workloads if w.kind == "deployment"], 2):
            f.fire(["KubeDeploymentRolloutStuck", "KubernetesDeploymentGenerationMismatch"], _workload(c, w), p=0.3)


# scenario: simulation, category, service area
_SCENARIOS = {
    "node_failure": (_node_failure, "hardware", "availability"),
    "hardware_degradation": (_hardware_degradation, "hardware", "availability"),
    "disk_filling": (_disk_filling, "capacity", "availability"),
    "resource_saturation": (_resource_saturation, "capacity", "availability"),
    "bad_deploy": (_bad_deploy, "software", "availability"),
    "database_outage": (_database_outage, "software", "availability"),
    "replication_broken": (_replication_broken, "software", "integrity"),
    "network_partition": (_network_partition, "network", "availability"),
    "cert_expiry": (_cert_expiry, "human_error", "availability"),  # a renewal missed (docs/quality.md)
    "config_error": (_config_error, "human_error", "availability"),
}
# Faults are dealt from shuffled decks: every scenario comes once per deck, the common ones twice.
_DECK = list(_SCENARIOS) + ["bad_deploy", "resource_saturation", "disk_filling"]
# noise: the same signal in each naming, subject, category, service area
_NOISE = [
    (["NodeClockSkewDetected", "NodeClockNotSynchronising", "HostClockSkew"], "host", "software", "integrity"),
    (["NodeSystemdServiceFailed", "HostSystemdServiceCrashed"], "host", "software", "availability"),
    (["NodeTextFileCollectorScrapeError"], "host", "software", "integrity"),
    (["NodeHighNumberConntrackEntriesUsed", "HostConntrackLimit"], "host", "capacity", "availability"),
    (["HostOomKillDetected"], "host", "capacity", "availability"),
    (["HostEdacCorrectableErrorsDetected"], "host", "hardware", "availability"),
    (["KubeJobFailed", "KubernetesJobFailed"], "pod", "software", "availability"),
    (["KubeContainerWaiting"], "pod", "software", "availability"),
    (["CPUThrottlingHigh", "ContainerHighThrottleRate"], "pod", "capacity", "availability"),
    (["KubeHpaMaxedOut", "KubernetesHpaScaleMaximum"], "pod", "capacity", "availability"),
    (["KubernetesContainerOomKiller"], "pod", "capacity", "availability"),
    (["BlackboxSlowProbe"], "probe", "network", "availability"),
]
_FLAPPING = [
    (["BlackboxSlowProbe", "BlackboxProbeFailed"], "probe", "network", "availability"),
    (["NodeHighNumberConntrackEntriesUsed", "HostConntrackLimit"], "host", "capacity", "availability"),
    (["KubePodCrashLooping", "KubernetesPodCrashLooping"], "pod", "software", "availability"),
    (["PrometheusTargetMissing"], "host", "network", "availability"),
]


class _Simulator:
    def __init__(self, seed: int, hours: float, vocabulary: str):
        self.seed, self.names, self.rng = seed, alertnames(vocabulary), random.Random(seed)
        self.base = BASE + timedelta(hours=seed % 168)
        self.end = self.base + timedelta(hours=hours)
        self.clusters = _estate(self.rng)
        self.candidates: list[_Episode] = []
        self.phases: dict[tuple[str, str], float] = {}

    def _evaluated(self, at: datetime, cluster: str, family: str) -> datetime:
        """The first evaluation of the rule's group at or after `at`: its alerts change state only then."""
        if (cluster, family) not in self.phases:
            self.phases[cluster, family] = self.rng.uniform(0, EVALUATION_INTERVAL)
        phase = self.phases[cluster, family]
        ticks = math.ceil(((at - self.base).total_seconds() - phase) / EVALUATION_INTERVAL)
        return self.base + timedelta(seconds=phase + ticks * EVALUATION_INTERVAL)

    def add(self, t: Template, subject: dict, start: datetime, end: datetime | None, incident: _Incident | None,
            cluster: _Cluster | None = None) -> None:
        cluster = cluster or incident.cluster
        series = {}
        for key in t.keys:
            name, fixed, value = key.partition("=")
            if not fixed:
                name, _, source = key.partition(":")
                value = subject[source or name]
            series[name] = value
        lo, hi = t.value
        value = subject.get("value", self.rng.randint(lo, hi) if isinstance(lo, int) and isinstance(hi, int)
                            else self.rng.uniform(lo, hi))
        fields = _Fields(series, value=value, value_duration=_humanize_duration(value))
        summary, description = t.summary.format_map(fields), t.description.format_map(fields)
        _, style, runbook = FAMILIES[t.family]
        if style == "awesome":  # awesome-prometheus-alerts' annotation conventions
            summary += "" if "(" in summary else " (instance {})".format(series.get("instance", "<no value>"))
            description += f"\n  VALUE = {_go_float(value)}\n  LABELS = map[" + \
                " ".join(f"{k}:{series[k]}" for k in sorted(series)) + "]"
        annotations = {"description": description, "summary": summary}
        if runbook:
            annotations["runbook_url"] = runbook + t.name.lower()
        labels = dict(sorted((series | {"alertname": t.name, "severity": t.severity, "cluster": cluster.name,
                                        "prometheus": "monitoring/k8s"}).items()))
        self.candidates.append(_Episode(fingerprint(labels), labels, dict(sorted(annotations.items())),
                                        self._evaluated(start, cluster.name, t.family),
                                        end and self._evaluated(end, cluster.name, t.family), incident))

    def run(self) -> tuple[list[tuple[datetime, str, dict]], list[_Episode]]:
        r = self.rng
        for c in self.clusters:
            self.add(TEMPLATES["Watchdog"], {}, self.base - timedelta(days=r.uniform(1, 60)), None, None, c)
        deck: list[str] = []
        for number, at in enumerate(self._arrivals(r.uniform(4, 10)), start=1):
            if not deck:
                deck = _DECK[:]
                r.shuffle(deck)
            scenario = deck.pop()
            simulate, category, area = _SCENARIOS[scenario]
            incident = _Incident(f"s{self.seed}-F{number:04d}", scenario, category, area, r.choice(self.clusters))
            simulate(_Fault(self, incident, at, r.uniform(5, 90)))
        noise = [(at, "isolated_warning") for at in self._arrivals(r.uniform(3, 8))] + \
                [(at, "flapping") for at in self._arrivals(r.uniform(0.5, 2))]
        for number, (at, scenario) in enumerate(sorted(noise), start=1):
            self._noise(f"s{self.seed}-N{number:04d}", scenario, at)
        episodes = self._episodes()
        return self._alertmanager(episodes), episodes

    def _arrivals(self, per_hour: float) -> list[datetime]:
        times, at = [], self.base
        while (at := at + timedelta(hours=self.rng.expovariate(per_hour))) < self.end:
            times.append(at)
        return times

    def _noise(self, incident_id: str, scenario: str, at: datetime) -> None:
        r = self.rng
        pool = [entry for entry in (_NOISE if scenario == "isolated_warning" else _FLAPPING)
                if any(name in self.names for name in entry[0])]
        names, subject_kind, category, area = r.choice(pool)
        c = r.choice(self.clusters)
        w = r.choice(c.workloads)
        subject = _pod(c, w, *r.choice(w.pods)) | _workload(c, w) | {
            "url": r.choice(sorted(c.urls.values())), "name": r.choice(_UNITS), "type": "simple", "controller": "0",
            "job_name": f"{w.namespace}-cleanup-{int(at.timestamp()) // 60}",
            "reason": r.choice(("ImagePullBackOff", "ContainerCreating", "CreateContainerConfigError"))}
        if subject_kind == "host":
            subject |= _host(r.choice(c.nodes + c.vms))
        fault = _Fault(self, _Incident(incident_id, scenario, category, area, c), at, r.uniform(2, 40))
        if scenario == "isolated_warning":
            fault.fire(names, subject, ready=True, primary=True)
            return
        name = r.choice([n for n in names if n in self.names])  # one alert changing state, again and again
        offset = 0.0
        for _ in range(r.randint(3, 6)):
            on = r.uniform(40, 240)
            fault.fire([name], subject, after=offset, until=offset + on, ready=True)
            offset += on + r.uniform(60, 200)

    def _episodes(self) -> list[_Episode]:
        """Candidates of the same label set while it is firing are one alert: the first cause keeps it."""
        live: dict[str, _Episode] = {}
        episodes = []
        for candidate in sorted(self.candidates, key=lambda e: (e.start, e.fingerprint)):
            last = live.get(candidate.fingerprint)
            if last is not None and (last.end is None or candidate.start <= last.end):
                last.end = None if candidate.end is None else max(last.end, candidate.end)
                continue
            live[candidate.fingerprint] = candidate
            episodes.append(candidate)
        return episodes

    def _alertmanager(self, episodes: list[_Episode]) -> list[tuple[datetime, str, dict]]:
        groups: dict[tuple[str, str], list[_Episode]] = {}
        for episode in episodes:
            groups.setdefault((episode.labels["alertname"], episode.labels["cluster"]), []).append(episode)
        notifications = []
        for key in sorted(groups):
            members = groups[key]
            entry = None  # the notification log: (firing, resolved fingerprints, time) last sent
            flushed: set[tuple[str, datetime]] = set()  # resolved episodes sent in a flush: gone from the group
            created = members[0].start
            while created is not None and created < self.end:
                tick = created + GROUP_WAIT
                if tick < self.base:
                    tick += GROUP_INTERVAL * math.ceil((self.base - tick) / GROUP_INTERVAL)
                while tick < self.end:
                    current = {e.fingerprint: e for e in members if e.start <= tick}  # a new episode replaces the old
                    current = [e for e in current.values() if (e.fingerprint, e.start) not in flushed]
                    firing = [e for e in current if e.end is None or e.end > tick]
                    resolved = [e for e in current if e.end is not None and e.end <= tick]
                    if _needs_update(entry, {e.fingerprint for e in firing}, {e.fingerprint for e in resolved}, tick):
                        entry = ({e.fingerprint for e in firing}, {e.fingerprint for e in resolved}, tick)
                        body = _webhook(key, firing, resolved)
                        at = tick + timedelta(seconds=self.rng.uniform(0.005, 0.08))
                        notifications.append((at, "alertmanager", body))
                        if self.rng.random() < 0.3:  # the HA peer did not see the other's notification log in time
                            notifications.append((at + timedelta(seconds=self.rng.uniform(0.1, 0.9)), "alertmanager",
                                                  body))
                    flushed.update((e.fingerprint, e.start) for e in resolved)
                    if not firing:
                        break  # an empty group is deleted: the next alert creates it again
                    tick += GROUP_INTERVAL
                created = next((e.start for e in members if e.start > tick), None)
        notifications.sort(key=lambda n: n[0])
        return notifications


def _needs_update(entry, firing: set[str], resolved: set[str], now: datetime) -> bool:
    """Alertmanager's DedupStage.needsUpdate (send_resolved on)."""
    if entry is None:
        return bool(firing)
    sent_firing, sent_resolved, sent_at = entry
    if not firing <= sent_firing:
        return True
    if not firing:
        return bool(sent_firing)
    return not resolved <= sent_resolved or now - sent_at >= REPEAT_INTERVAL


def _webhook(key: tuple[str, str], firing: list[_Episode], resolved: list[_Episode]) -> dict:
    states = [(e, "firing") for e in firing] + [(e, "resolved") for e in resolved]
    alerts = [{"status": status, "labels": e.labels, "annotations": e.annotations, "startsAt": _go_time(e.start),
               "endsAt": _go_time(e.end) if status == "resolved" else "0001-01-01T00:00:00Z",
               "generatorURL": f"https://prometheus.{key[1]}.example.net/graph?g0.expr=ALERTS%7Balertname%3D%22{key[0]}"
                               "%22%7D&g0.tab=1", "fingerprint": e.fingerprint}
              for e, status in sorted(states, key=lambda state: list(state[0].labels.items()))]

    def common(field: str) -> dict[str, str]:
        return dict(sorted(set.intersection(*(set(a[field].items()) for a in alerts))))

    return {"receiver": RECEIVER, "status": "firing" if firing else "resolved", "alerts": alerts,
            "groupLabels": {"alertname": key[0], "cluster": key[1]}, "commonLabels": common("labels"),
            "commonAnnotations": common("annotations"), "externalURL": EXTERNAL_URL, "version": "4",
            "groupKey": f'{{}}:{{alertname="{key[0]}", cluster="{key[1]}"}}', "truncatedAlerts": 0}


class _Fields(dict):
    def __missing__(self, key: str) -> str:
        return "<no value>"  # what Go's text/template prints for a missing label


def _go_float(value: float) -> str:
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _go_time(at: datetime) -> str:
    """RFC 3339 as Go marshals it: fraction without trailing zeros."""
    fraction = f".{at.microsecond:06d}".rstrip("0") if at.microsecond else ""
    return at.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


def _humanize_duration(seconds: float) -> str:
    """Prometheus' humanizeDuration."""
    d, rest = divmod(int(abs(seconds)), 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    return (f"{d}d " if d else "") + (f"{h}h " if d or h else "") + (f"{m}m " if d or h or m else "") + f"{s}s"


def _impact(incident: _Incident, labels: list[dict[str, str]]) -> str:
    hosts = {l.get("node") or l["instance"].removesuffix(":9100") for l in labels
             if "node" in l or l.get("instance", "").endswith(":9100")}
    pods = {l["pod"] for l in labels if "pod" in l}
    if len(hosts) >= 3 or len(pods) >= 5 or incident.cluster.prod and any(l["alertname"] in _CUSTOMER_FACING
                                                                            for l in labels):
        return "high"
    if all(l.get("job") == "node-exporter" or "node" in l and "namespace" not in l for l in labels):
        return "low"  # hosts, and nothing that runs on them
    return "medium"


def generate(seed: int, hours: float = 6.0, vocabulary: str = "train") -> Corpus:
    notifications, episodes = _Simulator(seed, hours, vocabulary).run()
    sent = {(a["fingerprint"], a["startsAt"]) for _, _, body in notifications for a in body["alerts"]}
    episodes = [e for e in episodes if (e.fingerprint, _go_time(e.start)) in sent]
    members: dict[str, list[_Episode]] = {}
    for e in episodes:
        if e.incident is not None:
            members.setdefault(e.incident.id, []).append(e)
    priority = {}
    for incident_id, group in members.items():
        urgency = max((_URGENCY.get(e.labels["severity"], "low") for e in group), key=("low", "medium", "high").index)
        priority[incident_id] = _MATRIX[_impact(group[0].incident, [e.labels for e in group])][urgency]
    truth = [TruthAlert(e.fingerprint, e.start, None, None, None, None, "watchdog") if e.incident is None else
             TruthAlert(e.fingerprint, e.start, e.incident.id, e.incident.category, e.incident.service_area,
                        priority[e.incident.id], e.incident.scenario)
             for e in sorted(episodes, key=lambda e: (e.start, e.fingerprint))]
    return Corpus(seed, notifications, truth)


def write(corpus: Corpus, recording: Path, truth: Path) -> None:
    """The recording `correlator replay` reads, and its truth: one JSON line per alert episode."""
    with recording.open("w") as out:
        for at, source, body in corpus.notifications:
            out.write(json.dumps({"at": rfc3339(at), "source": source, "body": body}, separators=(",", ":")) + "\n")
    with truth.open("w") as out:
        for t in corpus.truth:
            out.write(json.dumps({"fingerprint": t.fingerprint, "startsAt": _go_time(t.starts_at),
                                  "incident": t.incident, "category": t.category, "service_area": t.service_area,
                                  "priority": t.priority, "scenario": t.scenario}) + "\n")


def labeled_incidents(corpus: Corpus) -> list[dict]:
    """One labeled incident per true incident, with its alerts as first notified (`correlator train --data`)."""
    alerts = {}
    for _, _, body in corpus.notifications:
        for a in body["alerts"]:
            alerts.setdefault((a["fingerprint"], a["startsAt"]), a)
    incidents: dict[str, dict] = {}
    for t in corpus.truth:
        if t.incident is None:
            continue
        incident = incidents.setdefault(t.incident, {"id": t.incident, "category": t.category,
                                                     "service_area": t.service_area, "priority": t.priority,
                                                     "scenario": t.scenario, "alerts": []})
        a = alerts[t.fingerprint, _go_time(t.starts_at)]
        incident["alerts"].append({"labels": a["labels"], "annotations": a["annotations"], "startsAt": a["startsAt"]})
    return list(incidents.values())
