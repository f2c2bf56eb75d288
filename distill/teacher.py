"""The teacher stage: fine-tune a source-language classifier once (cached), or take a ready one.

``train_teacher(cfg)`` is a plain function (the console script only wraps it):

* ``teacher.path`` set: that folder or hub id must be a ready sequence classifier whose label set
  equals the data's; it is used as is (nothing is trained) and its label order is kept.
* otherwise ``teacher.model`` (an encoder) gets a new classification head and is fine-tuned with
  cross-entropy on the labelled source-language data (:func:`teacher_training_data`), validated
  on its validation split, with Lightning. The result is a plain Hugging Face folder
  (``save_pretrained``, safetensors) under ``$DISTILL_CACHE/teachers/<name>-<key>``, written
  atomically. The key hashes the base model's weights, the recipe (epochs, learning rate, batch
  size, max length, weight decay, warmup, seed) and the training data (texts and labels), so a
  teacher is trained once and reused by every later run and sweep job with the same settings.

The teacher's raw logits are what the soft-label cache stores; :func:`load_teacher` returns it
frozen (``eval()``, no gradients). Run it under ``torch.inference_mode()``
(:func:`distill.models.classifier.predict_logits` does).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from omegaconf import DictConfig

from distill.errors import DistillError
from distill.models.classifier import (
    classifier_labels,
    label_maps,
    load_classifier,
    load_frozen,
    predict_logits,
)
from distill.models.resolve import resolve_model
from distill.sources import TeacherData, source_of
from distill.sources.base import cap_examples
from distill.utils.atomic import atomic_dir
from distill.utils.config import dataclass_from
from distill.utils.hashing import file_sha256, text_sha256
from distill.utils.manifest import files_problem, files_sha256, record_hashes
from distill.utils.paths import cache_dir, portable

log = logging.getLogger(__name__)

# Bump when the fine-tuning code changes what a given key produces: old cached teachers then miss.
RECIPE_VERSION = 1
STAMP = "xlt_distill_teacher.json"
# Files that decide what a base model computes; READMEs and the like do not enter the key.
_MODEL_FILES = re.compile(
    r"(.*\.safetensors|.*\.bin|config\.json|tokenizer.*\.json|special_tokens_map\.json|vocab\.\w+|"
    r"merges\.txt|.*\.model)$"
)


#: Which epoch a fine-tuned teacher keeps (``teacher.select``).
SELECT = ("source_val", "last")


@dataclass(frozen=True)
class TeacherRecipe:
    """How a teacher is fine-tuned; every field enters the cache key.

    Attributes:
        model: The base encoder (folder, hub id or packaged name).
        epochs: Passes over the training data.
        lr: Peak learning rate (AdamW); the default is the conventional BERT fine-tuning rate, the
            packaged teacher configs set their own.
        batch_size: Examples per step.
        max_length: Truncation length in tokens.
        weight_decay: AdamW weight decay (not applied to biases and norms).
        warmup_ratio: Fraction of the steps with linear warmup; then linear decay to zero.
        seed: Seed of the head's initialisation, dropout and the data order.
        pooling: What the new head reads: ``mean`` (mean of the last hidden states, as the
            sentence encoder was trained) or ``cls`` (the ``[CLS]`` pooler).
        select: Which epoch is kept: ``source_val``, the best on the source-language validation
            split (accuracy), or ``last``. Never a target-language label (DESIGN.md section 10).
        freeze_word_embeddings: Keep the input word embeddings fixed (a multilingual encoder's
            250k-row matrix dominates the optimizer step and is what makes it multilingual).
    """

    model: str
    epochs: int = 5
    lr: float = 5e-5
    batch_size: int = 32
    max_length: int = 128
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    seed: int = 42
    pooling: str = "mean"
    freeze_word_embeddings: bool = False
    select: str = "source_val"

    @classmethod
    def from_cfg(cls, cfg: DictConfig) -> TeacherRecipe:
        """Read ``cfg.teacher`` (missing keys take the defaults; ``seed`` falls back to ``cfg.seed``)."""
        t = cfg.teacher
        # Its own seed, so that a sweep over the student's ``seed`` shares one teacher.
        seed = int(t.get("seed", cfg.get("seed", cls.seed)))
        recipe = dataclass_from(cls, t, model=str(t.model), seed=seed)
        if recipe.select not in SELECT:
            raise DistillError(
                f"teacher.select must be one of {list(SELECT)}, got {recipe.select!r}",
                fix="set teacher.select=source_val (the best epoch on the source validation split)",
            )
        return recipe


@dataclass(frozen=True)
class TeacherResult:
    """What the teacher stage produced.

    Attributes:
        path: What to pass to :func:`load_teacher`: the cached folder, or ``teacher.path`` as given.
        labels: The teacher's labels in id order (its ``id2label``).
        source: ``trained`` (fine-tuned now), ``cache`` (fine-tuned before, reused) or ``given``.
        key: The cache key (``None`` for a given teacher).
        train_acc: Training accuracy of the last epoch (running, with dropout); ``None`` if given.
        val_acc: Accuracy on the source-language validation split (``None`` without labelled data).
        train_seconds: How long the fine-tuning took when it ran (``None`` if given).
        seconds: How long this call took.
    """

    path: str
    labels: list[str]
    source: Literal["trained", "cache", "given"]
    key: str | None
    train_acc: float | None
    val_acc: float | None
    train_seconds: float | None
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for the run's ``teacher.json``), ``path`` made portable (no machine folder)."""
        return {**dataclasses.asdict(self), "path": portable(self.path)}


