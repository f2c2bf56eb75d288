"""Per-language evaluation: metrics from logits, the ``metrics.json`` contract and ``results.md``.

Everything here is a pure function of arrays or of a :class:`MetricsReport`; the pipeline computes
the logits (:func:`distill.models.classifier.predict_logits`) and hands them over. A run directory
gets two files (DESIGN.md section 6):

- ``metrics.json``: ``{"task", "source_lang", "target_langs", "results": [rows]}`` where each row is
  ``{"system", "lang", "split", "accuracy", "macro_f1", "ece", "n"}`` (+ ``"agreement"`` where
  known), plus the derived top-level extras ``"transfer_gap"`` and ``"agreement"``;
- ``results.md``: the same as tables, systems as rows and languages as columns, with the transfer
  gap, the teacher agreement and a legend.

Example:
    >>> report = MetricsReport(source_lang="en", target_langs=["it"])
    >>> _ = report.add_predictions("student", "it", "test", logits, labels, teacher_logits=t_logits)
    >>> report.write(run_dir)  # metrics.json + results.md
    >>> print(format_table(report))
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from distill.errors import DistillError
from distill.utils.atomic import atomic_file, write_text_atomic

#: The allowed ``system`` names, in the order tables list them, with what each one means.
SYSTEMS: dict[str, str] = {
    "student": "the distilled student, reading the language of the column",
    "teacher": "the teacher on its own (source) language: the score the student tries to carry over",
    "teacher_zero_shot": "the teacher applied to the target text as is",
    "teacher_translate_test": "the teacher on the source side (or on MT into the source) of the target test",
    "direct_transfer": "a multilingual model fine-tuned on source labels, applied to the target",
    "student_no_kd": "the student architecture trained without distillation (ablation)",
    "student_untrained": "the student before distillation (embedding task baseline)",
    "supervised": "upper bound: trained on gold labels in the target language",
}
METRICS = ("accuracy", "macro_f1", "ece")
ROW_KEYS = ("system", "lang", "split", *METRICS, "n")
#: The scores every row of a task carries (the first one is the headline number).
METRICS_BY_TASK = {
    "classification": METRICS,
    "embedding": ("retrieval_tgt2src", "retrieval_src2tgt", "mse"),
}
#: Scores that are not fractions in [0, 1].
UNBOUNDED = ("mse",)


def task_metrics(task: str) -> tuple[str, ...]:
    """The score names of a task's rows.

    Raises:
        DistillError: An unknown task.
    """
    if task not in METRICS_BY_TASK:
        raise DistillError(f"unknown task {task!r}", fix=f"use task= one of {', '.join(METRICS_BY_TASK)}")
    return METRICS_BY_TASK[task]


CONTRACT_KEYS = ("task", "source_lang", "target_langs", "results")
#: Top-level keys recomputed from the rows on every write, so they never go stale.
DERIVED_KEYS = ("transfer_gap", "agreement")
ECE_BINS = 15
# The target row that the teacher's source score is compared to: the teacher reading target text.
_TEACHER_TARGET_SYSTEM = "teacher_zero_shot"

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
    return {"accuracy": _round(acc), "macro_f1": _round(f1), "ece": _round(ece), "n": int(n)}


def _round(x: Tensor | float) -> float:
    return round(float(x), 6)


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
    return _round((s.argmax(dim=-1) == t.argmax(dim=-1)).double().mean())


def _is_number(x: Any) -> bool:
    # bool is an int subclass, but `true` is not a score.
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _row_problem(row: Mapping[str, Any], task: str = "classification") -> str | None:
    """What is wrong with a result row, or ``None``."""
    metrics = task_metrics(task)
    missing = [k for k in ("system", "lang", "split", *metrics, "n") if k not in row]
    if missing:
        return f"missing keys {missing}"
    if row["system"] not in SYSTEMS:
        return f"unknown system {row['system']!r} (known: {', '.join(SYSTEMS)})"
    for key in ("lang", "split"):
        if not isinstance(row[key], str) or not row[key]:
            return f"{key!r} must be a non-empty string, got {row[key]!r}"
    for key in (*metrics, *(("agreement",) if "agreement" in row else ())):
        if key in UNBOUNDED:
            if not _is_number(row[key]) or row[key] < 0:
                return f"{key!r} must be a number >= 0, got {row[key]!r}"
        elif not _is_number(row[key]) or not 0.0 <= row[key] <= 1.0:
            return f"{key!r} must be a number in [0, 1], got {row[key]!r}"
    if not isinstance(row["n"], int) or isinstance(row["n"], bool) or row["n"] < 1:
        return f"'n' must be a positive integer, got {row['n']!r}"
    return None


@dataclass
class MetricsReport:
    """The results of one run: rows of per-(system, language, split) metrics.

    Attributes:
        source_lang: The teacher's language.
        target_langs: The languages the student is meant for.
        task: Task name written to ``metrics.json``.
        results: Rows ``{"system", "lang", "split", "accuracy", "macro_f1", "ece", "n"}`` (+
            ``"agreement"``), in the order they were added.
        extras: Further top-level entries for ``metrics.json`` (may not shadow the contract keys or
            the derived ``transfer_gap`` / ``agreement``).
    """

    source_lang: str
    target_langs: list[str]
    task: str = "classification"
    results: list[dict[str, Any]] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)
    #: Per-example outcomes of the rows added from logits, ``(system, lang, split)`` ->
    #: ``{"gold", "pred", "confidence"}`` arrays in test order; written to ``predictions.parquet``
    #: (paired bootstrap intervals and reliability diagrams in ``distill-report``).
    predictions: dict[tuple[str, str, str], dict[str, np.ndarray]] = field(
        default_factory=dict, repr=False, compare=False
    )
    #: Student sentence embeddings of parallel test pairs, written to ``embeddings.parquet``:
    #: ``{"lang", "pair", "vector"}`` (the source side carries the source language's code).
    embeddings: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def add(
        self,
        system: str,
        lang: str,
        split: str,
        metrics: Mapping[str, Any],
        *,
        agreement: float | None = None,
    ) -> dict[str, Any]:
        """Add one row; ``metrics`` holds ``accuracy``, ``macro_f1``, ``ece`` and ``n``.

        Raises:
            DistillError: For an unknown system, a malformed value or a duplicate
                ``(system, lang, split)``.
        """
        row: dict[str, Any] = {"system": system, "lang": lang, "split": split}
        row.update({k: metrics[k] for k in (*self.metrics, "n") if k in metrics})
        if agreement is not None:
            row["agreement"] = float(agreement)
        problem = _row_problem(row, self.task)
        if problem:
            raise DistillError(f"bad result row {row}: {problem}")
        if self.get(system, lang, split) is not None:
            raise DistillError(f"duplicate result row for system={system} lang={lang} split={split}")
        self.results.append(row)
        return row

    def add_predictions(
        self,
        system: str,
        lang: str,
        split: str,
        logits: ArrayLike,
        labels: ArrayLike,
        *,
        teacher_logits: ArrayLike | None = None,
    ) -> dict[str, Any]:
        """Compute :func:`classification_metrics` (and :func:`agreement`) and add the row."""
        metrics = classification_metrics(logits, labels)
        agree = None if teacher_logits is None else agreement(logits, teacher_logits)
        row = self.add(system, lang, split, metrics, agreement=agree)
        probs = _check_logits(logits).softmax(dim=-1)  # (N, C)
        confidence, pred = probs.max(dim=-1)
        self.predictions[(system, lang, split)] = {
            "gold": _tensor(labels, torch.long).numpy().astype(np.int32),
            "pred": pred.numpy().astype(np.int32),
            "confidence": confidence.numpy().astype(np.float32),
        }
        return row

    def get(self, system: str, lang: str, split: str = "test") -> dict[str, Any] | None:
        """The row for ``(system, lang, split)``, or ``None``."""
        for row in self.results:
            if (row["system"], row["lang"], row["split"]) == (system, lang, split):
                return row
        return None

    @property
    def languages(self) -> list[str]:
        """Source, then targets, then any other language that has rows (table column order)."""
        langs = [self.source_lang, *self.target_langs, *(r["lang"] for r in self.results)]
        return list(dict.fromkeys(langs))

    @property
    def splits(self) -> list[str]:
        """The splits that have rows, ``test`` first."""
        seen = list(dict.fromkeys(r["split"] for r in self.results))
        return sorted(seen, key=lambda s: s != "test")

    @property
    def systems(self) -> list[str]:
        """The systems that have rows, in :data:`SYSTEMS` order (student first)."""
        present = {r["system"] for r in self.results}
        return [s for s in SYSTEMS if s in present]

    @property
    def metrics(self) -> tuple[str, ...]:
        """The score names of this report's task (the first is the headline)."""
        return task_metrics(self.task)

    def primary_split(self) -> str:
        """The split the summary numbers use: ``test`` when there is one."""
        return self.splits[0] if self.results else "test"

    def transfer_gap(
        self, metric: str | None = None, split: str | None = None
    ) -> dict[str, dict[str, float]]:
        """Source-language score minus target-language score, per system and target language.

        For a system with a row in the source language, its gap in language ``L`` is its source
        score minus its score in ``L``. The ``teacher`` key is the teacher's own transfer gap:
        ``teacher`` on the source language minus ``teacher_zero_shot`` on ``L``. Positive numbers
        mean the target language is worse.

        Args:
            metric: Defaults to the task's headline score (``accuracy`` for classification).
            split: Defaults to :meth:`primary_split`.

        Returns:
            ``{system: {lang: gap}}``, only for pairs where both rows exist.
        """
        split = split or self.primary_split()
        metric = metric or self.metrics[0]
        gaps: dict[str, dict[str, float]] = {}
        for system in self.systems:
            source = self.get(system, self.source_lang, split)
            if source is None:
                continue
            target_system = _TEACHER_TARGET_SYSTEM if system == "teacher" else system
            for lang in self.languages[1:]:
                target = self.get(target_system, lang, split)
                if target is not None:
                    gaps.setdefault(system, {})[lang] = _round(source[metric] - target[metric])
        return gaps

    def agreement_by_lang(self, system: str = "student", split: str | None = None) -> dict[str, float]:
        """``{lang: agreement}`` of ``system`` with the teacher, for rows that carry one."""
        split = split or self.primary_split()
        return {
            r["lang"]: r["agreement"]
            for r in self.results
            if r["system"] == system and r["split"] == split and "agreement" in r
        }

    def to_dict(self) -> dict[str, Any]:
        """The ``metrics.json`` object: the contract keys first, then the extras."""
        clash = [k for k in self.extras if k in CONTRACT_KEYS or k in DERIVED_KEYS]
        if clash:
            raise DistillError(f"metrics extras may not redefine {clash}")
        out: dict[str, Any] = {
            "task": self.task,
            "source_lang": self.source_lang,
            "target_langs": list(self.target_langs),
            "results": [dict(r) for r in self.results],
        }
        if gap := self.transfer_gap():
            out["transfer_gap"] = gap
        if agree := self.agreement_by_lang():
            out["agreement"] = agree
        out.update(self.extras)
        return out

    def write_json(self, path: str | os.PathLike[str]) -> Path:
        """Write ``metrics.json`` atomically (strict JSON: NaN is refused).

        The durations (:data:`TIMING_KEYS`) are left out: they go to ``timings.json``
        (:meth:`write`), so that a rerun of the same command and seed writes the same bytes.
        """
        path = Path(path)
        data = {k: v for k, v in self.to_dict().items() if k not in TIMING_KEYS}
        write_text_atomic(path, json.dumps(data, indent=2, allow_nan=False) + "\n")
        return path

    def write_timings(self, path: str | os.PathLike[str]) -> Path | None:
        """Write the durations among the extras to ``timings.json`` atomically (None: there are none)."""
        timings = {k: self.extras[k] for k in TIMING_KEYS if k in self.extras}
        if not timings:
            return None
        path = Path(path)
        write_text_atomic(path, json.dumps(timings, indent=2, allow_nan=False) + "\n")
        return path

    def write_markdown(self, path: str | os.PathLike[str]) -> Path:
        """Write ``results.md`` atomically."""
        path = Path(path)
        write_text_atomic(path, results_markdown(self))
        return path

    def write(self, run_dir: str | os.PathLike[str]) -> tuple[Path, Path]:
        """Write ``metrics.json`` and ``results.md`` into ``run_dir`` (and the per-example files, and
        ``timings.json`` with the stage times)."""
        run_dir = Path(run_dir)
        self.write_timings(run_dir / TIMINGS_FILE)
        if self.predictions:
            write_predictions(self.predictions, run_dir / PREDICTIONS_FILE)
        if self.embeddings:
            write_table_atomic(self.embeddings, run_dir / EMBEDDINGS_FILE)
        return self.write_json(run_dir / "metrics.json"), self.write_markdown(run_dir / "results.md")


