import json
from datetime import datetime, timezone

from hypothesis import given, strategies as st

from correlator.ingest.alertmanager import parse_alertmanager_webhook, parse_postable_alerts
from correlator.ingest.fingerprint import fingerprint
from correlator.ingest.generic import parse_mapped
from correlator.ingest.normalize import IngestPolicy
from tests.conftest import capture

NOW = datetime(2026, 11, 23, 4, 23, 11, tzinfo=timezone.utc)


def test_matches_the_example_from_a_real_alertmanager():
    labels = {"alertname": "HighCPU", "cluster": "prod-eu", "instance": "node1:9100", "severity": "critical"}
    assert fingerprint(labels) == "1686c8247a6f29cc"


def test_matches_every_fingerprint_alertmanager_sent_in_the_captures():
    for number in range(1, 7):
        for alert in json.loads(capture(f"alertmanager-0.25/webhook-0{number}.json"))["alerts"]:
            assert fingerprint(alert["labels"]) == alert["fingerprint"]


def test_non_ascii_values_hash_as_utf8_bytes():
    # FNV over the UTF-8 bytes, as Go does over a string: stable across runs.
    assert fingerprint({"a": "é"}) == fingerprint({"a": "é"}) != fingerprint({"a": "e"})


@given(st.dictionaries(st.text(min_size=1), st.text(), min_size=1, max_size=8))
def test_depends_on_the_label_set_not_on_its_order(labels):
    reordered = dict(reversed(list(labels.items())))
    assert fingerprint(labels) == fingerprint(reordered)
    assert len(fingerprint(labels)) == 16


def replica(body: bytes, name: str) -> bytes:
    return body.replace(b'"replica":"a"', b'"replica":"%s"' % name.encode())


HA_POLICY = IngestPolicy(fingerprint_ignore_labels={"prometheus": frozenset({"replica", "prometheus_replica"}),
                                                    "alertmanager": frozenset({"replica"})})


def test_ignored_labels_make_ha_replicas_one_alert_and_stay_on_it():
    body = capture("prometheus-2.42/api-v2-alerts-00.json")
    [a] = parse_postable_alerts(body, NOW, HA_POLICY).alerts
    [b] = parse_postable_alerts(replica(body, "b"), NOW, HA_POLICY).alerts
    assert a.fingerprint == b.fingerprint
    assert (a.labels["replica"], b.labels["replica"]) == ("a", "b")
    # ...and the fingerprint is the one Alertmanager gives the alert once the replica label is dropped.
    assert a.fingerprint == fingerprint({n: v for n, v in a.labels.items() if n != "replica"})
    [plain_a] = parse_postable_alerts(body, NOW, IngestPolicy()).alerts
    [plain_b] = parse_postable_alerts(replica(body, "b"), NOW, IngestPolicy()).alerts
    assert plain_a.fingerprint != plain_b.fingerprint


def test_alerts_without_ignored_labels_keep_alertmanagers_fingerprint():
    for number in range(1, 7):
        body = capture(f"alertmanager-0.25/webhook-0{number}.json")
        sent = [alert["fingerprint"] for alert in json.loads(body)["alerts"]]
        assert [a.fingerprint for a in parse_alertmanager_webhook(body, NOW, HA_POLICY).alerts] == sent
    [alert] = parse_postable_alerts(json.dumps([{"labels": {
        "alertname": "HighCPU", "cluster": "prod-eu", "instance": "node1:9100", "severity": "critical"}}]).encode(),
        NOW, HA_POLICY).alerts
    assert alert.fingerprint == "1686c8247a6f29cc"


def test_ignored_labels_apply_to_their_source_only():
    body = json.dumps({"alerts": [{"labels": {"alertname": "X", "replica": "a"}}]}).encode()
    [alert] = parse_mapped(body, NOW, HA_POLICY).alerts
    assert alert.fingerprint == fingerprint({"alertname": "X", "replica": "a"})
