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
from sklearn.preprocessing import StandardScaler

from correlator.ml.features import ContentWeights, bucket_of

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


def pair_pipeline(seed: int) -> Pipeline:
    """The pair scorer: a logistic regression over the standardised pair features, so that its
    coefficients compare and each feature's contribution is measured against the average pair."""
    return Pipeline([("scale", StandardScaler()), ("model", LogisticRegression(C=1.0, max_iter=5000,
                                                                                random_state=seed))])


class PairScorer:
    """`pair_pipeline`'s predict_proba for one candidate, in Python, with each feature's exact
    contribution to the log-odds against the average training pair (tests check it against
    scikit-learn)."""

    def __init__(self, pipeline: Pipeline):
        scale, model = pipeline.named_steps["scale"], pipeline.named_steps["model"]
        self._mean = scale.mean_.tolist()
        self._weight = (model.coef_[0] / scale.scale_).tolist()
        self._intercept = float(model.intercept_[0])

    def probability(self, features: tuple[float, ...], explain: bool = False) -> tuple[float, list[tuple[str, float]]]:
        """(probability, each feature's contribution if `explain`: only the winner needs them)."""
        terms = [weight * (value - mean) for value, mean, weight in zip(features, self._mean, self._weight)]
        logit = self._intercept + sum(terms)
        probability = 1.0 / (1.0 + math.exp(-max(min(logit, 50.0), -50.0)))
        return probability, list(zip(PAIR_FEATURES, terms)) if explain else []


class LinearTextClassifier:
    """A fitted (HashingVectorizer, TfidfTransformer, LogisticRegression) pipeline's predict_proba
    for one document, in pure Python over the columns the model uses: the same arithmetic without
    the per-call validation that costs a millisecond (tests check it against scikit-learn)."""

    def __init__(self, pipeline: Pipeline):
        tfidf, model = pipeline.named_steps["tfidf"], pipeline.named_steps["model"]
        if tfidf.norm != "l2" or not tfidf.use_idf:
            raise ValueError("expected an l2-normalised tf-idf step")
        self.classes = [str(c) for c in model.classes_]
        self._sublinear = tfidf.sublinear_tf
        self._idf = tfidf.idf_
        coef = model.coef_
        used = np.flatnonzero(np.any(coef != 0, axis=0))
        self._columns = {int(b): coef[:, b].tolist() for b in used}
        self._intercept = model.intercept_.tolist()

    def predict(self, document: str) -> Prediction:
        counts: dict[int, int] = {}
        for token in document.split():
            bucket = bucket_of(token)
            counts[bucket] = counts.get(bucket, 0) + 1
        weights = {b: (1.0 + math.log(n) if self._sublinear else float(n)) * float(self._idf[b])
                   for b, n in counts.items()}
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        scores = list(self._intercept)
        for bucket, weight in weights.items():
            column = self._columns.get(bucket)
            if column is not None:
                for k, c in enumerate(column):
                    scores[k] += c * weight / norm
        if len(self.classes) == 2:  # binary: one decision function for the second class
            p = 1.0 / (1.0 + math.exp(-max(min(scores[0], 50.0), -50.0)))
            probabilities = [1.0 - p, p]
        else:
            top = max(scores)
            exps = [math.exp(z - top) for z in scores]
            probabilities = [e / sum(exps) for e in exps]
        best = max(range(len(probabilities)), key=probabilities.__getitem__)
        return Prediction(self.classes[best], probabilities[best])


@dataclass
class LearnedModel:
    idf: np.ndarray  # TF-IDF weights of the hashed tokens (TfidfTransformer.idf_)
    pair: Pipeline  # P(alert belongs to incident | PAIR_FEATURES): PairScorer's pipeline
    category: Pipeline  # incident document -> root-cause category
    service_area: Pipeline  # incident document -> service area
    associations: dict[str, dict[str, float]] = field(default_factory=dict)  # word -> word -> log-odds ratio
    manifest: dict = field(default_factory=dict)

    def __post_init__(self):
        self.weights = ContentWeights(self.idf)
        self._pair = PairScorer(self.pair)
        self._classifiers = (LinearTextClassifier(self.category), LinearTextClassifier(self.service_area))
        self._predict = lru_cache(maxsize=4096)(self._predict_uncached)

    def pair_probability(self, features: tuple[float, ...], explain: bool = False) -> tuple[float, list]:
        return self._pair.probability(features, explain)

    def classify(self, document: str) -> tuple[Prediction, Prediction]:
        """(category, service area) of an incident document, each with its probability."""
        return self._predict(document)

    def _predict_uncached(self, document: str) -> tuple[Prediction, Prediction]:
        category, area = self._classifiers
        return category.predict(document), area.predict(document)