PREDICTIONS_FILE = "predictions.parquet"
TIMINGS_FILE = "timings.json"
#: Extras that are durations: kept out of ``metrics.json``, written to ``timings.json``.
TIMING_KEYS = ("stage_seconds",)
EMBEDDINGS_FILE = "embeddings.parquet"


def write_table_atomic(columns: Mapping[str, Any], path: Path) -> None:
    """Write ``columns`` (equal-length lists or arrays) as a Parquet file, atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {k: list(v) if isinstance(v, np.ndarray) and v.ndim > 1 else v for k, v in columns.items()}
    )
    with atomic_file(path, "wb") as fh:
        pq.write_table(table, fh)


def write_predictions(
    predictions: Mapping[tuple[str, str, str], Mapping[str, np.ndarray]], path: Path
) -> None:
    """One row per (system, language, split, example): gold and predicted ids and the confidence."""
    columns: dict[str, list[Any]] = {k: [] for k in ("system", "lang", "split", "index", *PREDICTION_COLUMNS)}
    for (system, lang, split), arrays in predictions.items():
        n = len(arrays["gold"])
        columns["system"] += [system] * n
        columns["lang"] += [lang] * n
        columns["split"] += [split] * n
        columns["index"] += list(range(n))
        for k in PREDICTION_COLUMNS:
            columns[k] += np.asarray(arrays[k]).tolist()
    write_table_atomic(columns, path)


PREDICTION_COLUMNS = ("gold", "pred", "confidence")


def report_from_rows(
    rows: Iterable[Mapping[str, Any]],
    source_lang: str,
    target_langs: Sequence[str],
    task: str = "classification",
) -> MetricsReport:
    """Build a :class:`MetricsReport` from plain result rows (validated like :meth:`MetricsReport.add`)."""
    report = MetricsReport(source_lang=source_lang, target_langs=list(target_langs), task=task)
    for row in rows:
        problem = _row_problem(row, task)
        if problem:
            raise DistillError(f"bad result row {dict(row)}: {problem}")
        metrics = {k: row[k] for k in (*report.metrics, "n")}
        report.add(row["system"], row["lang"], row["split"], metrics, agreement=row.get("agreement"))
    return report


# ----------------------------------------------------------------------------- reading back


def _contract_problem(data: Any) -> str | None:
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
        problem = "not an object" if not isinstance(row, dict) else _row_problem(row, data["task"])
        if problem:
            return f"results[{i}]: {problem}"
    return None


def load_metrics(path: str | os.PathLike[str]) -> MetricsReport:
    """Read a ``metrics.json`` back into a :class:`MetricsReport`, checking the contract.

    The derived top-level keys (``transfer_gap``, ``agreement``) are dropped: they are recomputed
    from the rows. Any other extra key is kept in :attr:`MetricsReport.extras`.

    Raises:
        DistillError: Naming the file and the problem, when it is missing, not JSON, or does
            not follow the contract.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DistillError(f"{path}: no such metrics file", fix="run the evaluate stage first") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DistillError(f"{path}: not valid JSON ({exc})") from None
    problem = _contract_problem(data)
    if problem:
        raise DistillError(f"{path}: not a metrics.json of xlt-distill: {problem}")
    report = MetricsReport(
        source_lang=data["source_lang"], target_langs=data["target_langs"], task=data["task"]
    )
    seen: set[tuple[str, str, str]] = set()
    for row in data["results"]:
        key = (row["system"], row["lang"], row["split"])
        if key in seen:
            raise DistillError(
                f"{path}: duplicate result row for system={key[0]} lang={key[1]} split={key[2]}"
            )
        seen.add(key)
        report.results.append(dict(row))
    report.extras = {k: v for k, v in data.items() if k not in CONTRACT_KEYS and k not in DERIVED_KEYS}
    return report


