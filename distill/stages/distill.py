"""The distill stage: the student learns from the cached soft labels, in ``cycle.rounds`` rounds
(``distill-train`` runs every stage up to here)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytorch_lightning as pl
from datasets import Dataset, DatasetDict, concatenate_datasets
from omegaconf import DictConfig

from distill.adapters import (
    AdapterSpec,
    add_language_adapters,
    continue_from,
    use_language,
)
from distill.cache import TEACHER_COLUMNS, SoftLabels
from distill.continual import extend_languages, rehearsed
from distill.data.datamodule import DistillCollator, DistillDataModule, distill_rows, logit_array
from distill.errors import DistillError
from distill.live_teacher import LiveTeacher
from distill.models.classifier import load_classifier, predict_logits
from distill.models.encoder import keep_layers
from distill.records import StageTimer
from distill.settings import check_config, distributed_trainer, reads_target_labels
from distill.stages.label import TRAIN_SPLITS, Labelled, end_label_processes, label
from distill.stages.vocab import trim_student_vocab
from distill.student import DistillationSystem, freeze_word_embeddings
from distill.targets import mix_soft_labels
from distill.teacher import load_teacher
from distill.training import BestCheckpoint, fit_and_load_best
from distill.utils.config import build

log = logging.getLogger(__name__)


# Per language and training split, the target columns of the rows: ``teacher_logits`` (kd), and
# where present ``teacher_src_logits`` (back, after a cyclic round) and ``teacher_roundtrip_logits``.
#: ``{lang: {split: {column: rows}}}``: cache entries (``Dataset`` with ``logits``) or arrays.
Targets = Mapping[str, Mapping[str, Mapping[str, np.ndarray | Dataset]]]


def training_rows(
    data: Mapping[str, DatasetDict], targets: Targets, labels: list[str], *, gold: bool = False
) -> dict[str, dict[str, Dataset]]:
    """Every language's training and validation rows; ``gold``: keep the target-language gold labels
    (:func:`distill.settings.reads_target_labels`), else every row's ``labels`` is -100."""
    label2id = {name: i for i, name in enumerate(labels)}

    def pairs(ds: Dataset) -> Dataset:
        return ds if gold or "label" not in ds.column_names else ds.remove_columns("label")

    return {
        lang: {
            s: distill_rows(
                pairs(data[lang][s]), lang_id=i, label2id=label2id, where=f"{lang}/{s}", **targets[lang][s]
            )
            for s in TRAIN_SPLITS
        }
        for i, lang in enumerate(data)
    }


def _fit_round(
    cfg: DictConfig, system: DistillationSystem, dm: DistillDataModule, round_idx: int
) -> BestCheckpoint:
    """One round of distillation; checkpoints on ``val/agreement`` (``selection=teacher_agreement``, the
    default, or validation pairs without gold labels), else on ``val/acc`` (``selection=target_dev``)."""
    log.info("distill: round %d of %d", round_idx + 1, cfg.cycle.rounds)
    gold = cfg.selection == "target_dev" and any(x >= 0 for x in dm.val_rows["labels"])
    return fit_and_load_best(
        cfg,
        system,
        dm,
        monitor=("val/acc", "max") if gold else None,
        log_config=round_idx == 0,
        checkpoint_subdir=f"round{round_idx + 1}" if round_idx else None,
    )