# ------------------------------------------------------------------------------------------------ data


def teacher_training_data(cfg: DictConfig) -> TeacherData:
    """The labelled source-language data a teacher is fine-tuned on, for ``cfg.data``.

    The data source's :meth:`~distill.sources.base.Source.teacher_data` (``data=chatterbot``: the
    source language's train and validation splits, topics as labels). Capped to
    ``teacher.max_train_examples`` when set (debug configs).

    Raises:
        DistillError: The corpus has no labels (``data=django``): a teacher must then be given
            with ``teacher.path``.
    """
    source = source_of(cfg.data)
    data = source.teacher_data()
    if data is None:
        raise DistillError(
            f"data={cfg.data.name} has no labels to fine-tune a teacher on",
            fix="give a ready classifier with teacher.path=<folder or hub id>" + source.teacher_hint,
        )
    if not data.train_texts:
        raise DistillError(f"data={cfg.data.name} has no labelled training examples for the teacher")
    return cap_examples(data, cfg.teacher.get("max_train_examples"), TeacherRecipe.from_cfg(cfg).seed)


# ------------------------------------------------------------------------------------------- cache key


@functools.lru_cache(maxsize=16)
def _files_sha256(folder: str, stamp: tuple[tuple[str, int, int], ...]) -> str:
    """Hash of the model files (cached per process on name, size and mtime)."""
    return text_sha256(*(f"{name}:{file_sha256(Path(folder) / name)}" for name, _, _ in stamp))


def weights_fingerprint(ref: str) -> str:
    """What identifies a base model: a content hash of its files if local, else its hub id.

    The hash covers weights, config and tokenizer files, not the folder's path, so moving a
    virtual environment or copying a folder keeps cached teachers valid.
    """
    resolved = resolve_model(ref)
    if not resolved.is_local:
        return f"hub:{resolved.location}"
    folder = Path(resolved.location)
    files = sorted(p for p in folder.iterdir() if p.is_file() and _MODEL_FILES.fullmatch(p.name))
    stamp = tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    return "sha256:" + _files_sha256(str(folder), stamp)


def teacher_key(recipe: TeacherRecipe, data: TeacherData) -> str:
    """Cache folder name: ``<model name>-<16 hex digits>`` of weights, recipe and data."""
    fields = dataclasses.asdict(recipe)
    fields.pop("model")  # the model enters through its weights, whatever it is called
    digest = text_sha256(
        json.dumps(
            {
                "version": RECIPE_VERSION,
                "weights": weights_fingerprint(recipe.model),
                "recipe": fields,
                "data": data.fingerprint(),
            },
            sort_keys=True,
        )
    )
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(recipe.model.rstrip("/")).name) or "teacher"
    return f"{name}-{digest[:16]}"


# --------------------------------------------------------------------------------------- fine-tuning


def _accuracy(
    model: Any, tokenizer: Any, texts: Sequence[str], labels: Sequence[str], **kw: Any
) -> float | None:
    if not texts:
        return None
    label2id = {name: i for i, name in model.config.id2label.items()}
    pred = predict_logits(model, tokenizer, texts, **kw).argmax(axis=1)
    return float(sum(int(p) == label2id.get(y, -1) for p, y in zip(pred, labels, strict=True)) / len(texts))


