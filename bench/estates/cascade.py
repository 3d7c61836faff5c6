"""How a fault cascades: the builder the catalogue's faults use, and the registry of fault kinds.

A fault picks its victims in the estate and emits symptoms (a signal on a subject) after
realistic delays with jitter. Most symptoms fire only with some probability, so cascades are
partial, and the root may itself go unseen. `familiar` marks fault kinds like those of the
shipped model's training corpus (node, disk, saturation, deploy, database, replication, network,
certificate, config); the others are new to it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable

from .topology import Backend, Cluster, Estate, Host, Pod, Workload


@dataclass
class Symptom:
    signal: str
    subject: object
    cluster: Cluster | None
    after: float  # seconds after the fault began
    lasts: float | None  # seconds; None: until the fault ends
    root: bool
    upstream: Backend | None = None  # the dependency a client's error alert names


@dataclass
class Cascade:
    r: random.Random
    estate: Estate
    duration: float  # seconds the fault lasts
    symptoms: list[Symptom] = field(default_factory=list)
    # The category the alerts show, when it is not the kind's: a cause no alert can show (a change
    # nobody alerts on) is labeled as what its alerts show; the review finds the change (docs/quality.md).
    category: str | None = None

    def emit(self, signal: str, subject: object, after: tuple[float, float] = (0, 60), p: float = 1.0,
             root: bool = False, cluster: Cluster | None = None, upstream: Backend | None = None) -> None:
        if self.r.random() < p:
            lasts = self.duration * self.r.uniform(0.3, 1.0) if self.r.random() < 0.3 else None
            self.symptoms.append(Symptom(signal, subject, cluster or cluster_of(self.estate, subject),
                                         self.r.uniform(*after), lasts, root, upstream))

    # victims
    def cluster(self) -> Cluster:
        return self.r.choice(self.estate.clusters)

    def node(self, cluster: Cluster | None = None) -> Host:
        return self.r.choice((cluster or self.cluster()).nodes)

    def vm(self) -> Host:
        return self.r.choice(self.estate.vms)

    def app(self, cluster: Cluster | None = None, public: bool = False, backend: bool = False) -> Workload:
        apps = [w for w in (cluster or self.cluster()).workloads
                if w.namespace not in ("kube-system", "ingress-nginx", "monitoring") and w.kind != "daemonset"
                and (w.url or not public) and (w.backends or not backend)]
        return self.r.choice(apps)

    def backend(self, *kinds: str) -> Backend:
        return self.r.choice([b for b in self.estate.backends if b.kind in kinds and (b.clients or kinds == ("ceph",))])

    def some(self, items: list, share: float, at_most: int = 40) -> list:
        return self.r.sample(items, min(at_most, max(1, round(len(items) * share))))

    # common cascades
    def pods_fail(self, pods: list[Pod], after: tuple[float, float], signal: str = "pod_not_ready",
                  p: float = 0.7) -> None:
        for pod in pods:
            self.emit(signal, pod, after, p)

    def workload_hurts(self, workload: Workload, after: tuple[float, float], p: float = 0.6) -> None:
        """A service losing pods or a dependency: replicas, its error rate, its public probe."""
        self.emit("deploy_replicas" if workload.kind == "deployment" else "sts_replicas", workload, after, p * 0.7)
        self.emit("app_errors", workload, (after[0] + 60, after[1] + 120), p)
        if workload.url:
            self.emit("probe_failed", ("probe", workload.url), (after[0] + 30, after[1] + 90), p,
                      cluster=workload.cluster)

    def node_lost(self, host: Host, after: tuple[float, float], p: float = 0.8) -> None:
        """A Kubernetes node gone: the node objects, then every pod on it, then the services they back."""
        cluster = cluster_of(self.estate, host)
        self.emit("node_not_ready", host, (after[0] + 40, after[1] + 60), p)
        self.emit("node_unreachable", host, (after[0] + 60, after[1] + 120), p * 0.5)
        if cluster is None:
            return
        pods = cluster.pods_on(host)
        self.pods_fail([pod for pod in pods if pod.workload.kind != "daemonset"], (after[0] + 120, after[1] + 400),
                       p=p * 0.8)
        for workload in {pod.workload.name: pod.workload for pod in pods if pod.workload.kind == "deployment"}.values():
            self.workload_hurts(workload, (after[0] + 180, after[1] + 500), p * 0.3)

    def clients_hurt(self, backend: Backend, signal: str, after: tuple[float, float], p: float = 0.7) -> None:
        for client in backend.clients:
            self.emit(signal, client, after, p, upstream=backend if self.r.random() < 0.7 else None)
            self.emit("app_errors", client, (after[0] + 30, after[1] + 120), p * 0.6)
            if client.url:
                self.emit("probe_status", ("probe", client.url), (after[0] + 60, after[1] + 180), p * 0.4,
                          cluster=client.cluster)


def cluster_of(estate: Estate, subject: object) -> Cluster | None:
    if isinstance(subject, Pod):
        return subject.workload.cluster
    if isinstance(subject, Workload):
        return subject.cluster
    if isinstance(subject, Host) and subject.cluster:
        return next(c for c in estate.clusters if c.name == subject.cluster)
    return None


@dataclass(frozen=True)
class FaultKind:
    name: str
    category: str  # the ITIL category of the incident
    service_area: str
    priority: int  # base level 1-5, before blast radius and environment
    familiar: bool
    build: Callable[[Cascade], None]


FAULTS: dict[str, FaultKind] = {}


def fault(category: str, priority: int, familiar: bool = False, area: str = "availability"):
    def register(build: Callable[[Cascade], None]) -> Callable[[Cascade], None]:
        FAULTS[build.__name__] = FaultKind(build.__name__, category, area, priority, familiar, build)
        return build
    return register
