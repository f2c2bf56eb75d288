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


def test_calibration_reuses_the_label_stages_teacher_logits(monkeypatch: pytest.MonkeyPatch) -> None:
    """distill-run passes the cached validation logits: the same entry, without a second teacher pass."""
    from datasets import Dataset, DatasetDict
    from omegaconf import OmegaConf

    from distill.stages import evaluate

    rng = np.random.default_rng(3)
    n = 60
    z_teacher, z_student = rng.normal(0, 3, (n, 4)), rng.normal(0, 5, (n, 4))
    calls: list[str] = []

    def fake_predict(
        model: str, _tok: object, texts: list[str], *, desc: str = "", **_: object
    ) -> np.ndarray:
        calls.append(desc)
        rows = [int(t) for t in texts]
        return (z_teacher if model == "teacher" else z_student)[rows].astype(np.float32)

    monkeypatch.setattr(evaluate, "predict_logits", fake_predict)
    ids = [str(i) for i in range(n)]
    dd = DatasetDict({"validation": Dataset.from_dict({"src": ids, "tgt": ids})})
    cfg = OmegaConf.create(
        {
            "eval": {"batch_size": 8},
            "mode": {"name": "parallel"},
            "teacher": {"max_length": 16},
            "student": {"max_length": 16, "prefix": ""},
        }
    )
    test_logits, gold = rng.normal(0, 3, (40, 4)), rng.integers(0, 4, 40)
    args = (cfg, ("teacher", None), ("student", None), dd, test_logits, gold, "it")
    recomputed = evaluate.calibrate(*args)
    assert calls == ["teacher it validation", "student it validation"]
    calls.clear()
    reused = evaluate.calibrate(*args, z_teacher)
    assert calls == ["student it validation"]  # the teacher did not run again
    assert reused == recomputed
    calls.clear()
    evaluate.calibrate(*args, z_teacher[:10])  # not row-aligned with the split: recomputed
    assert calls[0] == "teacher it validation"
