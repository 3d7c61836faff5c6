"""The entities an alert is about, read from its labels: the vocabulary that the learned topology,
the co-occurrence counts and the joining stage share.

An entity is a string `kind|cluster|value`. Kinds:

- `host`: a machine in any of its forms: `instance` without its port, the FQDN's short name, `node`,
  `nodename`, `hostname`, `host`, cloud instance names and ids;
- `pod`; `workload`: service, deployment, statefulset, daemonset, job, app, and the workload a pod
  name was generated from (`api-7d9f8c6b5-x2x9z` -> `api`);
- `target`: a probed URL (blackbox `instance`, `target`, `url`);
- `resource`: a database, queue, topic, cache or volume, scoped by the host that serves it;
- `namespace`.

An alert about a Kubernetes object (it names a pod, node or namespace) carries the `instance` of
the exporter that reported it (kube-state-metrics, the kubelet), not of its subject: that
`instance` is left out.

Which entities are the same machine or service (an `ip:port` and a node name, a pod and its node)
is not decided here: the topology learns it from alerts whose labels name both.
"""

from __future__ import annotations

import re
from typing import Mapping

HOST, POD, WORKLOAD, TARGET, RESOURCE, NAMESPACE = "host", "pod", "workload", "target", "resource", "namespace"
COARSE_KINDS = frozenset({NAMESPACE})  # shared by many unrelated things: never a topology edge
_COARSE_PREFIXES = tuple(f"{kind}|" for kind in COARSE_KINDS)

HOST_LABELS = ("node", "nodename", "hostname", "host", "kubernetes_node", "exported_instance", "instance_name",
               "instance_id", "instanceid", "InstanceId", "dimension_InstanceId", "vm", "vm_name", "vmname",
               "machine", "server_name", "provider_id")
POD_LABELS = ("pod", "pod_name", "exported_pod")
WORKLOAD_LABELS = ("service", "deployment", "statefulset", "daemonset", "job_name", "cronjob", "app",
                   "horizontalpodautoscaler", "replicaset",
                   "app_kubernetes_io_name", "application", "container_name_service", "exported_service",
                   "backend", "upstream", "ingress", "route")
TARGET_LABELS = ("target", "url", "probe_target", "endpoint_url")
RESOURCE_LABELS = ("database", "datname", "db", "dbname", "dbinstance_identifier", "DBInstanceIdentifier",
                   "queue", "queue_name", "topic", "consumergroup", "exchange", "vhost", "bucket", "keyspace",
                   "cache_cluster_id", "CacheClusterId", "persistentvolumeclaim", "persistentvolume", "volume",
                   "cluster_name", "broker")
KUBERNETES_SUBJECT_LABELS = ("pod", "node", "namespace")
NAMESPACE_LABELS = ("namespace", "exported_namespace")

# Kubernetes names pods <deployment>-<replicaset hash>-<suffix>, <daemonset or job>-<suffix>,
# <statefulset>-<ordinal>; the generated parts use consonants and digits only.
_GENERATED = "[bcdfghjklmnpqrstvwxz2-9]"
_POD_OF_DEPLOYMENT = re.compile(rf"(.+)-{_GENERATED}{{6,10}}-{_GENERATED}{{5}}")
_POD_OF_SET = re.compile(rf"(.+)-(?:{_GENERATED}{{5}}|\d+)")
_IP = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_URL = re.compile(r"^(?:[a-z][a-z0-9+.-]*://)?(?:[^@/]*@)?(\[[^\]]*\]|[^:/?#]+)", re.IGNORECASE)


def host_forms(value: str) -> list[str]:
    """The host names one label value gives: `node1.example.com:9100` -> [node1.example.com, node1];
    `10.0.0.5:9100` -> [10.0.0.5]; `aws:///eu-west-1a/i-0abc` -> [i-0abc]."""
    value = value.strip().lower()
    if "://" in value:  # a provider id, not a URL (those are targets)
        value = value.rstrip("/").rsplit("/", 1)[-1]
    if value.startswith("["):  # [::1]:9100
        return [value[1:value.find("]")]] if "]" in value else [value]
    if value.count(":") == 1:
        value = value.rsplit(":", 1)[0]
    if not value:
        return []
    if _IP.fullmatch(value) or "." not in value:
        return [value]
    return [value, value.split(".", 1)[0]]


def workload_of_pod(pod: str) -> str:
    """The workload a pod name was generated from, or "" when the name does not say."""
    match = _POD_OF_DEPLOYMENT.fullmatch(pod) or _POD_OF_SET.fullmatch(pod)
    return match.group(1) if match else ""


def is_url(value: str) -> bool:
    return "://" in value or "/" in value


_ROLE = {**{n: HOST for n in HOST_LABELS}, **{n: POD for n in POD_LABELS}, **{n: WORKLOAD for n in WORKLOAD_LABELS},
         **{n: TARGET for n in TARGET_LABELS}, **{n: RESOURCE for n in RESOURCE_LABELS},
         **{n: NAMESPACE for n in NAMESPACE_LABELS}}


def entities_of(labels: Mapping[str, str]) -> tuple[str, ...]:
    """Every entity the labels name, most specific first, without repeats."""
    cluster = labels.get("cluster", "")
    found: dict[str, None] = {}

    def add(kind: str, value: str) -> None:
        if value:
            found[f"{kind}|{cluster}|{value}"] = None

    hosts: list[str] = []
    by_role: dict[str, list[str]] = {}
    for name, value in labels.items():
        role = _ROLE.get(name)
        if role is not None and value:
            by_role.setdefault(role, []).append(value)
    instance = labels.get("instance", "")
    if instance and is_url(instance):
        _add_target(add, instance, hosts)
    elif instance and not any(labels.get(name) for name in KUBERNETES_SUBJECT_LABELS):
        hosts += host_forms(instance)
    for value in by_role.get(HOST, ()):
        hosts += host_forms(value)
    for value in by_role.get(TARGET, ()):
        if is_url(value):
            _add_target(add, value, hosts)
        else:
            hosts += host_forms(value)
    for pod in by_role.get(POD, ()):
        add(POD, pod)
        add(WORKLOAD, workload_of_pod(pod))
    for host in hosts:
        add(HOST, host)
    for value in by_role.get(WORKLOAD, ()):
        add(WORKLOAD, value.lower())
    scope = hosts[0] if hosts else ""
    for value in by_role.get(RESOURCE, ()):
        add(RESOURCE, f"{scope}/{value}" if scope else value)
    for value in by_role.get(NAMESPACE, ()):
        add(NAMESPACE, value)
    return tuple(found)


def _add_target(add, url: str, hosts: list[str]) -> None:
    """A probed URL is a target; its host name also names the machine or service behind it."""
    add(TARGET, url.lower().rstrip("/"))
    match = _URL.match(url)
    if match:
        forms = host_forms(match.group(1))
        hosts += forms
        if forms and not _IP.fullmatch(forms[-1]):
            add(WORKLOAD, forms[-1])


def kind_of(entity: str) -> str:
    return entity.split("|", 1)[0]


def is_coarse(entity: str) -> bool:
    """Whether the entity is of a coarse kind (the inner loops ask often: no split)."""
    return entity.startswith(_COARSE_PREFIXES)


def describe(entity: str) -> str:
    """`host node1 (cluster eu)` for people."""
    kind, cluster, value = entity.split("|", 2)
    return f"{kind} {value}" + (f" (cluster {cluster})" if cluster else "")
