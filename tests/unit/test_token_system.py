"""The token-level student learns the teacher's word rows through the existing kd term, masks kept,
and the back term on the source words of pairs."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from distill.losses import WeightedDistillationLoss
from distill.tasks.token_classification.system import TokenSystem, WordCollator

WORDS = ["maria", "vive", "a", "roma", "con", "luca", "e", "anna", "parigi", "oggi"]
CLASS = {w: (0 if w in ("maria", "luca", "anna") else 1 if w in ("roma", "parigi") else 2) for w in WORDS}


def _rows(n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        words = list(rng.choice(WORDS, size=int(rng.integers(2, 7))))
        logits = np.full((len(words), 3), -4.0)
        logits[np.arange(len(words)), [CLASS[w] for w in words]] = 4.0
        rows.append({"tokens": words, "teacher_logits": logits.tolist(), "teacher_mask": [True] * len(words)})
    return rows


def _student(root: Path) -> tuple[object, object]:
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from distill.models.tiny import build_tiny_encoder

    enc = build_tiny_encoder(root / "encoder")
    torch.manual_seed(0)
    return AutoModelForTokenClassification.from_pretrained(
        str(enc), num_labels=3
    ), AutoTokenizer.from_pretrained(str(enc))


def test_the_collator_pads_ragged_teacher_rows_with_a_word_mask(tmp_path: Path) -> None:
    _, tokenizer = _student(tmp_path)
    rows = _rows(3, seed=1)
    rows[0]["teacher_mask"] = [False] + [True] * (len(rows[0]["tokens"]) - 1)  # an unaligned word
    batch = WordCollator(tokenizer, 32)(rows)
    width = max(len(r["tokens"]) for r in rows)
    assert batch["teacher_word_logits"].shape == (3, width, 3) and batch["teacher_word_mask"].shape == (
        3,
        width,
    )
    for b, r in enumerate(rows):
        n = len(r["tokens"])
        assert batch["teacher_word_mask"][b].tolist() == [*r["teacher_mask"], *[False] * (width - n)]
        np.testing.assert_allclose(batch["teacher_word_logits"][b, :n].numpy(), r["teacher_logits"])


def test_the_student_learns_the_teachers_words_and_masked_words_cost_nothing(tmp_path: Path) -> None:
    model, tokenizer = _student(tmp_path)
    loss = WeightedDistillationLoss.from_config(temperature=1.0, weights={"kd": 1.0})
    system = TokenSystem(model, loss, functools.partial(torch.optim.AdamW, lr=3e-3))
    collate = WordCollator(tokenizer, 32)
    train, val = _rows(64, seed=2), _rows(16, seed=3)

    def agreement() -> float:
        batch = collate(val)
        with torch.inference_mode():
            student, seen = system.eval().word_logits(batch)
        mask = seen & batch["teacher_word_mask"]
        return float((student.argmax(-1) == batch["teacher_word_logits"].argmax(-1))[mask].float().mean())

    before = agreement()
    trainer = pl.Trainer(
        max_epochs=6,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(
        system,
        DataLoader(train, batch_size=8, shuffle=True, collate_fn=collate),
        DataLoader(val, batch_size=8, collate_fn=collate),
    )
    after = agreement()
    assert after > 0.9 and after > before + 0.2, (before, after)
    assert float(trainer.callback_metrics["val/agreement"]) > 0.9
    # rows the teacher has no label for are left out: a batch of only such rows costs 0
    masked = [{**r, "teacher_mask": [False] * len(r["tokens"])} for r in val[:4]]
    assert float(system.loss(system.loss_rows(collate(masked))).total) == 0.0
    assert float(system.loss(system.loss_rows(collate(val[:4]))).total) > 0.0


def test_back_reads_the_source_words_against_the_teachers_own_rows(tmp_path: Path) -> None:
    from distill.tasks.token_classification.system import MASK_KEYS

    model, tokenizer = _student(tmp_path)
    rows = _rows(3, seed=4)
    for r, src in zip(rows, _rows(3, seed=5), strict=True):  # source words: other lengths
        r["src_tokens"], r["teacher_src_logits"] = src["tokens"], src["teacher_logits"]
        r["teacher_src_mask"] = [True] * (len(src["tokens"]) - 1) + [False]  # e.g. cut off
    batch = WordCollator(tokenizer, 32)(rows)
    width = max(len(r["src_tokens"]) for r in rows)
    assert batch["teacher_src_word_logits"].shape == (3, width, 3) and batch["src_word_mask"].shape == (
        3,
        width,
    )
    weights = {"kd": 1.0, "back": 0.5}
    loss = WeightedDistillationLoss.from_config(temperature=1.0, weights=weights, mask_keys=MASK_KEYS)
    system = TokenSystem(model, loss, torch.optim.AdamW).eval()
    with torch.inference_mode():
        out = system.loss_rows(batch)
        src, seen = system.word_logits(batch, "src_")
        keep = (seen & batch["teacher_src_word_mask"]).flatten()
        kl = torch.nn.functional.kl_div(
            src.reshape(-1, 3).log_softmax(-1),
            batch["teacher_src_word_logits"].reshape(-1, 3).log_softmax(-1),
            reduction="none",
            log_target=True,
        ).sum(-1)  # (B * Ws,)
        result = loss(out)
        assert float(result.terms["back"]) == pytest.approx(float(kl[keep].mean()), rel=1e-5)
        assert float(result.total) == pytest.approx(float(result.terms["kd"] + 0.5 * result.terms["back"]))
        # kd alone: the student never reads the source words
        kd_only = TokenSystem(
            model,
            WeightedDistillationLoss.from_config(temperature=1.0, weights={"kd": 1.0}),
            torch.optim.AdamW,
        )
        assert "student_src_logits" not in kd_only.loss_rows(batch)


def test_selection_scores_an_all_o_student_low_though_it_agrees_on_most_words(tmp_path: Path) -> None:
    model, tokenizer = _student(tmp_path)
    loss = WeightedDistillationLoss.from_config(temperature=1.0, weights={"kd": 1.0})
    system = TokenSystem(model, loss, torch.optim.AdamW).eval()
    rows = []
    for words in (["a", "b", "c", "d", "e", "f", "g", "maria"], ["x", "y", "z", "roma"]):
        logits = np.full((len(words), 3), -4.0)
        logits[:, 2] = 4.0  # "O" ...
        logits[-1] = [4.0, -4.0, -4.0] if words[-1] == "maria" else [-4.0, 4.0, -4.0]  # ... and one entity
        rows.append({"tokens": words, "teacher_logits": logits.tolist(), "teacher_mask": [True] * len(words)})
    batch = WordCollator(tokenizer, 32)(rows)
    with torch.no_grad():  # the student's head says "O" (class 2) for every word
        system.model.classifier.weight.zero_()
        system.model.classifier.bias.copy_(torch.tensor([0.0, 0.0, 5.0]))
    logged: dict[str, object] = {}
    system.log = lambda name, value, **kw: logged.__setitem__(name, value)  # type: ignore[method-assign]
    with torch.inference_mode():
        system._step(batch, "val")
    assert float(logged["val/agreement"]) == pytest.approx(10 / 12)  # type: ignore[arg-type]
    # macro-F1 over the tags the teacher or the student used: O 10/11, the two entity tags 0
    assert float(system.val_agreement_f1.compute()) == pytest.approx((2 * 10 / 22) / 3, abs=1e-4)
