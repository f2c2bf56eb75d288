"""Results: per-prediction metrics, one run's ``metrics.json`` / ``results.md``, and ``distill-report``.

Two halves, one contract (:mod:`~distill.report.contract`: system and score names, row checks,
file names):

- **one run**: :mod:`~distill.report.metrics` (accuracy, macro-F1, ECE, teacher agreement,
  translation retrieval, English geometry agreement, from arrays),
  :mod:`~distill.report.run_report` (:class:`MetricsReport`, ``metrics.json`` and ``results.md``,
  :func:`load_metrics`), :mod:`~distill.report.files` (``predictions.parquet``,
  ``embeddings.parquet``, ``retrieval_hits.parquet``) and :mod:`~distill.report.terminal` (the
  table printed at the end of a run); the evaluate stage builds on these;
- **many runs** (``distill-report PATH...``): :mod:`~distill.report.study` (finding runs, pooling
  over seeds), :mod:`~distill.report.bootstrap` (paired bootstrap intervals),
  :mod:`~distill.report.tables` (``report.md``, ``summary.json``), :mod:`~distill.report.plots`
  and :mod:`~distill.report.cli` (the command line).

Example:
    >>> report = MetricsReport(source_lang="en", target_langs=["it"])
    >>> _ = report.add_predictions("student", "it", "test", logits, labels, teacher_logits=t_logits)
    >>> report.write(run_dir)  # metrics.json + results.md
    >>> print(format_table(report))
"""

from __future__ import annotations

from distill.report.bootstrap import BOOTSTRAP_SEED, DEFAULT_BASELINES, Comparison, compare, paired_bootstrap
from distill.report.cli import _entry, main, write_report
from distill.report.contract import (
    CONTRACT_KEYS,
    DERIVED_KEYS,
    EMBEDDINGS_FILE,
    METRICS,
    METRICS_BY_TASK,
    PREDICTION_COLUMNS,
    PREDICTIONS_FILE,
    RETRIEVAL_HITS_FILE,
    ROW_KEYS,
    SYSTEMS,
    TIMING_KEYS,
    TIMINGS_FILE,
    UNBOUNDED,
    contract_problem,
    register_task,
    row_problem,
    task_metrics,
    task_scores,
)
from distill.report.files import write_predictions, write_retrieval_hits, write_table_atomic
from distill.report.metrics import (
    ECE_BINS,
    ArrayLike,
    agreement,
    classification_metrics,
    geometry_spearman,
    prediction_outcomes,
    retrieval_metrics,
    retrieval_outcomes,
    retrieval_scores,
    round_score,
)
from distill.report.plots import pca_2d, plot_bars, plot_embeddings, plot_reliability, reliability_bins
from distill.report.run_report import (
    MetricsReport,
    format_signed,
    guard_sentence,
    load_metrics,
    metrics_markdown_tables,
    report_from_rows,
    results_markdown,
    retrieval_guard,
)
from distill.report.study import (
    Cell,
    Pooled,
    Run,
    find_metrics,
    lang_mean,
    load_runs,
    pool,
    run_names,
    stage_seconds,
)
from distill.report.tables import REFERENCES, comparisons_markdown, report_markdown, summary, table_markdown
from distill.report.terminal import format_table

__all__ = [
    "BOOTSTRAP_SEED",
    "CONTRACT_KEYS",
    "DEFAULT_BASELINES",
    "DERIVED_KEYS",
    "ECE_BINS",
    "EMBEDDINGS_FILE",
    "METRICS",
    "METRICS_BY_TASK",
    "PREDICTIONS_FILE",
    "PREDICTION_COLUMNS",
    "REFERENCES",
    "RETRIEVAL_HITS_FILE",
    "ROW_KEYS",
    "SYSTEMS",
    "TIMINGS_FILE",
    "TIMING_KEYS",
    "UNBOUNDED",
    "ArrayLike",
    "Cell",
    "Comparison",
    "MetricsReport",
    "Pooled",
    "Run",
    "_entry",
    "agreement",
    "classification_metrics",
    "compare",
    "comparisons_markdown",
    "contract_problem",
    "find_metrics",
    "format_signed",
    "format_table",
    "geometry_spearman",
    "guard_sentence",
    "lang_mean",
    "load_metrics",
    "load_runs",
    "main",
    "metrics_markdown_tables",
    "paired_bootstrap",
    "pca_2d",
    "plot_bars",
    "plot_embeddings",
    "plot_reliability",
    "pool",
    "prediction_outcomes",
    "register_task",
    "reliability_bins",
    "report_from_rows",
    "report_markdown",
    "results_markdown",
    "retrieval_guard",
    "retrieval_metrics",
    "retrieval_outcomes",
    "retrieval_scores",
    "round_score",
    "row_problem",
    "run_names",
    "stage_seconds",
    "summary",
    "table_markdown",
    "task_metrics",
    "task_scores",
    "write_predictions",
    "write_report",
    "write_retrieval_hits",
    "write_table_atomic",
]
