"""The stages as plain functions: ``label``, ``train``, ``evaluate``, ``export`` and ``run`` (all).

Stages talk through files (the shared cache and the run directory), never through globals, so each
one also runs alone: ``distill-label`` fills the soft-label cache, ``distill-train`` writes student
checkpoints, ``distill-eval checkpoint=...`` scores a student with the baselines, and
``distill-export checkpoint=...`` writes the Hugging Face folder. ``run(cfg)`` chains them in one
process; the console scripts only wrap these functions.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sys
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from datasets import Dataset, DatasetDict, concatenate_datasets
from omegaconf import DictConfig

from distill.adapters import (
    AdapterSpec,
    add_language_adapters,
    continue_from,
    encoder_of,
    is_adapter_student,
    languages,
    parameter_counts,
    use_language,
)
from distill.continual import extend_languages, forgetting, rehearsed
from distill.data.datamodule import DistillCollator, DistillDataModule, distill_rows, label_ids
from distill.data.langs import check_lang_codes
from distill.errors import DistillError
from distill.evaluate import MetricsReport, format_table, load_metrics
from distill.label import SHARD_ROWS, TEACHER_COLUMNS, SoftLabels
from distill.live_teacher import LiveTeacher
from distill.models.classifier import load_classifier, predict_logits
from distill.multi_source import add_sides, combine_sources, primary_cfg, teacher_sources
from distill.multi_source import write_report as write_sources_report
from distill.resume import ResumeState, resume_checkpoint, run_fingerprint
from distill.student import DistillationSystem, freeze_word_embeddings, load_student_checkpoint
from distill.teacher import TeacherResult
from distill.utils.atomic import write_text_atomic
from distill.utils.config import build, loss_weight
from distill.utils.hashing import texts_sha256
from distill.utils.ranks import global_rank, is_rank_zero
from distill.utils.redact import redacted_container

log = logging.getLogger(__name__)
TRAIN_SPLITS = ("train", "validation")
STAGES = ("prepare", "teacher", "label", "distill", "baselines", "evaluate", "export")


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


@dataclass
class Labelled:
    """What the label stage leaves for the next ones.

    Attributes:
        data: Target language -> its parallel pairs (train/validation/test).
        teacher: The teacher stage's result (where the teacher is, its labels).
        soft: Target language -> split -> the teacher's cached soft labels.
        roundtrip: The same for the back-translations of the target text (``roundtrip`` loss),
            empty when that term is off.
    """

    data: dict[str, DatasetDict]
    teacher: TeacherResult
    soft: dict[str, dict[str, SoftLabels]] = field(default_factory=dict)
    roundtrip: dict[str, dict[str, SoftLabels]] = field(default_factory=dict)
    #: Source-language rehearsal (``data.rehearsal``): labelled source texts as pairs (``src`` =
    #: ``tgt``, ``label``) and the teacher's soft labels on them; ``None`` when off.
    rehearsal: tuple[Dataset, SoftLabels] | None = None
    #: Multi-source runs (``teachers:``): the teachers' combined logits ``{lang: {split: (N, C)}}``,
    #: which replace the primary teacher's ``soft`` as targets, and what ``sources.json`` records.
    combined: dict[str, dict[str, np.ndarray]] | None = None
    sources: dict[str, Any] | None = None
    #: ``teacher.live``: nothing was cached for training; the teacher labels each batch in the step.
    live: bool = False

    def _teacher(self, lang: str, split: str) -> np.ndarray:
        return self.combined[lang][split] if self.combined is not None else self.soft[lang][split].logits()

    def logits(self) -> dict[str, dict[str, np.ndarray]]:
        """The cached teacher logits of the training splits, ``{lang: {split: (N, C)}}``."""
        return {lang: {s: self._teacher(lang, s) for s in TRAIN_SPLITS} for lang in self.data}

    def targets(self) -> dict[str, dict[str, dict[str, np.ndarray]]]:
        """Every cached target column of the training splits, ``{lang: {split: {column: (N, C)}}}``."""
        out: dict[str, dict[str, dict[str, np.ndarray]]] = {}
        for lang in self.data:
            out[lang] = {}
            for s in TRAIN_SPLITS:
                out[lang][s] = {} if self.live else {"teacher_logits": self._teacher(lang, s)}
                if lang in self.roundtrip:
                    out[lang][s]["teacher_roundtrip_logits"] = self.roundtrip[lang][s].logits()
        return out


# ------------------------------------------------------------------------------------------ checks


# Trainer keys that must be positive integers (Lightning checks them only once the teacher has trained).
TRAINER_INTS = ("max_epochs", "check_val_every_n_epoch", "log_every_n_steps")


def check_trainer(cfg: DictConfig) -> None:
    """Fail on a trainer setting of the wrong type before anything runs."""
    for key in TRAINER_INTS:
        value = cfg.trainer.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise DistillError(
                f"trainer.{key} must be a positive integer, got {value!r}", fix=f"e.g. trainer.{key}=3"
            )


def check_config(cfg: DictConfig) -> None:
    """Fail on a bad loss, cycle or language setting before anything is trained.

    Raises:
        DistillError: A temperature <= 0, a negative or non-numeric loss weight, ``cycle.rounds``
            < 1, ``cycle.mix`` outside [0, 1], no target language, or the source language among
            the targets.
    """
    check_trainer(cfg)
    check_label_devices(cfg)
    dims = {"student_dim": 1, "teacher_dim": 1} if loss_weight(cfg, "emb") > 0 else {}
    build(cfg.loss, "loss", **dims)  # the loss validates its temperature and weights (dims come later)
    rounds, mix = cfg.cycle.rounds, cfg.cycle.mix
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise DistillError(f"cycle.rounds must be an integer >= 1, got {rounds!r}", fix="set cycle.rounds=1")
    if (
        isinstance(mix, bool)
        or not isinstance(mix, int | float)
        or not (0.0 <= mix <= 1.0 and math.isfinite(mix))
    ):
        raise DistillError(f"cycle.mix must be a number in [0, 1], got {mix!r}", fix="set cycle.mix=0.5")
    langs = list(cfg.data.target_langs or [])
    if not langs:
        raise DistillError("data.target_langs is empty", fix="name at least one, e.g. data.target_langs=[it]")
    check_lang_codes([cfg.data.source_lang], "data.source_lang")
    check_lang_codes(langs, "data.target_langs")
    if cfg.data.source_lang in langs:
        raise DistillError(
            f"data.target_langs={langs} contains the source language {cfg.data.source_lang!r}",
            fix="list only the languages the student learns, e.g. data.target_langs=[it]",
        )
    if len(set(langs)) != len(langs):
        raise DistillError(f"data.target_langs={langs} names a language twice", fix="list each language once")
    check_common_sources(cfg)
    rehearsal_size(cfg)
    if teacher_sources(cfg) and cfg.mode.name != "parallel":
        raise DistillError(
            f"teachers: (multi-source) needs mode=parallel, got mode={cfg.mode.name}",
            fix="set mode=parallel, or teachers=null for one teacher",
        )
    check_student_options(cfg)
    check_live_teacher(cfg)
    if uses_roundtrip(cfg) and not cfg.mode.get("translator"):
        raise DistillError(
            "loss.weights.roundtrip > 0 needs back-translations of the target text, but no translator is set",
            fix="set mode.translator.backend=apertium (offline; es, ca, is), file or marian, "
            "or loss.weights.roundtrip=0",
        )


def check_common_sources(cfg: DictConfig) -> None:
    """``data.common_sources``: a list of language codes, for chatterbot-corpus pairs only."""
    value = cfg.data.get("common_sources")
    if not value:
        return
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise DistillError(
            f"data.common_sources={value!r} is not a list of language codes",
            fix="set data.common_sources=[en,it,ja], or data.common_sources=[] for every pair",
        )
    if cfg.data.name != "chatterbot":
        raise DistillError(
            "data.common_sources needs pairs aligned across languages (data=chatterbot), "
            f"got data={cfg.data.name}",
            fix="set data.common_sources=[], or use data=chatterbot",
        )
    check_lang_codes([str(c) for c in value], "data.common_sources")


def check_student_options(cfg: DictConfig) -> None:
    """Adapters and vocabulary trimming: their settings and what they cannot be combined with."""
    student = cfg.student
    if student.get("adapters"):
        AdapterSpec.from_cfg(student)
        if cfg.data.get("rehearsal"):
            raise DistillError(
                "data.rehearsal adds source-language rows, which have no adapter of their own",
                fix="set data.rehearsal=null with student.adapters=lora (the frozen encoder does not forget)",
            )
    if student.get("trim_vocab") and (student.get("adapters") or student.get("init_from")):
        raise DistillError(
            "student.trim_vocab trims a fresh student; it cannot be combined with student.adapters "
            "or student.init_from",
            fix="set student.trim_vocab=false",
        )


def check_live_teacher(cfg: DictConfig) -> None:
    """``teacher.live=true`` covers plain distillation: refuse what needs cached soft labels."""
    if not cfg.teacher.get("live", False):
        return
    needs_cache = {
        "cycle.rounds > 1 (relabelling mixes cached teacher labels)": int(cfg.cycle.rounds) > 1,
        "data.rehearsal": bool(cfg.data.get("rehearsal")),
        "continual.rehearsal": bool(float(cfg.get("continual", {}).get("rehearsal", 0) or 0)),
        "teachers: (multi-source)": bool(teacher_sources(cfg)),
        "loss.weights.roundtrip": uses_roundtrip(cfg),
        f"mode={cfg.mode.name}": cfg.mode.name not in TEACHER_COLUMNS,
    }
    found = [name for name, on in needs_cache.items() if on]
    if found:
        raise DistillError(
            f"teacher.live=true does not support {', '.join(found)}",
            fix="set teacher.live=false (the cached teacher: the default, and faster), or turn those off",
        )


# --------------------------------------------------------------------------------------- label


def label(cfg: DictConfig, timer: StageTimer | None = None) -> Labelled:
    """Prepare the data, get the teacher (cached) and fill the soft-label cache (``distill-label``)."""
    from distill.label import label_stage
    from distill.prepare import prepare
    from distill.teacher import train_teacher

    timer = timer or StageTimer()
    out_dir = Path(cfg.paths.output_dir)
    sources = teacher_sources(cfg)  # multi-source: the first teacher is the primary one
    with timer("prepare"):
        _, objects = prepare(cfg)
    with timer("teacher"):
        teachers = [train_teacher(s.cfg) for s in sources]
        teacher = teachers[0] if teachers else train_teacher(cfg)
    check_test_labels(objects["data"], teacher.labels)  # before any soft label is computed
    if is_rank_zero():  # the other ranks of a ddp job rerun this stage from the cache
        write_text_atomic(out_dir / "teacher.json", json.dumps(teacher.to_dict(), indent=2))
    live = bool(cfg.teacher.get("live", False))
    with timer("label"):
        # A live teacher labels every training batch itself: nothing to cache for training.
        soft = (
            {}
            if live
            else label_stage(
                Path(teacher.path),
                # The teacher labels what the student trains and validates on; test texts are scored
                # directly by the evaluate stage.
                {lang: DatasetDict({s: dd[s] for s in TRAIN_SPLITS}) for lang, dd in objects["data"].items()},
                mode=cfg.mode.name,
                **teacher_label_kw(cfg),
            )
        )
        roundtrip: dict[str, dict[str, SoftLabels]] = {}
        if uses_roundtrip(cfg):
            # The same teacher on the back-translations MT(target -> source), read as a source side.
            views = {
                lang: DatasetDict({s: Dataset.from_dict({"src": dd[s]["src_bt"]}) for s in TRAIN_SPLITS})
                for lang, dd in objects["data"].items()
            }
            roundtrip = label_stage(
                Path(teacher.path),
                views,
                mode="parallel",
                **teacher_label_kw(cfg),
            )
        rehearsal = rehearsal_labels(cfg, Path(teacher.path))
        combined: dict[str, dict[str, np.ndarray]] | None = None
        report: dict[str, Any] | None = None
        entries: dict[str, dict[str, Any]] = {}
        if sources:
            objects["data"] = add_sides(cfg, objects["data"], sources)
            combined, report, entries = combine_sources(
                cfg, sources, teachers, objects["data"], TRAIN_SPLITS, teacher_label_kw(cfg)
            )
            if is_rank_zero():
                write_sources_report(out_dir, report)
    summary: dict[str, dict[str, Any]] = {
        lang: {s: {"rows": len(e), "key": e.key, "hit": e.hit} for s, e in splits.items()}
        for lang, splits in soft.items()
    }
    if rehearsal is not None:
        entry = rehearsal[1]
        summary[f"{cfg.data.source_lang}_rehearsal"] = {
            "train": {"rows": len(entry), "key": entry.key, "hit": entry.hit}
        }
    for lang, found in entries.items():  # each teacher's own cache entries (multi-source)
        summary[lang].update(found)
    for lang, splits in roundtrip.items():
        summary[lang].update(
            {f"{s}_roundtrip": {"rows": len(e), "key": e.key, "hit": e.hit} for s, e in splits.items()}
        )
    if live:
        summary = {lang: {"live": True} for lang in objects["data"]}
    if is_rank_zero():  # the other ranks would record rank 0's misses as hits
        write_text_atomic(out_dir / "labels.json", json.dumps(summary, indent=2))
    return Labelled(
        data=objects["data"],
        teacher=teacher,
        soft=soft,
        roundtrip=roundtrip,
        rehearsal=rehearsal,
        combined=combined,
        sources=report,
        live=live,
    )


def rehearsal_size(cfg: DictConfig) -> int | str:
    """``data.rehearsal``: a count of source texts (0: off) or ``"all"``.

    Raises:
        DistillError: Any other value.
    """
    value = cfg.data.get("rehearsal", 0)
    if value is None or value == "all":
        return value or 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DistillError(
            f"data.rehearsal must be a count of source texts >= 0 or all, got {value!r}",
            fix="set data.rehearsal=500, data.rehearsal=all or data.rehearsal=0 (off)",
        )
    return value


def rehearsal_labels(cfg: DictConfig, teacher_dir: Path) -> tuple[Dataset, SoftLabels] | None:
    """Labelled source texts to rehearse (``data.rehearsal``) and the teacher's cached soft labels.

    ``data.rehearsal=N`` takes N of the teacher's own training texts (stratified over labels, fixed
    seed; ``all`` for every one). The student reads them as well as the target text, against the
    teacher's soft labels, so that it keeps the source language (DESIGN.md section 3: forgetting).

    Raises:
        DistillError: A value that is not a count >= 0 or ``all``.
    """
    value = rehearsal_size(cfg)
    if value == 0:
        return None
    from distill.label import label_stage
    from distill.teacher import TeacherRecipe, cap_examples, teacher_training_data

    data = teacher_training_data(cfg)
    if value != "all":
        data = cap_examples(data, int(value), TeacherRecipe.from_cfg(cfg).seed)
    pairs = Dataset.from_dict({"src": data.train_texts, "tgt": data.train_texts, "label": data.train_labels})
    soft = label_stage(
        teacher_dir,
        {str(cfg.data.source_lang): DatasetDict({"train": Dataset.from_dict({"src": data.train_texts})})},
        mode="parallel",
        **teacher_label_kw(cfg),
    )
    return pairs, soft[str(cfg.data.source_lang)]["train"]


def teacher_label_kw(cfg: DictConfig) -> dict[str, Any]:
    """How the teacher labels text for the cache: ``max_length``, ``batch_size``, ``shard_rows`` and
    across how many processes (``teacher.label_devices``, ``teacher.label_strategy``)."""
    return {
        "max_length": int(cfg.teacher.max_length),
        "batch_size": int(cfg.teacher.get("label_batch_size", 64)),
        "shard_rows": int(cfg.teacher.get("label_shard_rows", SHARD_ROWS)),
        "devices": int(cfg.teacher.get("label_devices", 1)),
        "strategy": str(cfg.teacher.get("label_strategy", "ddp")),
    }


def distributed_trainer(cfg: DictConfig) -> bool:
    """Whether ``cfg.trainer`` fits in several processes (a ``ddp``/``fsdp`` strategy)."""
    strategy = cfg.trainer.get("strategy")
    name = str(strategy.get("_target_", "") if isinstance(strategy, DictConfig) else strategy or "").lower()
    return "ddp" in name or "fsdp" in name


def end_label_processes() -> None:
    """After a label stage across processes (``teacher.label_devices`` > 1) and before a fit in one.

    A further rank, started by Lightning for the labelling alone, has nothing left to do and exits;
    rank 0 leaves the process group, which metrics would otherwise try to sync across.
    """
    if not is_rank_zero():
        log.info("rank %d: soft labels done; rank 0 trains the student", global_rank())
        raise SystemExit(0)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def check_label_devices(cfg: DictConfig) -> None:
    """Fail on ``teacher.label_devices`` that cannot work with this trainer.

    Under ``ddp`` the label stage's processes are the command run again; a distributed fit after it
    joins the same processes, so it needs as many.
    """
    devices, strategy = cfg.teacher.get("label_devices", 1), cfg.teacher.get("label_strategy", "ddp")
    if isinstance(devices, bool) or not isinstance(devices, int) or devices < 1:
        raise DistillError(
            f"teacher.label_devices must be an integer >= 1, got {devices!r}",
            fix="e.g. teacher.label_devices=2",
        )
    if strategy not in ("ddp", "ddp_spawn"):
        raise DistillError(
            f"teacher.label_strategy must be ddp or ddp_spawn, got {strategy!r}",
            fix="teacher.label_strategy=ddp",
        )
    fit_devices = cfg.trainer.get("devices")
    if devices > 1 and strategy == "ddp" and distributed_trainer(cfg) and fit_devices != devices:
        raise DistillError(
            f"teacher.label_devices={devices} with label_strategy=ddp, but the fit runs on "
            f"trainer.devices={fit_devices}: both use the same processes",
            fix=f"set teacher.label_devices={fit_devices} or teacher.label_strategy=ddp_spawn",
        )


def uses_roundtrip(cfg: DictConfig) -> bool:
    """Whether the ``roundtrip`` loss term is on (it needs back-translations of the target text)."""
    return loss_weight(cfg, "roundtrip") > 0


# --------------------------------------------------------------------------------------- distill


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


# Per language and training split, the target columns of the rows: ``teacher_logits`` (kd), and
# where present ``teacher_src_logits`` (back, after a cyclic round) and ``teacher_roundtrip_logits``.
Targets = Mapping[str, Mapping[str, Mapping[str, np.ndarray]]]


def training_rows(
    data: Mapping[str, DatasetDict], targets: Targets, labels: list[str]
) -> dict[str, dict[str, Dataset]]:
    label2id = {name: i for i, name in enumerate(labels)}
    return {
        lang: {
            s: distill_rows(
                data[lang][s], lang_id=i, label2id=label2id, where=f"{lang}/{s}", **targets[lang][s]
            )
            for s in TRAIN_SPLITS
        }
        for i, lang in enumerate(data)
    }


@dataclass(frozen=True)
class BestCheckpoint:
    """The checkpoint a fit selected on validation (``path`` is "" when no checkpoint was kept).

    Attributes:
        path: The best checkpoint file.
        metric: The validation metric it was selected on (``val/acc``, ``val/loss``, ...).
        mode: ``max`` or ``min``.
        score: Its value of ``metric`` (None when nothing was monitored).
    """

    path: str = ""
    metric: str | None = None
    mode: str | None = None
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``best_val`` entry of ``metrics.json`` (what ``objective=val`` returns)."""
        return {"metric": self.metric, "mode": self.mode, "score": self.score}


