"""The learned model the engine consults: a pair scorer for clustering and two text classifiers.

All three are plain scikit-learn estimators fitted by `correlator train` (never on the request
path). `LearnedModel` only wraps them with the per-alert fast paths the engine needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from correlator.ml.features import ContentWeights

# The pair features, in the order the pair scorer's coefficients follow. Each says how an alert
# relates to an open incident; the names appear in clustering explanations.
# Services the catalog connects are joined earlier, by the dependency rules (engine stage 5).
# "other_*": both sides name a host (namespace) and they differ, which is evidence against, unlike
# a side that names none.
# "same_alertname_burst": the same alert within minutes of the incident's last alert (one cause
# hitting many machines), as opposed to the same alert name an hour later.
# "name_association": how much more often than chance the words of the alert's name and of the
# incident's alert names were seen in one incident at training (MySQL down and pods crash looping).
PAIR_FEATURES = ("content", "same_host", "other_host", "same_namespace", "other_namespace", "same_service",
                 "same_cluster", "same_alertname", "same_alertname_burst", "name_association", "minutes_apart",
                 "incident_size")


@dataclass(frozen=True, slots=True)
class Prediction:
    label: str
    confidence: float


@dataclass
class LearnedModel:
    idf: np.ndarray  # TF-IDF weights of the hashed tokens (TfidfTransformer.idf_)
    pair: LogisticRegression  # P(alert belongs to incident | PAIR_FEATURES)
    category: Pipeline  # incident document -> root-cause category
    service_area: Pipeline  # incident document -> service area
    associations: dict[str, float] = field(default_factory=dict)  # "word word" (sorted) -> log-odds ratio
    manifest: dict = field(default_factory=dict)

    def __post_init__(self):
        self.weights = ContentWeights(self.idf)
        self._coef = [float(c) for c in self.pair.coef_[0]]
        self._intercept = float(self.pair.intercept_[0])
        self._predict = lru_cache(maxsize=4096)(self._predict_uncached)

    def pair_probability(self, features: tuple[float, ...]) -> tuple[float, list[tuple[str, float]]]:
        """The pair scorer's probability, and each feature's contribution to its log-odds (the
        logistic regression's own arithmetic, in Python: one alert, no matrix overhead)."""
        contributions = [(name, weight * value) for name, weight, value in zip(PAIR_FEATURES, self._coef, features)]
        logit = self._intercept + sum(c for _, c in contributions)
        return 1.0 / (1.0 + math.exp(-max(min(logit, 50.0), -50.0))), contributions

    def classify(self, document: str) -> tuple[Prediction, Prediction]:
        """(category, service area) of an incident document, each with its probability."""
        return self._predict(document)

    def _predict_uncached(self, document: str) -> tuple[Prediction, Prediction]:
        found = []
        for estimator in (self.category, self.service_area):
            probabilities = estimator.predict_proba([document])[0]
            best = int(np.argmax(probabilities))
            found.append(Prediction(str(estimator.classes_[best]), float(probabilities[best])))
        return found[0], found[1]
