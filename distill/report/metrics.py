"""Per-prediction metrics: accuracy, macro-F1, ECE, teacher agreement, translation retrieval and the
agreement of two embeddings' geometry.

Everything here is a pure function of arrays; the evaluate stage computes the logits
(:func:`distill.models.classifier.predict_logits`) or embeddings and hands them over. Scores are
rounded to 6 decimals, as ``metrics.json`` stores them.

Example:
    >>> classification_metrics(logits, labels)
    {'accuracy': 0.8, 'macro_f1': 0.78, 'ece': 0.05, 'n': 120}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from distill.errors import DistillError

ECE_BINS = 15

ArrayLike = np.ndarray | Tensor | Sequence[Any]


def _tensor(x: ArrayLike, dtype: torch.dtype) -> Tensor:
    t = x.detach().cpu() if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x))
    return t.to(dtype)


def _check_logits(logits: ArrayLike, name: str = "logits") -> Tensor:
    t = _tensor(logits, torch.float64)
    if t.ndim != 2 or t.shape[0] == 0 or t.shape[1] < 2:
        raise DistillError(f"{name} must have shape (N, C) with N >= 1 and C >= 2, got {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise DistillError(f"{name} contain NaN or infinite values")
    return t


def classification_metrics(logits: ArrayLike, labels: ArrayLike) -> dict[str, Any]:
    """Accuracy, macro-F1 and expected calibration error of a classifier's logits.

    Computed with torchmetrics (``MulticlassAccuracy(average="micro")``,
    ``MulticlassF1Score(average="macro")``, ``MulticlassCalibrationError(n_bins=15, norm="l1")``).

    Macro-F1 is the mean per-class F1 over the classes that occur in the gold labels **or** in the
    predictions. A class that is neither gold nor predicted has no defined F1 (0/0) and is left out,
    so an evaluation set that happens to lack a label is not dragged down by it; a class that is
    predicted but never gold counts with F1 = 0, because those are real errors. This is what
    torchmetrics' ``average="macro"`` does (it gives zero weight to classes with
    ``tp + fp + fn == 0``) and what scikit-learn's ``f1_score(average="macro")`` does without
    ``labels=`` (it averages over the union of gold and predicted labels), so the two agree.

    ECE is computed on softmax probabilities that are always computed here: torchmetrics would
    only apply softmax when some value lies outside [0, 1], and logits that happen to lie inside
    would be taken as probabilities.

    Args:
        logits: Raw scores, shape ``(N, C)``.
        labels: Gold class ids in ``[0, C)``, shape ``(N,)``.

    Returns:
        ``{"accuracy": float, "macro_f1": float, "ece": float, "n": int}``, scores rounded to 6 decimals.

    Raises:
        DistillError: On empty input, mismatched shapes, non-finite logits or labels out of range.
    """
    from torchmetrics.classification import (
        MulticlassAccuracy,
        MulticlassCalibrationError,
        MulticlassF1Score,
    )

    scores = _check_logits(logits)
    gold = _tensor(labels, torch.long)
    n, num_classes = scores.shape
    if gold.shape != (n,):
        raise DistillError(f"labels must have shape ({n},) to match the logits, got {tuple(gold.shape)}")
    if int(gold.min()) < 0 or int(gold.max()) >= num_classes:
        raise DistillError(f"labels must lie in [0, {num_classes}), got values {sorted(set(gold.tolist()))}")
    probs = scores.softmax(dim=-1)  # (N, C)
    preds = probs.argmax(dim=-1)  # (N,)
    acc = MulticlassAccuracy(num_classes=num_classes, average="micro")(preds, gold)
    f1 = MulticlassF1Score(num_classes=num_classes, average="macro")(preds, gold)
    ece = MulticlassCalibrationError(num_classes=num_classes, n_bins=ECE_BINS, norm="l1")(probs.float(), gold)
    # torchmetrics works in float32: digits past the 6th are noise, and they would clutter metrics.json.
    return {"accuracy": round_score(acc), "macro_f1": round_score(f1), "ece": round_score(ece), "n": int(n)}


def round_score(x: Tensor | float) -> float:
    """A score as ``metrics.json`` stores it: a float rounded to 6 decimals."""
    return round(float(x), 6)


def prediction_outcomes(logits: ArrayLike, labels: ArrayLike) -> dict[str, np.ndarray]:
    """Per-example outcomes in test order: ``{"gold", "pred"}`` (int32) and ``"confidence"`` (float32).

    ``pred`` is the argmax of the softmax (first on ties) and ``confidence`` its probability; these
    are the columns of ``predictions.parquet``.
    """
    probs = _check_logits(logits).softmax(dim=-1)  # (N, C)
    confidence, pred = probs.max(dim=-1)
    return {
        "gold": _tensor(labels, torch.long).numpy().astype(np.int32),
        "pred": pred.numpy().astype(np.int32),
        "confidence": confidence.numpy().astype(np.float32),
    }


def agreement(student_logits: ArrayLike, teacher_logits: ArrayLike) -> float:
    """Fraction of rows where student and teacher pick the same label (argmax, first on ties).

    On parallel pairs (student reads the target side, teacher the source side) this measures how
    well the student reproduces the teacher's decisions, with no gold labels needed.

    Args:
        student_logits: Shape ``(N, C)``.
        teacher_logits: Shape ``(N, C)``, row ``i`` for the same example as the student's row ``i``.

    Returns:
        The agreement in ``[0, 1]``.
    """
    s = _check_logits(student_logits, "student logits")
    t = _check_logits(teacher_logits, "teacher logits")
    if s.shape != t.shape:
        raise DistillError(
            f"student logits {tuple(s.shape)} and teacher logits {tuple(t.shape)} differ in shape"
        )
    return round_score((s.argmax(dim=-1) == t.argmax(dim=-1)).double().mean())


def retrieval_outcomes(src_emb: ArrayLike, tgt_emb: ArrayLike) -> dict[str, np.ndarray]:
    """Per-pair translation retrieval between aligned embeddings (row i of each is one pair).

    Each target sentence is compared by cosine with every source sentence (and the other way
    round); the rank of its translation is 1 + the number of candidates strictly more similar, so a
    candidate tied with the translation (the same text embeds identically) does not push it down.

    Returns:
        ``hit_tgt2src`` / ``hit_src2tgt`` (bool): the translation ranks first; ``rr_tgt2src`` /
        ``rr_src2tgt`` (float32): the reciprocal of its rank; all in pair order, shape ``(N,)``.

    Raises:
        DistillError: The arrays are not two (N, D) arrays of one shape with N >= 1.
    """
    src = _tensor(src_emb, torch.float32)
    tgt = _tensor(tgt_emb, torch.float32)
    if src.ndim != 2 or src.shape != tgt.shape or len(src) == 0:
        raise DistillError(
            f"retrieval needs two (N, D) arrays of one shape, got {tuple(src.shape)}, {tuple(tgt.shape)}"
        )
    sim = torch.nn.functional.normalize(tgt, dim=1) @ torch.nn.functional.normalize(src, dim=1).T  # (N, N)
    gold = sim.diagonal().clone()  # (N,): target i against its own source i
    rank_t2s = (sim > gold[:, None]).sum(1) + 1  # row i: sources closer to target i than its own
    rank_s2t = (sim > gold[None, :]).sum(0) + 1  # column j: targets closer to source j than its own
    return {
        "hit_tgt2src": (rank_t2s == 1).numpy(),
        "hit_src2tgt": (rank_s2t == 1).numpy(),
        "rr_tgt2src": (1.0 / rank_t2s.double()).float().numpy(),
        "rr_src2tgt": (1.0 / rank_s2t.double()).float().numpy(),
    }


def retrieval_scores(outcomes: dict[str, np.ndarray]) -> dict[str, Any]:
    """Accuracy@1 and mean reciprocal rank in both directions from :func:`retrieval_outcomes`."""
    return {
        "retrieval_tgt2src": round_score(np.mean(outcomes["hit_tgt2src"])),
        "retrieval_src2tgt": round_score(np.mean(outcomes["hit_src2tgt"])),
        "mrr_tgt2src": round_score(np.mean(outcomes["rr_tgt2src"], dtype=np.float64)),
        "mrr_src2tgt": round_score(np.mean(outcomes["rr_src2tgt"], dtype=np.float64)),
        "n": len(outcomes["hit_tgt2src"]),
    }


def retrieval_metrics(
    src_emb: ArrayLike, tgt_emb: ArrayLike, teacher_src_emb: ArrayLike | None = None
) -> dict[str, Any]:
    """Translation retrieval between the embeddings of aligned pairs (row i of each is one pair).

    Returns:
        ``retrieval_tgt2src``: accuracy@1, how often the nearest source sentence (cosine) of a
        target sentence is its translation; ``retrieval_src2tgt`` the other way;
        ``mrr_tgt2src`` / ``mrr_src2tgt``: the mean reciprocal rank of the translation among all
        candidates (ties as in :func:`retrieval_outcomes`); ``mse``: mean squared error of the
        target embeddings to the teacher's source embeddings (``teacher_src_emb``; to ``src_emb``
        when not given); ``n``: pairs.
    """
    scores = retrieval_scores(retrieval_outcomes(src_emb, tgt_emb))
    tgt = _tensor(tgt_emb, torch.float32)
    ref = _tensor(src_emb if teacher_src_emb is None else teacher_src_emb, torch.float32)
    mse = round_score(((tgt - ref) ** 2).mean()) if ref.shape == tgt.shape else float("nan")
    return {**scores, "mse": mse}


def geometry_spearman(a: ArrayLike, b: ArrayLike) -> float:
    """How alike two embeddings of the same N sentences arrange them: the Spearman correlation of
    their pairwise cosine similarities (the N(N-1)/2 pairs i < j).

    1 means the same order of all pairs by similarity (whatever the widths or scales of the two
    spaces); 0 means no relation. The embedding task compares the student's English embeddings with
    the teacher's, to see whether distillation kept, or taught, the teacher's English geometry.

    Args:
        a: ``(N, D)`` embeddings.
        b: ``(N, E)`` embeddings of the same sentences, row for row.

    Returns:
        The correlation in [-1, 1], rounded to 6 decimals (NaN when either side's similarities are
        all equal).

    Raises:
        DistillError: Fewer than 3 sentences, or the row counts differ.
    """
    from scipy.stats import spearmanr

    x, y = _tensor(a, torch.float64), _tensor(b, torch.float64)
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y) or len(x) < 3:
        raise DistillError(
            f"geometry agreement needs two (N, D) arrays of N >= 3 rows each, got {tuple(x.shape)}, "
            f"{tuple(y.shape)}"
        )
    upper = torch.triu_indices(len(x), len(x), offset=1)  # (2, N(N-1)/2): the pairs i < j

    def similarities(e: Tensor) -> np.ndarray:
        e = torch.nn.functional.normalize(e, dim=1)
        return (e @ e.T)[upper[0], upper[1]].numpy()  # type: ignore[no-any-return]

    sx, sy = similarities(x), similarities(y)
    if np.ptp(sx) == 0 or np.ptp(sy) == 0:
        return float("nan")
    return round_score(float(spearmanr(sx, sy).statistic))
