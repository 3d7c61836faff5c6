"""Model artifacts on disk: a skops file (which loads no code it does not trust) and a manifest.

    models/correlator-model.skops   {"category", "service_area"} (other parts of older artifacts are ignored)
    models/manifest.json            format, versions, sha256, training data, metrics

Loading checks, in order: the manifest's format, the artifact's checksum, that the skops file
holds only types skops trusts by default (numpy arrays and scikit-learn estimators), and the
scikit-learn version it was trained with (a different one is logged: skops rebuilds estimators
from their state, but scikit-learn does not promise the same predictions across versions).
"""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import sklearn
import skops.io

from correlator import __version__
from correlator.ml.features import N_FEATURES
from correlator.ml.model import LearnedModel

FORMAT = 1
ARTIFACT = "correlator-model.skops"
MANIFEST = "manifest.json"

log = logging.getLogger(__name__)


class ModelError(Exception):
    """The model directory cannot be used; the message says why and what to do."""


def save(model: LearnedModel, directory: Path, training: dict, metrics: dict) -> dict:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / ARTIFACT
    skops.io.dump({"category": model.category, "service_area": model.service_area}, path,
                  compression=zipfile.ZIP_DEFLATED)
    manifest = {
        "format": FORMAT,
        "artifact": ARTIFACT,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "correlator_version": __version__,
        "sklearn_version": sklearn.__version__,
        "skops_version": skops.__version__,
        "n_features": N_FEATURES,
        "training": training,
        "metrics": metrics,
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def load(directory: Path) -> LearnedModel:
    retrain = "retrain it with `correlator train` or set ml.enabled: false"
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except FileNotFoundError:
        raise ModelError(f"{directory}: no {MANIFEST}; {retrain}") from None
    except json.JSONDecodeError as error:
        raise ModelError(f"{directory / MANIFEST}: not JSON ({error}); {retrain}") from None
    if manifest.get("format") != FORMAT:
        raise ModelError(f"{directory / MANIFEST}: model format {manifest.get('format')!r}, this correlator "
                         f"reads format {FORMAT}; {retrain}")
    if manifest.get("n_features") != N_FEATURES:
        raise ModelError(f"{directory / MANIFEST}: the model was trained on other features; {retrain}")
    path = directory / manifest.get("artifact", ARTIFACT)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelError(f"{path}: missing; {retrain}") from None
    if hashlib.sha256(data).hexdigest() != manifest.get("sha256"):
        raise ModelError(f"{path}: checksum does not match {MANIFEST} (modified or truncated); {retrain}")
    untrusted = skops.io.get_untrusted_types(data=data)
    if untrusted:
        raise ModelError(f"{path}: refusing to load types skops does not trust: {', '.join(untrusted)}")
    if manifest.get("sklearn_version") != sklearn.__version__:
        log.warning("model trained with scikit-learn %s, running %s: check its quality or retrain it",
                    manifest.get("sklearn_version"), sklearn.__version__)
    parts = skops.io.loads(data, trusted=[])
    return LearnedModel(parts["category"], parts["service_area"], manifest)
