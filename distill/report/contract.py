"""The ``metrics.json`` contract: system and score names, row and top-level checks, file names.

A run directory's ``metrics.json`` is ``{"task", "source_lang", "target_langs", "results": [rows]}``
where each row is ``{"system", "lang", "split", <the task's scores>, "n"}`` (+ ``"agreement"``
where known; some rows carry another set of the task's scores, :data:`ALTERNATIVE_SCORES`), plus
the derived top-level extras ``"transfer_gap"`` and ``"agreement"`` (DESIGN.md section 6).
Everything here is a name or a pure check; :mod:`distill.report.run_report` builds, writes and
reads the files.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from distill.errors import DistillError

#: The allowed ``system`` names, in the order tables list them, with what each one means.
SYSTEMS: dict[str, str] = {
    "student": "the distilled student, reading the language of the column",
    "teacher": "the teacher on its own (source) language: the score the student tries to carry over",
    "teacher_zero_shot": "the teacher applied to the target text as is",
    "teacher_translate_test": "the teacher on the source side (or on MT into the source) of the target test",
    "direct_transfer": "a multilingual model fine-tuned on source labels, applied to the target",
    "tfidf_student": "non-neural reference: character n-gram TF-IDF + logistic regression trained on "
    "the teacher's soft labels over the student's target training text",
    "student_no_kd": "the student architecture trained without distillation (ablation)",
    "student_untrained": "the student before distillation (embedding task baseline)",
    "supervised": "upper bound: trained on gold labels in the target language",
}
METRICS = ("accuracy", "macro_f1", "ece")
ROW_KEYS = ("system", "lang", "split", *METRICS, "n")
#: The scores every row of a task carries (the first one is the headline number).
METRICS_BY_TASK: dict[str, tuple[str, ...]] = {
    "classification": METRICS,
    "embedding": ("retrieval_tgt2src", "retrieval_src2tgt", "mrr_tgt2src", "mrr_src2tgt", "mse"),
}
#: Other sets of scores a task's row may carry instead of the task's scores (each checked the
#: same way). Embedding: the source-language row of the English geometry agreement
#: (:func:`~distill.report.metrics.geometry_spearman`), and the rows of runs written before the
#: mean reciprocal rank was recorded.
ALTERNATIVE_SCORES: dict[str, tuple[tuple[str, ...], ...]] = {
    "embedding": (("teacher_spearman",), ("retrieval_tgt2src", "retrieval_src2tgt", "mse")),
}
#: Scores that are not fractions in [0, 1].
UNBOUNDED = ("mse",)
#: Scores in [-1, 1]: correlations.
SIGNED = ("teacher_spearman",)
_UNBOUNDED_EXTRA: set[str] = set()


def register_task(task: str, scores: tuple[str, ...], unbounded: tuple[str, ...] = ()) -> None:
    """Add a task's score names (headline first) to the contract; ``unbounded``: those of them that
    are not fractions in [0, 1] (any number >= 0). A task module calls it once, when imported
    (docs/architecture.md, "Add a task").

    Raises:
        DistillError: The task is known with other scores, or ``unbounded`` names no score of it.
    """
    if not scores or METRICS_BY_TASK.get(task, scores) != tuple(scores):
        raise DistillError(
            f"task {task!r} is registered with the scores {METRICS_BY_TASK.get(task)}, not {scores}",
            fix="give each task one set of score names (headline first), or another task name",
        )
    if not set(unbounded) <= set(scores):
        raise DistillError(
            f"unbounded scores {unbounded} of task {task!r} are not among {scores}",
            fix="list in unbounded only score names of the task",
        )
    METRICS_BY_TASK[task] = tuple(scores)
    _UNBOUNDED_EXTRA.update(unbounded)


def task_metrics(task: str) -> tuple[str, ...]:
    """The score names of a task's rows.

    Raises:
        DistillError: An unknown task.
    """
    if task not in METRICS_BY_TASK:
        raise DistillError(f"unknown task {task!r}", fix=f"use task= one of {', '.join(METRICS_BY_TASK)}")
    return METRICS_BY_TASK[task]


def task_scores(task: str) -> tuple[str, ...]:
    """Every score name a row of the task may carry: its scores, then those of its other row sets."""
    names = [*task_metrics(task), *(m for group in ALTERNATIVE_SCORES.get(task, ()) for m in group)]
    return tuple(dict.fromkeys(names))


def row_scores(row: Mapping[str, Any], task: str) -> tuple[str, ...]:
    """The score set a row carries: the task's scores, else the first alternative set it holds
    whole (:data:`ALTERNATIVE_SCORES`), else the task's scores (then some are missing)."""
    for group in (task_metrics(task), *ALTERNATIVE_SCORES.get(task, ())):
        if all(k in row for k in group):
            return group
    return task_metrics(task)


