"""`correlator train`: fit the category and service-area classifiers from labeled incidents.

Training data, one labeled incident per JSON line (what `correlator corpus` writes, and what the
operators' corrections become):

    {"id": "...", "category": "capacity", "service_area": "availability",
     "alerts": [{"labels": {...}, "annotations": {...}, "startsAt": "2026-11-02T00:03:00Z"}, ...]}

`category` and `service_area` may be null (unknown): such incidents teach only the other field.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable

import msgspec
import numpy as np
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline

from correlator.domain import Category, ServiceArea
from correlator.ml.features import document, incident_document, vectorizer
from correlator.ml.model import LearnedModel

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
    classifiers = {}
    for name in ("category", "service_area"):
        log.info("training the %s classifier", name)
        classifiers[name] = _fit_classifier(incidents, name, seed, folds, report)
    return LearnedModel(classifiers["category"], classifiers["service_area"]), report


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
