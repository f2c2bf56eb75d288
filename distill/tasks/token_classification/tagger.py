"""Fine-tuned taggers of the token task: the teacher and the trained baselines, one code path.

A :class:`TaggerRecipe` says how a ``...ForTokenClassification`` model is fine-tuned on gold word
tags (cross-entropy on words, the ``ce`` term, through :class:`.system.TokenSystem`);
:func:`tagger_folder` trains it once and caches the folder in ``token_teachers/<key>``, the key
being the recipe's spec and the tagged sentences it learns from and is selected on. The teacher
(``teacher.model`` on the source tags), ``direct_transfer`` (``student.model`` on the source tags)
and ``supervised`` (``student.model`` on the target gold tags) are three recipes of it: when two
recipes and their data are the same, the second is a cache hit.

Example::

    recipe = teacher_recipe(cfg)
    folder = tagger_folder(recipe, corpus.tags, corpus.source["train"], corpus.source["validation"])
    model, tokenizer = load_tagger(str(folder), corpus.tags)
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from datasets import Dataset
from omegaconf import DictConfig
from torch.utils.data import DataLoader

from distill.cache import table_key
from distill.errors import DistillError
from distill.losses import WeightedDistillationLoss
from distill.models.classifier import new_head_report
from distill.student import freeze_word_embeddings
from distill.systems.fit import fit_keeping_best
from distill.tasks.token_classification.system import TokenSystem, WordCollator
from distill.teacher import SELECT, weights_fingerprint
from distill.utils.architectures import head_kind
from distill.utils.atomic import atomic_dir
from distill.utils.paths import cache_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaggerRecipe:
    """How a tagger is fine-tuned on gold word tags; every field but the last two enters the key.

    Attributes:
        model: The base encoder (folder, hub id or packaged name).
        epochs: Passes over the tagged sentences.
        lr: AdamW learning rate.
        batch_size: Sentences per step.
        max_length: Truncation length in sub-words.
        seed: Seed of the head's initialisation, dropout and the data order.
        pooling: How a word's row is read from its sub-words (``first`` or ``mean``).
        weight_decay: AdamW weight decay.
        prefix: Text put before every sentence (the student's ``student.prefix``).
        freeze_word_embeddings: Keep the input word embeddings fixed (a multilingual encoder's
            250k-row matrix dominates the step on a CPU; see :func:`distill.student.freeze_word_embeddings`).
        select: The epoch kept: ``source_val`` (the best ``val/f1``, macro-F1 over tags, on the
            validation sentences given, which are never target-language ones for the teacher and
            ``direct_transfer``) or ``last``.
        accelerator: Lightning's accelerator (not in the key: the same weights on any device).
        progress_bar: Show Lightning's progress bar (not in the key).
    """

    model: str
    epochs: int
    lr: float
    batch_size: int
    max_length: int
    seed: int
    pooling: str = "first"
    weight_decay: float = 0.01
    prefix: str = ""
    select: str = "source_val"
    freeze_word_embeddings: bool = False
    accelerator: str = "auto"
    progress_bar: bool = False

    def spec(self, tags: Sequence[str]) -> dict[str, Any]:
        """What the weights depend on besides the data (v4: the epoch kept by ``select`` on macro-F1;
        v3 meant to, but its fit kept the best token accuracy)."""
        fields = dataclasses.asdict(self)
        for key in ("model", "accelerator", "progress_bar"):
            fields.pop(key)
        return {"v": 4, "weights": weights_fingerprint(self.model), "tags": list(tags), **fields}


def teacher_recipe(cfg: DictConfig, *, model: str | None = None, epochs: int | None = None) -> TaggerRecipe:
    """``cfg.teacher``'s token recipe; ``model``/``epochs`` replace its base model and epoch budget.

    Raises:
        DistillError: ``teacher.select`` is not one of :data:`~distill.teacher.SELECT`.
    """
    t = cfg.teacher
    select = str(t.get("select", "source_val"))
    if select not in SELECT:
        raise DistillError(
            f"teacher.select must be one of {list(SELECT)}, got {select!r}",
            fix="set teacher.select=source_val (the best epoch on the source validation split)",
        )
    return TaggerRecipe(
        model=str(model or t.model),
        epochs=int(t.epochs if epochs is None else epochs),
        lr=float(t.lr),
        batch_size=int(t.batch_size),
        max_length=int(t.max_length),
        seed=int(t.seed),
        pooling=str(cfg.token.pooling),
        weight_decay=float(t.get("weight_decay", 0.01)),
        select=select,
        freeze_word_embeddings=bool(t.get("freeze_word_embeddings", False)),
        accelerator=str(t.get("accelerator", "auto")),
        progress_bar=bool(t.get("progress_bar", False)),
    )


def load_tagger(ref: str, tags: Sequence[str]) -> tuple[Any, Any]:
    """``(model, tokenizer)``: a tagger of the same tag set as is, or an encoder with a new head.

    Raises:
        DistillError: ``ref`` is a tagger of another tag set.
    """
    from transformers import AutoConfig, AutoModelForTokenClassification, AutoTokenizer

    from distill.models.resolve import resolve_model

    location = resolve_model(ref).location
    config = AutoConfig.from_pretrained(location)
    if head_kind(config) == "token_classification":
        if [config.id2label[i] for i in range(len(config.id2label))] != list(tags):
            raise DistillError(
                f"{ref} tags {list(config.id2label.values())}, this run's data {list(tags)}",
                fix="use a tagger of the same tag set, or an encoder (it gets a new head)",
            )
        return AutoModelForTokenClassification.from_pretrained(location), AutoTokenizer.from_pretrained(
            location
        )
    # An encoder gets a new tagging head: one log line instead of transformers' load table.
    with new_head_report(ref) as report:
        model, report.info = AutoModelForTokenClassification.from_pretrained(
            location,
            num_labels=len(tags),
            id2label=dict(enumerate(tags)),
            label2id={t: i for i, t in enumerate(tags)},
            output_loading_info=True,
        )
    return model, AutoTokenizer.from_pretrained(location)


def gold_rows(ds: Dataset, tags: Sequence[str]) -> list[dict[str, Any]]:
    """``{"tokens", "tags"}`` rows with tag ids, what :class:`.system.WordCollator` reads."""
    ids = {t: i for i, t in enumerate(tags)}
    return [{"tokens": w, "tags": [ids[t] for t in g]} for w, g in zip(ds["tokens"], ds["tags"], strict=True)]


def _rows(ds: Dataset, tags: Sequence[str]) -> Dataset:
    return Dataset.from_list(gold_rows(ds, tags))


def _fit(recipe: TaggerRecipe, tags: Sequence[str], train: Dataset, validation: Dataset) -> tuple[Any, Any]:
    """Fine-tune ``recipe.model`` on the gold tags; the epoch ``recipe.select`` keeps."""
    pl.seed_everything(recipe.seed, workers=True, verbose=False)
    model, tokenizer = load_tagger(recipe.model, tags)
    if recipe.freeze_word_embeddings:
        freeze_word_embeddings(model)
    loss = WeightedDistillationLoss.from_config(temperature=1.0, weights={"ce": 1.0})
    optimizer = functools.partial(torch.optim.AdamW, lr=recipe.lr, weight_decay=recipe.weight_decay)
    system = TokenSystem(model, loss, optimizer, recipe.pooling)
    collate = WordCollator(tokenizer, recipe.max_length, recipe.prefix)
    metrics = fit_keeping_best(
        system,
        epochs=recipe.epochs,
        select=recipe.select == "source_val",
        accelerator=recipe.accelerator,
        progress_bar=recipe.progress_bar,
        monitor="val/f1",  # macro-F1 over tags: an all-"O" epoch does not win on NER
        train_dataloaders=DataLoader(
            _rows(train, tags), batch_size=recipe.batch_size, shuffle=True, collate_fn=collate
        ),
        val_dataloaders=DataLoader(_rows(validation, tags), batch_size=recipe.batch_size, collate_fn=collate),
    )
    if "epoch" in metrics:
        log.info("tagger: kept epoch %d (val/f1 %.4f)", int(metrics["epoch"]), metrics["val/f1"])
    return model.cpu().eval(), tokenizer


def tagger_folder(
    recipe: TaggerRecipe, tags: Sequence[str], train: Dataset, validation: Dataset, *, role: str = "teacher"
) -> Path:
    """The tagger ``recipe`` makes from ``train`` (selected on ``validation``), from the cache
    (``token_teachers/<key>``) or fine-tuned now.

    Args:
        role: What the log lines call it (``teacher``, ``direct_transfer``, ``supervised``).
    """
    spec = recipe.spec(tags)
    key = table_key(
        spec,
        *(
            f"{split}\t" + " ".join(w) + "\t" + " ".join(g)
            for split, ds in (("train", train), ("validation", validation))
            for w, g in zip(ds["tokens"], ds["tags"], strict=True)
        ),
    )
    folder = cache_dir("token_teachers", key)
    if (folder / "config.json").is_file():
        log.info("%s: cache hit %s", role, folder)
        return folder
    log.info(
        "%s: fine-tuning %s on %d tagged sentences, %d epochs", role, recipe.model, len(train), recipe.epochs
    )
    model, tokenizer = _fit(recipe, tags, train, validation)
    with atomic_dir(folder) as tmp:
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        (tmp / "teacher_spec.json").write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
    return folder


def _baselines(cfg: DictConfig) -> Any:
    return cfg.get("baselines") or {}


def direct_transfer_recipe(cfg: DictConfig) -> TaggerRecipe | None:
    """``direct_transfer``: ``student.model`` fine-tuned on the source tags with the teacher's token
    recipe, or ``None`` when ``baselines.direct_transfer`` is off (``baselines=none``).

    As in the classification task, ``baselines.direct_transfer`` switches it on and gives its epoch
    budget (``epochs: ${trainer.max_epochs}`` in ``baselines=tiny``/``full``: the student's, DESIGN.md
    section 10); the rest of that teacher config is the classification recipe and is not read here.
    When ``teacher.model == student.model`` and ``teacher.epochs`` equals that budget, the spec is
    the teacher's and :func:`tagger_folder` returns the teacher's cached folder: no extra training.
    """
    spec = _baselines(cfg).get("direct_transfer")
    if not spec:
        return None
    epochs = spec.get("epochs") if hasattr(spec, "get") else None
    budget = int(epochs if epochs is not None else cfg.trainer.max_epochs)
    return teacher_recipe(cfg, model=str(cfg.student.model), epochs=budget)


def supervised_recipe(cfg: DictConfig, max_length: int) -> TaggerRecipe | None:
    """``supervised``: ``student.model`` on the target gold tags with the student's own recipe
    (optimizer, batch size, ``trainer.max_epochs``, ``seed``, prefix), selected on the target gold
    validation tags (the upper bound may read them); ``None`` when ``baselines.supervised`` is off."""
    if not _baselines(cfg).get("supervised"):
        return None
    opt = cfg.student.optimizer
    return TaggerRecipe(
        model=str(cfg.student.model),
        epochs=int(cfg.trainer.max_epochs),
        lr=float(opt.lr),
        batch_size=int(cfg.student.batch_size),
        max_length=max_length,
        seed=int(cfg.seed),
        pooling=str(cfg.token.pooling),
        weight_decay=float(opt.get("weight_decay", 0.01)),
        prefix=str(cfg.student.prefix),
        freeze_word_embeddings=bool(cfg.student.get("freeze_word_embeddings", False)),
        accelerator=str(cfg.trainer.get("accelerator", "auto")),
    )