def fit_and_load_best(
    cfg: DictConfig,
    system: pl.LightningModule,
    dm: pl.LightningDataModule,
    *,
    monitor: tuple[str, str] | None = None,
    log_config: bool = True,
    checkpoint_subdir: str | None = None,
) -> BestCheckpoint:
    """``trainer.fit`` with the configured loggers and callbacks; load and return the best checkpoint.

    A fit killed before it ended is resumed from ``<checkpoint dir>/last.ckpt`` when the same
    command runs again (``resume=true``, the default; see :mod:`distill.resume`).

    Args:
        monitor: ``(metric, mode)`` for checkpoints configured to select on ``val/acc``, when this
            run has no accuracy to select on (``("val/agreement", "max")``, ``("val/loss", "min")``).
        log_config: Log the resolved config to the loggers (once per run).
        checkpoint_subdir: Keep this fit's checkpoints in a sub-folder of the configured one (each
            cyclic round has its own, so that each resumes from its own ``last.ckpt``).
    """
    fingerprint = run_fingerprint(cfg)
    loggers = [build(c, f"logger.{k}") for k, c in (cfg.get("logger") or {}).items()]
    callbacks: list[Any] = [ResumeState(fingerprint)]
    checkpoint_dir = None
    for k, c in (cfg.get("callbacks") or {}).items():
        override: dict[str, Any] = {}
        is_checkpoint = str(c.get("_target_", "")).endswith("ModelCheckpoint")
        if monitor and is_checkpoint and c.get("monitor") == "val/acc":
            override = {"monitor": monitor[0], "mode": monitor[1]}
            log.info("distill: checkpoints selected on %s (%s)", *monitor)
        if is_checkpoint and c.get("dirpath"):
            checkpoint_dir = Path(str(c.dirpath)) / (checkpoint_subdir or "")
            override["dirpath"] = str(checkpoint_dir)
        callbacks.append(build(c, f"callbacks.{k}", **override))
    trainer: pl.Trainer = build(cfg.trainer, "trainer", logger=loggers or False, callbacks=callbacks)
    if log_config:
        config = redacted_container(cfg)  # secrets masked
        for logger in loggers:
            logger.log_hyperparams(config)  # the resolved config, next to the metrics
    last = resume_checkpoint(checkpoint_dir, fingerprint) if cfg.get("resume", True) else None
    with warnings.catch_warnings():
        # Under ddp every rank validates every row (DistillDataModule), so the epoch-level values
        # Lightning would have us sync with sync_dist=True already agree across ranks.
        warnings.filterwarnings("ignore", message=r".*sync_dist=True.*")
        trainer.fit(system, datamodule=dm, ckpt_path=last)
    ckpt = trainer.checkpoint_callback
    best = str(getattr(ckpt, "best_model_path", "") or "")
    if best:
        # Select on validation: evaluate (and relabel with) the best epoch, not the last one.
        state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
        system.load_state_dict(state)
        log.info("distill: best checkpoint %s", best)
    score = getattr(ckpt, "best_model_score", None)
    value = float(score) if score is not None else None
    return BestCheckpoint(
        path=best,
        metric=getattr(ckpt, "monitor", None),
        mode=getattr(ckpt, "mode", None),
        score=value if value is not None and math.isfinite(value) else None,  # strict JSON
    )


