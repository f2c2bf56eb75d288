"""``run(cfg)``: every stage in one process (``distill-run``), the same stage list for every task.

The run's task (``task=classification``, ``task=embedding``, or one registered under ``tasks``; see
:mod:`distill.tasks`) says what each stage does; the stage functions live in :mod:`distill.stages`.
Stages talk through files (the shared cache and the run directory), never through globals, so each
one also runs alone: ``distill-label`` fills the soft-label cache, ``distill-train`` writes student
checkpoints, ``distill-eval checkpoint=...`` scores a student with the baselines, and
``distill-export checkpoint=...`` writes the Hugging Face folder.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig

from distill.errors import DistillError
from distill.records import StageTimer, data_hashes, finish_wandb, outputs_lines, write_run
from distill.report import format_table
from distill.settings import distributed_trainer
from distill.tasks import task_of
from distill.utils.ranks import global_rank, is_rank_zero

log = logging.getLogger(__name__)
STAGES = ("prepare", "teacher", "label", "baselines", "distill", "evaluate", "export")


def run(cfg: DictConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run every stage; return ``(metrics, objects)`` (``distill-run``)."""
    task = task_of(cfg)
    if distributed_trainer(cfg) and not task.distributed:
        raise DistillError(
            f"task={task.name} runs in one process", fix="drop trainer=ddp/fsdp (use trainer=gpu)"
        )
    task.check(cfg)
    os.environ.setdefault("WANDB_MODE", "offline")
    pl.seed_everything(int(cfg.seed), workers=True)
    timer = StageTimer()
    try:
        labelled = task.label(cfg, timer)  # prepare, teacher, label
        with timer("baselines"):
            baselines = task.baselines(cfg, labelled)
        with timer("distill"):
            trained = task.distill(cfg, labelled)
        objects = {"system": trained.system, "tokenizer": trained.tokenizer, "teacher": labelled.teacher}
        if not is_rank_zero():
            # A further rank of a ddp job (trainer=ddp): its share of every fit is done; rank 0
            # evaluates, exports and writes the records.
            log.info("rank %d: training done; rank 0 evaluates and writes the run folder", global_rank())
            return {"best_val": trained.best.to_dict()}, objects
        with timer("evaluate"):
            report = task.evaluate(cfg, labelled, trained, baselines)
        hashes = data_hashes(labelled.data)  # one pass over every pair, for the card and provenance
        if cfg.export_student:
            with timer("export"):
                task.export(cfg, labelled, trained, report, hashes)
        write_run(cfg, report, timer, hashes, teacher_as_is=not task.fine_tunes_teacher)
    finally:
        wandb_dir = finish_wandb()
    print(format_table(report))
    print(timer.line())
    print("\n".join(outputs_lines(cfg, wandb_dir)))
    return report.to_dict(), {**objects, "report": report}
