"""Systems trained next to the student, so every result has its baselines beside it (``baselines=``).

- ``direct_transfer``: a multilingual encoder fine-tuned on the source-language labels and applied to
  the target text as is (XTREME-style zero-shot transfer). It is a teacher recipe
  (``baselines.direct_transfer`` holds a ``teacher/`` config, ``me5_en`` in ``baselines=full``), so
  it is trained once and cached like any teacher; ``mode=direct`` runs already have it (their
  teacher on target text).
- ``supervised``: the student's architecture trained with cross-entropy on the target language's
  gold labels (the upper bound no transfer method should beat). Its checkpoints go to
  ``<run dir>/checkpoints/supervised``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
from omegaconf import DictConfig, open_dict

from distill.errors import DistillError
from distill.losses import term_names
from distill.models.classifier import predict_logits
from distill.stages.distill import build_student, student_datamodule
from distill.stages.label import Labelled
from distill.stages.tfidf import MAX_TEXTS, TfidfStudent, sample_rows
from distill.teacher import load_teacher, train_teacher
from distill.training import fit_and_load_best
from distill.utils.ranks import is_rank_zero

log = logging.getLogger(__name__)


def supervised_weights(loss: DictConfig) -> dict[str, float]:
    """Loss weights of the supervised baseline: gold labels only (``ce`` 1, every other registered term 0)."""
    return {name: 1.0 if name == "ce" else 0.0 for name in term_names(loss)}


def _baselines(cfg: DictConfig) -> Any:
    return cfg.get("baselines") or {}


def direct_transfer_config(cfg: DictConfig) -> DictConfig | None:
    """The run's config with ``teacher`` replaced by the direct-transfer recipe, or ``None`` when off.

    Off as well in ``mode=direct``, where the teacher itself is the direct-transfer model.
    """
    spec = _baselines(cfg).get("direct_transfer")
    if not spec:
        return None
    if cfg.mode.name == "direct":
        log.info("baselines: mode=direct already scores its teacher as direct_transfer")
        return None
    sub = cfg.copy()
    with open_dict(sub):
        sub.teacher = spec  # a whole teacher config (teacher/ group), e.g. me5_en
    return sub


def direct_transfer_teacher(cfg: DictConfig, labels: list[str]) -> tuple[DictConfig, tuple[Any, Any]] | None:
    """Fine-tune (or reuse from the cache) the direct-transfer model; ``(its config, (model, tokenizer))``.

    Raises:
        DistillError: Its labels differ from the teacher's (it must learn the same label set).
    """
    sub = direct_transfer_config(cfg)
    if sub is None:
        return None
    result = train_teacher(sub)
    if list(result.labels) != list(labels):
        raise DistillError(
            f"baselines.direct_transfer learned labels {result.labels}, the teacher has {labels}",
            fix="train both on the same data (baselines.direct_transfer is a teacher config)",
        )
    log.info("baselines: direct_transfer model %s (%s)", result.path, result.source)
    return sub, load_teacher(result.path)


def supervised_config(cfg: DictConfig) -> DictConfig:
    """The run's config for the supervised baseline: cross-entropy only, one round, own checkpoints,
    selected on the target gold validation labels.

    Loggers are off for this fit: its curves would mix with the student's in the same W&B run; its
    scores are rows of ``metrics.json`` (system ``supervised``).
    """
    sub = cfg.copy()
    with open_dict(sub):
        sub.loss.weights = supervised_weights(sub.loss)
        sub.cycle.rounds = 1
        sub.selection = "target_dev"  # the upper bound: target gold labels by definition
        sub.logger = {}
        for callback in (sub.get("callbacks") or {}).values():
            if "dirpath" in callback:
                callback.dirpath = str(Path(str(callback.dirpath)) / "supervised")
    return sub


def train_supervised(cfg: DictConfig, labelled: Any) -> tuple[Any, Any] | None:
    """Train the supervised upper bound on the target gold labels; ``(model, tokenizer)`` or ``None``.

    Raises:
        DistillError: A target language's training pairs carry no gold labels.
    """
    if not _baselines(cfg).get("supervised"):
        return None
    for lang, dd in labelled.data.items():
        if "label" not in dd["train"].column_names or not any(y is not None for y in dd["train"]["label"]):
            raise DistillError(
                f"baselines.supervised needs gold labels in the {lang} training pairs, which have none",
                fix="use data with target labels or set baselines.supervised=false",
            )
    sub = supervised_config(cfg)
    labels = labelled.teacher.labels
    pl.seed_everything(int(cfg.seed), workers=True, verbose=False)  # the same start in every run
    system, tokenizer = build_student(sub, labels, list(labelled.data))
    dm = student_datamodule(sub, tokenizer, labelled.data, labelled.targets(), labels, with_source=False)
    log.info("baselines: training the supervised upper bound on the target gold labels")
    fit_and_load_best(sub, system, dm, monitor=("val/acc", "max"), log_config=False)
    return system.model, tokenizer


@dataclass
class Baseline:
    """A further system the evaluate stage scores on the target text: a ``transformers`` classifier
    and its tokenizer, or any ``model`` with ``logits(texts) -> (N, C)`` (``tokenizer=None``)."""

    model: Any
    tokenizer: Any = None
    #: ``max_length`` and ``prefix`` for :func:`~distill.models.classifier.predict_logits`.
    kw: dict[str, Any] = field(default_factory=dict)

    def logits(self, texts: Sequence[str], **kw: Any) -> np.ndarray:
        """The system's (N, C) logits on ``texts`` (``kw``: batch size and progress text)."""
        if self.tokenizer is None:
            return np.asarray(self.model.logits(texts))
        return predict_logits(self.model, self.tokenizer, texts, **kw, **self.kw)


