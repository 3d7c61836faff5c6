"""What an alert's words say, whatever rule set named it: the category of fault, the service area
at risk, and the layer of the stack it is about.

A shipped lexicon of generic domain words, not a model of any estate or generator. Provenance:
the alert names and their documented meaning in the public rule sets (node-exporter,
kubernetes, etcd and exporter mixins; awesome-prometheus-alerts; blackbox and cert-manager
rules; Zabbix and cloud-provider templates; Falco's rule names; GuardDuty's finding types), read as
an SRE reads them:
`HostRaidDiskFailure` is hardware, `KubePodCrashLooping` is software, `HostOutOfDiskSpace` is
capacity. No alert name is listed whole: only the words they are made of. Words that say where
rather than what (latency, unreachable, ping, probe, hung) only hint, however often the name and
its summary repeat them: the layer, or the hosts lost, decide. One alert lost on several hosts at
once is what they share: their network, or what the name says they reach (`HostNfsStale`: the
storage they mount).
A certificate is read by what happened to it: expired or expiring is a renewal missed (human
error), a renewal failing is software, a handshake refused or a certificate untrusted is security.
A rollout stuck only hints at a change: a registry down or a node lost stalls rollouts too.
A disk's throughput and its time in IO (`HostUnusualDiskWriteRate`, `HostUnusualDiskIo`) are its
load, capacity; its I/O errors are it failing, hardware.

Entries: `word` matches that word, `stem*` any word starting with it, `two words` consecutive
words. The alert name counts most, its summary and description less, label values least.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator, Mapping

from correlator.domain import Category, ServiceArea
from correlator.memo import by_content
from correlator.ml.features import CONSTANT_LABELS, IDENTITY_LABELS, name_words

# Category words and their weight (2: the word alone says it; 1: it usually does; 0.5: a hint).
CATEGORY_WORDS: dict[Category, dict[str, float]] = {
    Category.HARDWARE: {
        "raid": 2, "smart": 2, "edac": 2, "ecc": 2, "mce": 2, "machine check": 2, "correctable": 2,
        # the BMCs (HP's iLO, Dell's iDRAC: read as CamelCase, "i lo")
        "uncorrectable": 2, "hwmon": 2, "ipmi": 2, "bmc": 2, "ilo": 2, "i lo": 2, "idrac": 2, "i drac": 2,
        "psu": 2, "power supply": 2, "fan": 2, "fans": 2,
        "thermal": 2, "temperature": 2, "temp": 2, "overtemp*": 2, "hot": 1, "sensor": 1.5, "battery": 2,
        "hardware": 2, "firmware": 1, "dimm": 2, "physical": 1, "chassis": 2, "power": 1, "bad sector*": 2,
        "disk failure": 2, "drive": 1, "degraded": 0.5, "disk": 0.5, "io error": 2, "io errors": 2,
    },
    Category.CAPACITY: {
        "space": 2, "full": 2, "fill*": 2, "inode*": 2, "quota": 2, "saturat*": 2, "throttl*": 2, "oom*": 2,
        "exhaust*": 2, "overcommit*": 2, "out of memory": 2, "out of disk": 2, "pressure": 2, "too many": 2,
        "evict*": 1.5,
        "memory": 1, "cpu": 1, "load": 1, "usage": 1, "utili*": 1, "limit": 1, "capacity": 2, "hpa": 1,
        "autoscal*": 1, "maxed": 1.5, "maximum": 1, "swap": 1, "descriptors": 1, "backlog": 1.5, "unack*": 1,
        "lag": 1.5, "consumer*": 0.5, "rejected": 0.5, "connections": 1, "used": 0.5, "predict*": 0.5,
        "allocatable": 1, "headroom": 1, "queue": 0.5, "depth": 1, "maxmemory": 2, "mem": 1, "watermark": 1.5,
        "delay*": 1, "replication lag": 2, "replication delay": 2, "context switching": 2,
        "write rate": 1.5, "read rate": 1.5, "disk io": 1, "iowait": 1.5, "too much": 1.5,
        "iops": 1.5, "consumed": 1, "queue length": 1.5, "disk used": 1.5,
    },
    Category.NETWORK: {
        "network": 2, "interface": 2.5, "nic": 2, "packet*": 2, "dns": 2, "coredns": 2, "kubedns": 2,
        "nxdomain": 2, "resolver": 2, "lookup*": 1, "bgp": 2, "ospf": 2, "routing": 2, "route": 1, "link": 1,
        "rtt": 2, "ping": 0.4, "icmp": 0.4, "tcp": 1, "udp": 1, "retransmit*": 2, "jitter": 2,
        "mtu": 2, "vlan": 2, "vpn": 2, "firewall": 2, "cni": 2, "calico": 2, "cilium": 2, "flannel": 2,
        "unreachable": 0.5, "timeout": 0.5, "timed out": 0.5, "transmit": 1,
        "receive": 0.5, "bandwidth": 2, "throughput": 1, "ingress": 0.5, "haproxy": 0.5, "envoy": 0.5,
        "traefik": 0.5, "load balancer": 1, "loadbalancer": 1, "proxy": 0.5, "conntrack": 0.5, "refused": 1,
        "dial": 0.5, "socket*": 0.5, "internet": 2,
    },
    Category.SOFTWARE: {
        "crash*": 2, "restart*": 1, "too many restarts": 2, "panic*": 1, "exception*": 2, "error": 0.5,
        "errors": 0.5, "errs": 0.5,
        "error rate": 1.5, "5xx": 2, "bug": 1, "segfault": 2, "segmentation": 2, "deadlock*": 2, "goroutine*": 1,
        "leak*": 1, "replicat*": 1.5, "not running": 1, "stuck": 0.5, "leader": 1, "election*": 1, "quorum": 1,
        "split brain": 2, "clock": 1, "skew": 1, "ntp": 1, "chrony*": 1, "sync*": 0.5, "time": 0.5,
        "systemd": 1, "unit": 0.5, "scrape": 1, "collector": 0.5, "exporter": 0.3, "agent": 1, "missing": 1, "absent": 1,
        "not ready": 1, "kubelet": 1, "controller*": 1, "renew*": 2.5, "cert manager": 2, "slow queries": 2.5, "status code": 2,
        "error code": 2, "bad status": 2, "http failure": 2, "assertion*": 1.5,
        "thread": 0.5, "image pull": 2, "backoff": 1, "kernel": 0.5, "lockup": 1, "hung": 0.5, "gc": 0.5, "heap": 0.5,
        "jvm": 0.5, "failed": 0.3, "failure": 0.3,
    },
    Category.SECURITY: {
        "auth*": 2, "login*": 2, "logon": 2, "unauthori*": 2, "forbidden": 2, "intrusion": 2, "falco": 2,
        "audit*": 2, "privilege*": 2, "cve": 2, "vulnerab*": 2, "malware": 2, "virus": 2, "brute": 2,
        "suspicious": 2, "secret*": 2, "cert": 1, "certs": 1, "certificate*": 1, "tls": 1, "ssl": 1, "x509": 1,
        "handshake*": 1.5, "untrusted": 2, "revoked": 2, "crypto*": 1, "attack*": 2, "ddos": 1, "rbac": 1, "token*": 1, "password*": 2,
        "credential*": 2, "denied": 1, "selinux": 2, "apparmor": 2, "policy violation": 2, "shell": 1,
        "rootkit": 2, "exploit*": 2, "breach*": 2, "anomal*": 0.5, "scan*": 0.5, "trivy": 2, "waf": 2,
        "ssh*": 1, "sudo": 1.5, "fim": 2, "violation*": 1, "file integrity": 2.5, "passwd": 2, "backdoor": 2,
        "trojan": 2, "cryptocurrency": 2, "bitcoin*": 2, "miner*": 2, "mining": 2, "stratum": 2, "exfiltrat*": 2,
        "recon": 1.5, "pentest": 2, "unexpected": 0.5, "outbound": 0.5, "egress": 0.5,
    },
    Category.HUMAN_ERROR: {
        "config": 1.5, "configuration": 1.5, "configmap": 1, "misconfig*": 2, "reload": 1, "inconsistent": 1,
        "invalid": 0.5, "manual*": 2, "change": 1, "changed": 1, "version mismatch": 1.5,
        "drift": 1, "deviation*": 1, "typo": 2, "rollout": 0.5, "maintenance": 1, "upgrade": 1, "admission": 0.5,
        "expir*": 2.5,
    },
}
# Words that put data at risk: the integrity service area (confidentiality follows the security
# category; the rest is availability).
INTEGRITY_WORDS: dict[str, float] = {
    "replicat*": 2, "backup*": 2, "corrupt*": 2, "checksum*": 2, "consisten*": 1.5, "inconsisten*": 1.5,
    "data loss": 2, "split brain": 2, "snapshot*": 1.5, "wal": 1.5, "archiv*": 1, "clock": 1, "skew": 1.5,
    "ntp": 1.5, "chrony*": 1, "synchronis*": 1, "synchroniz*": 1, "reload": 1, "scrape": 1, "notification*": 1,
    "lost": 1, "loss": 1, "stale": 1, "duplicate*": 1, "synced": 1, "out of sync": 2, "rule": 0.5,
    "evaluation": 0.5,
}
# Layers of the stack, lowest (most likely the cause) first: a fault propagates upwards.
LAYERS = ("hardware", "certificate", "network", "node", "storage", "data", "application", "probe", "monitoring")
LAYER_WORDS: dict[str, tuple[str, ...]] = {
    "hardware": ("raid", "smart", "edac", "ecc", "mce", "hwmon", "ipmi", "bmc", "ilo", "i lo", "idrac", "i drac",
                 "psu", "fan", "fans", "thermal", "temperature", "temp", "overtemp*", "sensor", "battery", "hardware",
                 "firmware", "kernel", "dimm", "physical", "chassis", "power"),
    "certificate": ("cert", "certs", "certificate*", "tls", "ssl", "x509"),
    "node": ("node", "nodes", "host", "hosts", "machine", "vm", "kubelet", "systemd", "os", "ec2",
             "hypervisor", "baremetal", "instance", "ping", "icmp", "status check"),
    "network": ("network", "interface", "nic", "dns", "coredns", "kubedns", "bgp", "cni", "calico", "cilium",
                "flannel", "conntrack", "packet*", "link", "tcp", "udp", "route", "routing", "vpn", "firewall", "lb",
                "haproxy", "loadbalancer", "load balancer", "ingress", "proxy", "envoy", "switch"),
    # awesome-prometheus-alerts spells `KubernetesPersistentvolumeError`: one word.
    "storage": ("volume", "pvc", "persistentvolume*", "filesystem", "disk", "storage", "ceph", "nfs", "csi", "iscsi",
                "mount*", "inode*", "ebs"),
    "data": ("mysql*", "mariadb", "postgres*", "redis", "kafka", "rabbitmq", "elasticsearch", "opensearch", "mongo*",
             "memcached", "etcd", "zookeeper", "pg", "nats", "cassandra", "clickhouse", "database", "db", "sql",
             "queue", "cache", "broker", "producer*", "publish*", "message*", "mssql", "oracle", "couchbase", "influx*",
             "minio", "replicat*", "pulsar", "bookie*", "solr", "pgbouncer"),
    "application": ("pod", "pods", "container", "deployment", "statefulset", "stateful set", "daemonset", "daemon set",
                    "replicaset", "replica set", "job", "cronjob", "hpa",
                    "crash*", "image", "app", "application", "http", "process", "jvm", "api", "apiserver", "svc",
                    "service", "services"),
    "probe": ("probe", "blackbox", "slo", "budget", "burn", "synthetic*", "uptime", "canary", "website",
              "web scenario", "web response"),
    # The monitoring stack's own alerts are about it (`PrometheusRemoteStorageFailures`: the
    # storage is Prometheus's, `AlertmanagerClusterDown`: no machine is down).
    "monitoring": ("target", "targets", "scrape", "absent", "prometheus", "alertmanager", "thanos", "cortex",
                   "mimir", "loki", "promtail", "pushgateway", "victoriametrics", "vmagent", "vmalert", "tsdb"),
}
# In prose an instance is mostly a service's ("An Alertmanager instance failed to send", "Vault
# instance is sealed"): a machine only where an alert's name or labels say it (InstanceDown).
PROSE_NOT_LAYER = frozenset({"instance", "instances"})
# The category a layer's fault is when its words say nothing more ("KubeNodeNotReady": a node is down).
LAYER_CATEGORY = {"hardware": Category.HARDWARE, "certificate": Category.SECURITY, "node": Category.HARDWARE, "network": Category.NETWORK,
                  "storage": Category.HARDWARE, "data": Category.SOFTWARE, "application": Category.SOFTWARE,
                  "probe": Category.NETWORK, "monitoring": Category.SOFTWARE}
SEVERAL_HOSTS = 3  # one alert on as many hosts at once: they share a network rather than a fault each
# (2 may be one host's two names)
UNKNOWN_LAYER = "application"  # most alerts without layer words are an application's own

# Labels whose values the estate's owners chose (a namespace called "auth" is no security alert).
OWN_NAMES = frozenset({"namespace", "exported_namespace", "container", "service", "deployment", "statefulset",
                       "daemonset", "replicaset", "cronjob", "job_name", "horizontalpodautoscaler", "app",
                       "application", "app_kubernetes_io_name", "name", "team", "owner", "topic", "queue",
                       "consumergroup", "proxy", "backend"})
# The name says what fired; the summary restates it; a description often guesses at causes.
NAME_WEIGHT, SUMMARY_WEIGHT, DESCRIPTION_WEIGHT, LABEL_WEIGHT = 1.0, 0.5, 0.25, 0.4
DECISIVE = 0.9  # evidence below this is no opinion: the layer (or the next candidate) decides
SUMMARIES, DESCRIPTIONS = ("summary", "message", "title"), ("description",)
_TEXT_WORD = re.compile(r"\dxx|[a-z][a-z0-9]*")  # words, and 5xx; no numbers (they vary, and say little)
_MEMO_WORDS = 50_000  # bounded: words of hosts and pods come and go
_TEXT_LIMIT = 60  # words of annotation text read: the gist is in the first sentences


class _Table:
    """One lexicon compiled for matching a word sequence: exact words, stems, phrases."""

    def __init__(self, entries: Mapping[str, object]):
        self.exact: dict[str, list] = {}
        self.stems: list[tuple[str, object]] = []
        self.phrases: list[tuple[tuple[str, ...], object]] = []
        self._memo: dict[str, list] = {}
        for entry, value in entries.items():
            parts = tuple(entry.split())
            if len(parts) > 1:
                self.phrases.append((parts, value))
            elif entry.endswith("*"):
                self.stems.append((entry[:-1], value))
            else:
                self.exact.setdefault(entry, []).append(value)

    def _values_of(self, word: str) -> list:
        """What one word matches, memoised: words repeat across alerts even when their mix does not."""
        values = self._memo.get(word)
        if values is None:
            values = self.exact.get(word, []) + [value for stem, value in self.stems if word.startswith(stem)]
            if len(self._memo) < _MEMO_WORDS:
                self._memo[word] = values
        return values

    def matches_at(self, words: tuple[str, ...], i: int) -> bool:
        return bool(self._values_of(words[i])) or any(words[i:i + len(parts)] == parts for parts, _ in self.phrases)

    def matches(self, words: tuple[str, ...]) -> list[tuple[str, object]]:
        found = [(word, value) for word in words for value in self._values_of(word)]
        for parts, value in self.phrases:
            n = len(parts)
            if any(words[i:i + n] == parts for i in range(len(words) - n + 1)):
                found.append((" ".join(parts), value))
        return found


_CATEGORY_TABLES = {category: _Table(words) for category, words in CATEGORY_WORDS.items()}
_INTEGRITY = _Table(INTEGRITY_WORDS)
_LAYER_TABLES = [(layer, _Table(dict.fromkeys(LAYER_WORDS[layer], 1))) for layer in LAYERS]
_PROSE_LAYER_TABLES = [(layer, _Table(dict.fromkeys((w for w in LAYER_WORDS[layer] if w not in PROSE_NOT_LAYER), 1)))
                       for layer in LAYERS]


@dataclass(frozen=True, slots=True)
class Reading:
    """What one alert's words say. `category` is None when they say too little."""

    category: Category | None
    service_area: ServiceArea
    layer: str
    evidence: tuple[str, ...]  # the words that decided, for the explanation
    layer_known: bool  # the layer came from the alert's words, not the default
    # What several hosts losing it at once share: their network, unless the name says what they
    # reach after the host (`HostNfsStale`: the storage they mount).
    shared_layer: str = "network"

    def opinion(self, hosts: int = 1) -> Category | None:
        """The category when its words decide, else its layer's (None: neither is known). `hosts`:
        how many the incident has lost."""
        if self.category is not None:
            return self.category
        if not self.layer_known:
            return None
        return LAYER_CATEGORY[self.shared_layer if self._several(hosts) else self.layer]

    def grounds(self, hosts: int = 1) -> tuple[str, ...]:
        """The words that decided, or the layer that did (and the words of the service area)."""
        if self.category is not None:
            return self.evidence
        several = f", {hosts} hosts sharing the {self.shared_layer}" if self._several(hosts) else ""
        return (f"{self.layer} layer{several}",) + self.evidence

    def _several(self, hosts: int) -> bool:
        return self.layer == "node" and hosts >= SEVERAL_HOSTS


