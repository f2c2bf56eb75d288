"""The token-level student: a ``...ForTokenClassification`` model trained on word rows.

:class:`WordCollator` tokenizes each row's words with the student's tokenizer and pads the
teacher's word logits (cached per word, :mod:`.labels`) to ``(B, W, C)`` with a word mask.
:class:`TokenSystem` pools the student's sub-word logits to the same words (:func:`.words.pool_words`)
and hands the masked word rows, flattened to ``(N, C)``, to the run's weighted loss: the existing
terms (``kd`` reads ``student_tgt_logits``, ``teacher_logits`` and ``teacher_mask``), not copies of
them. A word counts when the teacher has a row for it (aligned, not cut off) and the student still
sees it after its own truncation. Validation logs ``val/agreement`` (the student's argmax against
the teacher's on those words): checkpoint selection without target-language gold labels.

Example::

    collate = WordCollator(tokenizer, max_length=128)
    loss = WeightedDistillationLoss.from_config(temperature=2.0, weights={"kd": 1.0})
    system = TokenSystem(model, loss, functools.partial(torch.optim.AdamW, lr=1e-4))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from distill.systems.steps import OptimizerFactory, StepSystem
from distill.tasks.token_classification.words import encode_words, pool_words


class WordCollator:
    """Rows ``{"tokens": [str], "teacher_logits"?: (W, C) nested list, "teacher_mask"?: [bool],
    "tags"?: [int]}`` -> a batch: the student's inputs, ``word_index``, ``word_mask`` ``(B, W)`` (the
    words of each row) and the padded teacher rows ``teacher_word_logits`` ``(B, W, C)`` and
    ``teacher_word_mask``, or the gold ``word_labels`` ``(B, W)`` (``-100`` on padding)."""

    def __init__(self, tokenizer: Any, max_length: int, prefix: str = "") -> None:
        self.tokenizer, self.max_length, self.prefix = tokenizer, max_length, prefix

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Tensor]:
        sentences = [list(r["tokens"]) for r in rows]
        batch = encode_words(self.tokenizer, sentences, self.max_length, self.prefix)
        width = max(len(s) for s in sentences)
        words = torch.zeros(len(rows), width, dtype=torch.bool)
        for b, s in enumerate(sentences):
            words[b, : len(s)] = True
        batch["word_mask"] = words
        if "teacher_logits" in rows[0]:
            teacher = [
                np.asarray(r["teacher_logits"], dtype=np.float32).reshape(len(s), -1)
                for r, s in zip(rows, sentences, strict=True)
            ]
            logits = torch.zeros(len(rows), width, teacher[0].shape[1])
            mask = torch.zeros(len(rows), width, dtype=torch.bool)
            for b, (r, t) in enumerate(zip(rows, teacher, strict=True)):
                logits[b, : len(t)] = torch.from_numpy(t)
                keep = r.get("teacher_mask")
                mask[b, : len(t)] = torch.as_tensor(keep if keep is not None else [True] * len(t))
            batch["teacher_word_logits"] = logits
            batch["teacher_word_mask"] = mask
        if "tags" in rows[0]:
            labels = torch.full((len(rows), width), -100, dtype=torch.long)
            for b, r in enumerate(rows):
                labels[b, : len(r["tags"])] = torch.as_tensor(r["tags"], dtype=torch.long)
            batch["word_labels"] = labels
        return batch


class TokenSystem(StepSystem):
    """Word-level distillation of a token classifier.

    Args:
        model: An ``AutoModelForTokenClassification`` (the student).
        loss: The weighted loss (:class:`~distill.losses.WeightedDistillationLoss`).
        optimizer: A partial optimizer over the trainable parameters.
        pooling: How sub-word logits become a word's (``first`` or ``mean``).
    """

    def __init__(
        self, model: nn.Module, loss: nn.Module, optimizer: OptimizerFactory, pooling: str = "first"
    ):
        super().__init__()
        self.save_hyperparameters(ignore=["model", "loss", "optimizer"])
        self.model, self.loss, self.optimizer_factory, self.pooling = model, loss, optimizer, pooling

    def word_logits(self, batch: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        """The student's ``(B, W, C)`` word logits and ``(B, W)`` mask of the words it sees."""
        inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in batch}
        logits = self.model(**inputs).logits  # (B, T, C)
        rows, seen = pool_words(logits, batch["word_index"], batch["word_mask"].shape[1], self.pooling)
        return rows, seen & batch["word_mask"]

    def loss_rows(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """The batch as the loss terms read it: the student's ``(N, C)`` word rows and, as the
        batch has them, the teacher's rows with ``teacher_mask`` ``(N,)`` (words both have) or the
        gold ``labels`` ``(N,)`` (``-100`` where the student sees no word)."""
        student, seen = self.word_logits(batch)
        classes = student.shape[-1]
        rows = {"student_tgt_logits": student.reshape(-1, classes), "seen": seen.flatten()}
        if "teacher_word_logits" in batch:
            rows["teacher_logits"] = batch["teacher_word_logits"].reshape(-1, classes)
            rows["teacher_mask"] = (seen & batch["teacher_word_mask"]).flatten()
        if "word_labels" in batch:
            rows["labels"] = torch.where(seen, batch["word_labels"], -100).flatten()
        return rows

    def _step(self, batch: Mapping[str, Tensor], stage: str) -> Tensor:
        rows = self.loss_rows(batch)
        result = self.loss(rows)
        mask = rows.get("teacher_mask", rows["seen"])
        n = max(int(mask.sum()), 1)
        self.log_dict(result.to_log(stage), batch_size=n, prog_bar=stage == "val")
        if stage == "val":
            pred = rows["student_tgt_logits"].argmax(-1)
            if "teacher_logits" in rows:  # selection on the teacher, no gold label read
                agree = (pred == rows["teacher_logits"].argmax(-1))[mask]
                self.log(
                    "val/agreement",
                    agree.float().mean() if agree.numel() else 0.0,
                    batch_size=n,
                    prog_bar=True,
                )
            if "labels" in rows:  # gold labels: the teacher's own (source-language) fine-tuning
                keep = rows["labels"] != -100
                acc = (pred == rows["labels"])[keep]
                self.log("val/acc", acc.float().mean() if acc.numel() else 0.0, batch_size=n, prog_bar=True)
        return result.total  # type: ignore[no-any-return]

    def on_fit_start(self) -> None:
        self.model.train()  # from_pretrained returns eval mode; Lightning keeps what it finds
