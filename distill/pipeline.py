"""``run(cfg)``: every stage in one process (``distill-run``); the stages live in :mod:`distill.stages`.

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

from distill.embedding import run_embedding
from distill.errors import DistillError
from distill.records import StageTimer, data_hashes, finish_wandb, write_run
from distill.report import format_table
from distill.settings import distributed_trainer
from distill.stages.baselines import baseline_systems
from distill.stages.distill import train
from distill.stages.evaluate import evaluate_run, record_run_extras
from distill.stages.export import export_run
from distill.teacher import load_teacher
from distill.utils.ranks import global_rank, is_rank_zero

log = logging.getLogger(__name__)
STAGES = ("prepare", "teacher", "label", "distill", "baselines", "evaluate", "export")


def run(cfg: DictConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run every stage; return ``(metrics, objects)`` (``distill-run``)."""
    if cfg.get("task", "classification") == "embedding":
        if distributed_trainer(cfg):  # its records are not written by rank 0 alone yet
            raise DistillError(
                "task=embedding runs in one process", fix="drop trainer=ddp/fsdp (use trainer=gpu)"
            )
        return run_embedding(cfg)

    os.environ.setdefault("WANDB_MODE", "offline")
    pl.seed_everything(int(cfg.seed), workers=True)
    timer = StageTimer()
    try:
        labelled, system, tokenizer, best = train(cfg, timer)  # prepare, teacher, label, distill
        data, teacher = labelled.data, labelled.teacher
        with timer("baselines"):
            extra = baseline_systems(cfg, labelled, teacher.labels)
        if not is_rank_zero():
            # A further rank of a ddp job (trainer=ddp): its share of every fit is done; rank 0
            # evaluates, exports and writes the records.
            log.info("rank %d: training done; rank 0 evaluates and writes the run folder", global_rank())
            objects = {"system": system, "tokenizer": tokenizer, "teacher": teacher}
            return {"best_val": best.to_dict()}, objects
        with timer("evaluate"):
            report = evaluate_run(
                cfg, load_teacher(teacher.path), (system.model, tokenizer), data, teacher.labels, extra
            )
        record_run_extras(cfg, report, system, labelled, best)
        hashes = data_hashes(data)  # one pass over every pair, for the card and provenance
        if cfg.get("export_student", True):
            with timer("export"):
                export_run(cfg, system.model, tokenizer, data, report, hashes)
        write_run(cfg, report, timer, hashes)
    finally:
        finish_wandb()
    print(format_table(report))
    print(timer.line())
    return report.to_dict(), {"system": system, "tokenizer": tokenizer, "teacher": teacher, "report": report}
