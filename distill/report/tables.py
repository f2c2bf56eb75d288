"""``report.md`` and ``summary.json`` of ``distill-report``: the pooled table and the comparisons."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from distill.report.bootstrap import Comparison
from distill.report.study import Pooled, Run, lang_mean, stage_seconds

#: Systems that are references, not competitors: never marked best in a column.
REFERENCES = ("teacher", "teacher_translate_test", "supervised")


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _best_by_column(pooled: Pooled, langs: Sequence[str], split: str) -> dict[str, float]:
    best: dict[str, float] = {}
    for lang in langs:
        scores = [
            c.mean
            for n in pooled.names
            if pooled.system_of[n] not in REFERENCES and (c := pooled.cell(n, lang, split)) is not None
        ]
        if scores:
            best[lang] = max(scores) if pooled.metric != "mse" and pooled.metric != "ece" else min(scores)
    return best


def table_markdown(pooled: Pooled, split: str = "test") -> str:
    """Systems x languages: ``mean +- std`` (percentage points) with the number of seeds."""
    langs = [*pooled.source_langs, *pooled.target_langs]
    best = _best_by_column(pooled, langs, split)
    header = [
        "system",
        *(f"{lang} (source)" if lang in pooled.source_langs and "(" not in lang else lang for lang in langs),
    ]
    means = {"target mean": pooled.target_langs}
    if len(pooled.source_langs) > 1:
        means = {"source mean": pooled.source_langs, **means}
    header.extend(means)
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for name in pooled.names:
        cells = []
        for lang in langs:
            c = pooled.cell(name, lang, split)
            if c is None:
                cells.append("–")
                continue
            text = f"{_pct(c.mean)} ± {_pct(c.std)} ({c.seeds})"
            if lang in best and math.isclose(c.mean, best[lang]) and pooled.system_of[name] not in REFERENCES:
                text = f"**{text}**"
            cells.append(text)
        for group in means.values():
            m = lang_mean(pooled, name, group, split)
            cells.append("–" if m is None else f"{_pct(m[0])} ± {_pct(m[1])} ({m[2]})")
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def comparisons_markdown(comparisons: Sequence[Comparison]) -> str:
    """The paired bootstrap table: student minus baseline per language, with its 95% interval."""
    if not comparisons:
        return "_No per-example predictions (predictions.parquet) to compare systems on._"
    lines = [
        "| language | student | minus | difference | 95% CI | seeds | n |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for c in comparisons:
        sign = "" if c.low <= 0 <= c.high else " *"
        lines.append(
            f"| {c.lang} | `{c.student}` | `{c.baseline}` | {100 * c.diff:+.1f}{sign} | "
            f"[{100 * c.low:+.1f}, {100 * c.high:+.1f}] | {c.seeds} | {c.n} |"
        )
    return "\n".join(lines)


def conflicts_markdown(pooled: Pooled) -> str:
    """The rows runs of one seed scored differently (:class:`~distill.report.study.Conflict`), runs
    named relative to the folder that holds them all."""
    base = os.path.commonpath([str(r.path.parent) for r in pooled.runs])

    def name(run: Run) -> str:
        return Path(os.path.relpath(run.path.parent, base)).as_posix()

    lines = [
        "| system | language | seed | kept | from | other | from |",
        "|---|---|---:|---:|---|---:|---|",
    ]
    for c in pooled.conflicts:
        lines.append(
            f"| `{c.name}` | {c.lang} | {c.seed} | {_pct(c.kept)} | {name(c.kept_run)} | "
            f"{_pct(c.other)} | {name(c.other_run)} |"
        )
    return "\n".join(lines)


def _wall_time(runs: Sequence[Run]) -> float:
    return float(sum(sum(stage_seconds(r).values()) for r in runs))


def compute_markdown(runs: Sequence[Run]) -> str:
    """What the runs cost, per experiment: runs, total and mean minutes, mean seconds per stage.

    The times are each run's stage times (``timings.json``): a study's budget, measured. Runs
    without them count in ``runs`` and are named in the ``timed`` column's shortfall."""
    by_exp: dict[str, list[dict[str, float]]] = {}
    counts: dict[str, int] = {}
    for r in runs:
        counts[r.experiment] = counts.get(r.experiment, 0) + 1
        if seconds := stage_seconds(r):
            by_exp.setdefault(r.experiment, []).append(seconds)
    # In the order the runs record them (the pipeline's).
    stages = list(dict.fromkeys(s for timed in by_exp.values() for t in timed for s in t))
    head = ["experiment", "runs", "timed", "total min", "mean min/run", *(f"{s} s" for s in stages)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" + "---:|" * (len(head) - 1)]
    for exp in sorted(counts):
        timed = by_exp.get(exp, [])
        total = sum(sum(t.values()) for t in timed)
        cells = [f"`{exp}`", str(counts[exp]), str(len(timed))]
        if timed:
            cells += [f"{total / 60:.1f}", f"{total / 60 / len(timed):.1f}"]
            cells += [f"{sum(t.get(s, 0.0) for t in timed) / len(timed):.0f}" for s in stages]
        else:
            cells += ["–"] * (2 + len(stages))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report_markdown(
    pooled: Pooled, comparisons: Sequence[Comparison], plots: Sequence[str], split: str = "test"
) -> str:
    """The whole ``report.md``."""
    seeds = sorted({r.seed for r in pooled.runs})
    parts = [
        f"# Results: {pooled.metric} over {len(pooled.runs)} runs",
        "",
        f"Split `{split}`. Each cell: mean ± standard deviation over seeds, in percentage points, "
        f"(number of seeds). Seeds: {', '.join(map(str, seeds))}. Bold: the best system per column, "
        f"references ({', '.join(f'`{r}`' for r in REFERENCES)}) left out. `target mean`: the mean over "
        f"the target languages ({', '.join(pooled.target_langs)}) of each seed's scores.",
        "",
        table_markdown(pooled, split),
        "",
        "## Student minus baseline (paired bootstrap)",
        "",
        "Accuracy difference in points, averaged over the seeds both systems have (a system trained "
        "once is paired with every student seed); 95% percentile interval from resampling the test "
        "examples (the same resample for both systems). `*`: the interval excludes 0.",
        "",
        comparisons_markdown(comparisons),
        "",
        "## Compute",
        "",
        "Each run's stage times (`timings.json`), per experiment; the mean per stage is over the timed "
        "runs. Shared work (a teacher or direct-transfer model trained once, soft labels computed "
        "once) counts in the run that paid for it.",
        "",
        compute_markdown(pooled.runs),
        "",
        f"Total wall time of the runs (sum of their stage times): {_wall_time(pooled.runs) / 60:.1f} min.",
    ]
    if pooled.conflicts:
        parts += [
            "",
            "## Rows that differ between runs of one seed",
            "",
            "A system's row counts once per seed, from the first run (in path order) that has it. These "
            "later runs of the same seed scored it differently (shared work refitted between them, e.g. a "
            "teacher or its soft labels after a cache was rebuilt): the tables above keep the first "
            "run's score; the paired bootstrap pairs each student with its own run's row where it has one.",
            "",
            conflicts_markdown(pooled),
        ]
    if plots:
        parts += ["", "## Plots", "", *(f"![{Path(p).stem}]({Path(p).name})" for p in plots)]
    return "\n".join(parts) + "\n"


def summary(
    pooled: Pooled, comparisons: Sequence[Comparison], folder: Path, split: str = "test"
) -> dict[str, Any]:
    """The pooled numbers as JSON-ready data, for ``summary.json`` in ``folder``.

    ``runs`` names each run's ``metrics.json`` relative to ``folder``, so that a committed report
    does not name the machine it was made on; so do ``conflicts``' runs.
    """
    base = folder.resolve()

    def rel(run: Run) -> str:
        return Path(os.path.relpath(run.path, base)).as_posix()

    rows = []
    for (name, lang, sp), c in sorted(pooled.cells.items()):
        if sp != split:
            continue
        rows.append(
            {
                "name": name,
                "system": pooled.system_of[name],
                # The teacher the row depends on (null for the systems that do not depend on one).
                "teacher": pooled.teacher_of.get(name),
                "lang": lang,
                "mean": round(c.mean, 6),
                "std": round(c.std, 6),
                "seeds": c.seeds,
                "scores": {str(k): v for k, v in sorted(c.scores.items())},
            }
        )
    return {
        "metric": pooled.metric,
        "split": split,
        "runs": [rel(r) for r in pooled.runs],
        "cells": rows,
        **{
            key: {
                n: {"mean": round(m[0], 6), "std": round(m[1], 6), "seeds": m[2]}
                for n in pooled.names
                if (m := lang_mean(pooled, n, langs, split)) is not None
            }
            for key, langs in (("target_mean", pooled.target_langs), ("source_mean", pooled.source_langs))
        },
        "comparisons": [c.__dict__ for c in comparisons],
        "conflicts": [
            {
                "name": c.name,
                "lang": c.lang,
                "split": c.split,
                "seed": c.seed,
                "kept": c.kept,
                "kept_run": rel(c.kept_run),
                "other": c.other,
                "other_run": rel(c.other_run),
            }
            for c in pooled.conflicts
        ],
    }
