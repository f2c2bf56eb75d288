"""The token-level student: a ``...ForTokenClassification`` model trained on word rows.

:class:`WordCollator` tokenizes each row's words with the student's tokenizer and pads the
teacher's word logits (cached per word, :mod:`.labels`) to ``(B, W, C)`` with a word mask.
:class:`TokenSystem` pools the student's sub-word logits to the same words (:func:`.words.pool_words`)
and hands the masked word rows, flattened to ``(N, C)``, to the run's weighted loss: the existing
terms (``kd`` reads ``student_tgt_logits``, ``teacher_logits``, ``teacher_mask`` and, for projected
labels, the alignment confidence ``teacher_weight``; ``back`` reads the student's and the teacher's
rows on the source words of a pair, masked by ``teacher_src_mask``), not copies of them. A word
counts when the teacher has a row for it (aligned, not cut off) and the student still sees it after
its own truncation. Validation logs ``val/agreement`` and ``val/agreement_f1`` (the student's argmax
against the teacher's on those words, macro-F1 over tags): checkpoint selection without
target-language gold labels.

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
from torchmetrics.classification import MulticlassF1Score

from distill.systems.steps import OptimizerFactory, StepSystem
from distill.tasks.token_classification.words import encode_words, pool_words


def _pad_words(
    rows: Sequence[Mapping[str, Any]], lengths: Sequence[int], logits_key: str, mask_key: str
) -> tuple[Tensor, Tensor]:
    """The rows' ragged ``(W_i, C)`` teacher logits padded to ``(B, W, C)``, and their ``(B, W)``
    mask (``rows[b][mask_key]`` where given, else every word of the row)."""
    teacher = [
        np.asarray(r[logits_key], dtype=np.float32).reshape(n, -1) for r, n in zip(rows, lengths, strict=True)
    ]
    logits = torch.zeros(len(rows), max(lengths), teacher[0].shape[1])
    mask = torch.zeros(len(rows), max(lengths), dtype=torch.bool)
    for b, (r, t) in enumerate(zip(rows, teacher, strict=True)):
        logits[b, : len(t)] = torch.from_numpy(t)
        keep = r.get(mask_key)
        mask[b, : len(t)] = torch.as_tensor(keep if keep is not None else [True] * len(t))
    return logits, mask


def _pad_values(
    rows: Sequence[Mapping[str, Any]], key: str, width: int, fill: float, dtype: torch.dtype
) -> Tensor:
    """The rows' per-word values ``rows[b][key]`` padded with ``fill`` to ``(B, W)``."""
    out = torch.full((len(rows), width), fill, dtype=dtype)
    for b, r in enumerate(rows):
        out[b, : len(r[key])] = torch.as_tensor(r[key], dtype=dtype)
    return out


def _word_mask(sentences: Sequence[Sequence[str]]) -> Tensor:
    words = torch.zeros(len(sentences), max(len(s) for s in sentences), dtype=torch.bool)
    for b, s in enumerate(sentences):
        words[b, : len(s)] = True
    return words


#: The masks of the word rows by loss term, for ``WeightedDistillationLoss(mask_keys=...)``: ``back``
#: reads the source words, which have their own mask (``kd`` keeps ``teacher_mask``).
MASK_KEYS = {"back": "teacher_src_mask"}
#: The source side's keys in a batch: the same as the target's, with this prefix.
SRC = "src_"


