"""An alert as each vocabulary writes it: name, label schema, severity scale and annotations.

The same host is `10.20.3.4:9100` to node-exporter rules, `db02-ams1.ams1.example.io:9100` to
awesome-prometheus-alerts, `db02-ams1` to Zabbix and `i-0abc...` to a cloud monitor; a pod is
`pod`/`namespace` to kube-state-metrics and `pod_name`/`kube_namespace` to Datadog.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from .signals import SIGNALS
from .topology import Backend, Cluster, Estate, Host, Pod, Workload

# Which vocabulary an estate uses for a signal: by the layer the signal belongs to.
_LAYER_PREFIXES = (("sec_", "security"), ("cloud_", "cloud"), ("node_", "k8s"), ("kubelet", "k8s"), ("cni", "k8s"),
                   ("probe", "edge"), ("cert", "edge"))
_EXPORTER_PORTS = {"postgres": 9187, "mysql": 9104, "redis": 9121, "kafka": 9308, "rabbitmq": 15692,
                   "elasticsearch": 9114, "ceph": 9283}
_CADVISOR_SIGNALS = frozenset({"pod_oom", "pod_throttled", "pod_evicted"})
_ZABBIX_SEVERITY = {"critical": "High", "warning": "Average", "info": "Information"}
_INHOUSE_SEVERITY = {"critical": "page", "warning": "ticket", "info": "info"}
_CLOUD_PRIORITY = {"critical": "P2", "warning": "P3", "info": "P5"}
_CLOUD_CHECKS = {  # cloud_system_check etc. as each cloud's monitor names them
    "gcp": {"cloud_system_check": "GCE instance host error", "cloud_instance_check": "GCE instance guest unhealthy",
            "cloud_retirement": "GCE host maintenance scheduled", "cloud_lb_unhealthy": "Backend service unhealthy",
            "cloud_network": "VPC zone packet loss"},
    "azure": {"cloud_system_check": "VM availability degraded (platform)",
              "cloud_instance_check": "VM guest heartbeat missing", "cloud_retirement": "VM scheduled event: Redeploy",
              "cloud_lb_unhealthy": "Load balancer health probe failing", "cloud_network": "Zone network degraded"},
}


@dataclass(frozen=True)
class Rendered:
    vocabulary: str
    labels: dict[str, str]
    annotations: dict[str, str]


def layer(signal: str, subject: object) -> str:
    for prefix, name in _LAYER_PREFIXES:
        if signal.startswith(prefix):
            return name
    if isinstance(subject, Host):
        return "node" if subject.cluster else "vm"
    if isinstance(subject, Backend):
        return "data"
    return "k8s"


def render(estate: Estate, signal_name: str, subject: object, cluster: Cluster | None,
           upstream: Backend | None = None) -> Rendered | None:
    """The alert, or None when the estate's vocabulary for this layer has no such alert. `upstream`:
    the backend a client's error alert names (each vocabulary has its own label for it)."""
    signal = SIGNALS[signal_name]
    vocabulary = estate.vocabulary[layer(signal_name, subject)]
    if vocabulary == "zabbix" and signal.subject in ("pod", "workload", "volume", "cluster"):
        return None  # Zabbix sees hosts, services and web checks, not Kubernetes objects
    name = signal.names.get(vocabulary)
    if vocabulary == "cloud" and signal.subject == "cloud":
        host = subject
        name = _CLOUD_CHECKS.get(host.cloud, {}).get(signal_name, name) if host.cloud != "onprem" else None
    if name is None:
        return None
    labels = {"alertname": name, **_subject_labels(vocabulary, subject, signal_name), **_severity(vocabulary, signal)}
    if estate.pod_node and isinstance(subject, Pod) and vocabulary in ("kube", "awesome") \
            and not signal_name.startswith("sec_"):  # falcosidekick's labels name the host already
        labels.setdefault("node", subject.host.name)
    labels.update(_place_labels(estate, vocabulary, subject, cluster))
    if upstream is not None:
        labels.update(_upstream_labels(vocabulary, upstream))
    what = describe(subject)
    annotations = {"summary": f"{name.replace('_', ' ')} on {what}",
                   "description": f"{signal_name.replace('_', ' ')} detected for {what}."}
    if estate.relabel:
        labels = {estate.relabel.get(name, name): value for name, value in labels.items()}
    if vocabulary == "kube":
        annotations["runbook_url"] = f"https://runbooks.prometheus-operator.dev/runbooks/{signal_name}/{name.lower()}"
    return Rendered(vocabulary, labels, annotations)


