import json

from hypothesis import given, strategies as st

from correlator.ingest.fingerprint import fingerprint
from tests.conftest import capture


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
