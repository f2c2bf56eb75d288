"""Per-language temperature scaling without labels, and the worst-language gap."""

from __future__ import annotations

import numpy as np
import pytest

from distill.errors import DistillError
from distill.report.calibration import calibration_entry, fit_temperature, language_gap


@pytest.mark.parametrize("t0", [0.5, 2.5])
def test_the_temperature_that_matches_the_teacher_is_found(t0: float) -> None:
    z = np.random.default_rng(0).normal(0, 3, (400, 5))
    assert fit_temperature(z, z / t0) == pytest.approx(t0, rel=1e-3)


def test_calibration_lowers_the_ece_of_an_overconfident_student() -> None:
    rng = np.random.default_rng(1)
    z = rng.normal(0, 4, (3000, 4))  # the student's logits: 3x too confident
    p = np.exp(z / 3) / np.exp(z / 3).sum(1, keepdims=True)
    gold = np.array([rng.choice(4, p=row) for row in p])  # labels drawn from the true distribution
    t = fit_temperature(z[:1000], z[:1000] / 3)  # a well-calibrated teacher: no labels read
    entry = calibration_entry(t, 1000, z[1000:], gold[1000:])
    assert entry["temperature"] == pytest.approx(3.0, rel=1e-3)
    assert entry["ece_calibrated"] < entry["ece"] / 3
    assert entry["n"] == 2000 and entry["fit_on"] == "teacher_agreement"


def test_fit_refuses_mismatched_arrays() -> None:
    with pytest.raises(DistillError, match="same"):
        fit_temperature(np.zeros((3, 2)), np.zeros((3, 3)))


def test_language_gap_and_its_interval() -> None:
    rng = np.random.default_rng(2)
    correct = {"it": rng.random(500) < 0.9, "ja": rng.random(500) < 0.5, "es": rng.random(500) < 0.7}
    gap = language_gap(correct)
    assert gap is not None
    assert gap["best"]["lang"] == "it" and gap["worst"]["lang"] == "ja"
    assert gap["gap"] == pytest.approx(correct["it"].mean() - correct["ja"].mean(), abs=1e-6)
    assert gap["low"] < gap["gap"] < gap["high"] and gap["high"] - gap["low"] < 0.2
    assert language_gap({"it": correct["it"]}) is None  # one language has no gap
    assert language_gap(correct) == gap  # seeded: the same interval each time