def build_student(
    cfg: DictConfig, labels: list[str], langs: list[str], live: LiveTeacher | None = None
) -> tuple[DistillationSystem, Any]:
    """The student system (encoder + new head, the weighted loss, the optimizer) and its tokenizer.

    ``live``: the teacher that labels each batch in the step (``teacher.live``), or None to read
    cached soft labels.
    """
    frozen: list[str] = []
    network = cfg.student.get("network")
    if cfg.student.get("adapters") and cfg.student.get("init_from"):
        spec = AdapterSpec.from_cfg(cfg.student)
        model, tokenizer, frozen = continue_from(cfg.student.init_from, langs, spec)
        check_student_labels(model, labels, str(cfg.student.init_from))
    elif cfg.student.get("init_from"):  # a fully shared student continued from its export
        model, tokenizer = load_classifier(str(cfg.student.init_from), labels)
    elif network is None:
        model, tokenizer = load_classifier(cfg.student.model, labels)
    else:
        model, tokenizer = build(network, "student.network")(labels=labels)
    if cfg.student.get("num_layers") is not None and not cfg.student.get("init_from"):
        keep_layers(model.base_model, int(cfg.student.num_layers))  # a shallower, faster fresh student
    if cfg.student.get("adapters") and not frozen:
        model = add_language_adapters(model, langs, AdapterSpec.from_cfg(cfg.student))
    elif cfg.student.freeze_word_embeddings and not cfg.student.get("adapters"):
        freeze_word_embeddings(model)
    system = DistillationSystem(
        model,
        build(cfg.loss, "loss"),
        build(cfg.student.optimizer, "student.optimizer"),
        langs=langs,
        labels=labels,
        base_model=str(cfg.student.model),
        frozen_langs=frozen,
        live_teacher=live,
        fast_dropout=bool(cfg.student.get("fast_dropout", True)),
    )
    return system, tokenizer


def check_student_labels(model: Any, labels: list[str], where: str) -> None:
    """Fail when a student loaded from ``where`` has another label set than the teacher."""
    id2label = model.config.id2label
    found = [id2label[i] for i in sorted(id2label)]
    if found != list(labels):
        raise DistillError(
            f"the student at {where} has labels {found}, the teacher has {list(labels)}",
            fix="continue from a student distilled from a teacher with the same labels",
        )


def distill_student(cfg: DictConfig, labelled: Labelled) -> tuple[DistillationSystem, Any, BestCheckpoint]:
    """Train the student on cached soft labels, with ``cycle.rounds`` rounds of relabelling.

    Returns:
        ``(system, tokenizer, best checkpoint of the last round)``; the system holds its weights.
    """
    data, labels = labelled.data, labelled.teacher.labels
    # Seeded here, not only at the start: a teacher fine-tuned in this process (a cache miss) moves
    # the generators on, and the student must start the same whether the teacher was cached or not.
    pl.seed_everything(int(cfg.seed), workers=True, verbose=False)
    live = live_teacher(cfg, labelled)
    system, tokenizer = build_student(cfg, labels, list(data), live)
    if cfg.student.trim_vocab:
        tokenizer = trim_student_vocab(cfg, system.model, tokenizer, labelled)
    teacher_targets = labelled.targets()
    targets: Targets = teacher_targets
    best = BestCheckpoint()
    for r in range(int(cfg.cycle.rounds)):
        if r > 0:
            targets = _relabel(cfg, system, tokenizer, data, teacher_targets)
        dm = student_datamodule(
            cfg, tokenizer, data, targets, labels, with_source=system.needs_source, live=live
        )
        if labelled.rehearsal is not None:
            dm.train_rows = with_rehearsal(dm.train_rows, labelled.rehearsal, labels, lang_id=len(data))
        best = _fit_round(cfg, system, dm, r)
    return system, tokenizer, best


def live_teacher(cfg: DictConfig, labelled: Labelled) -> LiveTeacher | None:
    """The frozen teacher that labels each batch in the step when ``teacher.live=true``."""
    if not labelled.live:
        return None
    model, tokenizer = load_teacher(labelled.teacher.path, labelled.teacher.labels)
    log.info("distill: teacher.live=true, the teacher labels every batch in the training step")
    return LiveTeacher(model, tokenizer, int(cfg.teacher.max_length), column=TEACHER_COLUMNS[cfg.mode.name])


def student_datamodule(
    cfg: DictConfig,
    tokenizer: Any,
    data: Mapping[str, DatasetDict],
    targets: Targets,
    labels: list[str],
    *,
    with_source: bool,
    live: LiveTeacher | None = None,
) -> DistillDataModule:
    """Every language's training and validation rows, tokenised for the student (``cfg.student``)
    and, with a live teacher, for the teacher too."""
    collator = DistillCollator(
        tokenizer, cfg.student.max_length, cfg.student.prefix, with_source=with_source, live=live
    )
    return DistillDataModule.from_languages(
        rehearsed(cfg, training_rows(data, targets, labels, gold=reads_target_labels(cfg))),
        collator=collator,
        batch_size=cfg.student.batch_size,
        seed=cfg.seed,
        one_language_per_batch=bool(cfg.student.get("adapters")),
        bucket_by_length=bool(cfg.student.bucket_by_length),
    )


