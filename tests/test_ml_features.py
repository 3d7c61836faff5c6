"""What the models see of an alert, and the fast paths that must agree with scikit-learn."""

import pytest

from correlator.ml.features import bucket_of, host_of, name_words, tokens, vectorizer


@pytest.mark.parametrize("name, words", [
    ("KubePodCrashLooping", ("kube", "pod", "crash", "looping")),
    ("etcdMembersDown", ("etcd", "members", "down")),
    ("NodeRAIDDegraded", ("node", "raid", "degraded")),
    ("HostOomKillDetected", ("host", "oom", "kill", "detected")),
    ("TargetDown", ("target", "down")),
])
def test_alert_names_split_into_words_at_case_changes(name, words):
    assert name_words(name) == words


def test_identity_and_constant_labels_are_not_content():
    found = tokens({"alertname": "KubePodNotReady", "pod": "api-7d9f", "instance": "10.0.0.1:8080",
                    "cluster": "prod-eu", "prometheus": "monitoring/k8s", "namespace": "shop", "severity": "warning"},
                   {"summary": "Pod has been in a non-ready state for more than 15 minutes."})
    assert "l:namespace=shop" in found and "l:severity=warning" in found
    assert not [t for t in found if "api-7d9f" in t or "10.0.0.1" in t or "prod-eu" in t or "monitoring" in t]
    assert {"w:kube", "w:pod", "w:not", "w:ready", "a:non", "a:ready", "a:minutes"} <= set(found)


@pytest.mark.parametrize("labels, host", [
    ({"instance": "ip-10-3-14-27:9100"}, "ip-10-3-14-27"),
    ({"instance": "https://shop.example.com/health"}, ""),
    ({"instance": "[::1]:9100"}, "::1"),
    ({"node": "worker-3", "instance": "10.0.0.3:10250"}, "worker-3"),
    ({"hostname": "db-1"}, "db-1"),
])
def test_the_host_an_alert_is_about(labels, host):
    assert host_of(labels) == host


def test_token_buckets_are_the_hashing_vectorizers_columns():
    found = tokens({"alertname": "NodeFilesystemSpaceFillingUp", "job": "node-exporter", "mountpoint": "/var"},
                   {"summary": "Filesystem is predicted to run out of space within the next 24 hours."})
    matrix = vectorizer().transform([" ".join(found)])
    assert sorted(set(matrix.indices.tolist())) == sorted({bucket_of(t) for t in found})
