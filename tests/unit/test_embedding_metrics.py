"""The embedding task's scores by hand: retrieval accuracy@1 and MRR, the English geometry agreement,
the source-language rows in the contract and the tables, and the validation guard."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from distill.errors import DistillError
from distill.report import (
    MetricsReport,
    format_table,
    geometry_spearman,
    guard_sentence,
    load_metrics,
    results_markdown,
    retrieval_guard,
    retrieval_metrics,
    retrieval_outcomes,
    row_problem,
)

# Target i against source j (cosine): row 1's translation is third (0.196 under 0.981 and 0.832);
# column 1's second (0.196 under 0.753).
SRC = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
TGT = np.array([[0.9, 0.1], [1.0, 0.2], [0.7, 0.8]])


def test_retrieval_accuracy_and_mrr_by_hand() -> None:
    m = retrieval_metrics(SRC, TGT)
    assert m["retrieval_tgt2src"] == pytest.approx(2 / 3, abs=1e-6)
    assert m["retrieval_src2tgt"] == pytest.approx(2 / 3, abs=1e-6)
    assert m["mrr_tgt2src"] == pytest.approx((1 + 1 / 3 + 1) / 3, abs=1e-6)
    assert m["mrr_src2tgt"] == pytest.approx((1 + 1 / 2 + 1) / 3, abs=1e-6)
    assert m["mse"] == pytest.approx(float(np.mean((TGT - SRC) ** 2)), abs=1e-6) and m["n"] == 3
    out = retrieval_outcomes(SRC, TGT)
    assert out["hit_tgt2src"].tolist() == [True, False, True]
    np.testing.assert_allclose(out["rr_src2tgt"], [1.0, 0.5, 1.0])


def test_a_tie_with_the_translation_does_not_push_it_down() -> None:
    same = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # pairs 0 and 1: the same text twice
    m = retrieval_metrics(same, same)
    assert m["retrieval_tgt2src"] == m["mrr_tgt2src"] == m["mrr_src2tgt"] == 1.0


def test_geometry_spearman_by_hand() -> None:
    # Pairwise cosines (0,1), (0,2), (1,2): a 0.8, 0.0, 0.6 (ranks 3, 1, 2); b 0.0, 0.6, 0.8 (1, 2, 3).
    a = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
    b = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    assert geometry_spearman(a, b) == pytest.approx(-0.5)  # 1 - 6 * (4 + 1 + 1) / (3 * (9 - 1))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 4))
    rotation, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    wider = np.hstack([x, np.zeros((20, 2))]) @ rotation * 3.0  # another width, rotated, scaled
    assert geometry_spearman(x, wider) == pytest.approx(1.0)
    with pytest.raises(DistillError, match="N >= 3"):
        geometry_spearman(x[:2], x[:2])


def _report(student: float, untrained: float) -> MetricsReport:
    """Test rows, the English geometry rows, and validation rows at the given accuracy@1."""
    report = MetricsReport(source_lang="en", target_langs=["sw", "tl"], task="embedding")
    for system, acc in (("student", student), ("student_untrained", untrained)):
        for lang in ("sw", "tl"):
            for split in ("test", "validation"):
                scores = {"retrieval_tgt2src": acc, "retrieval_src2tgt": acc, "mrr_tgt2src": acc}
                report.add(system, lang, split, {**scores, "mrr_src2tgt": acc, "mse": 0.01, "n": 50})
        report.add(system, "en", "test", {"teacher_spearman": -0.25 if acc < 0.5 else 0.75, "n": 90})
    return report


def test_the_geometry_row_is_a_source_column_of_its_own(tmp_path: Path) -> None:
    report = _report(0.4, 0.9)
    assert report.get("student", "en") == {
        "system": "student", "lang": "en", "split": "test", "teacher_spearman": -0.25, "n": 90
    }  # fmt: skip
    assert report.transfer_gap() == {}  # no retrieval score on the source language
    table = format_table(report)
    assert "en* rho" in table and "-0.250" in table and "[validation] system" in table
    assert "| **-0.250** (90) | **0.400** / 0.400 / 0.400 / 0.400 / 0.010 (50) |" in results_markdown(report)
    report.write(tmp_path)
    assert load_metrics(tmp_path / "metrics.json").results == report.results
    old = {"system": "student", "lang": "sw", "split": "test", "retrieval_tgt2src": 0.5,
           "retrieval_src2tgt": 0.5, "mse": 0.1, "n": 3}  # fmt: skip
    assert row_problem(old, "embedding") is None  # a run written before the MRR
    assert "[-1, 1]" in str(row_problem({**old, "lang": "en", "teacher_spearman": 1.5}, "embedding"))
    assert "mrr_tgt2src" in str(
        row_problem({"system": "student", "lang": "sw", "split": "test", "n": 3}, "embedding")
    )


def test_the_guard_says_so_once_when_distillation_made_retrieval_worse() -> None:
    report = _report(0.383, 0.912)
    assert retrieval_guard(report) == {
        "split": "validation", "langs": ["sw", "tl"], "student": 0.383, "student_untrained": 0.912,
        "worse": True,
    }  # fmt: skip
    line = guard_sentence(report)
    assert line is not None and line.startswith("warning: the distilled student retrieves worse")
    assert "(0.383 vs 0.912 accuracy@1, mean over sw, tl)" in line
    assert "experiments/embedding_transfer/README.md" in line
    assert format_table(report).count(line) == 1 and results_markdown(report).count(line) == 1


def test_the_guard_is_quiet_when_the_student_retrieves_as_well_or_better() -> None:
    for student in (0.9, 0.95):
        report = _report(student, 0.9)
        guard = retrieval_guard(report)
        assert guard is not None and guard["worse"] is False and guard_sentence(report) is None
        assert "warning" not in format_table(report) and "warning" not in results_markdown(report)
    no_validation = MetricsReport(source_lang="en", target_langs=["sw"], task="embedding")
    assert retrieval_guard(no_validation) is None and guard_sentence(no_validation) is None
