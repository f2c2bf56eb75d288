"""``tfidf_student``: the non-neural reference beside every classification student (DESIGN.md section 10).

A character n-gram TF-IDF (scikit-learn ``TfidfVectorizer``, ``char_wb`` 2-4-grams) and a
multinomial logistic regression, trained on the teacher's soft labels over the student's own target
training text: each text enters once per class, weighted by the teacher's probability of that class
(probabilities under 1e-3 are left out). It shows when the neural student does not earn its cost.
It reads no target-language gold label.

Its cost is bounded: at most ``max_texts`` training texts (a seeded sample of larger corpora), each
vectorised once (the per-class copies share the text's TF-IDF row).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from distill.errors import DistillError
from distill.targets import tempered

#: Teacher probabilities below this do not become weighted training rows.
MIN_PROB = 1e-3
#: Training texts at most (``baselines.tfidf_max_texts``); a larger corpus is sampled (seeded).
MAX_TEXTS = 50_000


def sample_rows(n: int, max_texts: int, seed: int) -> np.ndarray:
    """Sorted row indices of at most ``max_texts`` of ``n`` rows: all of them, or a seeded sample."""
    if max_texts < 1:
        raise DistillError(
            f"baselines.tfidf_max_texts must be >= 1, got {max_texts}", fix=f"use the default ({MAX_TEXTS})"
        )
    if n <= max_texts:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_texts, replace=False))


class TfidfStudent:
    """Fit on ``(texts, teacher logits (N, C))``; :meth:`logits` gives (N, C) log-probabilities."""

    def __init__(self, n_labels: int, seed: int = 0, c: float = 10.0) -> None:
        self.n_labels = n_labels
        self.pipeline = Pipeline(
            [
                (
                    "tfidf",
                    TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, min_df=2),
                ),
                ("lr", LogisticRegression(C=c, max_iter=2000, random_state=seed)),
            ]
        )

    def fit(self, texts: Sequence[str], teacher_logits: np.ndarray) -> TfidfStudent:
        if len(texts) != len(teacher_logits) or teacher_logits.shape[1] != self.n_labels:
            raise DistillError(
                f"tfidf_student: {len(texts)} texts but teacher rows of shape {teacher_logits.shape}"
            )
        probs = tempered(np.asarray(teacher_logits, dtype=np.float64), 1.0)
        rows, classes = np.nonzero(probs >= MIN_PROB)
        weights = probs[rows, classes]
        # Every text is vectorised once; its per-class copies are rows of that one matrix.
        features = self.pipeline.named_steps["tfidf"].fit_transform(list(texts))
        self.pipeline.named_steps["lr"].fit(features[rows], classes, sample_weight=weights / weights.mean())
        return self

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """Log-probabilities over every label (a label never seen in training gets log 1e-12)."""
        out = np.full((len(texts), self.n_labels), np.log(1e-12), dtype=np.float32)
        if texts:
            proba = self.pipeline.predict_proba(list(texts))
            out[:, self.pipeline.classes_] = np.log(np.maximum(proba, 1e-12))
        return out
