"""Error analysis for ``distill-report``: per-language confusion matrices of the student, the label
pairs it confuses most, and the test examples where it disagrees with the teacher.

Everything comes from the runs' ``predictions.parquet`` (gold and predicted label ids per example)
and the label names in each run's ``teacher.json``. Examples are named by their index in the test
split, never by their text (a committed report holds no corpus text).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from distill.report.plots import save_figure
from distill.report.study import Pooled, Run

#: The teacher's predictions on the same test examples: on their source side (or its MT).
TEACHER = "teacher_translate_test"


def label_names(run: Run) -> list[str] | None:
    """The run's label names in id order (its ``teacher.json``), or ``None``."""
    try:
        labels = json.loads((run.path.parent / "teacher.json").read_text(encoding="utf-8")).get("labels")
    except (OSError, ValueError, AttributeError):
        return None
    return [str(x) for x in labels] if isinstance(labels, list) else None


@dataclass
class LanguageErrors:
    """One student name on one target language, pooled over its runs (seeds)."""

    name: str
    lang: str
    labels: list[str]
    #: ``confusion[gold, pred]``: counts summed over the runs.
    confusion: np.ndarray
    #: Per run (seed): test indices where the student and the teacher pick different labels.
    disagreements: dict[int, list[int]] = field(default_factory=dict)
    #: Examples scored per run with the teacher's prediction beside the student's.
    compared: int = 0

    def most_confused(self, k: int = 5) -> list[tuple[str, str, int]]:
        """The ``k`` largest off-diagonal cells: ``(gold label, predicted label, count)``."""
        off = self.confusion.copy()
        np.fill_diagonal(off, 0)
        order = np.argsort(off, axis=None)[::-1][:k]
        cells = [np.unravel_index(i, off.shape) for i in order]
        return [(self.labels[g], self.labels[p], int(off[g, p])) for g, p in cells if off[g, p] > 0]


def language_errors(pooled: Pooled, split: str = "test") -> list[LanguageErrors]:
    """Every student name x target language with predictions (and label names) on ``split``."""
    out: list[LanguageErrors] = []
    for name in (n for n in pooled.names if pooled.system_of[n] == "student"):
        for lang in pooled.target_langs:
            cell = pooled.cell(name, lang, split)
            if cell is None:
                continue
            found = _pooled(name, lang, split, cell.runs)
            if found is not None:
                out.append(found)
    return out


def _pooled(name: str, lang: str, split: str, runs: dict[int, Run]) -> LanguageErrors | None:
    result: LanguageErrors | None = None
    for seed, run in runs.items():
        labels = label_names(run)
        student = run.predictions().get(("student", lang, split))
        if labels is None or student is None:
            continue
        if result is None:
            n = len(labels)
            result = LanguageErrors(name, lang, labels, np.zeros((n, n), dtype=np.int64))
        if labels != result.labels:
            continue  # another label set: not pooled
        gold, pred = student["gold"].astype(int), student["pred"].astype(int)
        known = (gold >= 0) & (gold < len(labels)) & (pred < len(labels))
        np.add.at(result.confusion, (gold[known], pred[known]), 1)
        teacher = run.predictions().get((TEACHER, lang, split))
        if teacher is not None and len(teacher["pred"]) == len(pred):
            result.disagreements[seed] = [int(i) for i in np.nonzero(teacher["pred"] != pred)[0]]
            result.compared += len(pred)
    return result


def errors_markdown(errors: list[LanguageErrors], split: str = "test", k: int = 5, examples: int = 10) -> str:
    """The ``## Error analysis`` section of ``report.md``."""
    if not errors:
        return ""
    lines = [
        "## Error analysis",
        "",
        f"Split `{split}`, summed over seeds. Most confused: the largest off-diagonal cells of the",
        "student's confusion matrix (gold -> predicted). Disagreements: test examples (by index in the",
        f"split) where the student and the teacher on the source side (`{TEACHER}`) differ.",
        "",
        "| student | lang | most confused (gold -> predicted: count) | disagreements with the teacher |",
        "|---|---|---|---|",
    ]
    for e in errors:
        confused = "; ".join(f"{g} -> {p}: {n}" for g, p, n in e.most_confused(k)) or "none"
        total = sum(len(v) for v in e.disagreements.values())
        if e.compared:
            first_seed = min(e.disagreements)
            shown = ", ".join(str(i) for i in e.disagreements[first_seed][:examples])
            more = f"; seed {first_seed}: {shown}" if shown else ""
            agree = f"{total} of {e.compared} ({100 * total / e.compared:.1f}%){more}"
        else:
            agree = "no teacher predictions on these examples"
        lines.append(f"| `{e.name}` | {e.lang} | {confused} | {agree} |")
    return "\n".join(lines) + "\n"


def errors_summary(errors: list[LanguageErrors], k: int = 5) -> list[dict[str, Any]]:
    """The same for ``summary.json``: the matrices, the most confused pairs, the disagreements."""
    return [
        {
            "student": e.name,
            "lang": e.lang,
            "labels": e.labels,
            "confusion": e.confusion.tolist(),
            "most_confused": [{"gold": g, "pred": p, "count": n} for g, p, n in e.most_confused(k)],
            "disagreements": {str(s): v for s, v in e.disagreements.items()},
        }
        for e in errors
    ]


def plot_confusions(errors: list[LanguageErrors], path: Path, max_panels: int = 12) -> Path | None:
    """Row-normalised confusion matrices, one panel per student name x language."""
    import matplotlib.pyplot as plt

    shown = errors[:max_panels]
    if not shown:
        return None
    cols = min(3, len(shown))
    rows = -(-len(shown) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 4.0 * rows), squeeze=False)
    for ax in axes.flat[len(shown) :]:
        ax.axis("off")
    for ax, e in zip(axes.flat, shown, strict=False):
        totals = e.confusion.sum(axis=1, keepdims=True)
        ax.imshow(e.confusion / np.maximum(totals, 1), vmin=0, vmax=1, cmap="Blues")
        ticks = range(len(e.labels))
        ax.set_xticks(list(ticks), e.labels, rotation=90, fontsize=5)
        ax.set_yticks(list(ticks), e.labels, fontsize=5)
        ax.set_title(f"{e.name}, {e.lang}", fontsize=8)
        ax.set_xlabel("predicted", fontsize=7)
        ax.set_ylabel("gold", fontsize=7)
    save_figure(fig, path)
    plt.close(fig)
    return path
