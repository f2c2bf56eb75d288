"""Config checks, run before anything is trained, and the derived settings the stages read.

Each check fails with a :class:`~distill.errors.DistillError` that names the key and a fix.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from distill.adapters import (
    AdapterSpec,
)
from distill.cache import TEACHER_COLUMNS
from distill.cache.precision import check_precision
from distill.data.langs import check_lang_codes
from distill.errors import DistillError
from distill.multi_source import teacher_sources
from distill.sources import source_of
from distill.utils.config import build, loss_weight

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


#: The checkpoint selection rules (``selection=``): the first reads no target-language gold label.
SELECTIONS = ("teacher_agreement", "target_dev")


def check_selection(cfg: DictConfig) -> None:
    """Fail on an unknown ``selection`` rule."""
    if cfg.selection not in SELECTIONS:
        raise DistillError(
            f"selection must be one of {list(SELECTIONS)}, got {cfg.selection!r}",
            fix="set selection=teacher_agreement (no target labels) or selection=target_dev",
        )


def reads_target_labels(cfg: DictConfig) -> bool:
    """Whether the student's training rows keep the target-language gold labels: asked for with
    ``selection=target_dev`` or a ``ce`` weight > 0 (the supervised baseline); never by default."""
    return cfg.selection == "target_dev" or loss_weight(cfg, "ce") > 0


def check_config(cfg: DictConfig) -> None:
    """Fail on a bad loss, cycle or language setting before anything is trained.

    Raises:
        DistillError: A temperature <= 0, a negative or non-numeric loss weight, ``cycle.rounds``
            < 1, ``cycle.mix`` outside [0, 1], no target language, or the source language among
            the targets.
    """
    check_trainer(cfg)
    check_label_devices(cfg)
    check_selection(cfg)
    # The loss validates its temperature and weights; placeholder model sizes (the real ones come
    # later) reach only the active terms that ask for them (emb).
    build(cfg.loss, "loss", student_dim=1, teacher_dim=1)
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
    check_direct_transfer(cfg)
    check_live_teacher(cfg)
    check_teacher_precision(cfg)
    if uses_roundtrip(cfg) and not cfg.mode.get("translator"):
        raise DistillError(
            "loss.weights.roundtrip > 0 needs back-translations of the target text, but no translator is set",
            fix="set mode.translator.backend=apertium (offline; es, ca, is), file or marian, "
            "or loss.weights.roundtrip=0",
        )


def check_direct_transfer(cfg: DictConfig) -> None:
    """``baselines.direct_transfer`` is a whole teacher config (a ``model`` to fine-tune) or off.

    A partial block, e.g. an experiment's ``{max_train_examples: 8000}`` left standing after
    ``baselines=none`` switched the baseline off, would otherwise fail in the baselines stage, after
    the teacher and the labels.
    """
    spec = (cfg.get("baselines") or {}).get("direct_transfer")
    if spec and cfg.mode.name != "direct" and not spec.get("model"):
        raise DistillError(
            f"baselines.direct_transfer has no model to fine-tune: {dict(spec)} (a teacher config, "
            "as in conf/baselines/full.yaml, is expected)",
            fix="set baselines.direct_transfer=null to turn it off (as baselines=none does), or "
            "baselines=full for the multilingual-e5-small recipe",
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
    if not source_of(cfg.data).aligned_across_languages:
        raise DistillError(
            "data.common_sources needs pairs aligned across languages (data=chatterbot), "
            f"got data={cfg.data.name}",
            fix="set data.common_sources=[], or use data=chatterbot",
        )
    check_lang_codes([str(c) for c in value], "data.common_sources")


def check_student_options(cfg: DictConfig) -> None:
    """Adapters, vocabulary trimming and layer truncation: their settings and what they cannot be
    combined with."""
    student = cfg.student
    if student.get("adapters"):
        AdapterSpec.from_cfg(student)
        if cfg.data.rehearsal:
            raise DistillError(
                "data.rehearsal adds source-language rows, which have no adapter of their own",
                fix="set data.rehearsal=null with student.adapters=lora (the frozen encoder does not forget)",
            )
    check_num_layers(cfg)
    if student.trim_vocab and (student.get("adapters") or student.get("init_from")):
        raise DistillError(
            "student.trim_vocab trims a fresh student; it cannot be combined with student.adapters "
            "or student.init_from",
            fix="set student.trim_vocab=false",
        )


def check_num_layers(cfg: DictConfig) -> None:
    """``student.num_layers``: null (every layer) or a count >= 1, for a fresh student of
    ``task=embedding`` or ``task=classification`` (the encoder's own count is checked when it is
    loaded, :func:`distill.models.encoder.keep_layers`)."""
    num_layers = cfg.student.get("num_layers")
    if num_layers is None:
        return
    if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
        raise DistillError(
            f"student.num_layers must be a layer count >= 1 or null, got {num_layers!r}",
            fix="set student.num_layers=4 (the first 4 layers), or student.num_layers=null for all",
        )
    if cfg.task not in ("embedding", "classification"):
        raise DistillError(
            "student.num_layers cuts the student of task=embedding or task=classification, "
            f"got task={cfg.task}",
            fix="set student.num_layers=null",
        )
    if cfg.student.get("init_from"):
        raise DistillError(
            f"student.num_layers={num_layers} cuts a fresh student; student.init_from continues an "
            "export with the layers it has",
            fix="set student.num_layers=null with student.init_from",
        )


def check_live_teacher(cfg: DictConfig) -> None:
    """``teacher.live=true`` covers plain distillation: refuse what needs cached soft labels."""
    if not cfg.teacher.live:
        return
    needs_cache = {
        "cycle.rounds > 1 (relabelling mixes cached teacher labels)": int(cfg.cycle.rounds) > 1,
        "data.rehearsal": bool(cfg.data.rehearsal),
        "continual.rehearsal": bool(float(cfg.continual.rehearsal or 0)),
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


def check_teacher_precision(cfg: DictConfig) -> None:
    """``teacher.precision``: how the classification label stage runs the teacher for the cache
    (:mod:`distill.cache.precision`); refused where no cached classification labels are made."""
    precision = str(cfg.teacher.get("precision", "fp32"))
    check_precision(precision)
    if precision == "fp32":
        return
    if cfg.get("task", "classification") != "classification":
        raise DistillError(
            f"teacher.precision={precision} speeds up the label stage of task=classification; "
            f"task={cfg.task} runs its teacher in fp32",
            fix="set teacher.precision=fp32",
        )
    if cfg.teacher.get("live"):
        raise DistillError(
            f"teacher.precision={precision} applies to the cached labels, and teacher.live=true labels "
            "every batch in the training step instead",
            fix="set teacher.precision=fp32, or teacher.live=false",
        )


def rehearsal_size(cfg: DictConfig) -> int | str:
    """``data.rehearsal``: a count of source texts (0: off) or ``"all"``.

    Raises:
        DistillError: Any other value.
    """
    value = cfg.data.rehearsal
    if value is None or value == "all":
        return value or 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DistillError(
            f"data.rehearsal must be a count of source texts >= 0 or all, got {value!r}",
            fix="set data.rehearsal=500, data.rehearsal=all or data.rehearsal=0 (off)",
        )
    return value


def teacher_label_kw(cfg: DictConfig) -> dict[str, Any]:
    """How the teacher labels text for the cache: ``max_length``, ``batch_size``, ``shard_rows``,
    across how many processes (``teacher.label_devices``, ``teacher.label_strategy``) and at which
    precision (``teacher.precision``)."""
    return {
        "max_length": int(cfg.teacher.max_length),
        "batch_size": int(cfg.teacher.label_batch_size),
        "shard_rows": int(cfg.teacher.label_shard_rows),
        "devices": int(cfg.teacher.label_devices),
        "strategy": str(cfg.teacher.label_strategy),
        "precision": str(cfg.teacher.get("precision", "fp32")),
    }


def temperature(cfg: DictConfig) -> float:
    """``tau`` (``loss.temperature``): read here once, passed to :mod:`distill.targets` and the losses."""
    return float(cfg.loss.temperature)


def distributed_trainer(cfg: DictConfig) -> bool:
    """Whether ``cfg.trainer`` fits in several processes (a ``ddp``/``fsdp`` strategy)."""
    strategy = cfg.trainer.get("strategy")
    name = str(strategy.get("_target_", "") if isinstance(strategy, DictConfig) else strategy or "").lower()
    return "ddp" in name or "fsdp" in name


def check_label_devices(cfg: DictConfig) -> None:
    """Fail on ``teacher.label_devices`` that cannot work with this trainer.

    Under ``ddp`` the label stage's processes are the command run again; a distributed fit after it
    joins the same processes, so it needs as many.
    """
    devices, strategy = cfg.teacher.label_devices, cfg.teacher.label_strategy
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


def checkpoint_ref(cfg: DictConfig, stage: str) -> Path:
    ref = cfg.get("checkpoint")
    if not ref:
        raise DistillError(
            f"distill-{stage} needs the student to work on",
            fix=f"pass checkpoint=<run dir>/checkpoints/last.ckpt (from distill-train) or an exported "
            f"student folder, e.g. distill-{stage} checkpoint=outputs/<date>/<time>/checkpoints/last.ckpt",
        )
    return Path(str(ref)).expanduser()