def _fit_round(
    cfg: DictConfig, system: DistillationSystem, dm: DistillDataModule, round_idx: int
) -> BestCheckpoint:
    """One round of distillation; checkpoints on ``val/agreement`` when validation has no gold labels."""
    log.info("distill: round %d of %d", round_idx + 1, cfg.cycle.rounds)
    gold = any(x >= 0 for x in dm.val_rows["labels"])
    return fit_and_load_best(
        cfg,
        system,
        dm,
        monitor=None if gold else ("val/agreement", "max"),
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
    if cfg.student.get("adapters") and not frozen:
        model = add_language_adapters(model, langs, AdapterSpec.from_cfg(cfg.student))
    elif cfg.student.get("freeze_word_embeddings") and not cfg.student.get("adapters"):
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
    if cfg.student.get("trim_vocab", False):
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


class _StudentTexts:
    """Every text the student may read in this run, re-iterable and streamed from the Arrow columns."""

    def __init__(self, cfg: DictConfig, labelled: Labelled) -> None:
        self.cfg, self.labelled = cfg, labelled

    def __iter__(self) -> Iterator[str]:
        for dd in self.labelled.data.values():
            for ds in dd.values():
                for column in ("tgt", "src"):
                    if column in ds.column_names:
                        yield from ds[column]
        if self.labelled.rehearsal is not None:
            yield from self.labelled.rehearsal[0]["src"]
        source = source_test_data(self.cfg)
        if source is not None:
            yield from source[0]
        yield from _trim_extra(self.cfg.student.get("trim_vocab_extra"))


def _trim_extra(extra: Any) -> Iterator[str]:
    """``student.trim_vocab_extra``: a list of texts, or a text file (one text a line)."""
    if not extra:
        return
    if isinstance(extra, str):
        path = Path(extra).expanduser()
        if not path.is_file():
            raise DistillError(
                f"student.trim_vocab_extra={extra!r} is not a file",
                fix="name a text file (one text a line) or give a list of texts",
            )
        with path.open(encoding="utf-8") as f:
            yield from (line.rstrip("\n") for line in f)
        return
    yield from (str(t) for t in extra)


def trim_student_vocab(cfg: DictConfig, model: Any, tokenizer: Any, labelled: Labelled) -> Any:
    """``student.trim_vocab``: keep the pieces of the run's texts (in place); return the new tokenizer."""
    from distill.models.trim import trim_vocabulary

    tokenizer, _ = trim_vocabulary(
        model, tokenizer, _StudentTexts(cfg, labelled), prefix=cfg.student.get("prefix", "")
    )
    return tokenizer


def live_teacher(cfg: DictConfig, labelled: Labelled) -> LiveTeacher | None:
    """The frozen teacher that labels each batch in the step when ``teacher.live=true``."""
    if not labelled.live:
        return None
    from distill.teacher import load_teacher

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
        tokenizer, cfg.student.max_length, cfg.student.get("prefix", ""), with_source=with_source, live=live
    )
    return DistillDataModule.from_languages(
        rehearsed(cfg, training_rows(data, targets, labels)),
        collator=collator,
        batch_size=cfg.student.batch_size,
        seed=cfg.seed,
        one_language_per_batch=bool(cfg.student.get("adapters")),
        bucket_by_length=bool(cfg.student.get("bucket_by_length", False)),
    )