def tfidf_student(cfg: DictConfig, labelled: Labelled) -> TfidfStudent | None:
    """The TF-IDF reference on the teacher's soft labels over the student's target training text
    (``baselines.tfidf_student``); ``None`` when off or when nothing was cached (``teacher.live``)."""
    if not _baselines(cfg).get("tfidf_student"):
        return None
    if labelled.live:
        log.warning("baselines: teacher.live=true caches no soft labels; tfidf_student is left out")
        return None
    langs = list(labelled.data)
    sizes = [len(labelled.data[lang]["train"]) for lang in langs]
    max_texts = int(_baselines(cfg).get("tfidf_max_texts") or MAX_TEXTS)
    keep = sample_rows(sum(sizes), max_texts, int(cfg.seed))  # over the languages' rows in order
    starts = np.cumsum([0, *sizes])
    texts: list[str] = []
    for lang, lo, hi in zip(langs, starts[:-1], starts[1:], strict=True):
        mine = keep[(keep >= lo) & (keep < hi)] - lo
        texts += labelled.data[lang]["train"].select(mine)["tgt"] if len(mine) else []
    logits = labelled.logits()
    rows = np.concatenate([logits[lang]["train"] for lang in langs])[keep]
    log.info(
        "baselines: tfidf_student on %d of %d target training texts%s",
        len(texts),
        sum(sizes),
        f" (a seeded sample: baselines.tfidf_max_texts={max_texts})" if len(texts) < sum(sizes) else "",
    )
    return TfidfStudent(len(labelled.teacher.labels), seed=int(cfg.seed)).fit(texts, rows)


#: Baselines trained on the label stage's rows (distill-run); distill-eval, given only a student
#: checkpoint, leaves them out.
RUN_ONLY = ("tfidf_student", "supervised")


def baseline_systems(cfg: DictConfig, labelled: Labelled | None, labels: list[str]) -> dict[str, Baseline]:
    """The ``baselines=`` systems: ``direct_transfer`` (cached) and, given ``labelled``, ``supervised``."""
    out: dict[str, Baseline] = {}
    # Only rank 0 evaluates; the other ranks of a ddp job take part in the supervised fit only.
    direct = direct_transfer_teacher(cfg, labels) if is_rank_zero() else None
    if direct is not None:
        sub, (model, tokenizer) = direct
        out["direct_transfer"] = Baseline(model, tokenizer, {"max_length": int(sub.teacher.max_length)})
    if labelled is not None and is_rank_zero():
        tfidf = tfidf_student(cfg, labelled)
        if tfidf is not None:
            out["tfidf_student"] = Baseline(tfidf)
    if labelled is not None:
        supervised = train_supervised(cfg, labelled)
        if supervised is not None:
            kw = {"max_length": int(cfg.student.max_length), "prefix": cfg.student.prefix}
            out["supervised"] = Baseline(*supervised, kw)
    else:
        for name in RUN_ONLY:
            if _baselines(cfg).get(name):
                log.warning("baselines: %s is trained by distill-run only; distill-eval leaves it out", name)
    return out
