"""The plain-text, aligned summary of a :class:`~distill.report.run_report.MetricsReport` for the
terminal at the end of a run."""

from __future__ import annotations

from collections.abc import Sequence

from distill.report.run_report import MetricsReport, format_signed, gain_sentences

#: Column labels of a language's scores, by task (the first one carries the language); other tasks
#: show their score names.
_LABELS = {
    "classification": ("acc", "F1", "ECE"),
    "embedding": ("t2s", "s2t", "MSE"),
    "token_classification": ("F1", "tok", "ECE"),
}
_LEGENDS = {
    "token_classification": "F1: entity F1 (BIO) or macro-F1 over tags (UPOS); tok: token accuracy",
    "classification": "ECE lower is better",
    "embedding": "t2s/s2t: translation retrieval accuracy; MSE to the teacher, lower is better",
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
    header = [f"[{split}] system"]
    for lang in langs:
        tag = f"{lang}*" if lang == report.source_lang else lang
        labels = _LABELS.get(report.task, report.metrics)
        header += [f"{tag} {labels[0]}", *labels[1:]]
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
    if gains := gain_sentences(report):
        lines += [*gains, ""]
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
