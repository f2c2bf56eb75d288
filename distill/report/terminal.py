"""The plain-text, aligned summary of a :class:`~distill.report.run_report.MetricsReport` for the
terminal at the end of a run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from distill.report.contract import task_scores
from distill.report.run_report import MetricsReport, format_signed, gain_sentences, guard_sentence

#: Column labels of the scores (the first column of a language also carries the language); other
#: scores show their names.
_LABELS = {
    "accuracy": "acc",
    "macro_f1": "F1",
    "ece": "ECE",
    "f1": "F1",
    "token_accuracy": "tok",
    "retrieval_tgt2src": "t2s",
    "retrieval_src2tgt": "s2t",
    "mrr_tgt2src": "MRR t2s",
    "mrr_src2tgt": "MRR s2t",
    "mse": "MSE",
    "teacher_spearman": "rho",
}
_LEGENDS = {
    "token_classification": "F1: entity F1 (BIO) or macro-F1 over tags (UPOS); tok: token accuracy",
    "classification": "ECE lower is better",
    "embedding": "t2s/s2t: translation retrieval accuracy@1, MRR: mean reciprocal rank; MSE to the "
    "teacher, lower is better; rho: Spearman of the source sentences' pairwise similarities with the "
    "teacher's",
}


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
    # Per language, the scores its rows carry (the source language of an embedding run has others).
    scores = {
        lang: [m for m in task_scores(report.task) if any(m in r for r in _rows(report, lang, split))]
        for lang in langs
    }
    header = [f"[{split}] system"]
    for lang in langs:
        tag = f"{lang}*" if lang == report.source_lang else lang
        labels = [_LABELS.get(m, m) for m in scores[lang]]
        header += [f"{tag} {labels[0]}", *labels[1:]]
    rows = [header]
    for system in report.systems:
        cells = [system]
        for lang in langs:
            row = report.get(system, lang, split) or {}
            cells += [f"{row[m]:.3f}" if m in row else "-" for m in scores[lang]]
        if any(c != "-" for c in cells[1:]):
            rows.append(cells)
    return _align(rows)


def _rows(report: MetricsReport, lang: str, split: str) -> list[dict[str, Any]]:
    return [r for r in report.results if r["lang"] == lang and r["split"] == split]


def format_table(report: MetricsReport) -> str:
    """A plain-text, aligned summary for the terminal at the end of a run."""
    if not report.results:
        return "no results"
    lines: list[str] = []
    for split in report.splits:
        lines += [*_terminal_block(report, split), ""]
    if gains := gain_sentences(report):
        lines += [*gains, ""]
    if warning := guard_sentence(report):
        lines += [warning, ""]
    legend = _LEGENDS.get(report.task, "scores: " + ", ".join(report.metrics))
    lines.append(f"(* = source language; {legend}; split for the lines below: {report.primary_split()})")
    for system, gap in report.transfer_gap().items():
        values = ", ".join(f"{lang} {format_signed(v)}" for lang, v in gap.items())
        lines.append(
            f"transfer gap ({report.metrics[0]}, {report.source_lang} minus target) {system}: {values}"
        )
    if agree := report.agreement_by_lang():
        lines.append("teacher agreement (student): " + ", ".join(f"{k} {v:.3f}" for k, v in agree.items()))
    if unlabelled := report.extras.get("unlabelled_agreement"):
        values = ", ".join(f"{k} {v['agreement']:.3f} (n={v['n']})" for k, v in unlabelled.items())
        lines.append(f"teacher agreement on held-out unlabelled pairs (student): {values}")
    return "\n".join(lines)