def describe(subject: object) -> str:
    if isinstance(subject, Host):
        return subject.name
    if isinstance(subject, Pod):
        return f"{subject.namespace}/{subject.name}"
    if isinstance(subject, Workload):
        return f"{subject.namespace}/{subject.name}"
    if isinstance(subject, Backend):
        return f"{subject.name} ({subject.hosts[0].name})"
    return subject[1]  # (what, value)


def _severity(vocabulary: str, signal) -> dict[str, str]:
    if vocabulary == "zabbix":
        return {"severity": _ZABBIX_SEVERITY[signal.severity]}
    if vocabulary == "inhouse":
        return {"severity": _INHOUSE_SEVERITY[signal.severity]}
    if vocabulary == "cloud":
        return {"priority": _CLOUD_PRIORITY[signal.severity], "alert_type": "error" if signal.severity == "critical"
                else "warning"}
    return {"severity": signal.severity}


def _place_labels(estate: Estate, vocabulary: str, subject: object, cluster: Cluster | None) -> dict[str, str]:
    """Where the alert comes from: the cluster (or VM site) under each vocabulary's label."""
    host = subject if isinstance(subject, Host) else None
    site = cluster.name if cluster else f"{(host or estate.vms[0]).site}-vms"
    if vocabulary in ("kube", "awesome"):
        return {estate.cluster_label: site, **({"prometheus": "monitoring/k8s"} if vocabulary == "kube" else {})}
    if vocabulary == "inhouse":
        return {"env": "prod" if cluster is None or cluster.production else "staging",
                "dc": cluster.region if cluster else (host or estate.vms[0]).site}
    if vocabulary == "cloud":
        return {"env": "prod" if cluster is None or cluster.production else "staging",
                **({"kube_cluster_name": cluster.name} if cluster else {}),
                "region": cluster.region if cluster else (host.region if host else estate.vms[0].region)}
    return {"zabbix_server": f"zbx-{site}"}


def _subject_labels(vocabulary: str, subject: object, signal: str) -> dict[str, str]:
    if isinstance(subject, Host):
        return _host_labels(vocabulary, subject, signal)
    if isinstance(subject, Pod):
        return _pod_labels(vocabulary, subject, signal)
    if isinstance(subject, Workload):
        return _workload_labels(vocabulary, subject, signal)
    if isinstance(subject, Backend):
        return _backend_labels(vocabulary, subject)
    if isinstance(subject, tuple):  # (what, value): probes, certificates, volumes, cluster components
        return _thing_labels(vocabulary, *subject)
    raise TypeError(subject)


def _short(host: Host) -> str:
    return host.name.split(".")[0]


def _host_labels(vocabulary: str, host: Host, signal: str) -> dict[str, str]:
    kubernetes_object = signal.startswith(("node_", "kubelet", "cni"))
    if vocabulary == "kube":
        if kubernetes_object:
            return {"node": host.name, "job": "kube-state-metrics", "namespace": "monitoring",
                    "instance": "10.96.0.42:8080", "service": "kube-state-metrics"}
        if signal == "exporter_down":
            return {"job": "node-exporter", "namespace": "monitoring", "service": "node-exporter"}
        return {"instance": f"{host.ip}:9100", "job": "node-exporter", "namespace": "monitoring",
                "pod": f"node-exporter-{zlib.crc32(host.name.encode()) % 99999:05d}"}
    if vocabulary == "awesome":
        if kubernetes_object:
            return {"node": host.name, "instance": "kube-state-metrics:8080", "job": "kube-state-metrics"}
        return {"instance": f"{host.fqdn}:9100", "job": "node"}
    if vocabulary == "zabbix":
        return {"host": _short(host), "hostgroup": "Linux servers" if not host.cluster else "Kubernetes nodes",
                "trigger_id": str(zlib.crc32(f"{host.name}{signal}".encode()) % 10**6)}
    if vocabulary == "cloud":
        return {"host": host.instance_id if host.cloud != "onprem" else _short(host),
                **({"InstanceId": host.instance_id} if host.cloud == "aws" else {})}
    return {"hostname": host.fqdn}