def _text_words(annotations: Mapping[str, str], names: tuple[str, ...], subject: frozenset[str]) -> tuple[str, ...]:
    """The words of the annotations, without those of the label values they quote ("Job
    auth/nightly failed": the namespace's name is no word about the fault)."""
    words: list[str] = []
    for name in names:
        text = annotations.get(name)
        if text:
            words.extend(w for w in _TEXT_WORD.findall(text.lower())[:_TEXT_LIMIT - len(words)] if w not in subject)
    return tuple(words)


@lru_cache(maxsize=4096)  # label names are few
def _own_name(name: str) -> bool:
    """A label whose value the estate's owners chose, also under a sender's prefix (Datadog's
    `kube_namespace`, `db_instance`)."""
    kind = name.rsplit("_", 1)[-1]
    return any(n in OWN_NAMES or n in IDENTITY_LABELS for n in (name, kind))


def _label_words(labels: Mapping[str, str]) -> tuple[str, ...]:
    words: list[str] = []
    for name, value in labels.items():
        if _own_name(name) or name in CONSTANT_LABELS or name == "severity" or not value or len(value) > 64:
            continue
        words.extend(name_words(value))
    return tuple(words)


def _score(tables, sources) -> tuple[dict, dict]:
    """Sum of matched weights per key over (words, source weight), and the words that matched. A
    hint (a weight below 1) counts once, where it weighs most: a summary restating the name
    ("Unavailable by ICMP ping on db01") does not make a hint evidence."""
    scores: dict = {}
    evidence: dict = {}
    for key, table in tables:
        hints: set[str] = set()
        for words, weight in sources:
            for word, value in table.matches(words):
                if value < 1:
                    if word in hints:
                        continue
                    hints.add(word)
                scores[key] = scores.get(key, 0.0) + float(value) * weight
                evidence.setdefault(key, []).append(word)
    return scores, evidence


