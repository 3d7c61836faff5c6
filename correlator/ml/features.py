"""What the models see of an alert: content tokens and topology, from labels and annotations only.

Tokens are generic on purpose (no vocabulary of our own): alert-name words split at case changes
(`KubePodCrashLooping` -> kube, pod, crash, looping), `name=value` pairs of the labels that say
what is affected, and the words of the summary. Identifiers that differ between every pair of
machines (hosts, pods, URLs, numbers) are left out: they say where, not what.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Mapping

from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.utils import murmurhash3_32

from correlator.learning.entities import is_cluster_label, kubernetes_labels, kubernetes_spelling
from correlator.memo import by_content

N_FEATURES = 2 ** 16

# Labels that identify one thing (which machine, which pod): topology, not content.
IDENTITY_LABELS = frozenset({
    "instance", "node", "pod", "pod_name", "container_id", "uid", "ip", "host", "hostname", "exported_instance",
    "persistentvolumeclaim", "persistentvolume", "volume", "url", "target", "endpoint", "address", "fingerprint",
})
# Labels every alert of an estate carries with few values: they say nothing about the fault.
CONSTANT_LABELS = frozenset({"prometheus", "replica", "receiver", "monitor", "alertname", "cluster", "region",
                             "env", "environment", "tenant", "prometheus_replica"})
TEXT_ANNOTATIONS = ("summary", "message", "title")

_CASE_SPLIT = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_WORD = re.compile(r"[A-Za-z][A-Za-z]+")
_STOP = frozenset({"the", "is", "on", "of", "for", "has", "have", "been", "in", "to", "and", "are", "was", "be", "at",
                   "than", "more", "less", "with", "by", "its", "it", "this", "that", "an", "as", "not", "from"})


@lru_cache(maxsize=8192)
def name_words(name: str) -> tuple[str, ...]:
    """`KubePodCrashLooping` -> (kube, pod, crash, looping); `etcdMembersDown` -> (etcd, members, down)."""
    return tuple(word.lower() for word in _CASE_SPLIT.findall(name) if not word.isdigit())


def _text_words(text: str) -> list[str]:
    return [word for word in (w.lower() for w in _WORD.findall(text)) if word not in _STOP and len(word) < 24]


def tokens(labels: Mapping[str, str], annotations: Mapping[str, str]) -> list[str]:
    """The content tokens of one alert (the document the vectorizer hashes)."""
    words = name_words(labels.get("alertname", ""))
    # Word stems by prefix, so that other rule sets' spellings meet: Cert/Certificate,
    # Expiring/Expiration, Replication/Replica.
    found = [f"w:{word}" for word in words] + [f"p:{word[:4]}" for word in words if len(word) > 4]
    # Read as the model's corpus spells them: a Kubernetes object's label in any spelling, and any
    # spelling of the cluster label, constant.
    for name, value in labels.items():
        name = kubernetes_spelling(name) or name
        if name in IDENTITY_LABELS or name in CONSTANT_LABELS or not value or len(value) > 48 \
                or is_cluster_label(name):
            continue
        found.append(f"l:{name}={value}")
        if name != "severity":
            found.extend(f"v:{word}" for word in name_words(value) if len(word) > 2)
    for name in TEXT_ANNOTATIONS:
        text = annotations.get(name)
        if text:
            found.extend(f"a:{word}" for word in _text_words(text)[:24])
            break
    return found


@by_content
def document(labels: Mapping[str, str], annotations: Mapping[str, str]) -> str:
    return " ".join(tokens(labels, annotations))


DOCUMENT_NAMES = 12  # an incident document holds its first alert of each of at most this many names


def incident_document(alert_documents: list[str]) -> str:
    """What the classifiers read of an incident: the document of the first alert of each of its
    alert names, in the order they joined."""
    return " ".join(alert_documents[:DOCUMENT_NAMES])


def vectorizer() -> HashingVectorizer:
    """The hashing vectorizer over `document` strings (stateless: it is the same at train and serve
    time by construction, and an unseen token costs no memory)."""
    return HashingVectorizer(n_features=N_FEATURES, token_pattern=r"\S+", lowercase=False, alternate_sign=False,
                             norm=None)


def host_of(labels: Mapping[str, str]) -> str:
    """The machine an alert is about: its `node`, else its `instance` without the port (a probed
    URL is a target, not a host), else a host label."""
    labels = kubernetes_labels(labels)
    node = labels.get("node") or labels.get("hostname") or labels.get("host")
    if node:
        return node
    instance = labels.get("instance", "")
    if "://" in instance or "/" in instance:
        return ""
    if instance.startswith("["):  # [::1]:9100
        return instance[1:instance.find("]")] if "]" in instance else instance
    return instance.rsplit(":", 1)[0] if instance.count(":") == 1 else instance


def bucket_of(token: str) -> int:
    """The column `vectorizer()` puts a token in (sklearn hashes with signed MurmurHash3, seed 0)."""
    return abs(murmurhash3_32(token, seed=0, positive=False)) % N_FEATURES
