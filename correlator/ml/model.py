"""The trained model the engine consults: two text classifiers (category and service area).

Both are plain scikit-learn pipelines fitted by `correlator train` (never on the request path).
`LearnedModel` only wraps them with the per-incident fast path the engine needs. (Grouping is
learned online from the estate's own stream: correlator/learning/.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from sklearn.pipeline import Pipeline

from correlator.ml.features import bucket_of


@dataclass(frozen=True, slots=True)
class Prediction:
    label: str
    confidence: float


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
    category: Pipeline  # incident document -> root-cause category
    service_area: Pipeline  # incident document -> service area
    manifest: dict = field(default_factory=dict)

    def __post_init__(self):
        self._classifiers = (LinearTextClassifier(self.category), LinearTextClassifier(self.service_area))
        self._predict = lru_cache(maxsize=4096)(self._predict_uncached)

    def classify(self, document: str) -> tuple[Prediction, Prediction]:
        """(category, service area) of an incident document, each with its probability."""
        return self._predict(document)

    def _predict_uncached(self, document: str) -> tuple[Prediction, Prediction]:
        category, area = self._classifiers
        return category.predict(document), area.predict(document)
