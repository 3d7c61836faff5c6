"""Readings of a label set memoised by content: the same answers as reading afresh, however the
labels are ordered or which dict holds them, within a bounded memory."""

from correlator.memo import ALERTS_KEPT, by_content
from correlator.ml.features import document, tokens
from correlator.ml.lexicon import read

LABELS = {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "api-7d9f8b6c5-x2x9z",
          "node": "worker-3", "severity": "warning", "cluster": "eu"}
ANNOTATIONS = {"summary": "Pod shop/api-7d9f8b6c5-x2x9z is crash looping"}


def test_a_memoised_reading_is_the_reading_of_the_labels_in_their_order():
    reversed_labels = dict(reversed(LABELS.items()))
    assert document(LABELS, ANNOTATIONS) == " ".join(tokens(LABELS, ANNOTATIONS))
    assert document(reversed_labels, ANNOTATIONS) == " ".join(tokens(reversed_labels, ANNOTATIONS))
    assert document(reversed_labels, ANNOTATIONS) != document(LABELS, ANNOTATIONS)  # order is content
    assert read(LABELS, ANNOTATIONS).category is not None


def test_a_recurring_label_set_is_read_once_and_a_changed_one_again():
    calls = []

    @by_content
    def count_words(labels, annotations):
        calls.append(dict(labels))
        return len(labels) + len(annotations)

    assert count_words(LABELS, ANNOTATIONS) == count_words(dict(LABELS), dict(ANNOTATIONS)) == 7
    assert count_words({**LABELS, "severity": "critical"}, ANNOTATIONS) == 7
    assert calls == [LABELS, {**LABELS, "severity": "critical"}]


def test_the_memo_keeps_a_bounded_number_of_label_sets():
    @by_content
    def name_of(labels, annotations):
        return labels["alertname"]

    for number in range(ALERTS_KEPT + 100):
        assert name_of({"alertname": f"Alert{number}"}, {}) == f"Alert{number}"
    assert name_of.cache_info().currsize == ALERTS_KEPT
