"""Per-language calibration fitted without target labels, and the worst-language gap.

* :func:`fit_temperature`: the temperature ``T`` that makes ``softmax(z_student / T)`` closest (in
  cross-entropy) to the teacher's ``softmax(z_teacher)`` on one language's held-out validation
  pairs. It reads no gold label: only the teacher's outputs on the text the student was validated
  on, so it is fitted per target language the same way checkpoints are selected
  (``selection=teacher_agreement``).
* :func:`calibration_entry`: ECE (15 bins) on the labelled test split before and after dividing
  the student's logits by that temperature.
* :func:`language_gap`: best minus worst target language accuracy of a system, with a percentile
  bootstrap interval (each language's test examples resampled on their own).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

from distill.errors import DistillError
from distill.report.metrics import classification_metrics

#: The temperature is searched in ``[1/T_RANGE, T_RANGE]`` (on a log scale).
T_RANGE = 20.0
BOOTSTRAP_SEED = 0


def fit_temperature(student_logits: np.ndarray, teacher_logits: np.ndarray) -> float:
    """``argmin_T  -mean_n sum_c p_teacher[n, c] log softmax(z_student[n] / T)[c]`` (no labels).

    Raises:
        DistillError: Arrays of different shapes, or no rows.
    """
    z = np.asarray(student_logits, dtype=np.float64)
    p = softmax(np.asarray(teacher_logits, dtype=np.float64), axis=1)
    if z.shape != p.shape or z.ndim != 2 or len(z) == 0:
        raise DistillError(
            f"fit_temperature: student logits {z.shape} and teacher logits {p.shape} must be the same (N, C)"
        )

    def loss(log_t: float) -> float:
        return float(-(p * log_softmax(z / np.exp(log_t), axis=1)).sum(axis=1).mean())

    bound = float(np.log(T_RANGE))
    found = minimize_scalar(loss, bounds=(-bound, bound), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(found.x))


def calibration_entry(
    temperature: float, n_fit: int, test_logits: np.ndarray, gold: np.ndarray
) -> dict[str, Any]:
    """What ``metrics.json`` records of one language: the temperature and the test ECE before and after."""
    z = np.asarray(test_logits, dtype=np.float64)
    before = classification_metrics(z, gold)["ece"]
    after = classification_metrics(z / temperature, gold)["ece"]
    return {
        "temperature": round(temperature, 6),
        "fit_on": "teacher_agreement",
        "n_fit": int(n_fit),
        "ece": before,
        "ece_calibrated": after,
        "n": len(gold),
    }


def language_gap(
    correct: Mapping[str, np.ndarray], n_resamples: int = 1000, seed: int = BOOTSTRAP_SEED
) -> dict[str, Any] | None:
    """Best minus worst language accuracy, with a 95% percentile bootstrap interval.

    Args:
        correct: Target language -> the system's correct test predictions, 0/1: ``(n,)`` for one
            run, or ``(seeds, n)`` for several seeds over the same examples (accuracy is then the
            mean over seeds).
        n_resamples: Each resample draws every language's examples with replacement, on its own
            (the same draw for all seeds of a language), and recomputes the gap (the best and the
            worst language may change between draws).

    Returns:
        ``{"best", "worst", "gap", "low", "high", "n_resamples"}`` (best and worst: language and
        accuracy), or ``None`` with fewer than two languages.
    """
    arrays = {lang: np.atleast_2d(np.asarray(c, dtype=float)) for lang, c in correct.items()}
    langs = [lang for lang, a in arrays.items() if a.shape[1]]
    if len(langs) < 2:
        return None
    acc = {lang: float(arrays[lang].mean()) for lang in langs}
    best, worst = max(langs, key=acc.__getitem__), min(langs, key=acc.__getitem__)
    rng = np.random.default_rng(seed)
    draws = np.empty((len(langs), n_resamples))
    for k, lang in enumerate(langs):
        a = arrays[lang]  # (S, n)
        idx = rng.integers(0, a.shape[1], (n_resamples, a.shape[1]))  # (R, n)
        draws[k] = a[:, idx].mean(axis=(0, 2))  # (R,)
    gaps = draws.max(axis=0) - draws.min(axis=0)
    low, high = np.percentile(gaps, [2.5, 97.5])
    return {
        "best": {"lang": best, "accuracy": round(acc[best], 6)},
        "worst": {"lang": worst, "accuracy": round(acc[worst], 6)},
        "gap": round(acc[best] - acc[worst], 6),
        "low": round(float(low), 6),
        "high": round(float(high), 6),
        "n_resamples": n_resamples,
    }
