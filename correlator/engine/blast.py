"""How far an incident reaches (its blast radius), for the ITIL impact when the catalog does not say.

Each member adds what it is about, the most specific first: a pod (and the workload that owns it),
a workload or service, a node, a probed URL, a scraped service and its host. Labels that name the
monitoring itself are hubs, not what is affected: the `instance` and `job` of kube-state-metrics,
the kubelet or the apiserver sit on most Kubernetes alerts, and the node a pod runs on is where it
runs, not what failed. Each kind is counted up to `COUNT_UP_TO`, enough to tell one, a few, many.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

from correlator.ml.features import host_of, name_words

COUNT_UP_TO = 5
WORKLOAD_LABELS = ("deployment", "statefulset", "daemonset", "replicaset", "cronjob", "job_name",
                   "horizontalpodautoscaler", "app_kubernetes_io_name", "app", "application")
# Scrape jobs of host exporters: their `instance` is the host affected.
_HOST_JOB_WORDS = frozenset({"node", "host", "windows", "wmi", "hwmon", "ipmi", "smartctl", "snmp", "kubelet"})
# Scrape jobs that watch the platform: their `instance` is the exporter, a hub, not what is affected.
_PLATFORM_JOB_WORDS = frozenset({"kube", "apiserver", "cadvisor", "prometheus", "alertmanager", "blackbox", "probe",
                                 "pushgateway", "federate", "grafana", "agent"})
# Kubernetes pod names: <deployment>-<replicaset hash>-<5>, <statefulset>-<ordinal>, <daemonset>-<5>.
_POD_SUFFIX = re.compile(r"-(?:[a-z0-9]{6,10}-[a-z0-9]{5}|\d+|[a-z0-9]{5})$")
_PRODUCTION = re.compile(r"(?:^|[-_.])prod(?:uction)?(?:$|[-_.\d])")
ENVIRONMENT_LABELS = ("env", "environment", "stage", "cluster", "tier")


def _add(found: set[str], value: str) -> None:
    if len(found) < COUNT_UP_TO:
        found.add(value)


@dataclass(slots=True)
class BlastRadius:
    hosts: set[str] = field(default_factory=set)
    services: set[str] = field(default_factory=set)
    pods: set[str] = field(default_factory=set)
    targets: set[str] = field(default_factory=set)  # probed URLs: what users reach
    production: bool = False  # a probed URL of a production environment is among them

    def add(self, labels: Mapping[str, str]) -> None:
        namespace = labels.get("namespace", "")
        pod = labels.get("pod") or labels.get("pod_name")
        workload = next((labels[name] for name in WORKLOAD_LABELS if labels.get(name)), "")
        if pod:
            _add(self.pods, f"{namespace}/{pod}")
            workload = workload or _POD_SUFFIX.sub("", pod)
        if workload:
            _add(self.services, f"{namespace}/{workload}")
            return
        if labels.get("node"):
            _add(self.hosts, labels["node"])
            return
        url = next((labels[name] for name in ("url", "target", "instance") if "://" in labels.get(name, "")), "")
        if url:
            _add(self.targets, url)
            self.production = self.production or any(_PRODUCTION.search(labels.get(name, "").lower())
                                                     for name in ENVIRONMENT_LABELS)
            return
        job = labels.get("job", "")
        words = frozenset(name_words(job))
        if job and not words & _HOST_JOB_WORDS:
            if words & _PLATFORM_JOB_WORDS:
                return
            _add(self.services, job)  # a scraped service: a database, a broker, an application
        host = host_of(labels)
        if host:
            _add(self.hosts, host)

    def breadth(self) -> str:
        counts = [(len(self.hosts), "hosts"), (len(self.services), "services"), (len(self.pods), "pods"),
                  (len(self.targets), "probed targets")]
        text = ", ".join(f"{n}{'+' if n == COUNT_UP_TO else ''} {kind}" for n, kind in counts if n)
        return text + (" (production)" if self.production else "") if text else "nothing named"