def _relabel(
    cfg: DictConfig,
    system: DistillationSystem,
    tokenizer: Any,
    data: Mapping[str, DatasetDict],
    teacher_targets: Targets,
) -> dict[str, dict[str, dict[str, np.ndarray]]]:
    """The student relabels the target pool and the source side; mix both with the teacher.

    The ``kd`` targets become ``mix * p_T + (1 - mix) * p_S(x_t)`` and the ``back`` targets
    ``mix * p_T + (1 - mix) * p_S(x_s)`` (DESIGN.md section 3, cyclic training). Validation and
    the roundtrip targets stay the teacher's.
    """
    kw = {"max_length": cfg.student.max_length, "prefix": cfg.student.get("prefix", "")}
    mix, tau = float(cfg.cycle.mix), float(cfg.loss.temperature)
    out: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    for lang in data:
        use_language(system.model, lang)
        pool = data[lang]["train"]
        on_tgt = predict_logits(system.model, tokenizer, pool["tgt"], desc=f"relabel {lang}", **kw)
        on_src = predict_logits(system.model, tokenizer, pool["src"], desc=f"relabel {lang} source", **kw)
        teacher = teacher_targets[lang]["train"]["teacher_logits"]
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


def check_test_labels(data: Mapping[str, DatasetDict], labels: list[str]) -> None:
    """Fail before training when a test split holds labels the teacher does not have."""
    label2id = {name: i for i, name in enumerate(labels)}
    for lang, dd in data.items():
        if "test" in dd and "label" in dd["test"].column_names:
            label_ids(dd["test"]["label"], label2id, f"{lang}/test")


