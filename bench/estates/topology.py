"""Estates: several Kubernetes clusters on different clouds plus on-prem VMs, seeded.

Four estate templates (their own business words, clouds, sites and label conventions), so a split
can measure an estate the engine never saw. A host has every form monitoring gives it: short name,
FQDN, ip (with the exporter's port), and a cloud instance id.
"""

from __future__ import annotations

import random
import string
import zlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Host:
    name: str  # what Kubernetes calls the node, or the VM's short name
    fqdn: str
    ip: str
    instance_id: str  # the cloud's id; on-prem: the asset tag
    cloud: str  # aws | gcp | azure | onprem
    region: str
    cluster: str  # "" for VMs outside Kubernetes
    site: str


@dataclass
class Pod:
    name: str
    namespace: str
    workload: "Workload"
    host: Host


@dataclass
class Workload:
    name: str
    namespace: str
    kind: str  # deployment | statefulset | daemonset | cronjob
    cluster: "Cluster"
    pods: list[Pod] = field(default_factory=list)
    backends: list["Backend"] = field(default_factory=list)
    url: str = ""  # public URL probed by blackbox / synthetics, "" if internal


@dataclass
class Backend:
    name: str
    kind: str  # postgres | mysql | redis | kafka | rabbitmq | elasticsearch | ceph
    hosts: list[Host]
    port: int
    clients: list[Workload] = field(default_factory=list)


@dataclass
class Cluster:
    name: str
    cloud: str
    region: str
    nodes: list[Host]
    workloads: list[Workload] = field(default_factory=list)
    production: bool = True

    def pods_on(self, host: Host) -> list[Pod]:
        return [pod for w in self.workloads for pod in w.pods if pod.host == host]

    def system(self, name: str) -> Workload:
        return next(w for w in self.workloads if w.name == name)


@dataclass(frozen=True)
class Naming:
    """How an estate spells its labels, where it differs from its template: `cluster_label` for its
    cluster label, `relabel` (old name -> new) for any label of any alert; `pod_node`: its pod
    alerts name the node their pod runs on, as rules joined with kube-state-metrics' `kube_pod_info`
    give it (docs/learning.md), where the public rule sets' own name none."""
    cluster_label: str | None = None
    relabel: tuple[tuple[str, str], ...] = ()
    pod_node: bool = False

    def of(self, own_label: str) -> dict[str, str]:
        """Label name -> the estate's spelling, for a template whose cluster label is `own_label`
        (`cluster_label` renames that one, whatever `relabel` says)."""
        relabel = {own_label: self.cluster_label} if self.cluster_label else {}
        relabel.update((old, new) for old, new in self.relabel if old not in relabel)
        return relabel


@dataclass
class Estate:
    name: str
    domain: str
    clusters: list[Cluster]
    vms: list[Host]
    backends: list[Backend]
    vocabulary: dict[str, str]  # layer -> vocabulary (layers.py)
    cluster_label: str  # the external label that names the cluster: cluster, k8s_cluster, kubernetes_cluster
    group_by: tuple[str, ...]  # the estate's Alertmanager route
    relabel: dict[str, str] = field(default_factory=dict)  # label name -> the estate's spelling of it
    pod_node: bool = False  # its pod alerts name their node (`Naming.pod_node`)

    def hosts(self) -> list[Host]:
        return [h for c in self.clusters for h in c.nodes] + self.vms


# name: domain, business words, [(cloud, region)] of its three clusters, site of its VMs, labels
TEMPLATES = {
    "harbor": ("harbor-logistics.io", ("tracking", "routing", "fleet", "dispatch", "manifests", "customs",
                                       "warehouse", "labels", "carrier", "rates", "pickup", "returns"),
               [("aws", "eu-west-1"), ("aws", "us-east-2"), ("onprem", "ams1")], "ams1", "cluster",
               ("alertname", "cluster")),
    "lumen": ("lumen.tv", ("playback", "transcode", "catalogue", "subtitles", "drm", "ads", "profiles",
                           "watchlist", "encoder", "cdn-edge", "live", "metering"),
              [("gcp", "europe-west4"), ("azure", "westeurope"), ("gcp", "us-central1")], "fra2",
              "k8s_cluster", ("alertname", "k8s_cluster", "namespace")),
    "quarry": ("quarry-bank.net", ("ledger", "cards", "loans", "kyc", "fraud", "statements", "transfers",
                                   "fx", "savings", "clearing", "treasury", "onboarding"),
               [("onprem", "zrh1"), ("aws", "eu-central-1"), ("onprem", "gva1")], "zrh1", "cluster",
               ("alertname", "cluster", "severity")),
    "tern": ("tern-market.com", ("basket", "offers", "stores", "loyalty", "pos", "stock", "delivery",
                                 "vouchers", "pricing-engine", "receipts", "scan", "promo"),
             [("azure", "northeurope"), ("gcp", "europe-west1"), ("onprem", "dub1")], "dub1",
             "kubernetes_cluster", ("alertname",)),
}
_BACKEND_PORTS = {"postgres": 5432, "mysql": 3306, "redis": 6379, "kafka": 9092, "rabbitmq": 5672,
                  "elasticsearch": 9200, "ceph": 6789}
