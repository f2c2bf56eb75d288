"""``task=classification``: sentence classification by soft-label distillation (DESIGN.md sections 3-8).

The teacher (a source-language classifier, fine-tuned once and cached) labels the source side of
the parallel pairs; its soft labels (N, C) are cached. The student (``...ForSequenceClassification``)
learns from them with the weighted loss (kd, back, cycle, roundtrip, ce) over ``cycle.rounds``
rounds, is selected on validation agreement with the teacher, scored beside the baselines
(teacher zero-shot and translate-test, direct transfer, supervised) and exported as a plain
``AutoModelForSequenceClassification`` folder (or a base + adapters). The stage functions live in
:mod:`distill.stages`; this class says which of them a classification run uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from omegaconf import DictConfig

from distill.records import StageTimer
from distill.report import MetricsReport
from distill.stages.baselines import Baseline, baseline_systems
from distill.stages.distill import check_training_config, distill_student, label_for_training
from distill.stages.evaluate import evaluate_run, record_run_extras
from distill.stages.export import export_run
from distill.stages.label import Labelled
from distill.tasks.base import Trained
from distill.teacher import load_teacher


class ClassificationTask:
    """One label per sentence: the teacher's soft labels are (N, C) logits."""

    name = "classification"
    direction: Literal["maximize", "minimize"] = "maximize"  # val/agreement (val/acc: selection=target_dev)
    distributed = True
    fine_tunes_teacher = True

    def check(self, cfg: DictConfig) -> None:
        check_training_config(cfg)

    def label(self, cfg: DictConfig, timer: StageTimer) -> Labelled:
        return label_for_training(cfg, timer)

    def baselines(self, cfg: DictConfig, labelled: Labelled) -> dict[str, Baseline]:
        return baseline_systems(cfg, labelled, labelled.teacher.labels)

    def distill(self, cfg: DictConfig, labelled: Labelled) -> Trained:
        return Trained(*distill_student(cfg, labelled))

    def evaluate(
        self, cfg: DictConfig, labelled: Labelled, trained: Trained, baselines: dict[str, Baseline]
    ) -> MetricsReport:
        teacher = labelled.teacher
        report = evaluate_run(
            cfg,
            load_teacher(teacher.path),
            (trained.system.model, trained.tokenizer),
            labelled.data,
            teacher.labels,
            baselines,
            validation_logits=labelled.validation_logits(),
        )
        record_run_extras(cfg, report, trained.system, labelled, trained.best)
        return report

    def export(
        self,
        cfg: DictConfig,
        labelled: Labelled,
        trained: Trained,
        report: MetricsReport,
        hashes: dict[str, str],
    ) -> Path:
        return export_run(cfg, trained.system.model, trained.tokenizer, labelled.data, report, hashes)