def train(
    cfg: DictConfig, timer: StageTimer | None = None
) -> tuple[Labelled, DistillationSystem, Any, BestCheckpoint]:
    """Every stage up to the trained student (``distill-train``).

    Returns:
        ``(labelled, system, tokenizer, best checkpoint)``; checkpoints (student weights only) are
        under ``<run dir>/checkpoints``.
    """
    extend_languages(cfg)  # a student continued from an export keeps its earlier languages
    check_config(cfg)
    timer = timer or StageTimer()
    labelled = label(cfg, timer)
    if not distributed_trainer(cfg):
        end_label_processes()
    with timer("distill"):
        system, tokenizer, best = distill_student(cfg, labelled)
    return labelled, system, tokenizer, best


# -------------------------------------------------------------------------------------- evaluate


def source_test_data(cfg: DictConfig) -> tuple[list[str], list[str]] | None:
    """Labelled source-language test texts (for the ``teacher`` row and the student's source score)."""
    if cfg.data.name == "files" and cfg.data.get("source_test"):
        from distill.data.files import read_table

        columns = dict(cfg.data.get("columns") or {})
        test = read_table(
            cfg.data.source_test, required=("text", "label"), columns=columns, what="data.source_test"
        )
        return list(test["text"]), list(test["label"])
    if cfg.data.name == "hub" and cfg.data.get("source_test"):
        from distill.data.hub import hub_labelled

        test = hub_labelled(cfg.data.source_test, str(cfg.data.source_lang))
        return list(test["text"]), list(test["label"])
    if cfg.data.name != "chatterbot":
        return None
    from distill.data.sources.chatterbot import chatterbot_topics, load_chatterbot

    test = load_chatterbot([cfg.data.source_lang])["test"]
    topics = chatterbot_topics(cfg.data)
    if topics is not None:
        test = test.filter(lambda row: row["topic"] in topics)
    return list(test["text"]), list(test["topic"])


