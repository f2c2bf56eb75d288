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
- ``embeddings.png``: a 2-D PCA projection of the student's sentence embeddings of parallel test
  pairs, coloured by language (from ``embeddings.parquet``);
- ``summary.json``: the pooled numbers, for other tools.

A student row is named after how it was made (``student (kd+back+cycle R=2)``, from the run's
``run.variant``) when the runs hold several kinds of student. Systems trained once for all seeds
(the teacher has its own fixed seed) show a standard deviation of 0 over the seeds: the spread is
that of the students.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import math
import os
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from distill.errors import DistillError
from distill.evaluate import (
    EMBEDDINGS_FILE,
    PREDICTIONS_FILE,
    SYSTEMS,
    TIMINGS_FILE,
    MetricsReport,
    load_metrics,
)
from distill.utils.atomic import atomic_file, write_text_atomic

log = logging.getLogger(__name__)

#: Systems that are references, not competitors: never marked best in a column.
REFERENCES = ("teacher", "teacher_translate_test", "supervised")
#: Baselines the student is compared with by default in the bootstrap table.
DEFAULT_BASELINES = ("direct_transfer", "teacher_translate_test", "teacher_zero_shot")
BOOTSTRAP_SEED = 0


@dataclass
class Run:
    """One run's results: where they are, what made them and its per-example predictions."""

    path: Path
    report: MetricsReport
    seed: int
    variant: str
    experiment: str
    teacher: str
    _predictions: dict[tuple[str, str, str], dict[str, np.ndarray]] | None = field(
        default=None, repr=False, compare=False
    )

    def predictions(self) -> dict[tuple[str, str, str], dict[str, np.ndarray]]:
        """``(system, lang, split) -> {"gold", "pred", "confidence"}`` from ``predictions.parquet``.

        Read once per run; later calls (bootstrap, reliability diagrams) reuse it.
        """
        if self._predictions is None:
            self._predictions = self._read_predictions()
        return self._predictions

    def correct(self, system: str, lang: str, split: str) -> np.ndarray | None:
        """1.0 where ``system`` got the example right, 0.0 where not; ``None`` without predictions."""
        p = self.predictions().get((system, lang, split))
        return None if p is None else (p["pred"] == p["gold"]).astype(float)

    def _read_predictions(self) -> dict[tuple[str, str, str], dict[str, np.ndarray]]:
        file = self.path.parent / PREDICTIONS_FILE
        if not file.is_file():
            return {}
        import pyarrow.parquet as pq

        table = pq.read_table(file).to_pydict()
        out: dict[tuple[str, str, str], dict[str, list[Any]]] = defaultdict(
            lambda: {"index": [], "gold": [], "pred": [], "confidence": []}
        )
        for i in range(len(table["system"])):
            rows = out[(table["system"][i], table["lang"][i], table["split"][i])]
            for k in rows:
                rows[k].append(table[k][i])
        result = {}
        for key, rows in out.items():
            order = np.argsort(rows["index"])
            result[key] = {k: np.asarray(rows[k])[order] for k in ("gold", "pred", "confidence")}
        return result

    def embeddings(self) -> dict[str, Any] | None:
        """``{"lang": [...], "vector": (N, H)}`` from ``embeddings.parquet``, or ``None``."""
        file = self.path.parent / EMBEDDINGS_FILE
        if not file.is_file():
            return None
        import pyarrow.parquet as pq

        table = pq.read_table(file).to_pydict()
        return {"lang": table["lang"], "vector": np.asarray(table["vector"], dtype=np.float32)}