def _pod_labels(vocabulary: str, pod: Pod, signal: str) -> dict[str, str]:
    container = pod.workload.name.removeprefix(f"{pod.namespace}-")
    if signal.startswith("sec_") and vocabulary != "cloud":  # falcosidekick's labels
        return {"k8s_pod_name": pod.name, "k8s_ns_name": pod.namespace, "hostname": pod.host.name,
                "source": "syscall", "priority": "Critical"}
    if vocabulary == "kube":
        if signal in _CADVISOR_SIGNALS:  # container metrics scraped from the kubelet carry the node
            return {"namespace": pod.namespace, "pod": pod.name, "container": container, "job": "kubelet",
                    "node": pod.host.name, "metrics_path": "/metrics/cadvisor"}
        return {"namespace": pod.namespace, "pod": pod.name, "container": container, "job": "kube-state-metrics",
                "instance": "10.96.0.42:8080", "service": "kube-state-metrics"}
    if vocabulary == "awesome":
        return {"namespace": pod.namespace, "pod": pod.name, "container": container}
    if vocabulary == "cloud":
        return {"pod_name": pod.name, "kube_namespace": pod.namespace, "kube_deployment": pod.workload.name,
                "host": pod.host.instance_id if pod.host.cloud != "onprem" else _short(pod.host)}
    return {"pod": pod.name, "service": pod.workload.name, "team": pod.namespace, "hostname": pod.host.fqdn}


def _workload_labels(vocabulary: str, workload: Workload, signal: str) -> dict[str, str]:
    kind = {"deployment": "deployment", "statefulset": "statefulset", "daemonset": "daemonset",
            "cronjob": "job_name"}[workload.kind]
    if vocabulary == "kube":
        if signal.startswith("app_"):
            return {"namespace": workload.namespace, "service": workload.name,
                    "job": f"{workload.namespace}/{workload.name}"}
        return {"namespace": workload.namespace, kind: workload.name, "job": "kube-state-metrics"}
    if vocabulary == "awesome":
        return {"namespace": workload.namespace, kind if not signal.startswith("app_") else "service": workload.name}
    if vocabulary == "cloud":
        return {"kube_namespace": workload.namespace, "kube_deployment": workload.name, "service": workload.name}
    return {"service": workload.name, "team": workload.namespace}


def _backend_labels(vocabulary: str, backend: Backend) -> dict[str, str]:
    host = backend.hosts[0]
    port = _EXPORTER_PORTS[backend.kind]
    if vocabulary == "kube":
        return {"instance": f"{host.ip}:{port}", "job": f"{backend.kind}-exporter",
                "server": f"{host.fqdn}:{backend.port}"}
    if vocabulary == "awesome":
        return {"instance": f"{_short(host)}:{port}", "job": backend.kind}
    if vocabulary == "zabbix":
        return {"host": _short(host), "hostgroup": "Databases", "service": backend.name,
                "trigger_id": str(zlib.crc32(backend.name.encode()) % 10**6)}
    if vocabulary == "cloud":
        return {"host": _short(host), "db_instance": backend.name, "service": backend.kind}
    return {"hostname": host.fqdn, "service": backend.name, "team": "data-platform"}


def _upstream_labels(vocabulary: str, backend: Backend) -> dict[str, str]:
    host = backend.hosts[0]
    if vocabulary == "kube":
        return {"peer": f"{host.ip}:{backend.port}"}
    if vocabulary == "awesome":
        return {"upstream": f"{host.fqdn}:{backend.port}"}
    if vocabulary == "cloud":
        return {"peer_hostname": _short(host)}
    return {"dependency": backend.name}


def _thing_labels(vocabulary: str, what: str, value: str) -> dict[str, str]:
    """Probe targets and certificates (a URL), volumes (namespace/claim), components (namespace/name)."""
    if what in ("probe", "cert"):
        if vocabulary == "zabbix":
            return {"host": value.split("/")[2], "scenario": value}
        if vocabulary == "cloud":
            return {"check": value, "monitor_type": "synthetics"}
        if vocabulary == "inhouse":
            return {"target": value, "probe": "blackbox"}
        return {"instance": value, "job": "blackbox-http" if vocabulary == "kube" else "blackbox"}
    namespace, name = value.split("/")
    if what == "volume":
        key = {"cloud": "persistentvolumeclaim", "inhouse": "pvc"}.get(vocabulary, "persistentvolumeclaim")
        return {"namespace" if vocabulary != "cloud" else "kube_namespace": namespace, key: name}
    if vocabulary == "cloud":
        return {"kube_namespace": namespace, "kube_service": name}
    return {"namespace": namespace, "job": name} if vocabulary in ("kube", "awesome") else {"service": name}