def _fit(
    recipe: TeacherRecipe, data: TeacherData, *, accelerator: str, progress_bar: bool
) -> tuple[Any, Any, dict[str, float]]:
    """Fine-tune ``recipe.model`` + a new head; return ``(model, tokenizer, last epoch's metrics)``."""
    import pytorch_lightning as pl
    import torch

    from distill.data.collate import LabelledTextDataModule
    from distill.systems.classifier import ClassifierSystem, linear_warmup_decay
    from distill.systems.fit import fit_keeping_best

    # Seeded before the head is created, so the same recipe gives the same teacher.
    pl.seed_everything(recipe.seed, workers=True, verbose=False)
    model, tokenizer = load_classifier(recipe.model, data.labels, pooling=recipe.pooling)
    if recipe.freeze_word_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    _, label2id = label_maps(data.labels)
    datamodule = LabelledTextDataModule(
        list(zip(data.train_texts, (label2id[y] for y in data.train_labels), strict=True)),
        list(zip(data.val_texts, (label2id[y] for y in data.val_labels), strict=True)),
        tokenizer,
        max_length=recipe.max_length,
        batch_size=recipe.batch_size,
        seed=recipe.seed,
    )
    system = ClassifierSystem(
        model,
        # The fused kernel (one pass per update), as transformers' Trainer uses by default.
        functools.partial(torch.optim.AdamW, lr=recipe.lr, weight_decay=recipe.weight_decay, fused=True),
        functools.partial(linear_warmup_decay, warmup_ratio=recipe.warmup_ratio),
    )
    # The epoch ``select`` keeps; the only artefact is the final HF folder written by the caller.
    metrics = fit_keeping_best(
        system,
        epochs=recipe.epochs,
        select=recipe.select == "source_val",
        accelerator=accelerator,
        progress_bar=progress_bar,
        datamodule=datamodule,
    )
    return model.cpu().eval(), tokenizer, metrics