# ----------------------------------------------------------------------------- rendering


def _lang_header(report: MetricsReport, lang: str) -> str:
    return f"{lang} (source)" if lang == report.source_lang else lang


def _signed(x: float) -> str:
    return f"{x:+.3f}"


def _md_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _md_cell(row: dict[str, Any] | None, metrics: Sequence[str] = METRICS) -> str:
    if row is None:
        return "–"
    head, *rest = metrics
    return f"**{row[head]:.3f}** / " + " / ".join(f"{row[m]:.3f}" for m in rest) + f" ({row['n']})"


def _score_lines(report: MetricsReport, split: str) -> list[str]:
    langs = [lang for lang in report.languages if any(report.get(s, lang, split) for s in report.systems)]
    header = ["system", *(_lang_header(report, lang) for lang in langs)]
    body = [
        [f"`{system}`", *(_md_cell(report.get(system, lang, split), report.metrics) for lang in langs)]
        for system in report.systems
        if any(report.get(system, lang, split) for lang in langs)
    ]
    return _md_table(header, body)


def _gap_lines(report: MetricsReport) -> list[str]:
    gaps = report.transfer_gap()
    targets = [lang for lang in report.languages[1:] if any(lang in g for g in gaps.values())]
    if not gaps or not targets:
        return ["No transfer gap: it needs a system scored on both the source and a target language."]
    body = [
        [f"`{system}`", *(_signed(g[lang]) if lang in g else "–" for lang in targets)]
        for system, g in gaps.items()
    ]
    return _md_table(["system", *targets], body)


