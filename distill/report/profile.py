"""The reference profile an export carries for drift monitoring, and the PSI that compares with it.

The profile (``drift_profile.json`` in the export) describes what the student saw on its run's test
sets, per language: how long the texts were (characters), how confident the student was, which
classes it predicted, and the language mix. Text length and confidence are kept as histograms over
the reference's own deciles (so each bin holds about a tenth of the reference); classes as a
distribution over the labels. A live window (or a file, ``distill-drift``) is compared with it by
the population stability index, ``PSI = sum_i (a_i - e_i) * ln(a_i / e_i)`` over the bins (e: the
reference share, a: the observed share, both floored at ``EPS``). The usual reading: under 0.1
stable, 0.1-0.25 a moderate shift, over 0.25 a shift worth a look (``THRESHOLD``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

PROFILE_FILE = "drift_profile.json"
PROFILE_VERSION = 1
THRESHOLD = 0.25
EPS = 1e-4
FEATURES = ("length", "confidence", "class")


def quantile_edges(values: Sequence[float], bins: int = 10) -> list[float]:
    """Inner bin edges at the deciles of ``values`` (duplicates dropped)."""
    qs = np.quantile(np.asarray(values, dtype=float), np.linspace(0, 1, bins + 1)[1:-1])
    return sorted({round(float(q), 6) for q in qs})


def shares(values: Sequence[float], edges: Sequence[float]) -> list[float]:
    """The share of ``values`` in each of the ``len(edges) + 1`` bins the inner ``edges`` make."""
    counts = np.bincount(
        np.searchsorted(np.asarray(edges), np.asarray(values, dtype=float), side="right"),
        minlength=len(edges) + 1,
    )
    total = max(int(counts.sum()), 1)
    return [float(c) / total for c in counts]


def class_shares(preds: Sequence[int], n_classes: int) -> list[float]:
    counts = np.bincount(np.asarray(preds, dtype=int), minlength=n_classes)[:n_classes]
    total = max(int(counts.sum()), 1)
    return [float(c) / total for c in counts]


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Population stability index of ``actual`` against ``expected`` (two share vectors)."""
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, EPS), max(a, EPS)
        total += (a - e) * math.log(a / e)
    return total


def language_profile(
    lengths: Sequence[int], confidences: Sequence[float], preds: Sequence[int], n_classes: int
) -> dict[str, Any]:
    length_edges = quantile_edges(lengths)
    confidence_edges = quantile_edges(confidences)
    return {
        "n": len(lengths),
        "length": {"edges": length_edges, "shares": shares(lengths, length_edges)},
        "confidence": {"edges": confidence_edges, "shares": shares(confidences, confidence_edges)},
        "class": {"shares": class_shares(preds, n_classes)},
    }


def build_profile(
    rows: Mapping[str, Mapping[str, Sequence[Any]]], labels: Sequence[str], *, source: str
) -> dict[str, Any]:
    """The profile from per-language columns ``{"length", "confidence", "pred"}``.

    Args:
        rows: ``{lang: {"length": [...], "confidence": [...], "pred": [...]}}`` (one entry a text).
        labels: The class names in id order.
        source: Where the rows came from (written into the profile), e.g. ``"test predictions"``.
    """
    langs = {lang: col for lang, col in rows.items() if len(col["length"])}
    total = sum(len(col["length"]) for col in langs.values())
    return {
        "version": PROFILE_VERSION,
        "source": source,
        "labels": list(labels),
        "threshold": THRESHOLD,
        "language_mix": {lang: len(col["length"]) / max(total, 1) for lang, col in langs.items()},
        "languages": {
            lang: language_profile(col["length"], col["confidence"], col["pred"], len(labels))
            for lang, col in langs.items()
        },
    }


def compare(
    reference: Mapping[str, Any], lengths: Sequence[int], confidences: Sequence[float], preds: Sequence[int]
) -> dict[str, float]:
    """PSI per feature of one language's observed texts against its reference entry, and their max."""
    scores = {
        "length": psi(reference["length"]["shares"], shares(lengths, reference["length"]["edges"])),
        "confidence": psi(
            reference["confidence"]["shares"], shares(confidences, reference["confidence"]["edges"])
        ),
        "class": psi(reference["class"]["shares"], class_shares(preds, len(reference["class"]["shares"]))),
    }
    scores["score"] = max(scores.values())
    return {k: round(v, 6) for k, v in scores.items()}
