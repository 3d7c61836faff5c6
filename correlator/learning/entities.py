"""The entities an alert is about, read from its labels: the vocabulary that the learned topology,
the co-occurrence counts and the joining stage share.

An entity is a string `kind|cluster|value`. Kinds:

- `host`: a machine in any of its forms: `instance` without its port, the FQDN's short name, `node`,
  `nodename`, `hostname`, `host`, cloud instance names and ids, the address a cloud name spells
  (`ip-10-0-0-5.ec2.internal` -> 10.0.0.5);
- `pod`; `workload`: service, deployment, statefulset, daemonset, job, app, and the workload a pod
  name was generated from (`api-7d9f8c6b5-x2x9z` -> `api`);
- `target`: a probed URL (blackbox `instance`, `target`, `url`, or any label whose value is one);
  its host name is a workload too, and so is its first path segment when more path follows
  (`https://www.example.com/shop/healthz`: `www` and `shop`, the application a shared host routes to);
- `resource`: a database, queue, topic, cache or volume, scoped by the host that serves it;
- `namespace`.

Labels in the Kubernetes tag styles of Datadog (`kube_deployment`, `kube_namespace`) and of the
OpenTelemetry semantic conventions (`k8s_pod_name`, `k8s_deployment_name`) count as their
Prometheus namesakes, and so do the cloud monitors' dimensions, in CamelCase or with the CloudWatch
exporter's `dimension_` prefix (`dimension_DBInstanceIdentifier`, `FunctionName`). An Azure
resource id (`resourceId`) names a host when it is a virtual machine's, else a resource.

A client's alert may name what it depends on: the peer host (`peer`, `peer_hostname`, the
postgres_exporter's `server`, OpenTelemetry's `server_address` and `net_peer_name`) or the peer
service (`peer_service`, Istio's `destination_workload` and `destination_service_name`,
`dependency`). A workload label whose value is an address (`upstream: db1.example.com:5432`,
`backend: 10.0.0.7`) names the peer host too. These are entities of the alert too: the topology
then relates the client to the database, queue or cache its errors come from, and that
datastore's own alerts name the same host or service.

An alert that names nothing but its scrape job (`TargetDown`, `PrometheusAllTargetsMissing`:
aggregated `by (job)`) is about that job, a workload: the alerts of one job's targets all down
name the same entity.

An alert about a Kubernetes object (it names a pod, node or namespace) carries the `instance` of
the exporter that reported it (kube-state-metrics, the kubelet), not of its subject: that
`instance` is left out, and so is a `service` that only repeats the `job` (the Prometheus Operator
names the job after the Service it scraped) when the alert's pod or node is not of that service.
Conversely, an exporter's own pod (`node-exporter-x2x9z`, scraped through its pod) is where the
exporter runs, not the alert's subject: that pod, its workload and namespace are left out, and the
`instance` is the subject.

Which entities are the same machine or service (an `ip:port` and a node name, a pod and its node)
is not decided here: the topology learns it from alerts whose labels name both, or whose
annotations name a host in a form other alerts' labels gave (`Topology.named`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Mapping, Sequence

HOST, POD, WORKLOAD, TARGET, RESOURCE, NAMESPACE = "host", "pod", "workload", "target", "resource", "namespace"
# Machines and URLs are named across clusters: a client in one cluster names the database host of
# another as its peer. Pods, workloads and namespaces are named within their cluster.
UNSCOPED_KINDS = frozenset({"host", "target"})
COARSE_KINDS = frozenset({NAMESPACE})  # shared by many unrelated things: never a topology edge
_COARSE_PREFIXES = tuple(f"{kind}|" for kind in COARSE_KINDS)

HOST_LABELS = ("node", "nodename", "hostname", "host", "kubernetes_node", "kubernetes_io_hostname",
               "exported_instance", "instance_name", "instance_id", "instanceid", "vm", "vm_name", "vmname",
               "machine", "server_name", "provider_id", "k8s_node_name", "host_name", "kube_node")
POD_LABELS = ("pod", "pod_name", "exported_pod", "k8s_pod_name")
WORKLOAD_LABELS = ("service", "deployment", "statefulset", "daemonset", "job_name", "cronjob", "app",
                   "horizontalpodautoscaler", "replicaset",
                   "app_kubernetes_io_name", "application", "container_name_service", "exported_service",
                   "backend", "upstream", "ingress", "route",
                   "kube_deployment", "kube_stateful_set", "kube_daemon_set", "kube_job", "kube_cronjob",
                   "kube_service", "kube_replica_set", "k8s_deployment_name", "k8s_statefulset_name",
                   "k8s_daemonset_name", "k8s_job_name", "k8s_cronjob_name", "service_name",
                   "function_name", "load_balancer", "load_balancer_name", "target_group")
# What a client depends on: the peer's host (a host name or host:port) and the peer's service.
PEER_HOST_LABELS = ("peer", "peer_host", "peer_hostname", "server", "server_address", "net_peer_name")
PEER_WORKLOAD_LABELS = ("peer_service", "destination_workload", "destination_service_name", "dependency")
TARGET_LABELS = ("target", "url", "probe_target", "endpoint_url")
RESOURCE_LABELS = ("database", "datname", "db", "dbname", "dbinstance_identifier",
                   "queue", "queue_name", "topic", "consumergroup", "exchange", "vhost", "bucket", "keyspace",
                   "cache_cluster_id", "persistentvolumeclaim", "persistentvolume", "volume",
                   "broker", "bucket_name", "volume_id", "table_name", "db_cluster_identifier",
                   "file_system_id", "broker_name", "database_id")
# Azure Monitor names what an alert is about by its resource id:
# /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Compute/virtualMachines/<name>.
ARM_ID_LABELS = ("resource_id", "azure_resource_id", "alert_target_ids", "resource_uri")
# `cluster` as kube-prometheus setups name it, then Datadog's and OpenTelemetry's tags; then any
# other spelling of a cluster's name or id (`cluster_name`, `eks_cluster`, CloudWatch's
# `ClusterName`), not a datastore's (`CacheClusterId`, `DBClusterIdentifier` are resources).
# Where alerts name no cluster, the datacenter (Consul's and Nomad's `dc`) is the narrowest part of
# the estate they name: without it, every unlabelled estate would be one "cluster".
CLUSTER_LABELS = ("cluster", "k8s_cluster", "kubernetes_cluster", "kube_cluster_name", "k8s_cluster_name")
SITE_LABELS = ("dc", "datacenter")
_CLUSTER_SPELLING = re.compile(r"(?:(?:k8s|kube|kubernetes|eks|gke|aks|openshift|ocp|orchestrator)_)?cluster(?:_(?:name|id))?")
NAMESPACE_LABELS = ("namespace", "exported_namespace", "kube_namespace", "k8s_namespace_name")

# Kubernetes names pods <deployment>-<replicaset hash>-<suffix>, <daemonset or job>-<suffix>,
# <statefulset>-<ordinal>; the generated parts use consonants and digits only.
_GENERATED = "[bcdfghjklmnpqrstvwxz2-9]"
_POD_OF_DEPLOYMENT = re.compile(rf"(.+)-{_GENERATED}{{6,10}}-{_GENERATED}{{5}}")
_POD_OF_SET = re.compile(rf"(.+)-(?:{_GENERATED}{{5}}|\d+)")
_LOOPBACK = re.compile(r"(?:127(?:\.\d{1,3}){3}|localhost|\[::1\]):\d+")
_IP = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_ADDRESS = re.compile(r"[a-z0-9][a-z0-9.-]*:\d{1,5}|\d{1,3}(?:\.\d{1,3}){3}", re.IGNORECASE)
_URL = re.compile(r"^(?:[a-z][a-z0-9+.-]*://)?(?:[^@/]*@)?(\[[^\]]*\]|[^:/?#]+)(:\d+)?", re.IGNORECASE)
_PROBED = re.compile(r"(?:https?|tcp|icmp|dns|grpc)://", re.IGNORECASE)
# A URL's first path segment with more path after it (`https://www.example.com/shop/healthz`): the
# application an ingress routes that prefix to. Not an API version (`/v1/`), nor a last segment
# (`/healthz`, `/status`: an endpoint every application has).
_ROUTED = re.compile(r"^(?:[a-z][a-z0-9+.-]*://)?[^/?#]*/(?!v\d+/)([a-z][a-z0-9_-]*)/", re.IGNORECASE)
# EC2 and most clouds' private DNS names spell the machine's address: ip-10-0-0-5(.region.compute.internal)
_IP_NAME = re.compile(r"ip-(\d{1,3})-(\d{1,3})-(\d{1,3})-(\d{1,3})")
_ARM_ID = re.compile(r"/subscriptions/[^/]+/resourcegroups/[^/]+/providers/[^/]+/(.+)", re.IGNORECASE)
_ARM_MACHINE = re.compile(r"(?:^|/)virtualmachines/([^/]+)$", re.IGNORECASE)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def host_forms(value: str) -> list[str]:
    """The host names one label value gives: `node1.example.com:9100` -> [node1.example.com, node1];
    `10.0.0.5:9100` -> [10.0.0.5]; `aws:///eu-west-1a/i-0abc` -> [i-0abc]; a name that spells its
    address gives the address too (`ip-10-0-0-5.ec2.internal` -> [.., ip-10-0-0-5, 10.0.0.5]); a
    loopback address keeps its port (`127.0.0.1:9187`), the only part that tells one local service
    from another."""
    value = value.strip().lower()
    if "://" in value:  # a provider id, not a URL (those are targets)
        value = value.rstrip("/").rsplit("/", 1)[-1]
    if _LOOPBACK.fullmatch(value):  # every machine is its own 127.0.0.1: only the port tells services apart
        return [value]
    if value.startswith("["):  # [::1]:9100
        return [value[1:value.find("]")]] if "]" in value else [value]
    if value.count(":") == 1:
        value = value.rsplit(":", 1)[0]
    if not value:
        return []
    if _IP.fullmatch(value):
        return [value]
    short = value.split(".", 1)[0]
    forms = [value] if short == value else [value, short]
    address = _IP_NAME.fullmatch(short)
    return forms + [".".join(address.groups())] if address else forms


def subject_of(labels: Mapping[str, str]) -> str:
    """What the alert is about, said to people: the value of its most specific entity, unless that
    is as coarse as a namespace ("" then, or where it names none)."""
    entity = next(iter(entities_of(labels)), "")
    return "" if not entity or is_coarse(entity) else entity.split("|", 2)[2]


def workload_of_pod(pod: str) -> str:
    """The workload a pod name was generated from, or "" when the name does not say."""
    match = _POD_OF_DEPLOYMENT.fullmatch(pod) or _POD_OF_SET.fullmatch(pod)
    return match.group(1) if match else ""


def is_url(value: str) -> bool:
    return "://" in value or "/" in value


_PEER_HOST, _PEER_WORKLOAD, _ARM = "peer host", "peer workload", "arm id"
_ROLE = {**{n: HOST for n in HOST_LABELS}, **{n: POD for n in POD_LABELS}, **{n: WORKLOAD for n in WORKLOAD_LABELS},
         **{n: TARGET for n in TARGET_LABELS}, **{n: RESOURCE for n in RESOURCE_LABELS},
         **{n: NAMESPACE for n in NAMESPACE_LABELS}, **{n: _PEER_HOST for n in PEER_HOST_LABELS},
         **{n: _PEER_WORKLOAD for n in PEER_WORKLOAD_LABELS}, **{n: _ARM for n in ARM_ID_LABELS}}


# A Kubernetes object's label as other relabelings and agents spell it: a `kubernetes_`, `kube_`
# or `k8s_` prefix, a `_name` suffix, or both (Prometheus's example configuration's
# `kubernetes_pod_name` and `kubernetes_namespace`, New Relic's `namespaceName`, falcosidekick's
# `k8s_ns_name`), or Prometheus's `exported_` prefix (kube-state-metrics scraped without
# `honor_labels`: the pod it reports on is `exported_pod`). A bare `job` is the scrape job, not a
# Kubernetes Job, and so is `exported_job`.
_KUBERNETES_OBJECT = re.compile(r"(?:(kubernetes|kube|k8s|exported)_)?(pod|namespace|ns|node|deployment|stateful_?set|"
                                r"daemon_?set|replica_?set|cron_?job|job|service|ingress)(_name)?")

# Every label name read so far -> its role, also those the lists spell another way: the
# CloudWatch exporter's `dimension_` prefix, CamelCase (`dimension_DBInstanceIdentifier`,
# Azure's `resourceId`) and the Kubernetes objects' other spellings. One lookup per label, as
# names repeat (bounded: names are few).
_ROLE_OF: dict[str, str | None] = dict(_ROLE)
_NAMES_KEPT = 4096


def _spelt(name: str) -> str:
    """A label name as the lists spell it: `dimension_ClusterName` -> `cluster_name`."""
    return _CAMEL.sub("_", name.removeprefix("dimension_")).lower()


def _role_of(name: str) -> str | None:
    role = _ROLE.get(_spelt(name))
    if role is None:
        spelling = kubernetes_spelling(name)
        role = _ROLE.get(spelling) if spelling is not None else None
    if len(_ROLE_OF) < _NAMES_KEPT:
        _ROLE_OF[name] = role
    return role


def entities_of(labels: Mapping[str, str]) -> tuple[str, ...]:
    """Every entity the labels name, most specific first, without repeats."""
    cluster = cluster_of(labels)
    found: dict[str, None] = {}

    def add(kind: str, value: str) -> None:
        if value:
            found[f"{kind}|{'' if kind in UNSCOPED_KINDS else cluster}|{value}"] = None

    hosts: list[str] = []
    by_role: dict[str, list[str]] = {}
    for role, value in _roles(labels):
        by_role.setdefault(role, []).append(value)
    # The reporter's own pods (an exporter's pod, the scrape job's pods, kube-state-metrics) say
    # where the reporter runs, not what the alert is about: named by every alert they report, they
    # would relate them all. So do its workload and namespace.
    job = labels.get("job", "").lower()
    pods = by_role.get(POD, ())
    own_pods = [pod for pod in pods if is_exporter(pod) or (job and workload_of_pod(pod) == job)]
    subject_pods = [pod for pod in pods if pod not in own_pods]
    instance = labels.get("instance", "")
    if instance and is_url(instance):
        _add_target(add, instance, hosts)
    elif instance and not (subject_pods or _names_node(labels) or (by_role.get(NAMESPACE) and not own_pods)):
        hosts += host_forms(instance)
    for value in by_role.get(HOST, ()):
        hosts += host_forms(value)
    for value in by_role.get(TARGET, ()):
        if is_url(value):
            _add_target(add, value, hosts)
        else:
            hosts += host_forms(value)
    for pod in subject_pods:
        add(POD, pod)
        add(WORKLOAD, workload_of_pod(pod))
    for host in hosts:
        add(HOST, host)
    scraped = _scraped_service(labels, pods)
    workloads = [value.lower() for value in by_role.get(WORKLOAD, ())
                 if value != scraped and not is_exporter(value)]
    other_subject = subject_pods or by_role.get(HOST) or any(value != job for value in workloads)
    for value in workloads:
        if not (value == job and other_subject):
            add(WORKLOAD, value)
    scope = hosts[0] if hosts else ""
    for value in by_role.get(RESOURCE, ()):
        add(RESOURCE, f"{scope}/{value}" if scope else value)
    for value in by_role.get(_PEER_HOST, ()):
        for host in host_forms(value):
            add(HOST, host)
    for value in by_role.get(_PEER_WORKLOAD, ()):
        add(WORKLOAD, value.lower())
    if not own_pods:
        for value in by_role.get(NAMESPACE, ()):
            add(NAMESPACE, value)
    if not found and job:
        # Aggregated by job (kube-prometheus TargetDown, awesome-prometheus-alerts
        # PrometheusAllTargetsMissing over static targets): the scrape job is what it is about.
        add(WORKLOAD, job)
    return tuple(found)


def _roles(labels: Mapping[str, str]) -> list[tuple[str, str]]:
    """(role, value) of each label that names an entity, in the labels' order."""
    found = []
    for name, value in labels.items():
        role = _ROLE_OF[name] if name in _ROLE_OF else _role_of(name)
        if role == _ARM:
            role, value = _arm_entity(value)
        if role is None and name != "instance" and _PROBED.match(value):
            role = TARGET  # a probed URL, whatever the label that carries it
        if role == WORKLOAD and _ADDRESS.fullmatch(value):
            role = _PEER_HOST  # `upstream: db1.example.com:5432`: the machine a client depends on
        if role is not None and value:
            found.append((role, value))
    return found