def _relabel(
    cfg: DictConfig,
    system: DistillationSystem,
    tokenizer: Any,
    data: Mapping[str, DatasetDict],
    teacher_targets: Targets,
) -> dict[str, dict[str, dict[str, np.ndarray | Dataset]]]:
    """The student relabels the target pool and the source side; mix both with the teacher.

    The ``kd`` targets become ``mix * p_T + (1 - mix) * p_S(x_t)`` and the ``back`` targets
    ``mix * p_T + (1 - mix) * p_S(x_s)`` (DESIGN.md section 3, cyclic training). Validation and
    the roundtrip targets stay the teacher's.
    """
    kw = {"max_length": cfg.student.max_length, "prefix": cfg.student.prefix}
    mix, tau = float(cfg.cycle.mix), float(cfg.loss.temperature)
    out: dict[str, dict[str, dict[str, np.ndarray | Dataset]]] = {}
    for lang in data:
        use_language(system.model, lang)
        pool = data[lang]["train"]
        on_tgt = predict_logits(system.model, tokenizer, pool["tgt"], desc=f"relabel {lang}", **kw)
        on_src = predict_logits(system.model, tokenizer, pool["src"], desc=f"relabel {lang} source", **kw)
        teacher = logit_array(teacher_targets[lang]["train"]["teacher_logits"])
        out[lang] = {
            "train": {
                **teacher_targets[lang]["train"],
                "teacher_logits": mix_soft_labels(teacher, on_tgt, mix, tau),
                "teacher_src_logits": mix_soft_labels(teacher, on_src, mix, tau),
            },
            "validation": dict(teacher_targets[lang]["validation"]),
        }
    system.model.train()
    return out


def with_rehearsal(
    train: Dataset, rehearsal: tuple[Dataset, SoftLabels], labels: list[str], lang_id: int
) -> Dataset:
    """The training rows plus the rehearsal rows: a source text on both sides, the teacher's labels.

    Read as ``tgt`` the text gets the ``kd`` term, read as ``src`` the ``back`` term (``cycle`` is
    zero on it), always against the teacher (cyclic rounds do not relabel it).
    """
    pairs, soft = rehearsal
    logits = soft.logits()
    extra = {"teacher_src_logits": logits} if "teacher_src_logits" in train.column_names else {}
    if "teacher_roundtrip_logits" in train.column_names:
        extra["teacher_roundtrip_logits"] = logits
    rows = distill_rows(
        pairs,
        logits,
        lang_id=lang_id,
        label2id={name: i for i, name in enumerate(labels)},
        where="data.rehearsal",
        **extra,
    )
    return concatenate_datasets([train, rows.cast(train.features)])


def check_training_config(cfg: DictConfig) -> None:
    """The checks before a student is trained; a student continued from an export first takes over
    its earlier languages."""
    extend_languages(cfg)
    check_config(cfg)


def label_for_training(cfg: DictConfig, timer: StageTimer) -> Labelled:
    """The label stage, then (fits in one process) the end of its labelling processes."""
    labelled = label(cfg, timer)
    if not distributed_trainer(cfg):
        end_label_processes()
    return labelled


def train(
    cfg: DictConfig, timer: StageTimer | None = None
) -> tuple[Labelled, DistillationSystem, Any, BestCheckpoint]:
    """Every stage up to the trained student (``distill-train``).

    Returns:
        ``(labelled, system, tokenizer, best checkpoint)``; checkpoints (student weights only) are
        under ``<run dir>/checkpoints``.
    """
    check_training_config(cfg)
    timer = timer or StageTimer()
    labelled = label_for_training(cfg, timer)
    with timer("distill"):
        system, tokenizer, best = distill_student(cfg, labelled)
    return labelled, system, tokenizer, best
