"""``run(cfg)``: every stage in order — prepare, teacher, label, distill, evaluate, export.

Stages talk through files (the shared cache and the run directory), never through globals, so each
one can also run alone. ``run`` is a plain function returning ``(metrics, objects)``; the
``distill-run`` console script only wraps it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from datasets import Dataset, DatasetDict
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from distill.data.datamodule import DistillCollator, DistillDataModule, distill_rows, label_ids
from distill.evaluate import MetricsReport, format_table
from distill.models.classifier import load_classifier, predict_logits
from distill.student import DistillationSystem, freeze_word_embeddings
from distill.utils.atomic import write_text_atomic
from distill.utils.hashing import text_sha256

log = logging.getLogger(__name__)
TRAIN_SPLITS = ("train", "validation")


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


def mix_soft_labels(teacher: np.ndarray, student: np.ndarray, mix: float, tau: float) -> np.ndarray:
    """Logits whose tempered softmax is ``mix * p_T + (1 - mix) * p_S`` (cyclic training rounds).

    Mixing in probability space, then mapping back with ``tau * log``, makes the loss see exactly the
    mixed distribution at temperature ``tau``.
    """

    def tempered(z: np.ndarray) -> np.ndarray:
        z = z / tau - (z / tau).max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)  # (N, C)

    p = mix * tempered(teacher) + (1.0 - mix) * tempered(student)
    return (tau * np.log(np.clip(p, 1e-12, None))).astype(np.float32)


def _rows(
    data: Mapping[str, DatasetDict], logits: Mapping[str, Mapping[str, Any]], labels: list[str]
) -> dict[str, dict[str, Dataset]]:
    label2id = {name: i for i, name in enumerate(labels)}
    return {
        lang: {
            s: distill_rows(data[lang][s], logits[lang][s], i, label2id, f"{lang}/{s}") for s in TRAIN_SPLITS
        }
        for i, lang in enumerate(data)
    }


def _fit_round(
    cfg: DictConfig, system: DistillationSystem, dm: DistillDataModule, round_idx: int
) -> pl.Trainer:
    loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values()]
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values()]
    trainer: pl.Trainer = instantiate(cfg.trainer, logger=loggers or False, callbacks=callbacks)
    log.info("distill: round %d of %d", round_idx + 1, cfg.cycle.rounds)
    trainer.fit(system, datamodule=dm)
    best = getattr(trainer.checkpoint_callback, "best_model_path", "")
    if best:
        # Select on validation: evaluate (and relabel with) the best epoch, not the last one.
        state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
        system.load_state_dict(state)
        log.info("distill: best checkpoint %s", best)
    return trainer


def distill_student(
    cfg: DictConfig,
    data: Mapping[str, DatasetDict],
    teacher_logits: Mapping[str, Mapping[str, Any]],
    labels: list[str],
) -> tuple[DistillationSystem, Any]:
    """Train the student on cached soft labels, with ``cycle.rounds`` rounds of relabelling."""
    model, tokenizer = load_classifier(cfg.student.model, labels)
    if cfg.student.get("freeze_word_embeddings"):
        freeze_word_embeddings(model)
    loss = instantiate(cfg.loss)
    optimizer = instantiate(cfg.student.optimizer)
    system = DistillationSystem(model, loss, optimizer, langs=list(data), labels=labels)
    collator = DistillCollator(
        tokenizer, cfg.student.max_length, cfg.student.get("prefix", ""), with_source=system.needs_source
    )
    targets = {lang: dict(teacher_logits[lang]) for lang in data}
    for r in range(int(cfg.cycle.rounds)):
        if r > 0:
            targets = _relabel(cfg, system, tokenizer, data, teacher_logits)
        dm = DistillDataModule.from_languages(
            _rows(data, targets, labels), collator=collator, batch_size=cfg.student.batch_size, seed=cfg.seed
        )
        _fit_round(cfg, system, dm, r)
    return system, tokenizer


def _relabel(
    cfg: DictConfig,
    system: DistillationSystem,
    tokenizer: Any,
    data: Mapping[str, DatasetDict],
    teacher_logits: Mapping[str, Mapping[str, Any]],
) -> dict[str, dict[str, Any]]:
    """The student relabels the target training pool; mix its soft labels with the teacher's."""
    out: dict[str, dict[str, Any]] = {}
    for lang in data:
        student = predict_logits(
            system.model,
            tokenizer,
            data[lang]["train"]["tgt"],
            max_length=cfg.student.max_length,
            prefix=cfg.student.get("prefix", ""),
            desc=f"relabel {lang}",
        )
        system.model.train()
        teacher = _as_array(teacher_logits[lang]["train"])
        out[lang] = {
            "train": mix_soft_labels(teacher, student, float(cfg.cycle.mix), float(cfg.loss.temperature)),
            "validation": teacher_logits[lang]["validation"],
        }
    return out


def _as_array(x: Any) -> np.ndarray:
    return np.asarray(x["logits"] if isinstance(x, Dataset) else x, dtype=np.float32)