_BACKEND_NAMES = {"postgres": "pg", "mysql": "mysql", "redis": "redis", "kafka": "kafka", "rabbitmq": "rmq",
                  "elasticsearch": "es", "ceph": "ceph"}
_COMPONENTS = ("api", "worker", "web", "sync", "gateway", "consumer", "indexer", "scheduler")


def _alnum(r: random.Random, n: int, alphabet: str = string.ascii_lowercase + string.digits) -> str:
    return "".join(r.choice(alphabet) for _ in range(n))


# Kubernetes generates the parts of a pod's name (its ReplicaSet's hash, its own suffix) from
# consonants and digits only, so that they never spell words.
KUBERNETES_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def _suffix(r: random.Random, n: int) -> str:
    """A generated name part, drawn as `_alnum` draws (so the rest of a seed's stream stays the same)."""
    return "".join(KUBERNETES_ALPHABET[r.randrange(36) % len(KUBERNETES_ALPHABET)] for _ in range(n))


class _Namer:
    """Hosts named as each cloud names them; ips unique within the estate."""

    def __init__(self, r: random.Random, estate: str, domain: str):
        self.r, self.estate, self.domain, self.ips = r, estate, domain, set()

    def ip(self, net: int) -> str:
        while (ip := f"10.{net}.{self.r.randrange(256)}.{self.r.randint(2, 254)}") in self.ips:
            pass
        self.ips.add(ip)
        return ip

    def host(self, cloud: str, region: str, cluster: str, site: str, net: int, role: str, index: int) -> Host:
        r, ip = self.r, self.ip(net)
        if cloud == "aws":
            name = f"ip-{ip.replace('.', '-')}.{region}.compute.internal"
            return Host(name, name, ip, "i-0" + _alnum(r, 16, "0123456789abcdef"), cloud, region, cluster, site)
        if cloud == "gcp":
            name = f"gke-{cluster}-{role}-pool-{_alnum(r, 8, '0123456789abcdef')}-{_alnum(r, 4)}"
            return Host(name, f"{name}.c.{self.estate}-prod.internal", ip, str(r.randrange(10**18, 10**19)),
                        cloud, region, cluster, site)
        if cloud == "azure":
            name = f"aks-{role}pool-{r.randrange(10**7, 10**8)}-vmss{index:06x}"
            return Host(name, f"{name}.internal.cloudapp.net", ip, f"{_alnum(r, 8, '0123456789abcdef')}-"
                        f"{_alnum(r, 4, '0123456789abcdef')}-4{_alnum(r, 3, '0123456789abcdef')}", cloud, region,
                        cluster, site)
        name = f"{role}{index:02d}-{site}"
        return Host(name, f"{name}.{site}.{self.domain}", ip, f"SRV-{r.randrange(10**5, 10**6)}", "onprem",
                    region, cluster, site)


def build_estate(r: random.Random, template: str, vocabulary: dict[str, str], naming: Naming = Naming()) -> Estate:
    """The template's estate, its labels spelt as `naming` says (its Alertmanager route's too)."""
    domain, words, clouds, site, own_label, group_by = TEMPLATES[template]
    relabel = naming.of(own_label)
    cluster_label, group_by = relabel.get(own_label, own_label), tuple(relabel.get(name, name) for name in group_by)
    namer = _Namer(r, template, domain)
    clusters = []
    for index, (cloud, region) in enumerate(clouds):
        name = f"{template[:2]}-{region.replace('-', '')[:8]}-{('prd', 'prd', 'stg')[index]}"
        nodes = [namer.host(cloud, region, name, site if cloud == "onprem" else region, 20 + index, "k8s-w", n)
                 for n in range(r.randint(24, 34))]
        clusters.append(Cluster(name, cloud, region, nodes, production=index < 2))
    vms = [namer.host("onprem", site, "", site, 40, role, n) for role in ("db", "mq", "cache", "app", "stor")
           for n in range(1, r.randint(3, 6))]
    backends = _backends(r, template, vms, namer)
    for cluster in clusters:
        _workloads(r, cluster, words, domain, backends)
    return Estate(template, domain, clusters, vms, backends, vocabulary, cluster_label, group_by, relabel,
                  naming.pod_node)


