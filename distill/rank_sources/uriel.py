"""URIEL typology (Littell et al. 2017) read offline from the ``lang2vec==1.1.2`` wheel's ``.npz`` files.

The cosine similarity of two languages' URIEL vectors, per feature set: ``syntax_knn``,
``phonology_knn`` and ``inventory_knn`` (typological features with missing values predicted by
k-NN, so every language has a full vector), ``fam`` (membership in the Glottolog family tree) and
``geo`` (distances to fixed points on the globe). That lang2vec version has no ``distance()``
(later ones download ``distances.zip`` for it) and its module imports ``pkg_resources``, which
setuptools >= 81 no longer has, so nothing is imported from it and nothing is downloaded.
"""

from __future__ import annotations

import importlib.metadata
import json
from collections.abc import Mapping
from pathlib import Path

import langcodes
import numpy as np

from distill.data.langs import normalize_tag
from distill.errors import DistillError

# lang2vec's feature sets: file, feature-name prefix (as in lang2vec.FEATURE_SETS_DICT).
URIEL_SETS: Mapping[str, tuple[str, str]] = {
    "syntax_knn": ("feature_predictions.npz", "S_"),
    "phonology_knn": ("feature_predictions.npz", "P_"),
    "inventory_knn": ("feature_predictions.npz", "INV_"),
    "fam": ("family_features.npz", ""),
    "geo": ("geocoord_features.npz", ""),
}
URIEL_PACKAGE = "lang2vec==1.1.2"


def _uriel_dir() -> Path:
    """The wheel's ``lang2vec/data`` folder, found through the distribution's files: the wheel also
    installs a ``bin/lang2vec.py`` script, which shadows the package in console scripts."""
    try:
        folder = Path(str(importlib.metadata.distribution("lang2vec").locate_file("lang2vec/data")))
    except importlib.metadata.PackageNotFoundError:
        folder = Path("/nonexistent")
    if not (folder / "feature_predictions.npz").is_file():
        raise DistillError("the URIEL feature files are not installed", fix=f"pip install {URIEL_PACKAGE}")
    return folder


_URIEL: dict[str, tuple[dict[str, int], np.ndarray, np.ndarray]] = {}


def _uriel_file(name: str) -> tuple[dict[str, int], np.ndarray, np.ndarray]:
    """``(lang -> row, feature names, data (L, F))`` of one lang2vec file (cached)."""
    if name not in _URIEL:
        z = np.load(_uriel_dir() / name)  # plain arrays: no pickle
        langs = {str(code): i for i, code in enumerate(z["langs"])}
        _URIEL[name] = (langs, z["feats"], z["data"][:, :, 0])
    return _URIEL[name]


def uriel_code(lang: str) -> str:
    """The ISO 639-3 code URIEL files use (``ko`` -> ``kor``, ``zh-Hant`` -> ``zho``)."""
    primary = normalize_tag(lang).split("-")[0]
    letter = json.loads((_uriel_dir() / "letter_codes.json").read_text(encoding="utf-8"))
    if primary in letter:
        return str(letter[primary])
    try:
        return str(langcodes.Language.get(primary).to_alpha3())
    except (LookupError, ValueError):
        return primary


def uriel_vector(lang: str, feature_set: str) -> np.ndarray | None:
    """A language's vector of one URIEL feature set, or ``None`` if URIEL lacks the language."""
    name, prefix = URIEL_SETS[feature_set]
    langs, feats, data = _uriel_file(name)
    row = langs.get(uriel_code(lang))
    if row is None:
        return None
    keep = np.char.startswith(feats.astype(str), prefix) if prefix else np.ones(len(feats), bool)
    vector = data[row, keep].astype(np.float64)
    return None if not np.isfinite(vector).all() or np.all(vector == 0) else vector


def uriel_similarity(target: str, source: str) -> dict[str, float]:
    """Cosine similarity of ``target`` and ``source`` per URIEL feature set (those URIEL lacks: left out)."""
    out: dict[str, float] = {}
    for name in URIEL_SETS:
        a, b = uriel_vector(target, name), uriel_vector(source, name)
        if a is not None and b is not None:
            out[name] = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
    return out