def find_metrics(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Every ``metrics.json`` under ``paths`` (files are taken as they are), sorted, no repeats.

    Raises:
        DistillError: A path does not exist, or none holds a ``metrics.json``.
    """
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_file():
            found.append(p)
        elif p.is_dir():
            found.extend(sorted(p.rglob("metrics.json")))
        else:
            raise DistillError(f"{p}: no such file or folder", fix="give run folders or metrics.json files")
    unique = sorted(dict.fromkeys(f.resolve() for f in found))
    if not unique:
        raise DistillError(
            f"no metrics.json under {', '.join(map(str, paths))}",
            fix="point distill-report at run folders (outputs/<date>/<time>, multirun/<date>/<time>)",
        )
    return unique


def _seed_from_config(run_dir: Path) -> int | None:
    config = run_dir / "config.yaml"
    if not config.is_file():
        return None
    import yaml

    try:
        data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError:
        return None
    seed = data.get("seed") if isinstance(data, dict) else None
    return int(seed) if isinstance(seed, int) else None


def load_runs(paths: Iterable[str | os.PathLike[str]]) -> list[Run]:
    """Read every run under ``paths`` (see :func:`find_metrics`)."""
    runs = []
    for i, file in enumerate(find_metrics(paths)):
        report = load_metrics(file)
        info = report.extras.get("run") or {}
        seed = info.get("seed", _seed_from_config(file.parent))
        runs.append(
            Run(
                path=file,
                report=report,
                # A run that does not say its seed counts as a seed of its own.
                seed=int(seed) if seed is not None else -(i + 1),
                variant=str(info.get("variant") or info.get("experiment") or "student"),
                experiment=str(info.get("experiment") or ""),
                teacher=str(info.get("teacher") or ""),
            )
        )
    return runs


# --------------------------------------------------------------------------------------- pooling


@dataclass
class Cell:
    """One (system, language, split) pooled over seeds: the seed -> score map and where each came from."""

    scores: dict[int, float] = field(default_factory=dict)
    runs: dict[int, Run] = field(default_factory=dict)
    n_examples: int = 0

    @property
    def mean(self) -> float:
        return float(np.mean(list(self.scores.values())))

    @property
    def std(self) -> float:
        values = list(self.scores.values())
        return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0

    @property
    def seeds(self) -> int:
        return len(self.scores)


def _names(runs: Sequence[Run]) -> dict[tuple[int, str], str]:
    """The table name of each (run, system): student rows by variant, teacher rows by teacher."""
    variants = {r.variant for r in runs}
    teachers_of: dict[str, set[str]] = defaultdict(set)
    for r in runs:
        for row in r.report.results:
            teachers_of[row["system"]].add(r.teacher)
    names = {}
    for i, r in enumerate(runs):
        for system in {row["system"] for row in r.report.results}:
            name = system
            if system == "student" and len(variants) > 1:
                name = f"student ({r.variant})"
            elif system != "student" and len(teachers_of[system]) > 1 and system.startswith("teacher"):
                name = f"{system} ({r.teacher})"
            names[(i, system)] = name
    return names


@dataclass
class Pooled:
    """All runs pooled: ``cells[(name, lang, split)]`` and the table order of names and languages."""

    runs: list[Run]
    metric: str
    cells: dict[tuple[str, str, str], Cell]
    names: list[str]
    source_langs: list[str]
    target_langs: list[str]
    #: Table name -> system name (``student (kd)`` -> ``student``).
    system_of: dict[str, str]

    def cell(self, name: str, lang: str, split: str = "test") -> Cell | None:
        return self.cells.get((name, lang, split))


def _system_rank(system: str) -> int:
    order = list(SYSTEMS)
    return order.index(system) if system in order else len(order)


def pool(runs: Sequence[Run], metric: str = "accuracy") -> Pooled:
    """Pool the runs' rows by (name, language, split); one score per seed (the first run wins).

    Raises:
        DistillError: No run has rows with ``metric``.
    """
    names = _names(runs)
    cells: dict[tuple[str, str, str], Cell] = defaultdict(Cell)
    system_of: dict[str, str] = {}
    sources: list[str] = []
    targets: list[str] = []
    # Runs for different target languages may test the source language on different texts (the
    # topics each target aligns): then each run's source column is its own, "en (it)".
    per_target = len({tuple(r.report.target_langs) for r in runs}) > 1
    for i, r in enumerate(runs):
        source = r.report.source_lang
        if per_target:
            source = f"{source} ({'+'.join(r.report.target_langs)})"
        sources.append(source)
        targets.extend(r.report.target_langs)
        for row in r.report.results:
            if metric not in row:
                continue
            name = names[(i, row["system"])]
            system_of[name] = row["system"]
            lang = source if row["lang"] == r.report.source_lang else row["lang"]
            cell = cells[(name, lang, row["split"])]
            if r.seed not in cell.scores:  # a baseline shared by several runs of a seed counts once
                cell.scores[r.seed] = float(row[metric])
                cell.runs[r.seed] = r
                cell.n_examples = max(cell.n_examples, int(row.get("n", 0)))
    if not cells:
        raise DistillError(f"no result rows with {metric!r} in {len(runs)} run(s)", fix="choose --metric")
    ordered = sorted(system_of, key=lambda n: (_system_rank(system_of[n]), n))
    source_langs = list(dict.fromkeys(sources))
    target_langs = [
        t
        for t in dict.fromkeys(targets)
        if t not in source_langs and t not in {r.report.source_lang for r in runs}
    ]
    return Pooled(list(runs), metric, dict(cells), ordered, source_langs, target_langs, system_of)


# ------------------------------------------------------------------------------------- bootstrap


@dataclass
class Comparison:
    """The student minus a baseline on one language: mean difference and a 95% interval."""

    student: str
    baseline: str
    lang: str
    diff: float
    low: float
    high: float
    seeds: int
    n: int


def paired_bootstrap(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]], n_resamples: int = 1000, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float, float]:
    """Mean accuracy difference A - B with a paired percentile bootstrap 95% interval.

    Args:
        pairs: Per seed, ``(correct_a, correct_b)``: 0/1 arrays over the same test examples.
        n_resamples: Bootstrap resamples; each draws the examples with replacement once and
            applies the same draw to both systems and every seed.

    Returns:
        ``(difference, low, high)`` in accuracy units (the difference averaged over seeds).

    Raises:
        DistillError: No pair, or arrays of different lengths.
    """
    if not pairs:
        raise DistillError("paired_bootstrap needs at least one (a, b) pair")
    n = len(pairs[0][0])
    if any(len(a) != n or len(b) != n for a, b in pairs):
        raise DistillError("paired_bootstrap: every array must cover the same test examples")
    diffs = np.stack([np.asarray(a, float) - np.asarray(b, float) for a, b in pairs]).mean(axis=0)  # (n,)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(n_resamples, n))  # (R, n)
    stats = diffs[draws].mean(axis=1)  # (R,)
    low, high = np.percentile(stats, [2.5, 97.5])
    return float(diffs.mean()), float(low), float(high)


def _pairs(
    student: Cell, baseline: Cell, baseline_system: str, lang: str, split: str
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per student seed, (student correct, baseline correct); a once-trained baseline pairs with all."""
    pairs = []
    only = next(iter(baseline.runs.values())) if baseline.seeds == 1 else None
    for seed, s_run in student.runs.items():
        b_run = baseline.runs.get(seed) or only
        if b_run is None:
            continue
        a = s_run.correct("student", lang, split)
        b = b_run.correct(baseline_system, lang, split)
        if a is not None and b is not None and len(a) == len(b):
            pairs.append((a, b))
    return pairs


def compare(
    pooled: Pooled, baselines: Sequence[str] = DEFAULT_BASELINES, n_resamples: int = 1000, split: str = "test"
) -> list[Comparison]:
    """Every student name against every baseline present, per target language, on common seeds."""
    students = [n for n in pooled.names if pooled.system_of[n] == "student"]
    others = [n for n in pooled.names if pooled.system_of[n] in baselines]
    out = []
    for lang in pooled.target_langs:
        for s_name in students:
            for b_name in others:
                s_cell, b_cell = pooled.cell(s_name, lang, split), pooled.cell(b_name, lang, split)
                if s_cell is None or b_cell is None:
                    continue
                pairs = _pairs(s_cell, b_cell, pooled.system_of[b_name], lang, split)
                if pairs:
                    diff, low, high = paired_bootstrap(pairs, n_resamples)
                    out.append(
                        Comparison(s_name, b_name, lang, diff, low, high, len(pairs), len(pairs[0][0]))
                    )
    return out


# -------------------------------------------------------------------------------------- markdown


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


def lang_mean(
    pooled: Pooled, name: str, langs: Sequence[str], split: str = "test"
) -> tuple[float, float, int] | None:
    """Mean over ``langs`` of the per-seed scores (needs every language): mean, std, seeds."""
    cells = [pooled.cell(name, lang, split) for lang in langs]
    if not cells or any(c is None for c in cells):
        return None
    seeds = set.intersection(*(set(c.scores) for c in cells if c is not None))
    if not seeds:
        # Systems trained once per language (different seeds per language) pool their means.
        return float(np.mean([c.mean for c in cells if c is not None])), 0.0, 1
    per_seed = [np.mean([c.scores[s] for c in cells if c is not None]) for s in sorted(seeds)]
    std = float(np.std(per_seed, ddof=1)) if len(per_seed) > 1 else 0.0
    return float(np.mean(per_seed)), std, len(per_seed)


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


def stage_seconds(run: Run) -> dict[str, float]:
    """A run's stage times: its ``timings.json``, else the ``stage_seconds`` of older ``metrics.json``."""
    timings = run.path.parent / TIMINGS_FILE
    if timings.is_file():
        try:
            data = json.loads(timings.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            log.warning("%s is not valid JSON; its run's wall time is left out", timings)
            return {}
        return dict(data.get("stage_seconds") or {}) if isinstance(data, dict) else {}
    return dict(run.report.extras.get("stage_seconds") or {})


def _wall_time(runs: Sequence[Run]) -> float:
    return float(sum(sum(stage_seconds(r).values()) for r in runs))


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
        f"Total wall time of the runs (sum of their stage times): {_wall_time(pooled.runs) / 60:.1f} min.",
    ]
    if plots:
        parts += ["", "## Plots", "", *(f"![{Path(p).stem}]({Path(p).name})" for p in plots)]
    return "\n".join(parts) + "\n"


def summary(
    pooled: Pooled, comparisons: Sequence[Comparison], folder: Path, split: str = "test"
) -> dict[str, Any]:
    """The pooled numbers as JSON-ready data, for ``summary.json`` in ``folder``.

    ``runs`` names each run's ``metrics.json`` relative to ``folder``, so that a committed report
    does not name the machine it was made on.
    """
    rows = []
    for (name, lang, sp), c in sorted(pooled.cells.items()):
        if sp != split:
            continue
        rows.append(
            {
                "name": name,
                "system": pooled.system_of[name],
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
        "runs": [Path(os.path.relpath(r.path, folder.resolve())).as_posix() for r in pooled.runs],
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
    }


# ------------------------------------------------------------------------------------------ plots


def _save(fig: Any, path: Path) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    with atomic_file(path, "wb") as fh:
        fh.write(buffer.getvalue())


def plot_bars(pooled: Pooled, path: Path, split: str = "test") -> Path:
    """Per-language bars with seed-std error bars, one bar per system."""
    import matplotlib.pyplot as plt

    langs = [*pooled.source_langs, *pooled.target_langs]
    names = pooled.names
    width = 0.8 / max(len(names), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(langs) * max(1, len(names)) * 0.35), 4.5))
    for k, name in enumerate(names):
        xs, ys, es = [], [], []
        for j, lang in enumerate(langs):
            c = pooled.cell(name, lang, split)
            if c is not None:
                xs.append(j + (k - (len(names) - 1) / 2) * width)
                ys.append(100 * c.mean)
                es.append(100 * c.std)
        ax.bar(xs, ys, width=width, yerr=es, capsize=2, label=name)
    ax.set_xticks(range(len(langs)), langs)
    ax.set_ylabel(f"{pooled.metric} (%)")
    ax.set_title(f"{pooled.metric} per language ({split}), mean ± std over seeds")
    ax.legend(fontsize=7, ncol=2, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(axis="y", alpha=0.3)
    _save(fig, path)
    plt.close(fig)
    return path


def reliability_bins(
    confidence: np.ndarray, correct: np.ndarray, bins: int = 10
) -> list[tuple[float, float, int]]:
    """``(mean confidence, accuracy, count)`` per equal-width confidence bin that has examples."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    out = []
    for b in range(bins):
        mask = which == b
        if mask.any():
            out.append((float(confidence[mask].mean()), float(correct[mask].mean()), int(mask.sum())))
    return out


def _pooled_outcomes(
    pooled: Pooled, name: str, langs: Sequence[str], split: str
) -> tuple[np.ndarray, np.ndarray]:
    conf, corr = [], []
    system = pooled.system_of[name]
    for lang in langs:
        c = pooled.cell(name, lang, split)
        if c is None:
            continue
        for run in c.runs.values():
            real = run.report.source_lang if lang in pooled.source_langs else lang
            p = run.predictions().get((system, real, split))
            if p is not None:
                conf.append(p["confidence"])
                corr.append((p["pred"] == p["gold"]).astype(float))
    if not conf:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(conf), np.concatenate(corr)


def plot_reliability(pooled: Pooled, path: Path, split: str = "test") -> Path | None:
    """Reliability diagrams: every student name on the target languages, the teacher on the source."""
    import matplotlib.pyplot as plt

    panels = [(n, pooled.target_langs) for n in pooled.names if pooled.system_of[n] == "student"]
    panels += [(n, pooled.source_langs) for n in pooled.names if pooled.system_of[n] == "teacher"]
    data = [(n, langs, *_pooled_outcomes(pooled, n, langs, split)) for n, langs in panels]
    data = [d for d in data if len(d[2])]
    if not data:
        return None
    fig, axes = plt.subplots(1, len(data), figsize=(3.4 * len(data), 3.6), squeeze=False)
    for ax, (name, langs, conf, corr) in zip(axes[0], data, strict=True):
        bins = reliability_bins(conf, corr)
        ax.plot([0, 1], [0, 1], "k--", lw=0.8)
        ax.bar([b[0] for b in bins], [b[1] for b in bins], width=0.08, alpha=0.7)
        ece = sum(abs(a - c) * n for c, a, n in bins) / len(conf)
        ax.set_title(f"{name}\n{'+'.join(langs)}, ECE {ece:.3f}", fontsize=8)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence")
    axes[0][0].set_ylabel("accuracy")
    _save(fig, path)
    plt.close(fig)
    return path


def pca_2d(vectors: np.ndarray) -> np.ndarray:
    """The first two principal components of ``vectors`` ``(N, H)`` -> ``(N, 2)``."""
    centred = vectors - vectors.mean(axis=0, keepdims=True)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T


def plot_embeddings(pooled: Pooled, path: Path, max_panels: int = 12) -> Path | None:
    """PCA of the student's embeddings of parallel test pairs, one panel per student run (lowest seed)."""
    import matplotlib.pyplot as plt

    chosen: dict[tuple[str, tuple[str, ...]], Run] = {}
    names = _names(pooled.runs)
    for i in sorted(range(len(pooled.runs)), key=lambda i: pooled.runs[i].seed):
        run = pooled.runs[i]
        key = (names.get((i, "student"), "student"), tuple(run.report.target_langs))
        if key not in chosen and (run.path.parent / EMBEDDINGS_FILE).is_file():
            chosen[key] = run
    panels = list(chosen.items())[:max_panels]
    if not panels:
        return None
    cols = min(len(panels), 4)
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, ((name, langs), run) in zip(axes.flat, panels, strict=False):
        emb = run.embeddings()
        assert emb is not None
        xy = pca_2d(emb["vector"])
        for lang in dict.fromkeys(emb["lang"]):
            mask = np.asarray(emb["lang"]) == lang
            ax.scatter(xy[mask, 0], xy[mask, 1], s=6, alpha=0.6, label=lang)
        ax.set_axis_on()
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{name}: {'+'.join(langs)} (seed {run.seed})", fontsize=8)
        ax.legend(fontsize=7, markerscale=2)
    fig.suptitle("student sentence embeddings of parallel test pairs (PCA)", fontsize=9)
    _save(fig, path)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------------------------- main


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
    written: list[Path] = []
    if plots:
        import matplotlib

        matplotlib.use("Agg")
        written.append(plot_bars(pooled, out / "accuracy.png", split))
        for maybe in (
            plot_reliability(pooled, out / "reliability.png", split),
            plot_embeddings(pooled, out / "embeddings.png"),
        ):
            if maybe is not None:
                written.append(maybe)
    numbers = summary(pooled, comparisons, out, split)
    write_text_atomic(out / "summary.json", json.dumps(numbers, indent=2) + "\n")
    report = out / "report.md"
    write_text_atomic(report, report_markdown(pooled, comparisons, [str(p) for p in written], split))
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