def _arm_entity(resource_id: str) -> tuple[str | None, str]:
    """An Azure resource id's entity: a virtual machine is a host, anything else a resource
    (`servers/sql1/databases/orders`)."""
    path = _ARM_ID.match(resource_id.strip())
    if path is None:
        return None, resource_id
    machine = _ARM_MACHINE.search(path.group(1))
    return (HOST, machine.group(1)) if machine else (RESOURCE, path.group(1).lower().rstrip("/"))


def dependencies_of(labels: Mapping[str, str]) -> tuple[str, ...]:
    """The entities the alert names as what it depends on (its peer host or service), not as its
    subject: the clients of one dependency name the same ones."""
    cluster = cluster_of(labels)
    found: dict[str, None] = {}
    for role, value in _roles(labels):
        if role == _PEER_HOST:
            found.update((f"{HOST}||{host}", None) for host in host_forms(value))
        elif role == _PEER_WORKLOAD:
            found[f"{WORKLOAD}|{cluster}|{value.lower()}"] = None
    return tuple(found)


# Datastores by the well-known ports their clients connect to, and the words that name them in
# alert names and scrape jobs. A client may name its database by address and service port
# (`peer="10.0.3.4:5432"`) where the database's exporter names the machine (`instance="db03:9187"`):
# nothing in the labels ties the two until an alert names both.
DATASTORE_PORTS = {"5432": "postgres", "6432": "postgres", "3306": "mysql", "6379": "redis", "5672": "rabbitmq",
                   "5671": "rabbitmq", "9092": "kafka", "9200": "elasticsearch", "9300": "elasticsearch",
                   "27017": "mongodb", "11211": "memcached", "9042": "cassandra", "2181": "zookeeper",
                   "4222": "nats", "2379": "etcd"}
