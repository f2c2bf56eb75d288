"""Metrics of token-level tasks: token accuracy, and entity-level precision, recall and F1 per type
and overall with ``seqeval`` (CoNLL evaluation, strict IOB2) for the ``bio`` scheme.

Example::

    token_metrics([["B-PER", "O"]], [["B-PER", "O"]], "bio")["f1"]     # 1.0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def token_metrics(
    gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], scheme: str
) -> dict[str, Any]:
    """Token accuracy, and for ``bio`` seqeval's entity precision/recall/F1 (micro) and per type."""
    if len(gold) != len(pred) or any(len(g) != len(p) for g, p in zip(gold, pred, strict=True)):
        raise ValueError("gold and predicted tag sequences differ in shape")
    n = sum(len(g) for g in gold)
    right = sum(a == b for g, p in zip(gold, pred, strict=True) for a, b in zip(g, p, strict=True))
    out: dict[str, Any] = {"token_accuracy": right / n if n else 0.0, "n_words": n, "n": len(gold)}
    if scheme == "bio":
        from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
        from seqeval.scheme import IOB2

        kwargs: dict[str, Any] = {"mode": "strict", "scheme": IOB2, "zero_division": 0}
        g, p = [list(x) for x in gold], [list(x) for x in pred]
        out["precision"] = float(precision_score(g, p, **kwargs))
        out["recall"] = float(recall_score(g, p, **kwargs))
        out["f1"] = float(f1_score(g, p, **kwargs))
        report = classification_report(g, p, output_dict=True, **kwargs)
        out["per_type"] = {
            name: {
                "precision": float(r["precision"]),
                "recall": float(r["recall"]),
                "f1": float(r["f1-score"]),
                "support": int(r["support"]),
            }
            for name, r in report.items()
            if not name.endswith(" avg")
        }
    return out


def _entities(tags: Sequence[str]) -> set[tuple[str, int, int]]:
    from seqeval.scheme import IOB2, Entities

    return {e.to_tuple()[1:] for e in Entities([list(tags)], IOB2).entities[0]}


def sentence_counts(
    gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], scheme: str
) -> dict[str, list[int]]:
    """Per sentence: ``words``, ``correct`` (token accuracy's parts) and for ``bio`` the entity counts
    ``tp``, ``n_pred``, ``n_gold`` (seqeval's strict IOB2 entities). Sums over any resample of the
    sentences give that resample's token accuracy and micro F1 (:func:`scores_from_counts`): the
    bootstrap of a study draws sentences, and these counts hold no word of the text."""
    out: dict[str, list[int]] = {"words": [], "correct": []}
    if scheme == "bio":
        out |= {"tp": [], "n_pred": [], "n_gold": []}
    for g, p in zip(gold, pred, strict=True):
        out["words"].append(len(g))
        out["correct"].append(sum(a == b for a, b in zip(g, p, strict=True)))
        if scheme == "bio":
            eg, ep = _entities(g), _entities(p)
            out["tp"].append(len(eg & ep))
            out["n_pred"].append(len(ep))
            out["n_gold"].append(len(eg))
    return out


def scores_from_counts(counts: dict[str, Any]) -> dict[str, float]:
    """Token accuracy and (where the counts have entities) micro F1 from summed sentence counts."""
    import numpy as np

    total = {k: float(np.sum(v)) for k, v in counts.items()}
    out = {"token_accuracy": total["correct"] / total["words"] if total["words"] else 0.0}
    if "tp" in total:
        denominator = total["n_pred"] + total["n_gold"]
        out["f1"] = 2 * total["tp"] / denominator if denominator else 0.0
    return out