def _layers(words: tuple[str, ...], tables=_LAYER_TABLES) -> Iterator[str]:
    """The layers of the layer words, in the order the words come."""
    for position in range(len(words)):
        for layer, table in tables:
            if table.matches_at(words, position):
                yield layer
                break


def _layer(name: tuple[str, ...], label_words: tuple[str, ...], summary: tuple[str, ...]) -> str | None:
    """The layer of the first layer word of the alert name (its subject: `RabbitmqNodeDown` is
    about a broker), else of its labels, else of its summary (read as prose)."""
    sources = ((name, _LAYER_TABLES), (label_words, _LAYER_TABLES), (summary, _PROSE_LAYER_TABLES))
    return next((layer for words, tables in sources for layer in _layers(words, tables)), None)


def _shared_layer(name: tuple[str, ...]) -> str:
    """What hosts losing this alert together share: the first subject the name gives after the
    host, below the applications (storage, data...), else their network."""
    below = LAYERS.index("application")
    return next((layer for layer in _layers(name) if layer != "node" and LAYERS.index(layer) < below), "network")


@lru_cache(maxsize=8192)
def _read(name: tuple[str, ...], label_words: tuple[str, ...], summary: tuple[str, ...],
          description: tuple[str, ...]) -> Reading:
    sources = ((name, NAME_WEIGHT), (summary, SUMMARY_WEIGHT), (description, DESCRIPTION_WEIGHT),
               (label_words, LABEL_WEIGHT))
    scores, evidence = _score(_CATEGORY_TABLES.items(), sources)
    best = max(scores, key=lambda c: (scores[c], -list(Category).index(c)), default=None)
    category = best if best is not None and scores[best] >= DECISIVE else None
    integrity, integrity_words = _score([("integrity", _INTEGRITY)], sources)
    if category is Category.SECURITY:
        area = ServiceArea.CONFIDENTIALITY
    elif integrity.get("integrity", 0.0) >= DECISIVE:
        area = ServiceArea.INTEGRITY
    else:
        area = ServiceArea.AVAILABILITY
    layer = _layer(name, label_words, summary)
    words = tuple(dict.fromkeys(evidence.get(category, ()))) if category is not None else ()
    if area is ServiceArea.INTEGRITY:
        words += tuple(w for w in dict.fromkeys(integrity_words["integrity"]) if w not in words)
    return Reading(category, area, layer or UNKNOWN_LAYER, words, layer is not None, _shared_layer(name))


def _as_failing(name: tuple[str, ...]) -> tuple[str, ...]:
    """A name that ends in the condition its rule checks, as it fires: when it fails
    (awesome-prometheus-alerts' `KubernetesNodeReady` fires for a node not Ready)."""
    if len(name) >= 2 and name[-1] == "ready" and name[-2] not in ("not", "un"):
        return (*name[:-1], "not", "ready")
    return name


@by_content
def read(labels: Mapping[str, str], annotations: Mapping[str, str]) -> Reading:
    """The lexicon's reading of one alert (memoised: alerts of one kind repeat endlessly)."""
    subject = frozenset(word for name, value in labels.items() if name != "alertname"
                        for word in _TEXT_WORD.findall(value.lower()))
    return _read(_as_failing(name_words(labels.get("alertname", ""))), _label_words(labels),
                 _text_words(annotations, SUMMARIES, subject), _text_words(annotations, DESCRIPTIONS, subject))
