"""`correlator train`: fit the pair scorer and the classifiers from labeled incidents.

Training data, one labeled incident per JSON line (what `correlator corpus` writes, and what the
operators' corrections become):

    {"id": "...", "category": "capacity", "service_area": "availability",
     "alerts": [{"labels": {...}, "annotations": {...}, "startsAt": "2026-11-02T00:03:00Z"}, ...]}

`category` and `service_area` may be null (unknown): such incidents still teach the pair scorer.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable

import msgspec
import numpy as np
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline

from correlator.ml.clustering import HORIZON, OnlineClusterer
from correlator.ml.features import ContentWeights, document, incident_document, name_words, vectorizer
from correlator.ml.model import PAIR_FEATURES, LearnedModel, PairScorer, pair_pipeline
from correlator.rules.schema import Category, ServiceArea

log = logging.getLogger(__name__)



class LabeledAlert(msgspec.Struct, forbid_unknown_fields=False):
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    startsAt: datetime | None = None


class LabeledIncident(msgspec.Struct, forbid_unknown_fields=False):
    id: str
    alerts: list[LabeledAlert]
    category: Category | None = None
    service_area: ServiceArea | None = None


@dataclass
class TrainingReport:
    incidents: int = 0
    alerts: int = 0
    pairs: int = 0
    metrics: dict = field(default_factory=dict)


def read_labeled(lines: Iterable[bytes], source: str) -> list[LabeledIncident]:
    decoder = msgspec.json.Decoder(LabeledIncident)
    incidents = []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            try:
                incidents.append(decoder.decode(line))
            except (msgspec.ValidationError, msgspec.DecodeError) as error:
                raise ValueError(f"{source}:{number}: {error}") from None
    return incidents


def train(incidents: list[LabeledIncident], seed: int = 0, folds: int = 5) -> tuple[LearnedModel, TrainingReport]:
    if not incidents:
        raise ValueError("no labeled incidents to train on")
    report = TrainingReport(incidents=len(incidents), alerts=sum(len(i.alerts) for i in incidents))
    documents = [document(a.labels, a.annotations) for i in incidents for a in i.alerts]
    idf = TfidfTransformer(smooth_idf=True).fit(vectorizer().transform(documents)).idf_
    log.info("training the pair scorer on %d alerts", report.alerts)
    pair, threshold, associations = _fit_pair_scorer(incidents, ContentWeights(idf), seed, folds, report)
    classifiers = {}
    for name in ("category", "service_area"):
        log.info("training the %s classifier", name)
        classifiers[name] = _fit_classifier(incidents, name, seed, folds, report)
    report.metrics["pair"]["threshold"] = threshold
    return LearnedModel(idf, pair, classifiers["category"], classifiers["service_area"], associations), report


def _fit_pair_scorer(incidents, weights: ContentWeights, seed: int, folds: int, report: TrainingReport):
    """Replays the alerts in time order through the online clusterer's own candidate search, with
    the true incidents as the clusters so far: each candidate is a (features, same incident?)
    example. The name associations are counted over these examples, then fill their feature. The
    threshold is the one whose online clustering of the same alerts, with the fitted scorer and its
    own mistakes, agrees best with the true incidents (pairwise F1)."""
    alerts = sorted(((a.startsAt, n, a, incident.id) for incident in incidents for n, a in enumerate(incident.alerts)
                     if a.startsAt is not None), key=lambda item: (item[0], item[3], item[1]))
    clusterer = OnlineClusterer(weights, None, threshold=0.0, horizon=HORIZON)
    features, same, words = [], [], []
    for starts_at, _, alert, truth in alerts:
        for candidate, pair in clusterer.candidates(alert.labels, alert.annotations, (), starts_at, lambda _: True):
            features.append(list(pair))
            same.append(candidate == truth)
            words.append((name_words(alert.labels.get("alertname", "")), frozenset(clusterer.words_of(candidate))))
        clusterer.observe(truth, alert.labels, alert.annotations, (), starts_at)
    clusterer.associations = associations = _associations(words, same)
    column = PAIR_FEATURES.index("name_association")
    for row, (alert_words, incident_words) in zip(features, words):
        row[column] = clusterer.association(alert_words, incident_words)
    X, y = np.array(features), np.array(same)
    report.pairs = len(y)
    if len(set(y.tolist())) < 2:
        raise ValueError("the training data gives no candidate pairs of both kinds (same and other incident): "
                         "it needs overlapping incidents with timestamps")
    scorer = pair_pipeline(seed)
    held_out = cross_val_predict(scorer, X, y, cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
                                 method="predict_proba")[:, 1]
    scorer.fit(X, y)
    probability = PairScorer(scorer).probability
    thresholds = [round(float(t), 3) for t in np.linspace(0.1, 0.7, 13)]
    clustering_f1 = [_clustering_f1(alerts, weights, probability, associations, t) for t in thresholds]
    best = int(np.argmax(clustering_f1))
    report.metrics["pair"] = {"examples": int(len(y)), "positives": int(y.sum()),
                              "cv_roc_auc": round(float(roc_auc_score(y, held_out)), 4),
                              "cv_f1_at_threshold": round(float(f1_score(y, held_out >= thresholds[best])), 4),
                              "clustering_pairwise_f1": round(clustering_f1[best], 4)}
    return scorer, thresholds[best], associations


def _clustering_f1(alerts, weights: ContentWeights, probability, associations, threshold: float) -> float:
    """Pairwise F1 of the online clusterer alone (no rules) on the training alerts."""
    clusterer = OnlineClusterer(weights, probability, threshold, HORIZON, associations)
    placed, opened = [], 0
    for starts_at, _, alert, truth in alerts:
        decision = clusterer.best(alert.labels, alert.annotations, (), starts_at, lambda _: True)
        if decision is None:
            opened += 1
            cluster = f"c{opened}"
        else:
            cluster = decision.incident_id
        clusterer.observe(cluster, alert.labels, alert.annotations, (), starts_at)
        placed.append((truth, cluster))
    pairs = lambda counts: sum(n * (n - 1) // 2 for n in counts.values())  # noqa: E731
    both = pairs(Counter(placed))
    predicted, true = pairs(Counter(c for _, c in placed)), pairs(Counter(t for t, _ in placed))
    return 2 * both / (predicted + true) if predicted + true else 0.0


def _associations(words, same, min_examples: int = 5) -> dict[str, dict[str, float]]:
    """Log-odds ratio, against the base rate, that a candidate pair holding the word pair
    (alert-name word, incident-name word) is one incident; word pairs seen fewer than
    `min_examples` times are left out (0: no evidence)."""
    counts: dict[str, list[int]] = {}
    for (alert_words, incident_words), together in zip(words, same):
        for key in {f"{w} {v}" if w <= v else f"{v} {w}" for w in alert_words for v in incident_words}:
            counts.setdefault(key, [0, 0])[together] += 1
    positives = sum(same)
    base = math.log((positives + 1) / (len(same) - positives + 1))
    table: dict[str, dict[str, float]] = {}
    for key, (no, yes) in sorted(counts.items()):
        if yes + no >= min_examples:
            first, second = key.split(" ")
            value = round(math.log((yes + 1) / (no + 1)) - base, 4)
            table.setdefault(first, {})[second] = table.setdefault(second, {})[first] = value
    return table


def classifier_pipeline(seed: int) -> Pipeline:
    return Pipeline([("hash", vectorizer()), ("tfidf", TfidfTransformer(sublinear_tf=True)),
                     ("model", LogisticRegression(C=4.0, max_iter=2000, class_weight="balanced",
                                                  random_state=seed))])


def incident_text(incident: LabeledIncident) -> str:
    """The incident document, built from the first alert of each name as the engine does."""
    first: dict[str, str] = {}
    for alert in sorted(incident.alerts, key=lambda a: a.startsAt or datetime.min):
        first.setdefault(alert.labels.get("alertname", ""), document(alert.labels, alert.annotations))
    return incident_document(list(first.values()))


def _fit_classifier(incidents, name: str, seed: int, folds: int, report: TrainingReport) -> Pipeline:
    labeled = [(incident_text(i), str(getattr(i, name))) for i in incidents if getattr(i, name) is not None]
    texts, labels = [t for t, _ in labeled], np.array([label for _, label in labeled])
    classes, counts = np.unique(labels, return_counts=True)
    if len(classes) < 2:
        raise ValueError(f"{name}: the training data has fewer than two labels ({', '.join(classes) or 'none'})")
    cv = StratifiedKFold(max(2, min(folds, int(counts.min()))), shuffle=True, random_state=seed)
    predicted = cross_val_predict(classifier_pipeline(seed), texts, labels, cv=cv)
    report.metrics[name] = {"examples": len(labels), "classes": {str(c): int(n) for c, n in zip(classes, counts)},
                            "cv_accuracy": round(float(accuracy_score(labels, predicted)), 4),
                            "cv_macro_f1": round(float(f1_score(labels, predicted, average="macro")), 4)}
    return classifier_pipeline(seed).fit(texts, labels)