def _read_stamp(folder: Path, key: str) -> dict[str, Any] | None:
    """The stamp of a complete, intact cached teacher with this key, else ``None``."""
    try:
        stamp = json.loads((folder / STAMP).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(stamp, dict) or stamp.get("key") != key or not (folder / "config.json").is_file():
        return None
    damage = files_problem(folder, STAMP, stamp.get("files"))
    if damage is not None:
        log.warning("teacher: cached teacher %s is damaged (%s); fine-tuning it again", folder, damage)
        return None
    return record_hashes(folder, STAMP, stamp)


def _fine_tune(
    cfg: DictConfig, recipe: TeacherRecipe, data: TeacherData, key: str, out: Path
) -> dict[str, Any]:
    """Fine-tune, save to ``out`` atomically and return the stamp written next to the weights."""
    import torch
    import transformers

    log.info(
        "teacher: fine-tuning %s on %d examples (%d labels), %d epochs, lr %g, batch %d -> %s",
        recipe.model,
        len(data.train_texts),
        len(data.labels),
        recipe.epochs,
        recipe.lr,
        recipe.batch_size,
        out,
    )
    # An incomplete folder (not written by us: ours are atomic) is replaced; a complete one that
    # appears meanwhile was written by a concurrent job with the same key and wins.
    overwrite = out.exists()
    start = time.perf_counter()
    model, tokenizer, metrics = _fit(
        recipe,
        data,
        accelerator=str(cfg.teacher.get("accelerator", "auto")),
        progress_bar=bool(cfg.teacher.get("progress_bar", False)),
    )
    seconds = time.perf_counter() - start
    stamp: dict[str, Any] = {
        "key": key,
        "base_model": recipe.model,
        "weights": weights_fingerprint(recipe.model),
        "recipe": dataclasses.asdict(recipe),
        "labels": data.labels,
        "data": {
            "name": str(cfg.data.name),
            "fingerprint": data.fingerprint(),
            "train": len(data.train_texts),
            "validation": len(data.val_texts),
        },
        "train_acc": metrics.get("train/acc"),
        "val_acc": metrics.get("val/acc"),
        "selected_epoch": metrics.get("epoch"),
        "val_loss": metrics.get("val/loss"),
        "train_seconds": round(seconds, 2),
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    try:
        with atomic_dir(out, overwrite=overwrite) as tmp:
            model.save_pretrained(str(tmp))
            tokenizer.save_pretrained(str(tmp))
            stamp["files"] = files_sha256(tmp, STAMP)
            (tmp / STAMP).write_text(json.dumps(stamp, indent=2, ensure_ascii=False) + "\n")
    except FileExistsError:
        log.info("teacher: %s was saved by another job meanwhile; using that one", out)
        return _read_stamp(out, key) or stamp
    log.info(
        "teacher: fine-tuned in %.1f s, train acc %s, val acc %s",
        seconds,
        _fmt(stamp["train_acc"]),
        _fmt(stamp["val_acc"]),
    )
    return stamp


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


# -------------------------------------------------------------------------------------- given teacher


def _given(cfg: DictConfig, path: str, start: float) -> TeacherResult:
    """Use the ready classifier at ``path`` as is, after checking its labels against the data's."""
    own = classifier_labels(path)
    data = source_of(cfg.data).teacher_data()
    if data is not None and set(own) != set(data.labels):
        missing, extra = sorted(set(data.labels) - set(own)), sorted(set(own) - set(data.labels))
        raise DistillError(
            f"teacher.path={path} has labels {own}, but data={cfg.data.name} has {data.labels} "
            f"(missing in the teacher: {missing or 'none'}; not in the data: {extra or 'none'})",
            fix="give a classifier trained on the same label set, or set teacher.path=null to fine-tune one",
        )
    # The teacher's own label order is kept: label names in the data are mapped to its ids.
    model, tokenizer = load_frozen(path, own)
    val_acc = None
    if data is not None:
        t = cfg.teacher
        kw = {"batch_size": int(t.get("batch_size", 32)), "max_length": int(t.get("max_length", 128))}
        val_acc = _accuracy(model, tokenizer, data.val_texts, data.val_labels, **kw)
    log.info("teacher: using the given classifier %s as is (val acc %s)", path, _fmt(val_acc))
    return TeacherResult(
        path=path,
        labels=own,
        source="given",
        key=None,
        train_acc=None,
        val_acc=val_acc,
        train_seconds=None,
        seconds=time.perf_counter() - start,
    )


# ------------------------------------------------------------------------------------------ the stage


def train_teacher(cfg: DictConfig) -> TeacherResult:
    """Return a teacher: ``teacher.path`` as is, else a fine-tuned one from the cache (trained on a miss).

    Args:
        cfg: The composed config; reads ``teacher.*`` (``path``, ``model``, ``epochs``, ``lr``,
            ``batch_size``, ``max_length``, ``weight_decay``, ``warmup_ratio``,
            ``max_train_examples``, ``accelerator``, ``progress_bar``), ``data.*`` and ``seed``.

    Returns:
        Where the teacher is and how it did (see :class:`TeacherResult`).

    Raises:
        DistillError: A given classifier's labels differ from the data's, there is no labelled
            data to fine-tune on and no ``teacher.path``, or a model cannot be found.
    """
    start = time.perf_counter()
    path = cfg.teacher.get("path")
    if path:
        return _given(cfg, str(path), start)
    data = teacher_training_data(cfg)
    recipe = TeacherRecipe.from_cfg(cfg)
    key = teacher_key(recipe, data)
    out = cache_dir("teachers", key)
    stamp = _read_stamp(out, key)
    if stamp is not None:
        log.info("teacher: reusing %s (val acc %s)", out, _fmt(stamp.get("val_acc")))
        source: Literal["trained", "cache"] = "cache"
    else:
        stamp = _fine_tune(cfg, recipe, data, key, out)
        source = "trained"
    return TeacherResult(
        path=os.fspath(out),
        labels=list(stamp["labels"]),
        source=source,
        key=key,
        train_acc=stamp.get("train_acc"),
        val_acc=stamp.get("val_acc"),
        train_seconds=stamp.get("train_seconds"),
        seconds=time.perf_counter() - start,
    )


def load_teacher(path: str | os.PathLike[str], labels: Sequence[str] | None = None) -> tuple[Any, Any]:
    """Load a teacher classifier frozen: ``eval()`` mode and no parameter requiring gradients.

    :func:`~distill.models.classifier.load_frozen` for a ready classifier only (a bare encoder is
    refused rather than given a new head). Run it under ``torch.inference_mode()`` (as
    :func:`~distill.models.classifier.predict_logits` does): the teacher never trains after this
    point, and inference mode skips autograd bookkeeping entirely.

    Args:
        path: A folder from :func:`train_teacher`, or any ready classifier (folder or hub id).
        labels: If given, the teacher's labels must be exactly these, in this order.

    Returns:
        ``(model, tokenizer)``.

    Raises:
        DistillError: ``path`` is not a classifier, or its labels differ from ``labels``.
    """
    ref = os.fspath(path)
    own = classifier_labels(ref)
    return load_frozen(ref, own if labels is None else labels)


__all__ = [
    "TeacherData",
    "TeacherRecipe",
    "TeacherResult",
    "cap_examples",
    "classifier_labels",
    "load_teacher",
    "teacher_key",
    "teacher_training_data",
    "train_teacher",
    "weights_fingerprint",
]