# Spelt anywhere in a name (`MySQLDown`, "PostgreSQL: Service is down"); the short ones only as a
# word of it (`PgbouncerDown`, `NatsServerDown`: not `UpgradeFailed`).
_DATASTORE_SPELLINGS = {"postgres": "postgres", "pgbouncer": "postgres", "patroni": "postgres", "mysql": "mysql",
                        "mariadb": "mysql", "galera": "mysql", "redis": "redis", "rabbit": "rabbitmq",
                        "kafka": "kafka", "elastic": "elasticsearch", "opensearch": "elasticsearch",
                        "mongo": "mongodb", "memcache": "memcached", "cassandra": "cassandra",
                        "zookeeper": "zookeeper"}
_DATASTORE_WORDS = {"pg": "postgres", "nats": "nats", "etcd": "etcd"}
_WORD_OF_NAME = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+")  # `PgBouncer` -> Pg, Bouncer


# OpenTelemetry's semantic conventions name the peer's port and the datastore's kind apart from
# its address (`server_address`, `server_port`, `db_system="postgresql"`, `messaging_system="kafka"`).
PEER_PORT_LABELS = ("server_port", "net_peer_port", "peer_port")
PEER_KIND_LABELS = ("db_system", "messaging_system")


def peer_addresses(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """(host entity, datastore kind) of each peer the alert names by a host and a datastore's port
    (in its value or a port label) or kind (a kind label)."""
    found = []
    for role, value in _roles(labels):
        if role != _PEER_HOST:
            continue
        port = value.rsplit(":", 1)[1] if value.count(":") == 1 else \
            next((labels[name] for name in PEER_PORT_LABELS if labels.get(name)), "")
        kind = DATASTORE_PORTS.get(port) or next(
            filter(None, (_datastore_named(labels.get(name, "")) for name in PEER_KIND_LABELS)), "")
        forms = host_forms(value)
        if kind and forms:
            found.append((f"{HOST}||{forms[0]}", kind))
    return tuple(found)


def datastore_of(labels: Mapping[str, str]) -> str:
    """The kind of datastore an alert is about, by its name, else its scrape job (`PostgresqlDown`,
    `job="rabbitmq"`); "" if none."""
    return _datastore_named(labels.get("alertname", "")) or _datastore_named(labels.get("job", ""))


@lru_cache(maxsize=_NAMES_KEPT)  # names and jobs are few
def _datastore_named(text: str) -> str:
    spelt = text.lower()
    found = next((kind for spelling, kind in _DATASTORE_SPELLINGS.items() if spelling in spelt), "")
    return found or next((_DATASTORE_WORDS[word] for word in map(str.lower, _WORD_OF_NAME.findall(text))
                          if word in _DATASTORE_WORDS), "")


def cluster_of(labels: Mapping[str, str]) -> str:
    """The cluster the alert is from: its first cluster label of `CLUSTER_LABELS`, else of another
    spelling, else its site."""
    named = named_cluster(labels)
    if named:
        return named
    for name in SITE_LABELS:
        value = labels.get(name)
        if value:
            return value
    return ""


def named_cluster(labels: Mapping[str, str]) -> str:
    """The cluster a cluster label of the alert names ("": none does; a site is no cluster here)."""
    for name in CLUSTER_LABELS:
        value = labels.get(name)
        if value:
            return value
    for name, value in labels.items():
        if value and is_cluster_label(name):
            return value
    return ""


@lru_cache(maxsize=_NAMES_KEPT)  # label names are few
def is_cluster_label(name: str) -> bool:
    """Whether the label name spells a cluster's (`cluster`, `cluster_name`, `ClusterName`...)."""
    return _CLUSTER_SPELLING.fullmatch(_spelt(name)) is not None


def is_exporter(name: str) -> bool:
    """Whether a pod or workload name is a Prometheus exporter's (`node-exporter-x2x9z`,
    `kube-state-metrics`): exporters are named `<thing>_exporter` by convention."""
    name = name.lower()
    return "exporter" in name or name.startswith("kube-state-metrics")


def _scraped_service(labels: Mapping[str, str], pods: Sequence[str]) -> str:
    """The `service` label when it names the exporter that reported a Kubernetes object, not the
    object: it repeats the `job`, and the alert's node, or its pod, is not of that service."""
    service = labels.get("service", "")
    if not service or service != labels.get("job"):
        return ""
    if _names_node(labels) or (pods and not pods[0].startswith(service)):
        return service
    return ""


def kubernetes_labels(labels: Mapping[str, str]) -> Mapping[str, str]:
    """The labels with each Kubernetes object's label spelt as kube-prometheus does (`pod`,
    `namespace`, `node`, `deployment`, ...), for readers of those names alone; the labels
    themselves when they spell none another way (most alerts)."""
    renamed = None
    for name in labels:
        spelling = kubernetes_spelling(name)
        if spelling is not None and spelling not in labels:
            renamed = renamed or {}
            renamed.setdefault(spelling, labels[name])
    return {**labels, **renamed} if renamed else labels


@lru_cache(maxsize=_NAMES_KEPT)  # label names are few
def kubernetes_spelling(name: str) -> str | None:
    """The Kubernetes object label `name` spells another way (`kubernetes_pod_name` -> `pod`,
    `nodeName` -> `node`), or None."""
    if name == "kubernetes_name":  # Prometheus's example Kubernetes configuration names a Service so
        return "service"
    spelt = _KUBERNETES_OBJECT.fullmatch(_spelt(name))
    if spelt is None or not (spelt[1] or spelt[3]) or (spelt[1], spelt[2]) == ("exported", "job"):
        return None
    kind = spelt[2].replace("_", "")
    return {"ns": "namespace", "job": "job_name"}.get(kind, kind)


def _names_node(labels: Mapping[str, str]) -> bool:
    """Whether the alert is about a Kubernetes node (`node`, `kubernetes_node`, `nodeName`; not
    node_exporter's `nodename`, the machine's own name for itself): a reporter's `instance`
    beside it is not."""
    return any(value and (name == "node" or kubernetes_spelling(name) == "node") for name, value in labels.items())


def _add_target(add, url: str, hosts: list[str]) -> None:
    """A probed URL is a target; its host name also names the machine or service behind it, and
    its first path segment the application a shared host routes it to (`_ROUTED`)."""
    add(TARGET, url.lower().rstrip("/"))
    match = _URL.match(url)
    if match:
        forms = host_forms(match.group(1) + (match.group(2) or ""))
        hosts += forms
        if forms and not (_IP.fullmatch(forms[-1]) or _LOOPBACK.fullmatch(forms[-1])):
            add(WORKLOAD, forms[-1])
    routed = _ROUTED.match(url)
    if routed:
        add(WORKLOAD, routed.group(1).lower())


def kind_of(entity: str) -> str:
    return entity.split("|", 1)[0]


def cluster_of_entity(entity: str) -> str:
    return entity.split("|", 2)[1]


def is_coarse(entity: str) -> bool:
    """Whether the entity is of a coarse kind (the inner loops ask often: no split)."""
    return entity.startswith(_COARSE_PREFIXES)


def describe(entity: str) -> str:
    """`host node1 (cluster eu)` for people."""
    kind, cluster, value = entity.split("|", 2)
    return f"{kind} {value}" + (f" (cluster {cluster})" if cluster else "")
