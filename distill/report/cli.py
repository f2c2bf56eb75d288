"""``distill-report PATH...``: one table and plots from the ``metrics.json`` of many runs.

Runs are found under the given paths (a run folder, a multirun folder, a study's ``runs/``, or
``metrics.json`` files). Rows of the same system, language and split are pooled over seeds:

- ``report.md``: systems x languages, mean +- standard deviation over seeds (percentage points),
  the number of seeds, the best non-reference system per column in bold, the mean over the target
  languages; then, per target language, a paired bootstrap 95% confidence interval of the student
  minus each baseline (examples resampled, the same resample for both systems, averaged over the
  seeds both have), from the runs' ``predictions.parquet``;
- ``accuracy.png``: per-language bars with error bars (seed std) for every system;
- ``reliability.png``: reliability diagrams (accuracy per confidence bin) of the student and the
  teacher;
- ``confusions.png`` and the ``Error analysis`` section of ``report.md``: per-language confusion
  matrices of the student, its most confused label pairs, and the test examples (by index) where it
  disagrees with the teacher on the source side (:mod:`distill.report.errors`);
- ``embeddings.png``: a 2-D PCA projection of the student's sentence embeddings of parallel test
  pairs, coloured by language (from ``embeddings.parquet``);
- the ``Calibration per language`` and ``Worst-language gap`` sections of ``report.md``: the
  students' label-free temperatures and ECE before/after, and each system's best minus worst
  target-language accuracy with a bootstrap interval (:mod:`distill.report.fairness`);
- ``summary.json``: the pooled numbers, for other tools.

A student row is named after how it was made (``student (kd+back+cycle R=2)``, from the run's
``run.variant``) when the runs hold several kinds of student. Systems trained once for all seeds
(the teacher has its own fixed seed) show a standard deviation of 0 over the seeds: the spread is
that of the students.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from distill.errors import DistillError
from distill.report.bootstrap import DEFAULT_BASELINES, compare
from distill.report.errors import errors_markdown, errors_summary, language_errors, plot_confusions
from distill.report.fairness import calibration_table, fairness_markdown, language_gaps
from distill.report.plots import plot_bars, plot_embeddings, plot_reliability
from distill.report.study import load_runs, pool
from distill.report.tables import report_markdown, summary
from distill.utils.atomic import write_text_atomic


def write_report(
    paths: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    metric: str = "accuracy",
    split: str = "test",
    baselines: Sequence[str] = DEFAULT_BASELINES,
    n_resamples: int = 1000,
    plots: bool = True,
) -> Path:
    """Read the runs under ``paths``; write ``report.md``, ``summary.json`` and the plots into ``out``."""
    out = Path(out)
    runs = load_runs(paths)
    pooled = pool(runs, metric)
    comparisons = compare(pooled, baselines, n_resamples, split) if metric == "accuracy" else []
    errors = language_errors(pooled, split)
    written: list[Path] = []
    if plots:
        import matplotlib

        matplotlib.use("Agg")
        written.append(plot_bars(pooled, out / "accuracy.png", split))
        for maybe in (
            plot_reliability(pooled, out / "reliability.png", split),
            plot_embeddings(pooled, out / "embeddings.png"),
            plot_confusions(errors, out / "confusions.png"),
        ):
            if maybe is not None:
                written.append(maybe)
    numbers = summary(pooled, comparisons, out, split)
    calibration = calibration_table(pooled)
    gaps = language_gaps(pooled, split) if metric == "accuracy" else {}
    if calibration:
        numbers["calibration"] = calibration
    if gaps:
        numbers["language_gap"] = gaps
    if errors:
        numbers["errors"] = errors_summary(errors)
    write_text_atomic(out / "summary.json", json.dumps(numbers, indent=2) + "\n")
    report = out / "report.md"
    text = report_markdown(pooled, comparisons, [str(p) for p in written], split)
    fairness = fairness_markdown(calibration, gaps)
    if fairness:
        text = text.rstrip("\n") + "\n\n" + fairness
    if errors:
        text = text.rstrip("\n") + "\n\n" + errors_markdown(errors, split)
    write_text_atomic(report, text)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """``distill-report``: see the module docstring."""
    parser = argparse.ArgumentParser(prog="distill-report", description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", help="run folders, multirun folders or metrics.json files")
    parser.add_argument("--out", default="report", help="output folder (default: ./report)")
    parser.add_argument("--metric", default="accuracy", help="score to tabulate (default: accuracy)")
    parser.add_argument("--split", default="test")
    parser.add_argument(
        "--baseline",
        action="append",
        default=None,
        help=f"system the student is compared with (repeatable; default: {', '.join(DEFAULT_BASELINES)})",
    )
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (default 1000)")
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        report = write_report(
            args.paths,
            args.out,
            metric=args.metric,
            split=args.split,
            baselines=tuple(args.baseline or DEFAULT_BASELINES),
            n_resamples=args.bootstrap,
            plots=not args.no_plots,
        )
    except DistillError as e:
        if os.environ.get("DISTILL_DEBUG", "") not in ("", "0"):
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(report.read_text(encoding="utf-8"))
    print(f"wrote {report}")
    return 0


def _entry() -> None:
    sys.exit(main())
