"""Confidence weighting of projected word labels: kd's per-row weight, by hand and through the
token student's collator and rows."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from distill.losses import KDLoss, WeightedDistillationLoss
from distill.tasks.token_classification.system import TokenSystem, WordCollator


def _kl(p: list[float], q: list[float]) -> float:
    return sum(a * math.log(a / b) for a, b in zip(p, q, strict=True))


def test_kd_weighs_each_kept_row_and_divides_by_the_kept_rows() -> None:
    # tau = 1: the teacher's rows are (0.8, 0.2) and (0.5, 0.5); the student's (0.5, 0.5) and (0.9, 0.1).
    teacher = torch.log(torch.tensor([[0.8, 0.2], [0.5, 0.5], [0.1, 0.9]]))
    student = torch.log(torch.tensor([[0.5, 0.5], [0.9, 0.1], [0.3, 0.7]]))
    mask = torch.tensor([True, True, False])  # the third word is unaligned: left out
    weight = torch.tensor([0.25, 1.0, 0.7])
    kl1, kl2 = _kl([0.8, 0.2], [0.5, 0.5]), _kl([0.5, 0.5], [0.9, 0.1])
    loss = WeightedDistillationLoss.from_config(temperature=1.0, weights={"kd": 1.0})
    batch = {"student_tgt_logits": student, "teacher_logits": teacher, "teacher_mask": mask}
    plain = float(loss(batch).total)
    weighted = float(loss({**batch, "teacher_weight": weight}).total)
    assert plain == pytest.approx((kl1 + kl2) / 2, rel=1e-5)
    assert weighted == pytest.approx((0.25 * kl1 + 1.0 * kl2) / 2, rel=1e-5)
    ones = float(KDLoss(1.0)(student, teacher, mask, weight=torch.ones(3)))
    assert ones == pytest.approx(plain, rel=1e-6)
    with pytest.raises(ValueError, match="float tensor of shape"):
        KDLoss(1.0)(student, teacher, mask, weight=torch.ones(2))


def test_the_collator_carries_the_word_weights_to_the_kd_rows(tmp_path: Path) -> None:
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from distill.models.tiny import build_tiny_encoder

    enc = build_tiny_encoder(tmp_path / "encoder")
    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_pretrained(str(enc), num_labels=3)
    collate = WordCollator(AutoTokenizer.from_pretrained(str(enc)), 32)
    rows = [
        {"tokens": ["maria", "vive", "a", "roma"], "teacher_weight": [0.9, 0.5, 0.0, 0.8]},
        {"tokens": ["luca", "oggi"], "teacher_weight": [0.6, 0.3]},
    ]
    for r in rows:
        r["teacher_logits"] = [[2.0, -1.0, 0.0]] * len(r["tokens"])
        r["teacher_mask"] = [w > 0 for w in r["teacher_weight"]]
    batch = collate(rows)
    expected_weights = [[0.9, 0.5, 0.0, 0.8], [0.6, 0.3, 0.0, 0.0]]  # 0 on padding
    torch.testing.assert_close(batch["teacher_word_weight"], torch.tensor(expected_weights))
    loss = WeightedDistillationLoss.from_config(temperature=1.0, weights={"kd": 1.0})
    system = TokenSystem(model, loss, torch.optim.AdamW).eval()
    with torch.inference_mode():
        out = system.loss_rows(batch)
        keep = out["teacher_mask"]
        kl = torch.nn.functional.kl_div(
            out["student_tgt_logits"].log_softmax(-1),
            out["teacher_logits"].log_softmax(-1),
            reduction="none",
            log_target=True,
        ).sum(-1)  # (N,)
        expected = float((kl * out["teacher_weight"])[keep].sum() / keep.sum())
        assert float(loss(out).total) == pytest.approx(expected, rel=1e-5)
        unweighted = {k: v for k, v in out.items() if k != "teacher_weight"}
        assert float(loss(unweighted).total) == pytest.approx(float(kl[keep].mean()), rel=1e-5)
        assert float(loss(out).total) < float(loss(unweighted).total)  # every weight < 1
