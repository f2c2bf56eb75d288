"""One run's results: :class:`MetricsReport`, ``metrics.json`` and ``results.md``.

A run directory gets two files (DESIGN.md section 6, names in :mod:`distill.report.contract`):

- ``metrics.json``: ``{"task", "source_lang", "target_langs", "results": [rows]}`` where each row is
  ``{"system", "lang", "split", "accuracy", "macro_f1", "ece", "n"}`` (+ ``"agreement"`` where
  known), plus the derived top-level extras ``"transfer_gap"`` and ``"agreement"``;
- ``results.md``: the same as tables, systems as rows and languages as columns, with the transfer
  gap, the teacher agreement and a legend.

Example:
    >>> report = MetricsReport(source_lang="en", target_langs=["it"])
    >>> _ = report.add_predictions("student", "it", "test", logits, labels, teacher_logits=t_logits)
    >>> report.write(run_dir)  # metrics.json + results.md
    >>> print(format_table(report))  # distill.report.terminal
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from distill.errors import DistillError
from distill.report.contract import (
    CONTRACT_KEYS,
    DERIVED_KEYS,
    EMBEDDINGS_FILE,
    METRICS,
    PREDICTIONS_FILE,
    RETRIEVAL_HITS_FILE,
    SYSTEMS,
    TIMING_KEYS,
    TIMINGS_FILE,
    contract_problem,
    row_problem,
    task_metrics,
    task_scores,
)
from distill.report.files import write_predictions, write_retrieval_hits, write_table_atomic
from distill.report.metrics import (
    ArrayLike,
    agreement,
    classification_metrics,
    prediction_outcomes,
    round_score,
)
from distill.utils.atomic import write_text_atomic

# The target row that the teacher's source score is compared to: the teacher reading target text.
_TEACHER_TARGET_SYSTEM = "teacher_zero_shot"


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
    #: Per-pair translation retrieval, ``(system, lang, split)`` ->
    #: :func:`~distill.report.metrics.retrieval_outcomes` arrays in pair order; written to
    #: ``retrieval_hits.parquet`` (what a study resamples).
    retrieval: dict[tuple[str, str, str], dict[str, np.ndarray]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def add(
        self,
        system: str,
        lang: str,
        split: str,
        metrics: Mapping[str, Any],
        *,
        agreement: float | None = None,
    ) -> dict[str, Any]:
        """Add one row; ``metrics`` holds the task's scores (``accuracy``, ``macro_f1``, ``ece``
        for classification) or another set of them (:data:`~distill.report.contract.ALTERNATIVE_SCORES`),
        and ``n``.

        Raises:
            DistillError: For an unknown system, a malformed value or a duplicate
                ``(system, lang, split)``.
        """
        row: dict[str, Any] = {"system": system, "lang": lang, "split": split}
        row.update({k: metrics[k] for k in (*task_scores(self.task), "n") if k in metrics})
        if agreement is not None:
            row["agreement"] = float(agreement)
        problem = row_problem(row, self.task)
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
        self.predictions[(system, lang, split)] = prediction_outcomes(logits, labels)
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
                if target is not None and metric in source and metric in target:
                    gaps.setdefault(system, {})[lang] = round_score(source[metric] - target[metric])
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
        if self.retrieval:
            write_retrieval_hits(self.retrieval, run_dir / RETRIEVAL_HITS_FILE)
        return self.write_json(run_dir / "metrics.json"), self.write_markdown(run_dir / "results.md")


def report_from_rows(
    rows: Iterable[Mapping[str, Any]],
    source_lang: str,
    target_langs: Sequence[str],
    task: str = "classification",
) -> MetricsReport:
    """Build a :class:`MetricsReport` from plain result rows (validated like :meth:`MetricsReport.add`)."""
    report = MetricsReport(source_lang=source_lang, target_langs=list(target_langs), task=task)
    for row in rows:
        problem = row_problem(row, task)
        if problem:
            raise DistillError(f"bad result row {dict(row)}: {problem}")
        metrics = {k: row[k] for k in (*task_scores(task), "n") if k in row}
        report.add(row["system"], row["lang"], row["split"], metrics, agreement=row.get("agreement"))
    return report


# ----------------------------------------------------------------------------- reading back


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
    problem = contract_problem(data)
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


def format_signed(x: float) -> str:
    """A signed score with 3 decimals (``+0.125``), as the transfer gap tables show it."""
    return f"{x:+.3f}"


def _md_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _md_cell(row: dict[str, Any] | None, metrics: Sequence[str] = METRICS) -> str:
    """``**head** / rest (n)`` of the scores among ``metrics`` that the row carries."""
    if row is None:
        return "–"
    head, *rest = (m for m in metrics if m in row)
    return "".join([f"**{row[head]:.3f}**", *(f" / {row[m]:.3f}" for m in rest), f" ({row['n']})"])


#: The baselines :func:`gain_sentences` compares the student with, in this order.
GAIN_BASELINES = ("teacher_zero_shot", "direct_transfer", "tfidf_student", "supervised")


def gain_sentences(report: MetricsReport, split: str | None = None) -> list[str]:
    """One sentence per target language: the student's accuracy against each baseline it has there.

    E.g. "it: the student's accuracy 0.608 is +0.440 over teacher_zero_shot, +0.014 over
    direct_transfer, -0.035 under tfidf_student; 89.7% of teacher_translate_test." Empty for tasks
    without an ``accuracy`` score or runs without a student row.
    """
    split = split or report.primary_split()
    if "accuracy" not in report.metrics:
        return []
    out = []
    for lang in report.target_langs:
        student = report.get("student", lang, split)
        if student is None:
            continue
        acc = float(student["accuracy"])
        parts = []
        for name in GAIN_BASELINES:
            row = report.get(name, lang, split)
            if row is not None:
                diff = acc - float(row["accuracy"])
                parts.append(f"{format_signed(diff)} {'over' if diff >= 0 else 'under'} {name}")
        sentence = f"{lang}: the student's accuracy {acc:.3f} is " + (", ".join(parts) or "alone")
        ceiling = report.get("teacher_translate_test", lang, split)
        if ceiling is not None and float(ceiling["accuracy"]) > 0:
            sentence += f"; {100 * acc / float(ceiling['accuracy']):.1f}% of teacher_translate_test"
        out.append(sentence + ".")
    return out


#: Where the embedding task's guard sends the reader.
GUARD_README = "experiments/embedding_transfer/README.md"


def accuracy_at_1(row: Mapping[str, Any] | None) -> float | None:
    """Translation retrieval accuracy@1 of an embedding row, the mean of its two directions."""
    if row is None or "retrieval_tgt2src" not in row:
        return None
    return (float(row["retrieval_tgt2src"]) + float(row["retrieval_src2tgt"])) / 2


def retrieval_guard(report: MetricsReport, split: str = "validation") -> dict[str, Any] | None:
    """The distilled student's translation retrieval against the untrained student's on ``split``.

    Each system's score is accuracy@1, the mean of the two directions, averaged over the target
    languages where both systems have a row. ``None`` without such a language (another task, or no
    ``split`` rows).

    Returns:
        ``{"split", "langs", "student", "student_untrained", "worse"}``; ``worse``: the distilled
        student retrieves worse than the encoder it started from.
    """
    langs, student, untrained = [], [], []
    for lang in report.target_langs:
        s, u = (accuracy_at_1(report.get(system, lang, split)) for system in ("student", "student_untrained"))
        if s is not None and u is not None:
            langs.append(lang)
            student.append(s)
            untrained.append(u)
    if not langs:
        return None
    mean_student, mean_untrained = (round_score(float(np.mean(x))) for x in (student, untrained))
    return {
        "split": split,
        "langs": langs,
        "student": mean_student,
        "student_untrained": mean_untrained,
        "worse": mean_student < mean_untrained,
    }


def guard_sentence(report: MetricsReport) -> str | None:
    """One line when distillation made the student retrieve worse on validation (:func:`retrieval_guard`),
    else ``None``: the terminal summary and ``results.md`` both print it."""
    guard = retrieval_guard(report)
    if guard is None or not guard["worse"]:
        return None
    return (
        f"warning: the distilled student retrieves worse than the untrained student on {guard['split']} "
        f"({guard['student']:.3f} vs {guard['student_untrained']:.3f} accuracy@1, mean over "
        f"{', '.join(guard['langs'])}): distilling toward this teacher made the encoder worse; "
        f"see {GUARD_README}"
    )


def _score_lines(report: MetricsReport, split: str) -> list[str]:
    langs = [lang for lang in report.languages if any(report.get(s, lang, split) for s in report.systems)]
    header = ["system", *(_lang_header(report, lang) for lang in langs)]
    body = [
        [
            f"`{system}`",
            *(_md_cell(report.get(system, lang, split), task_scores(report.task)) for lang in langs),
        ]
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
        [f"`{system}`", *(format_signed(g[lang]) if lang in g else "–" for lang in targets)]
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
        "embedding": "Each cell: **retrieval accuracy target->source** (accuracy@1) / source->target / "
        "mean reciprocal rank target->source / source->target / MSE to the teacher's source embedding "
        "(n pairs). Source-language column: the Spearman correlation of the pairwise cosine "
        "similarities of its test sentences with the teacher's (n sentences).",
        "token_classification": "Each cell: **F1** (entity-level, seqeval, for BIO tags; macro-F1 over the "
        "tags for UPOS) / token accuracy / token-level ECE (n sentences).",
    }
    lines: list[str] = [legend.get(report.task, "")]
    for split in report.splits:
        lines += ["", f"Split `{split}`:", "", *_score_lines(report, split)]
    return "\n".join(lines) + "\n"


#: What each checkpoint-selection rule (``selection`` in metrics.json) reads.
SELECTION_RULES = {
    "teacher_agreement": "agreement with the teacher on the held-out target-side validation pairs "
    "(no target-language gold label read before evaluation)",
    "target_dev": "accuracy on the target-language gold validation labels (selection=target_dev: "
    "these results used target labels)",
    "teacher_loss": "the loss to the teacher's outputs on the held-out validation pairs (no labels)",
}


def _calibration_lines(report: MetricsReport) -> list[str]:
    found = report.extras.get("calibration") or {}
    if not found:
        return []
    rows = [
        (lang, f"{c['temperature']:.3f}", str(c["n_fit"]), f"{c['ece']:.3f}", f"{c['ece_calibrated']:.3f}")
        for lang, c in found.items()
    ]
    return [
        "",
        "## Calibration",
        "",
        "The student's logits divided by a temperature fitted per language to the teacher's outputs on",
        "the held-out validation pairs (cross-entropy to the teacher; no gold label), and the test ECE",
        "(15 bins) before and after.",
        "",
        *_md_table(("lang", "temperature", "fitted on", "ECE", "ECE calibrated"), rows),
    ]


def _language_gap_lines(report: MetricsReport) -> list[str]:
    found = report.extras.get("language_gap") or {}
    if not found:
        return []
    rows = [
        (
            f"`{system}`",
            f"{g['best']['lang']} {g['best']['accuracy']:.3f}",
            f"{g['worst']['lang']} {g['worst']['accuracy']:.3f}",
            f"{g['gap']:.3f} [{g['low']:.3f}, {g['high']:.3f}]",
        )
        for system, g in found.items()
    ]
    return [
        "",
        "## Worst-language gap",
        "",
        "Best minus worst target-language test accuracy, with a 95% bootstrap interval (each",
        "language's examples resampled on their own).",
        "",
        *_md_table(("system", "best", "worst", "gap [95% CI]"), rows),
    ]


def _selection_lines(report: MetricsReport) -> list[str]:
    rule = report.extras.get("selection")
    if rule is None:
        return []
    return ["", f"The student's checkpoint was selected on {SELECTION_RULES.get(str(rule), str(rule))}."]


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
        *(["", *(f"- {line}" for line in gains)] if (gains := gain_sentences(report)) else []),
        *(["", f"**{warning}**"] if (warning := guard_sentence(report)) else []),
        "",
        "## Transfer gap",
        "",
        f"Source-language ({report.source_lang}) {report.metrics[0]} minus target-language "
        f"{report.metrics[0]}, split `{split}`;",
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
        *_calibration_lines(report),
        *_language_gap_lines(report),
        "",
        "## Systems",
        "",
        *(f"- `{name}`: {meaning}." for name, meaning in SYSTEMS.items() if name in report.systems),
        *_selection_lines(report),
        "",
        "ECE: expected calibration error, 15 equal-width bins (lower is better). Macro-F1 averages over",
        "the classes present in the gold labels or the predictions.",
    ]
    return "\n".join(lines) + "\n"