def _agreement_lines(report: MetricsReport) -> list[str]:
    split = report.primary_split()
    per_system = {s: report.agreement_by_lang(s, split) for s in report.systems}
    per_system = {s: a for s, a in per_system.items() if a}
    if not per_system:
        return ["No teacher agreement was measured (it needs parallel pairs)."]
    langs = [lang for lang in report.languages if any(lang in a for a in per_system.values())]
    body = [
        [f"`{system}`", *(f"{a[lang]:.3f}" if lang in a else "–" for lang in langs)]
        for system, a in per_system.items()
    ]
    return _md_table(["system", *langs], body)


def _unlabelled_lines(report: MetricsReport) -> list[str]:
    unlabelled = report.extras.get("unlabelled_agreement") or {}
    if not unlabelled:
        return []
    body = [[lang, f"{v['agreement']:.3f}", str(v["n"])] for lang, v in unlabelled.items()]
    return [
        "",
        "Languages without labelled test data: the student's agreement with the teacher on held-out",
        "parallel pairs (the teacher reads the source side, the student the target side).",
        "",
        *_md_table(["lang", "agreement", "n"], body),
    ]


def metrics_markdown_tables(report: MetricsReport) -> str:
    """The score tables alone (one per split), as used in ``results.md`` and the model card."""
    legend = {
        "classification": "Each cell: **accuracy** / macro-F1 / ECE (n examples).",
        "embedding": "Each cell: **retrieval accuracy target->source** / source->target / MSE to the "
        "teacher's source embedding (n pairs).",
    }
    lines: list[str] = [legend.get(report.task, "")]
    for split in report.splits:
        lines += ["", f"Split `{split}`:", "", *_score_lines(report, split)]
    return "\n".join(lines) + "\n"