def evaluate_run(
    cfg: DictConfig,
    teacher: tuple[Any, Any],
    student: tuple[Any, Any],
    data: Mapping[str, DatasetDict],
    labels: list[str],
    baselines: Mapping[str, Baseline] | None = None,
) -> MetricsReport:
    """Student and baselines on every language's test split (DESIGN.md sections 6 and 8).

    Args:
        baselines: Further systems scored on the target text, ``{system name: Baseline}``
            (``direct_transfer``, ``supervised``; see :mod:`distill.baselines`).
    """
    label2id = {name: i for i, name in enumerate(labels)}
    kw = {"batch_size": cfg.eval.batch_size}
    t_kw = {**kw, "max_length": cfg.teacher.max_length}
    s_kw = {**kw, "max_length": cfg.student.max_length, "prefix": cfg.student.get("prefix", "")}
    report = MetricsReport(source_lang=cfg.data.source_lang, target_langs=list(data))
    report.embeddings = student_embeddings(cfg, student, data)
    for lang, dd in data.items():
        test = dd["test"]
        parallel = "src" in test.column_names
        t_src = (
            predict_logits(*teacher, test["src"], desc=f"teacher {cfg.data.source_lang} side", **t_kw)
            if parallel
            else None
        )
        use_language(student[0], lang)
        s_tgt = predict_logits(*student, test["tgt"], desc=f"student {lang}", **s_kw)
        if "label" not in test.column_names:
            # Unlabelled pairs: no accuracy, but how often the student agrees with the teacher.
            assert t_src is not None
            agree = float(np.mean(s_tgt.argmax(1) == t_src.argmax(1)))
            report.extras.setdefault("unlabelled_agreement", {})[lang] = {
                "agreement": round(agree, 6),
                "n": len(test),
            }
            log.warning("evaluate: the %s test pairs carry no labels; reporting teacher agreement only", lang)
            continue
        gold = np.asarray(label_ids(test["label"], label2id, f"{lang}/test"))
        report.add_predictions("student", lang, "test", s_tgt, gold, teacher_logits=t_src)
        # A multilingual teacher (mode=direct) on target text is the direct-transfer baseline;
        # a source-language teacher on target text is the zero-shot one.
        on_target = "direct_transfer" if cfg.mode.name == "direct" else "teacher_zero_shot"
        report.add_predictions(on_target, lang, "test", predict_logits(*teacher, test["tgt"], **t_kw), gold)
        if t_src is not None:
            report.add_predictions("teacher_translate_test", lang, "test", t_src, gold)
        for name, base in (baselines or {}).items():
            logits = predict_logits(
                base.model, base.tokenizer, test["tgt"], desc=f"{name} {lang}", **kw, **base.kw
            )
            report.add_predictions(name, lang, "test", logits, gold)
    source = source_test_data(cfg)
    if source is not None:
        texts, names = source
        gold = np.asarray(label_ids(names, label2id, f"{cfg.data.source_lang}/test"))
        t_src = predict_logits(*teacher, texts, desc="teacher source test", **t_kw)
        report.add_predictions("teacher", cfg.data.source_lang, "test", t_src, gold)
        use_language(student[0], next(iter(data), ""))  # an adapter student: the first target's
        s_src = predict_logits(*student, texts, desc="student source test", **s_kw)
        report.add_predictions("student", cfg.data.source_lang, "test", s_src, gold, teacher_logits=t_src)
    return report


@dataclass
class Baseline:
    """A further system the evaluate stage scores on the target text."""

    model: Any
    tokenizer: Any
    #: ``max_length`` and ``prefix`` for :func:`~distill.models.classifier.predict_logits`.
    kw: dict[str, Any] = field(default_factory=dict)


def baseline_systems(cfg: DictConfig, labelled: Labelled | None, labels: list[str]) -> dict[str, Baseline]:
    """The ``baselines=`` systems: ``direct_transfer`` (cached) and, given ``labelled``, ``supervised``."""
    from distill.baselines import direct_transfer_teacher, train_supervised

    out: dict[str, Baseline] = {}
    # Only rank 0 evaluates; the other ranks of a ddp job take part in the supervised fit only.
    direct = direct_transfer_teacher(cfg, labels) if is_rank_zero() else None
    if direct is not None:
        sub, (model, tokenizer) = direct
        out["direct_transfer"] = Baseline(model, tokenizer, {"max_length": int(sub.teacher.max_length)})
    if labelled is not None:
        supervised = train_supervised(cfg, labelled)
        if supervised is not None:
            kw = {"max_length": int(cfg.student.max_length), "prefix": cfg.student.get("prefix", "")}
            out["supervised"] = Baseline(*supervised, kw)
    elif (cfg.get("baselines") or {}).get("supervised"):
        log.warning("baselines: supervised is trained by distill-run only; distill-eval leaves it out")
    return out