def source_test_data(cfg: DictConfig) -> tuple[list[str], list[str]] | None:
    """Labelled source-language test texts (for the ``teacher`` row and the student's source score)."""
    if cfg.data.name != "chatterbot":
        return None
    from distill.data.sources.chatterbot import load_chatterbot

    test = load_chatterbot([cfg.data.source_lang])["test"]
    return list(test["text"]), list(test["topic"])


def evaluate_run(
    cfg: DictConfig,
    teacher: tuple[Any, Any],
    student: tuple[Any, Any],
    data: Mapping[str, DatasetDict],
    labels: list[str],
) -> MetricsReport:
    """Student and baselines on every language's test split (DESIGN.md sections 6 and 8)."""
    label2id = {name: i for i, name in enumerate(labels)}
    kw = {"batch_size": cfg.eval.batch_size}
    t_kw = {**kw, "max_length": cfg.teacher.max_length}
    s_kw = {**kw, "max_length": cfg.student.max_length, "prefix": cfg.student.get("prefix", "")}
    report = MetricsReport(source_lang=cfg.data.source_lang, target_langs=list(data))
    for lang, dd in data.items():
        test = dd["test"]
        if "label" not in test.column_names:
            continue
        gold = np.asarray(label_ids(test["label"], label2id, f"{lang}/test"))
        t_src = predict_logits(*teacher, test["src"], desc=f"teacher {cfg.data.source_lang} side", **t_kw)
        s_tgt = predict_logits(*student, test["tgt"], desc=f"student {lang}", **s_kw)
        report.add_predictions("student", lang, "test", s_tgt, gold, teacher_logits=t_src)
        report.add_predictions(
            "teacher_zero_shot", lang, "test", predict_logits(*teacher, test["tgt"], **t_kw), gold
        )
        report.add_predictions("teacher_translate_test", lang, "test", t_src, gold)
    source = source_test_data(cfg)
    if source is not None:
        texts, names = source
        gold = np.asarray(label_ids(names, label2id, f"{cfg.data.source_lang}/test"))
        t_src = predict_logits(*teacher, texts, desc="teacher source test", **t_kw)
        report.add_predictions("teacher", cfg.data.source_lang, "test", t_src, gold)
        s_src = predict_logits(*student, texts, desc="student source test", **s_kw)
        report.add_predictions("student", cfg.data.source_lang, "test", s_src, gold, teacher_logits=t_src)
    return report


def data_hashes(data: Mapping[str, DatasetDict]) -> dict[str, str]:
    """A content hash of every language's and split's pairs (for the model card and provenance)."""
    return {
        f"{lang}/{split}": text_sha256(*ds["src"], *ds["tgt"])[:16]
        for lang, dd in data.items()
        for split, ds in dd.items()
    }


def run(cfg: DictConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run every stage; return ``(metrics, objects)``."""
    from distill.export import export_student
    from distill.label import label_stage
    from distill.prepare import prepare
    from distill.teacher import load_teacher, train_teacher

    os.environ.setdefault("WANDB_MODE", "offline")
    pl.seed_everything(int(cfg.seed), workers=True)
    out_dir = Path(cfg.paths.output_dir)
    timer = StageTimer()
    with timer("prepare"):
        _, objects = prepare(cfg)
        data: dict[str, DatasetDict] = objects["data"]
    with timer("teacher"):
        teacher = train_teacher(cfg)
        write_text_atomic(out_dir / "teacher.json", json.dumps(teacher.to_dict(), indent=2))
    with timer("label"):
        soft = label_stage(
            Path(teacher.path), data, mode=cfg.mode.name, max_length=int(cfg.teacher.max_length)
        )
        logits = {lang: {s: _as_array(soft[lang][s].dataset) for s in TRAIN_SPLITS} for lang in data}
    with timer("distill"):
        system, tokenizer = distill_student(cfg, data, logits, teacher.labels)
    with timer("evaluate"):
        report = evaluate_run(
            cfg, load_teacher(teacher.path), (system.model, tokenizer), data, teacher.labels
        )
    with timer("export"):
        export_student(
            system.model,
            tokenizer,
            out_dir / "student",
            base_model=cfg.student.model,
            teacher=cfg.teacher.model,
            languages=[cfg.data.source_lang, *data],
            metrics=report,
            data={"name": cfg.data.name, **data_hashes(data)},
            command=" ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        )
    report.extras["stage_seconds"] = timer.seconds
    report.write(out_dir)
    OmegaConf.save(cfg, out_dir / "config.yaml", resolve=False)
    if "wandb" in sys.modules and sys.modules["wandb"].run is not None:
        sys.modules["wandb"].finish()  # flush the (offline) run so its files are complete on return
    print(format_table(report))
    print("stage times (s): " + ", ".join(f"{k} {v}" for k, v in timer.seconds.items()))
    return report.to_dict(), {"system": system, "tokenizer": tokenizer, "teacher": teacher, "report": report}
