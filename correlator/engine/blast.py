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
from functools import lru_cache
from typing import Callable, Iterable, Mapping

from correlator.learning.entities import kubernetes_labels
from correlator.ml.features import host_of, name_words

COUNT_UP_TO = 5
WORKLOAD_LABELS = ("deployment", "statefulset", "daemonset", "replicaset", "cronjob", "job_name",
                   "horizontalpodautoscaler", "app_kubernetes_io_name", "app", "application", "service")
# Scrape jobs of host exporters: their `instance` is the host affected.
_HOST_JOB_WORDS = frozenset({"node", "host", "windows", "wmi", "hwmon", "ipmi", "smartctl", "snmp", "kubelet"})
# What watches the platform: its `instance`, `job` or `service` is a hub on many alerts, not what is affected.
_PLATFORM_WORDS = frozenset({"kube", "apiserver", "cadvisor", "prometheus", "alertmanager", "blackbox", "probe",
                             "pushgateway", "federate", "grafana", "agent", "exporter", "metrics"})
# Kubernetes pod names: <deployment>-<replicaset hash>-<5>, <statefulset>-<ordinal>, <daemonset>-<5>.
_POD_SUFFIX = re.compile(r"-(?:[a-z0-9]{6,10}-[a-z0-9]{5}|\d+|[a-z0-9]{5})$")
# Environments, from env-like labels and the cluster's name (prod-eu-1, ha-ams1-stg, lu-westeuro-prd).
ENVIRONMENT_LABELS = ("env", "environment", "stage", "tier")
_PRODUCTION = frozenset({"prod", "prd", "production", "live"})
_NOT_PRODUCTION = frozenset({"stg", "staging", "stage", "dev", "develop", "development", "test", "testing", "qa",
                             "uat", "sandbox", "nonprod", "preprod", "lab", "demo", "ci"})
_WORDS = re.compile(r"[a-z]+")


def _add(found: set[str], value: str) -> None:
    if len(found) < COUNT_UP_TO:
        found.add(value)


def withdrawn(found: set[str], value: str, others: Iterable[str]) -> None:
    """Take `value` (in `found`, values counted up to a limit in the order they came) out for an
    alert that left, as if the other alerts' values (`others`) came again: it stays while another
    alert has it; a full count stays full while a value is left out of it (below the limit, `found`
    holds every value), in the place of `value`. Only the count is ever read."""
    for other in others:
        if other == value or other not in found:
            found.discard(value)
            found.add(other)
            return
    found.discard(value)


def _hub(value: str) -> bool:
    return any(word in _PLATFORM_WORDS or word in _HOST_JOB_WORDS for word in name_words(value))


def _short_host(host: str) -> str:
    """One name per host whichever form it is reported in: `db04.fra2.example.tv` is `db04`."""
    return host.split(".", 1)[0] if any(c.isalpha() for c in host) and not host.startswith("[") else host


def host_name(labels: Mapping[str, str]) -> str:
    """The host an alert is about, by short name ("" when it names none)."""
    host = host_of(labels)
    return _short_host(host) if host else ""


@lru_cache(maxsize=1024)
def _environment_named(value: str) -> str:
    words = set(_WORDS.findall(value.lower()))
    return "production" if words & _PRODUCTION else "other" if words & _NOT_PRODUCTION else ""


def environment(labels: Mapping[str, str]) -> str:
    """"production", "other" (staging, dev, qa...) or "" when the labels do not say."""
    for name, value in labels.items():
        if name in ENVIRONMENT_LABELS or "cluster" in name:
            found = _environment_named(value)
            if found:
                return found
    return ""


@dataclass(slots=True)
class BlastRadius:
    hosts: set[str] = field(default_factory=set)
    services: set[str] = field(default_factory=set)
    pods: set[str] = field(default_factory=set)
    targets: set[str] = field(default_factory=set)  # probed URLs: what users reach
    environments: set[str] = field(default_factory=set)  # of the members: production, other, ""

    @property
    def production(self) -> bool:
        return "production" in self.environments

    @property
    def outside_production(self) -> bool:
        """Every member is in a staging, development or test environment."""
        return self.environments == {"other"}

    def add(self, labels: Mapping[str, str]) -> None:
        self.environments.add(environment(labels))
        for found, value in self._parts(labels):
            _add(found, value)

    def withdraw(self, labels: Mapping[str, str], others: Callable[[], Iterable[Mapping[str, str]]]) -> None:
        """Take one alert's part out, as if the alerts left (`others()`, in order) were added again."""
        own = environment(labels)
        if not any(environment(other) == own for other in others()):
            self.environments.discard(own)
        for found, value in self._parts(labels):
            if value in found:
                withdrawn(found, value, (theirs for other in others() for kind, theirs in self._parts(other)
                                         if kind is found))

    def _parts(self, labels: Mapping[str, str]) -> list[tuple[set[str], str]]:
        """What an alert is about: (the kind's set, the value) for each kind it counts in."""
        parts = []
        labels = kubernetes_labels(labels)
        namespace = labels.get("namespace", "")
        pod = labels.get("pod") or labels.get("pod_name")
        workload = next((labels[name] for name in WORKLOAD_LABELS if labels.get(name) and not _hub(labels[name])), "")
        if pod:
            parts.append((self.pods, f"{namespace}/{pod}"))
            workload = workload or _POD_SUFFIX.sub("", pod)
        if workload:
            parts.append((self.services, f"{namespace}/{workload}"))
            return parts
        if labels.get("node"):
            parts.append((self.hosts, _short_host(labels["node"])))
            return parts
        url = next((labels[name] for name in ("url", "target", "instance", "check") if "://" in labels.get(name, "")),
                   "")
        if url:
            parts.append((self.targets, url))
            return parts
        job = labels.get("job", "")
        words = frozenset(name_words(job))
        if job and not words & _HOST_JOB_WORDS:
            if words & _PLATFORM_WORDS:
                return parts
            parts.append((self.services, job))  # a scraped service: a database, a broker, an application
        host = host_of(labels)
        if host:
            parts.append((self.hosts, _short_host(host)))
        return parts

    def breadth(self) -> str:
        counts = [(len(self.hosts), "hosts"), (len(self.services), "services"), (len(self.pods), "pods"),
                  (len(self.targets), "probed targets")]
        text = ", ".join(f"{n}{'+' if n == COUNT_UP_TO else ''} {kind}" for n, kind in counts if n) or "nothing named"
        return text + (" (production)" if self.production else " (outside production)" if self.outside_production
                       else "")