#: Parallel test pairs per language whose student embeddings go to ``embeddings.parquet``.
EMBEDDING_PAIRS = 200


def student_embeddings(
    cfg: DictConfig, student: tuple[Any, Any], data: Mapping[str, DatasetDict]
) -> dict[str, Any]:
    """Mean-pooled student sentence embeddings of both sides of the parallel test pairs.

    The ``distill-report`` projection plot: a student that maps translations close together shows
    the languages mixed, one that does not shows them apart.
    """
    from distill.embedding import encode

    model, tokenizer = student
    encoder = encoder_of(model)
    kw = {
        "max_length": int(cfg.student.max_length),
        "prefix": cfg.student.get("prefix", ""),
        "normalize": True,
    }
    out: dict[str, Any] = {"lang": [], "pair": [], "vector": []}
    for lang, dd in data.items():
        test = dd["test"]
        if "src" not in test.column_names or "tgt" not in test.column_names:
            continue
        n = min(len(test), EMBEDDING_PAIRS)
        use_language(model, lang)
        for side, code in (("src", cfg.data.source_lang), ("tgt", lang)):
            vectors = encode(encoder, tokenizer, test[side][:n], desc=f"embed {lang} {side}", **kw)
            out["lang"] += [code] * n
            out["pair"] += [f"{lang}:{i}" for i in range(n)]
            out["vector"] += list(vectors)
    return out if out["lang"] else {}


def _checkpoint(cfg: DictConfig, stage: str) -> Path:
    ref = cfg.get("checkpoint")
    if not ref:
        raise DistillError(
            f"distill-{stage} needs the student to work on",
            fix=f"pass checkpoint=<run dir>/checkpoints/last.ckpt (from distill-train) or an exported "
            f"student folder, e.g. distill-{stage} checkpoint=outputs/<date>/<time>/checkpoints/last.ckpt",
        )
    return Path(str(ref)).expanduser()


def _prepared(cfg: DictConfig, timer: StageTimer) -> tuple[dict[str, DatasetDict], TeacherResult]:
    from distill.prepare import prepare
    from distill.teacher import train_teacher

    with timer("prepare"):
        _, objects = prepare(cfg)
    with timer("teacher"):
        teacher = train_teacher(primary_cfg(cfg))
    return objects["data"], teacher


def evaluate(cfg: DictConfig, timer: StageTimer | None = None) -> MetricsReport:
    """Score the student at ``checkpoint`` and the baselines; write ``metrics.json`` (``distill-eval``)."""
    from distill.teacher import load_teacher

    check_config(cfg)
    timer = timer or StageTimer()
    ckpt = _checkpoint(cfg, "eval")
    data, teacher = _prepared(cfg, timer)
    with timer("evaluate"):
        student = load_student_checkpoint(ckpt, cfg.student.model, teacher.labels)
        extra = baseline_systems(cfg, None, teacher.labels)
        report = evaluate_run(cfg, load_teacher(teacher.path), student, data, teacher.labels, extra)
    report.extras["student_checkpoint"] = str(ckpt)
    write_run(cfg, report, timer, data_hashes(data))
    print(format_table(report))
    print(timer.line())
    return report


# ---------------------------------------------------------------------------------------- export


def data_hashes(data: Mapping[str, DatasetDict]) -> dict[str, str]:
    """A content hash of every language's and split's pairs (for the model card and provenance):
    all ``src`` texts, then all ``tgt`` texts, streamed from the Arrow table 10k rows at a time."""

    def texts(ds: Dataset) -> Iterator[str]:
        for c in ("src", "tgt"):
            if c in ds.column_names:
                for chunk in ds.select_columns([c]).iter(batch_size=10_000):
                    yield from chunk[c]

    return {
        f"{lang}/{split}": texts_sha256(texts(ds))[:16]
        for lang, dd in data.items()
        for split, ds in dd.items()
    }


def export_run(
    cfg: DictConfig,
    model: Any,
    tokenizer: Any,
    data: Mapping[str, DatasetDict],
    report: MetricsReport | None,
    hashes: dict[str, str] | None = None,
) -> Path:
    """Write ``<run dir>/student`` and log it as a W&B model artifact when a run is active
    (``hashes``: the :func:`data_hashes` of ``data``, when the caller has them)."""
    from distill.export import export_adapters, export_student, log_artifact
    from distill.provenance import write_provenance

    # provenance.json first: the card repeats it, and write_run keeps its pair hashes.
    hashes = data_hashes(data) if hashes is None else hashes
    prov = write_provenance(cfg, hashes)
    base: dict[str, Any] = next((m for m in prov["models"] if m["role"] == "student_base"), {})
    card = {
        "base_model": cfg.student.model,
        "teacher": cfg.teacher.get("path") or cfg.teacher.model,
        # An adapter student continued from an export also serves the export's languages.
        "languages": [cfg.data.source_lang, *(languages(model) if is_adapter_student(model) else data)],
        "metrics": report,
        "data": {"name": cfg.data.name, **hashes},
        "command": prov["reproducibility"]["command"],  # secrets masked
        "input_prefix": cfg.student.get("prefix", ""),
        "license": base.get("license") or "unknown",
        "provenance": prov,
        "vocab_trim": getattr(getattr(model, "config", None), "xlt_distill_vocab_trim", None),
    }
    out = Path(cfg.paths.output_dir) / "student"
    if is_adapter_student(model):
        folder = export_adapters(model, tokenizer, out, AdapterSpec.from_cfg(cfg.student), **card)
    else:
        folder = export_student(model, tokenizer, out, **card)
    metadata = {"experiment": cfg.experiment_name, "seed": int(cfg.seed)}
    if report is not None:
        metadata["results"] = report.results
    log_artifact(folder, name=f"student-{cfg.experiment_name}", metadata=metadata)
    return folder