def results_markdown(report: MetricsReport) -> str:
    """``results.md``: scores with baselines, transfer gap, teacher agreement and a legend."""
    split = report.primary_split()
    targets = ", ".join(report.target_langs) or "none"
    lines = [
        f"# Results: {report.task}, {report.source_lang} -> {targets}",
        "",
        "## Scores",
        "",
        metrics_markdown_tables(report).rstrip("\n") if report.results else "No results were recorded.",
        "",
        "## Transfer gap",
        "",
        f"Source-language ({report.source_lang}) accuracy minus target-language accuracy, split `{split}`;",
        "positive means the target is worse. `teacher`: `teacher` on the source minus",
        "`teacher_zero_shot` on the target.",
        "",
        *_gap_lines(report),
        "",
        "## Teacher agreement",
        "",
        f"How often the system picks the teacher's label on parallel pairs, split `{split}`.",
        "",
        *_agreement_lines(report),
        *_unlabelled_lines(report),
        "",
        "## Systems",
        "",
        *(f"- `{name}`: {meaning}." for name, meaning in SYSTEMS.items() if name in report.systems),
        "",
        "ECE: expected calibration error, 15 equal-width bins (lower is better). Macro-F1 averages over",
        "the classes present in the gold labels or the predictions.",
    ]
    return "\n".join(lines) + "\n"