class WordCollator:
    """Rows ``{"tokens": [str], "teacher_logits"?: (W, C) nested list, "teacher_mask"?: [bool],
    "teacher_weight"?: [float], "tags"?: [int]}`` -> a batch: the student's inputs, ``word_index``,
    ``word_mask`` ``(B, W)`` (the words of each row) and the padded teacher rows
    ``teacher_word_logits`` ``(B, W, C)``, ``teacher_word_mask`` and ``teacher_word_weight`` (the
    rows' per-word weights, 0 on padding), or the gold ``word_labels`` ``(B, W)`` (``-100`` on
    padding).

    Rows of pairs may also hold the source sentence: ``src_tokens``, the teacher's own word logits
    on them ``teacher_src_logits`` and ``teacher_src_mask``; the batch then has the same inputs
    with the prefix ``src_`` (``src_input_ids``, ``src_word_index``, ``src_word_mask``, ...) and
    ``teacher_src_word_logits``/``teacher_src_word_mask`` (the ``back`` term's rows)."""

    def __init__(self, tokenizer: Any, max_length: int, prefix: str = "") -> None:
        self.tokenizer, self.max_length, self.prefix = tokenizer, max_length, prefix

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Tensor]:
        sentences = [list(r["tokens"]) for r in rows]
        batch = encode_words(self.tokenizer, sentences, self.max_length, self.prefix)
        batch["word_mask"] = words = _word_mask(sentences)
        lengths = [len(s) for s in sentences]
        if "teacher_logits" in rows[0]:
            logits, mask = _pad_words(rows, lengths, "teacher_logits", "teacher_mask")
            batch["teacher_word_logits"], batch["teacher_word_mask"] = logits, mask
        if "teacher_weight" in rows[0]:
            batch["teacher_word_weight"] = _pad_values(
                rows, "teacher_weight", words.shape[1], 0.0, torch.float32
            )
        if "tags" in rows[0]:
            batch["word_labels"] = _pad_values(rows, "tags", words.shape[1], -100, torch.long)
        if "src_tokens" in rows[0]:
            batch.update(self._source(rows))
        return batch

    def _source(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Tensor]:
        sentences = [list(r["src_tokens"]) for r in rows]
        enc = encode_words(self.tokenizer, sentences, self.max_length, self.prefix)
        out = {SRC + k: v for k, v in enc.items()}
        out[SRC + "word_mask"] = _word_mask(sentences)
        if "teacher_src_logits" in rows[0]:
            lengths = [len(s) for s in sentences]
            logits, mask = _pad_words(rows, lengths, "teacher_src_logits", "teacher_src_mask")
            out["teacher_src_word_logits"], out["teacher_src_word_mask"] = logits, mask
        return out


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
        # Macro-F1 over tags (classes absent from both sides left out): an all-"O" tagger agrees on
        # most words of NER text, but scores low here. Against the teacher's tags (the student's
        # selection, no gold read) and against gold tags (the fine-tunes on the source language).
        classes = int(model.config.num_labels)  # type: ignore[union-attr, arg-type]
        self.val_agreement_f1 = MulticlassF1Score(num_classes=classes, average="macro")
        self.val_f1 = MulticlassF1Score(num_classes=classes, average="macro")
        # What the active terms read: the source words go through the student only for back.
        self._required = frozenset(getattr(loss, "required_keys", ()))

    def word_logits(self, batch: Mapping[str, Tensor], side: str = "") -> tuple[Tensor, Tensor]:
        """The student's ``(B, W, C)`` word logits and ``(B, W)`` mask of the words it sees, on the
        target words (``side=""``) or the source words (``side="src_"``)."""
        names = ("input_ids", "attention_mask", "token_type_ids")
        inputs = {k: batch[side + k] for k in names if side + k in batch}
        logits = self.model(**inputs).logits  # (B, T, C)
        words = batch[side + "word_mask"]
        rows, seen = pool_words(logits, batch[side + "word_index"], words.shape[1], self.pooling)
        return rows, seen & words

    def loss_rows(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """The batch as the loss terms read it: the student's ``(N, C)`` word rows and, as the
        batch has them, the teacher's rows with ``teacher_mask`` ``(N,)`` (words both have) and
        ``teacher_weight`` ``(N,)``, or the gold ``labels`` ``(N,)`` (``-100`` where the student
        sees no word); with the source words and an active ``back`` term, ``student_src_logits``,
        ``teacher_src_logits`` ``(M, C)`` and ``teacher_src_mask`` ``(M,)`` (see :data:`MASK_KEYS`)."""
        student, seen = self.word_logits(batch)
        classes = student.shape[-1]
        rows = {"student_tgt_logits": student.reshape(-1, classes), "seen": seen.flatten()}
        if "teacher_word_logits" in batch:
            rows["teacher_logits"] = batch["teacher_word_logits"].reshape(-1, classes)
            rows["teacher_mask"] = (seen & batch["teacher_word_mask"]).flatten()
        if "teacher_word_weight" in batch:  # kd's per-row weights (alignment confidence)
            rows["teacher_weight"] = batch["teacher_word_weight"].flatten()
        if "word_labels" in batch:
            rows["labels"] = torch.where(seen, batch["word_labels"], -100).flatten()
        if "teacher_src_word_logits" in batch and "student_src_logits" in self._required:
            # back: the student on the source words against the teacher's own (unprojected) rows
            src, src_seen = self.word_logits(batch, SRC)
            rows["student_src_logits"] = src.reshape(-1, classes)  # (B * Ws, C)
            rows["teacher_src_logits"] = batch["teacher_src_word_logits"].reshape(-1, classes)
            rows["teacher_src_mask"] = (src_seen & batch["teacher_src_word_mask"]).flatten()
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
                teacher = rows["teacher_logits"].argmax(-1)
                agree = (pred == teacher)[mask]
                self.log(
                    "val/agreement",
                    agree.float().mean() if agree.numel() else 0.0,
                    batch_size=n,
                    prog_bar=True,
                )
                if mask.any():
                    self.val_agreement_f1.update(pred[mask], teacher[mask])
                    self.log("val/agreement_f1", self.val_agreement_f1, batch_size=n)
            if "labels" in rows:  # gold labels: the teacher's own (source-language) fine-tuning
                keep = rows["labels"] != -100
                acc = (pred == rows["labels"])[keep]
                self.log("val/acc", acc.float().mean() if acc.numel() else 0.0, batch_size=n, prog_bar=True)
                if keep.any():
                    self.val_f1.update(pred[keep], rows["labels"][keep])
                    self.log("val/f1", self.val_f1, batch_size=n)
        return result.total  # type: ignore[no-any-return]

    def on_fit_start(self) -> None:
        self.model.train()  # from_pretrained returns eval mode; Lightning keeps what it finds
