"""Run records: the stage timer, ``metrics.json`` and the other files a run folder keeps.

``write_run`` writes ``metrics.json`` (with the reproducibility facts, no times), ``timings.json``,
``results.md``, ``provenance.json`` and ``config.yaml``; ``data_hashes`` fingerprints the pairs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from datasets import Dataset, DatasetDict
from omegaconf import DictConfig

from distill.multi_source import teacher_sources
from distill.provenance import reproducibility, write_provenance
from distill.report import MetricsReport
from distill.utils.atomic import write_text_atomic
from distill.utils.hashing import texts_sha256
from distill.utils.mapped_pages import column_released
from distill.utils.paths import portable
from distill.utils.redact import redacted_yaml
from distill.utils.resolvers import active_terms

log = logging.getLogger(__name__)


class StageTimer:
    """Wall time of each stage, printed at the end of a run and kept in ``metrics.json``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        log.info("stage %s: start", stage)
        yield
        self.seconds[stage] = round(time.perf_counter() - start, 1)
        log.info("stage %s: %.1f s", stage, self.seconds[stage])

    def line(self) -> str:
        return "stage times (s): " + ", ".join(f"{k} {v}" for k, v in self.seconds.items())


def data_hashes(data: Mapping[str, DatasetDict]) -> dict[str, str]:
    """A content hash of every language's and split's pairs (for the model card and provenance):
    all ``src`` texts, then all ``tgt`` texts, streamed from the Arrow table 10k rows at a time."""

    def texts(ds: Dataset) -> Iterator[str]:
        for c in ("src", "tgt"):
            if c in ds.column_names:
                yield from column_released(ds, c)

    return {
        f"{lang}/{split}": texts_sha256(texts(ds))[:16]
        for lang, dd in data.items()
        for split, ds in dd.items()
    }


def finish_wandb() -> str | None:
    """Flush the (offline) W&B run, so its files are complete when the call returns; its folder
    (``.../wandb/offline-run-...``), or ``None`` without a W&B run."""
    if "wandb" not in sys.modules or sys.modules["wandb"].run is None:
        return None
    run = sys.modules["wandb"].run
    folder = str(Path(run.dir).parent) if getattr(run, "dir", None) else None
    sys.modules["wandb"].finish()
    return folder


#: The files of a run folder the console's last lines name, those the run wrote.
RUN_FILES = (
    "metrics.json",
    "results.md",
    "predictions.parquet",
    "retrieval_hits.parquet",
    "token_counts.parquet",
    "cli.log",
)


def outputs_lines(cfg: DictConfig, wandb_dir: str | None) -> list[str]:
    """Where a ``distill-run`` left its outputs, for the end of the console."""
    out = Path(cfg.paths.output_dir)
    files = ", ".join(f for f in RUN_FILES if (out / f).exists()) or "nothing yet"
    lines = ["outputs:", f"  run folder  {out}  ({files})"]
    if cfg.get("export_student") and (out / "student").is_dir():
        lines.append(f"  student     {out / 'student'}  (loads with plain transformers; see its README.md)")
    if wandb_dir is not None:
        mode = os.environ.get("WANDB_MODE", "")
        sync = "  (offline: `wandb sync <this folder>` uploads it)" if mode in ("offline", "dryrun") else ""
        lines.append(f"  W&B run     {wandb_dir}{sync}")
    return lines


def in_run_dir(cfg: DictConfig, path: str) -> str:
    """``path`` relative to the run folder when inside it, else :func:`~distill.utils.paths.portable`,
    so metrics.json names no machine folder."""
    if not path:
        return path
    try:
        return str(Path(path).resolve().relative_to(Path(cfg.paths.output_dir).resolve()))
    except ValueError:
        return portable(path)


def student_variant(cfg: DictConfig) -> str:
    """A short name of how the student was made: loss terms, cyclic rounds and mode.

    ``distill-report`` shows student rows of different runs under this name, e.g. ``kd``,
    ``kd+back+cycle R=2`` or ``kd direct``; ``variant=`` in the config overrides it.
    """
    if cfg.get("variant"):
        return str(cfg.variant)
    name = active_terms(cfg.loss.weights)
    if cfg.data.get("rehearsal"):
        name += f" rehearsal={cfg.data.rehearsal}"
    if int(cfg.cycle.rounds) > 1:
        name += f" R={int(cfg.cycle.rounds)}"
    sources = teacher_sources(cfg)
    if sources:
        name += f" sources={'+'.join(s.name for s in sources)}:{cfg.get('combine', 'fixed')}"
    if cfg.mode.name != "parallel":
        name += f" {cfg.mode.name}" + (f"-{cfg.mode.direction}" if cfg.mode.get("direction") else "")
    return name


def run_info(cfg: DictConfig) -> dict[str, Any]:
    """What identifies a run among others (``metrics.json`` key ``run``, read by ``distill-report``)."""
    return {
        "experiment": str(cfg.experiment_name),
        "variant": student_variant(cfg),
        "seed": int(cfg.seed),
        "mode": str(cfg.mode.name),
        "teacher": str(cfg.teacher.name),
        "student": str(cfg.student.name),
        "data": str(cfg.data.name),
    }


def write_run(
    cfg: DictConfig,
    report: MetricsReport,
    timer: StageTimer,
    pairs: Mapping[str, str] | None = None,
    *,
    teacher_as_is: bool = False,
) -> None:
    """The run folder's records: ``metrics.json``, ``timings.json``, ``results.md``,
    ``provenance.json`` and ``config.yaml``.

    ``metrics.json`` gets the ``reproducibility`` facts (seed, versions, git commit, platform,
    command) but no times, so two runs of one command and seed on one machine write the same bytes;
    the stage times go to ``timings.json``. The config is saved with its secrets masked. ``pairs``
    (:func:`data_hashes`) go to ``provenance.json``; ``teacher_as_is``: the task used ``teacher.model``
    without fine-tuning it.
    """

    out_dir = Path(cfg.paths.output_dir)
    report.extras["run"] = run_info(cfg)
    # How the student was selected (a task may say its own rule, e.g. the embedding task's loss).
    report.extras.setdefault("selection", str(cfg.selection))
    report.extras["stage_seconds"] = timer.seconds  # MetricsReport.write puts it in timings.json
    report.extras["reproducibility"] = reproducibility(cfg)
    report.write(out_dir)
    write_provenance(cfg, pairs, teacher_as_is)
    write_text_atomic(out_dir / "config.yaml", redacted_yaml(cfg, resolve=False))