def _align(rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-align the first column and right-align the others."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]


def _terminal_block(report: MetricsReport, split: str) -> list[str]:
    langs = [lang for lang in report.languages if any(report.get(s, lang, split) for s in report.systems)]
    header = [f"[{split}] system"]
    for lang in langs:
        tag = f"{lang}*" if lang == report.source_lang else lang
        header += (
            [f"{tag} acc", "F1", "ECE"] if report.task == "classification" else [f"{tag} t2s", "s2t", "MSE"]
        )
    rows = [header]
    for system in report.systems:
        cells = [system]
        for lang in langs:
            row = report.get(system, lang, split)
            cells += [f"{row[m]:.3f}" for m in report.metrics] if row else ["-"] * len(report.metrics)
        if any(c != "-" for c in cells[1:]):
            rows.append(cells)
    return _align(rows)


def format_table(report: MetricsReport) -> str:
    """A plain-text, aligned summary for the terminal at the end of a run."""
    if not report.results:
        return "no results"
    lines: list[str] = []
    for split in report.splits:
        lines += [*_terminal_block(report, split), ""]
    legend = (
        "ECE lower is better"
        if report.task == "classification"
        else "t2s/s2t: translation retrieval accuracy; MSE to the teacher, lower is better"
    )
    lines.append(f"(* = source language; {legend}; split for the lines below: {report.primary_split()})")
    for system, gap in report.transfer_gap().items():
        values = ", ".join(f"{lang} {_signed(v)}" for lang, v in gap.items())
        lines.append(f"transfer gap (accuracy, {report.source_lang} minus target) {system}: {values}")
    if agree := report.agreement_by_lang():
        lines.append("teacher agreement (student): " + ", ".join(f"{k} {v:.3f}" for k, v in agree.items()))
    if unlabelled := report.extras.get("unlabelled_agreement"):
        values = ", ".join(f"{k} {v['agreement']:.3f} (n={v['n']})" for k, v in unlabelled.items())
        lines.append(f"teacher agreement on held-out unlabelled pairs (student): {values}")
    return "\n".join(lines)


def retrieval_metrics(
    src_emb: ArrayLike, tgt_emb: ArrayLike, teacher_src_emb: ArrayLike | None = None
) -> dict[str, Any]:
    """Translation retrieval between the embeddings of aligned pairs (row i of each is one pair).

    Returns:
        ``retrieval_tgt2src``: how often the nearest source sentence (cosine) of a target sentence
        is its translation; ``retrieval_src2tgt`` the other way; ``mse``: mean squared error of
        the target embeddings to the teacher's source embeddings (``teacher_src_emb``; to
        ``src_emb`` when not given); ``n``: pairs.
    """
    src = _tensor(src_emb, torch.float32)
    tgt = _tensor(tgt_emb, torch.float32)
    if src.ndim != 2 or src.shape != tgt.shape or len(src) == 0:
        raise DistillError(
            f"retrieval needs two (N, D) arrays of one shape, got {tuple(src.shape)}, {tuple(tgt.shape)}"
        )
    ref = src if teacher_src_emb is None else _tensor(teacher_src_emb, torch.float32)
    sim = torch.nn.functional.normalize(tgt, dim=1) @ torch.nn.functional.normalize(src, dim=1).T  # (N, N)
    gold = torch.arange(len(src))
    return {
        "retrieval_tgt2src": _round((sim.argmax(1) == gold).float().mean()),
        "retrieval_src2tgt": _round((sim.argmax(0) == gold).float().mean()),
        "mse": _round(((tgt - ref) ** 2).mean()) if ref.shape == tgt.shape else float("nan"),
        "n": len(src),
    }