def _metrics_near(ckpt: Path) -> MetricsReport | None:
    """The ``metrics.json`` of the run that wrote ``ckpt`` (its run dir), if there is one."""
    run_dir = ckpt.parent.parent if ckpt.is_file() else ckpt.parent
    for path in (ckpt / "metrics.json", run_dir / "metrics.json"):
        if path.is_file():
            log.info("export: model card metrics from %s", path)
            return load_metrics(path)
    return None


def export(cfg: DictConfig) -> Path:
    """Export the student at ``checkpoint`` as a Hugging Face folder (``distill-export``).

    The model card takes its metrics from the ``metrics.json`` of the run that wrote the checkpoint
    (run ``distill-eval`` first for a run that has none).
    """
    from distill.prepare import prepare_data
    from distill.teacher import classifier_labels, train_teacher

    ckpt = _checkpoint(cfg, "export")
    teacher = train_teacher(cfg) if not cfg.teacher.get("path") else None
    labels = teacher.labels if teacher is not None else classifier_labels(str(cfg.teacher.path))
    model, tokenizer = load_student_checkpoint(ckpt, cfg.student.model, labels)
    report = _metrics_near(ckpt)
    if report is None:
        log.warning("export: no metrics.json next to %s; the model card has no metrics table", ckpt)
    folder = export_run(cfg, model, tokenizer, prepare_data(cfg), report)
    print(f"exported the student to {folder}")
    return folder


# ------------------------------------------------------------------------------------------- run


def finish_wandb() -> None:
    """Flush the (offline) W&B run, so its files are complete when the call returns."""
    if "wandb" in sys.modules and sys.modules["wandb"].run is not None:
        sys.modules["wandb"].finish()


def run(cfg: DictConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run every stage; return ``(metrics, objects)`` (``distill-run``)."""
    from distill.teacher import load_teacher

    if cfg.get("task", "classification") == "embedding":
        from distill.embedding import run_embedding

        if distributed_trainer(cfg):  # its records are not written by rank 0 alone yet
            raise DistillError(
                "task=embedding runs in one process", fix="drop trainer=ddp/fsdp (use trainer=gpu)"
            )

        return run_embedding(cfg)

    os.environ.setdefault("WANDB_MODE", "offline")
    pl.seed_everything(int(cfg.seed), workers=True)
    timer = StageTimer()
    try:
        labelled, system, tokenizer, best = train(cfg, timer)
        data, teacher = labelled.data, labelled.teacher
        with timer("baselines"):
            extra = baseline_systems(cfg, labelled, teacher.labels)
        if not is_rank_zero():
            # A further rank of a ddp job (trainer=ddp): its share of every fit is done; rank 0
            # evaluates, exports and writes the records.
            log.info("rank %d: training done; rank 0 evaluates and writes the run folder", global_rank())
            return {"best_val": best.to_dict()}, {
                "system": system,
                "tokenizer": tokenizer,
                "teacher": teacher,
            }
        with timer("evaluate"):
            report = evaluate_run(
                cfg, load_teacher(teacher.path), (system.model, tokenizer), data, teacher.labels, extra
            )
        report.extras["student_checkpoint"] = in_run_dir(cfg, best.path)
        continual = forgetting(cfg, report.results)
        if continual is not None:
            report.extras["continual"] = continual
        if is_adapter_student(system.model):  # what each language trains and stores
            spec = AdapterSpec.from_cfg(cfg.student)
            report.extras["adapters"] = parameter_counts(system.model, spec, system.frozen_langs)
        report.extras["best_val"] = best.to_dict()  # what `objective=val` returns to a sweep
        if labelled.sources is not None:
            report.extras["sources"] = labelled.sources
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


def in_run_dir(cfg: DictConfig, path: str) -> str:
    """``path`` relative to the run folder when inside it, so metrics.json does not name the folder."""
    if not path:
        return path
    try:
        return str(Path(path).resolve().relative_to(Path(cfg.paths.output_dir).resolve()))
    except ValueError:
        return path


def student_variant(cfg: DictConfig) -> str:
    """A short name of how the student was made: loss terms, cyclic rounds and mode.

    ``distill-report`` shows student rows of different runs under this name, e.g. ``kd``,
    ``kd+back+cycle R=2`` or ``kd direct``; ``variant=`` in the config overrides it.
    """
    if cfg.get("variant"):
        return str(cfg.variant)
    from distill.utils.resolvers import active_terms

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
    cfg: DictConfig, report: MetricsReport, timer: StageTimer, pairs: Mapping[str, str] | None = None
) -> None:
    """The run folder's records: ``metrics.json``, ``timings.json``, ``results.md``,
    ``provenance.json`` and ``config.yaml``.

    ``metrics.json`` gets the ``reproducibility`` facts (seed, versions, git commit, platform,
    command) but no times, so two runs of one command and seed on one machine write the same bytes;
    the stage times go to ``timings.json``. The config is saved with its secrets masked. ``pairs``
    (:func:`data_hashes`) go to ``provenance.json``.
    """
    from distill.provenance import reproducibility, write_provenance
    from distill.utils.redact import redacted_yaml

    out_dir = Path(cfg.paths.output_dir)
    report.extras["run"] = run_info(cfg)
    report.extras["stage_seconds"] = timer.seconds  # MetricsReport.write puts it in timings.json
    report.extras["reproducibility"] = reproducibility(cfg)
    report.write(out_dir)
    write_provenance(cfg, pairs)
    write_text_atomic(out_dir / "config.yaml", redacted_yaml(cfg, resolve=False))