CONTRACT_KEYS = ("task", "source_lang", "target_langs", "results")
#: Top-level keys recomputed from the rows on every write, so they never go stale.
DERIVED_KEYS = ("transfer_gap", "agreement")

PREDICTIONS_FILE = "predictions.parquet"
TIMINGS_FILE = "timings.json"
#: Extras that are durations: kept out of ``metrics.json``, written to ``timings.json``.
TIMING_KEYS = ("stage_seconds",)
EMBEDDINGS_FILE = "embeddings.parquet"
PREDICTION_COLUMNS = ("gold", "pred", "confidence")
#: Per-pair translation retrieval of the embedding task, one row per (system, lang, split, id):
#: what a study resamples for paired intervals (ids only, no text).
RETRIEVAL_HITS_FILE = "retrieval_hits.parquet"
RETRIEVAL_COLUMNS = ("hit_tgt2src", "hit_src2tgt", "rr_tgt2src", "rr_src2tgt")


def _is_number(x: Any) -> bool:
    # bool is an int subclass, but `true` is not a score.
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _score_problem(key: str, value: Any) -> str | None:
    """What is wrong with one score of a row: a fraction in [0, 1], unless it is a correlation
    (:data:`SIGNED`, in [-1, 1]) or unbounded (any number >= 0)."""
    if key in SIGNED:
        if not _is_number(value) or not -1.0 <= value <= 1.0:
            return f"{key!r} must be a number in [-1, 1], got {value!r}"
    elif key in UNBOUNDED or key in _UNBOUNDED_EXTRA:
        if not _is_number(value) or value < 0:
            return f"{key!r} must be a number >= 0, got {value!r}"
    elif not _is_number(value) or not 0.0 <= value <= 1.0:
        return f"{key!r} must be a number in [0, 1], got {value!r}"
    return None


def row_problem(row: Mapping[str, Any], task: str = "classification") -> str | None:
    """What is wrong with a result row, or ``None``."""
    metrics = row_scores(row, task)
    missing = [k for k in ("system", "lang", "split", *metrics, "n") if k not in row]
    if missing:
        return f"missing keys {missing}"
    if row["system"] not in SYSTEMS:
        return f"unknown system {row['system']!r} (known: {', '.join(SYSTEMS)})"
    for key in ("lang", "split"):
        if not isinstance(row[key], str) or not row[key]:
            return f"{key!r} must be a non-empty string, got {row[key]!r}"
    for key in (*metrics, *(("agreement",) if "agreement" in row else ())):
        if problem := _score_problem(key, row[key]):
            return problem
    if not isinstance(row["n"], int) or isinstance(row["n"], bool) or row["n"] < 1:
        return f"'n' must be a positive integer, got {row['n']!r}"
    return None


def contract_problem(data: Any) -> str | None:
    """What is wrong with a parsed ``metrics.json``, or ``None``."""
    if not isinstance(data, dict):
        return f"the top level must be an object, got {type(data).__name__}"
    missing = [k for k in CONTRACT_KEYS if k not in data]
    if missing:
        return f"missing top-level keys {missing}"
    if not isinstance(data["task"], str) or not isinstance(data["source_lang"], str):
        return "'task' and 'source_lang' must be strings"
    langs = data["target_langs"]
    if not isinstance(langs, list) or not all(isinstance(x, str) for x in langs):
        return "'target_langs' must be a list of strings"
    if not isinstance(data["results"], list):
        return "'results' must be a list"
    if data["task"] not in METRICS_BY_TASK:
        return f"unknown task {data['task']!r}"
    for i, row in enumerate(data["results"]):
        problem = "not an object" if not isinstance(row, dict) else row_problem(row, data["task"])
        if problem:
            return f"results[{i}]: {problem}"
    return None
