"""The runs of a study and their rows pooled over seeds (what ``distill-report`` tabulates).

Runs are found under the given paths (a run folder, a multirun folder, a study's ``runs/``, or
``metrics.json`` files); rows of the same system, language and split are pooled over seeds
(:func:`pool`). A student row is named after how it was made (``student (kd+back+cycle R=2)``,
from the run's ``run.variant``) when the runs hold several kinds of student.
"""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from distill.errors import DistillError
from distill.report.contract import EMBEDDINGS_FILE, PREDICTIONS_FILE, SYSTEMS, TIMINGS_FILE
from distill.report.run_report import MetricsReport, load_metrics

log = logging.getLogger(__name__)


@dataclass
class Run:
    """One run's results: where they are, what made them and its per-example predictions."""

    path: Path
    report: MetricsReport
    seed: int
    variant: str
    experiment: str
    teacher: str
    #: How the student's checkpoint was selected (:func:`selection_of`).
    selection: str = "unknown"
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
                selection=selection_of(report),
            )
        )
    return runs


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


#: Runs older than the ``selection`` record: the rule read from the metric their checkpoint was selected on.
_RULE_OF_METRIC = {"val/acc": "target_dev", "val/agreement": "teacher_agreement", "val/loss": "teacher_loss"}
#: What a student row selected on target-language gold labels is marked with in the tables.
TARGET_LABELS_MARK = "[selected on target labels]"


def selection_of(report: MetricsReport) -> str:
    """A run's checkpoint-selection rule: ``selection`` in its ``metrics.json``, else (runs written
    before it was recorded) the rule its ``best_val`` metric implies, else ``unknown``."""
    rule = report.extras.get("selection")
    if rule:
        return str(rule)
    metric = (report.extras.get("best_val") or {}).get("metric")
    return _RULE_OF_METRIC.get(str(metric), "unknown")


#: Baselines fitted to the teacher's labels: one per teacher, named after it like the teacher's rows.
_PER_TEACHER = frozenset({"tfidf_student"})


def teacher_bound(system: str) -> bool:
    """Whether a system's rows depend on the run's teacher: the student (it learns the teacher's
    labels), the teacher's own rows and the baselines fitted to its labels."""
    return system == "student" or system.startswith("teacher") or system in _PER_TEACHER


def run_names(runs: Sequence[Run]) -> dict[tuple[int, str], str]:
    """The table name of each (run, system): student rows by variant (and marked when selected on
    target labels), teacher rows and the baselines fitted to the teacher's labels by teacher."""
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
            if system == "student" and r.selection == "target_dev":
                name = f"{name} {TARGET_LABELS_MARK}"  # never pooled with runs that read none
            elif len(teachers_of[system]) > 1 and system != "student" and teacher_bound(system):
                name = f"{system} ({r.teacher})"
            names[(i, system)] = name
    return names


@dataclass
class Conflict:
    """A row that two runs of one seed both scored, differently: the cell keeps the first run's.

    Shared work (a teacher, its soft labels, a baseline fitted once) scores the same in every run of
    a seed unless it was refitted between them, e.g. on a machine whose cache was rebuilt."""

    name: str
    lang: str
    split: str
    seed: int
    kept: float
    kept_run: Run
    other: float
    other_run: Run


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
    #: Table name -> the teacher config of the runs behind it, for the systems that depend on the
    #: teacher (:func:`teacher_bound`) and whose runs share one; absent for the others.
    teacher_of: dict[str, str] = field(default_factory=dict)
    #: Rows that runs of one seed scored differently (:class:`Conflict`), in run order.
    conflicts: list[Conflict] = field(default_factory=list)

    def cell(self, name: str, lang: str, split: str = "test") -> Cell | None:
        return self.cells.get((name, lang, split))


def _system_rank(system: str) -> int:
    order = list(SYSTEMS)
    return order.index(system) if system in order else len(order)


def pool(runs: Sequence[Run], metric: str = "accuracy") -> Pooled:
    """Pool the runs' rows by (name, language, split); one score per seed (the first run wins).

    A later run of the same seed that scored such a row differently is recorded in ``conflicts``
    (and logged): its own score is not in the cell, so the report says so.

    Raises:
        DistillError: No run has rows with ``metric``.
    """
    names = run_names(runs)
    cells: dict[tuple[str, str, str], Cell] = defaultdict(Cell)
    system_of: dict[str, str] = {}
    teachers: dict[str, set[str]] = defaultdict(set)
    conflicts: list[Conflict] = []
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
            if teacher_bound(row["system"]) and r.teacher:
                teachers[name].add(r.teacher)
            lang = source if row["lang"] == r.report.source_lang else row["lang"]
            cell = cells[(name, lang, row["split"])]
            score = float(row[metric])
            if r.seed not in cell.scores:  # a baseline shared by several runs of a seed counts once
                cell.scores[r.seed] = score
                cell.runs[r.seed] = r
                cell.n_examples = max(cell.n_examples, int(row.get("n", 0)))
            elif score != cell.scores[r.seed]:
                kept, first = cell.scores[r.seed], cell.runs[r.seed]
                conflicts.append(Conflict(name, lang, row["split"], r.seed, kept, first, score, r))
    if not cells:
        raise DistillError(f"no result rows with {metric!r} in {len(runs)} run(s)", fix="choose --metric")
    ordered = sorted(system_of, key=lambda n: (_system_rank(system_of[n]), n))
    source_langs = list(dict.fromkeys(sources))
    target_langs = [
        t
        for t in dict.fromkeys(targets)
        if t not in source_langs and t not in {r.report.source_lang for r in runs}
    ]
    teacher_of = {name: next(iter(t)) for name, t in teachers.items() if len(t) == 1}
    if conflicts:
        c = conflicts[0]
        log.warning(
            "%d row(s) scored differently by runs of the same seed (first: %s, %s, seed %d: %s in %s, "
            "%s in %s); the first run's score is kept, see the report's list",
            len(conflicts), c.name, c.lang, c.seed,
            c.kept, c.kept_run.path.parent, c.other, c.other_run.path.parent,
        )  # fmt: skip
    return Pooled(
        list(runs), metric, dict(cells), ordered, source_langs, target_langs, system_of, teacher_of, conflicts
    )


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