def _backends(r: random.Random, template: str, vms: list[Host], namer: _Namer) -> list[Backend]:
    by_role = {role: [h for h in vms if h.name.startswith(role)] for role in ("db", "mq", "cache", "stor")}
    backends = []
    for kind, role, count in (("postgres", "db", 3), ("mysql", "db", 1), ("redis", "cache", 2), ("kafka", "mq", 1),
                              ("rabbitmq", "mq", 1), ("elasticsearch", "stor", 1), ("ceph", "stor", 1)):
        for n in range(count):
            hosts = r.sample(by_role[role], min(2, len(by_role[role])))
            backends.append(Backend(f"{_BACKEND_NAMES[kind]}-{template}-{n + 1}", kind, hosts, _BACKEND_PORTS[kind]))
    return backends


def _pod_name(r: random.Random, workload: Workload, index: int) -> str:
    if workload.kind == "statefulset":
        return f"{workload.name}-{index}"
    if workload.kind == "cronjob":
        return f"{workload.name}-{r.randrange(28_000_000, 29_000_000)}-{_suffix(r, 5)}"
    if workload.kind == "daemonset":
        return f"{workload.name}-{_suffix(r, 5)}"
    return f"{workload.name}-{_alnum(r, 10, KUBERNETES_ALPHABET)}-{_suffix(r, 5)}"


def _public_url(namespace: str, domain: str, component: str) -> str:
    """What the blackbox probes check of an application: its own host (`https://shop.example.com/`)
    for two in three applications, a path under the estate's `www` host for the rest
    (`https://www.example.com/shop/`), where nothing in the URL names its workloads. Chosen by a
    hash of the names, not the stream's generator, so that the rest of the stream stays the same."""
    path = "healthz" if component != "web" else ""
    if zlib.crc32(f"{namespace}.{domain}".encode()) % 3 == 0:
        return f"https://www.{domain}/{namespace}/{path}"
    return f"https://{namespace}.{domain}/{path}"


def _place(r: random.Random, workload: Workload, hosts: list[Host]) -> None:
    for index, host in enumerate(hosts):
        workload.pods.append(Pod(_pod_name(r, workload, index), workload.namespace, workload, host))


def _workloads(r: random.Random, cluster: Cluster, words: tuple[str, ...], domain: str,
               backends: list[Backend]) -> None:
    system = [("coredns", "kube-system", "deployment", 2),
              ("ingress-nginx-controller", "ingress-nginx", "deployment", 3),
              ("cilium" if cluster.cloud != "aws" else "aws-node", "kube-system", "daemonset", 0),
              ("kube-proxy", "kube-system", "daemonset", 0), ("node-exporter", "monitoring", "daemonset", 0)]
    for name, namespace, kind, replicas in system:
        workload = Workload(name, namespace, kind, cluster)
        _place(r, workload, cluster.nodes if kind == "daemonset" else r.sample(cluster.nodes, replicas))
        cluster.workloads.append(workload)
    stateful = [b for b in backends if b.kind in ("postgres", "mysql", "redis", "kafka", "rabbitmq", "elasticsearch")]
    for index, namespace in enumerate(r.sample(words, r.randint(8, 11))):
        for component in r.sample(_COMPONENTS, r.randint(2, 4)):
            kind = "cronjob" if component == "scheduler" else "deployment"
            workload = Workload(f"{namespace}-{component}", namespace, kind, cluster)
            _place(r, workload, [r.choice(cluster.nodes) for _ in range(1 if kind == "cronjob" else r.randint(2, 6))])
            if component in ("api", "web", "gateway"):
                workload.url = _public_url(namespace, domain, component)
            for backend in r.sample(stateful, r.randint(0, 2)):
                workload.backends.append(backend)
                backend.clients.append(workload)
            cluster.workloads.append(workload)
        if index == 0 or r.random() < 0.4:  # every cluster has a StatefulSet and its volumes
            workload = Workload(f"{namespace}-cache", namespace, "statefulset", cluster)
            _place(r, workload, r.sample(cluster.nodes, 3))
            cluster.workloads.append(workload)
