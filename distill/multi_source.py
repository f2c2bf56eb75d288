"""Multi-source distillation: several teachers label the same pairs; their soft labels are combined.

Wu et al. (2020, "Single-/Multi-Source Cross-Lingual NER via Teacher-Student Learning on
Unlabeled Data in Target Language") train one teacher per source language and teach the student
the weighted average of their soft labels. Here each entry of ``teachers:`` is a teacher (the
run's ``teacher`` config with its own overrides, or a ``conf/teacher/`` file name) fine-tuned on
the labelled data of its source language ``lang``, reading ``lang``'s side of the pairs::

    teachers:
      en: {lang: en, weight: 1.0}                 # the run's teacher, on English
      it: {lang: it, weight: 1.0, teacher: me5_en} # multilingual-e5 fine-tuned on Italian labels
    combine: fixed   # fixed | confidence | similarity

The first teacher must read the pairs' own source side (``lang == data.source_lang``): it is the
*primary* teacher, whose label set the combination uses and which the evaluate stage scores as
``teacher``. The other teachers read another language's side of the same aligned pairs: on
chatterbot-corpus every language's utterance at the same ``(topic, conversation, utterance)`` is a
translation, so the ``pair_id`` finds it (:func:`add_sides`); a pair that a teacher's language
lacks is not labelled by that teacher, and the others' weights are renormalised on that row.

**Where the labels are combined: in probability space at the loss temperature.** Each teacher's
distribution ``p_k = softmax(z_k / tau)`` is averaged, ``p = sum_k w_k p_k`` (weights summing to
1 on each row), and ``tau * log p`` is handed to the loss, whose ``softmax(. / tau)`` then sees
exactly ``p``. Why not average logits: (1) teachers of different architectures or languages have
logits on different scales, and a logit average lets the most confident-looking model dominate
whatever the weights say; a mixture of distributions keeps the weights' meaning; (2) it is the
average Wu et al. use, and the same rule as ``cycle.mix`` (:func:`~distill.targets.mix_soft_labels`);
(3) a teacher that abstains on a row, or lacks a label, simply contributes no mass. The price is
that the combination depends on ``tau``, so it is not cached: each teacher's *raw* logits are
(one soft-label cache entry per teacher and text column, paid once and shared by every run and
sweep job), and the combination, a few array operations, is redone per run.

Weights (``weight`` is a prior multiplied into every method):

* ``fixed``: the configured weights;
* ``confidence``: per example, weight x the teacher's confidence ``1 - H(p_k) / log C`` (its
  normalised entropy at temperature 1): a teacher that is unsure of a row counts less there;
* ``similarity``: weight x ``softmax(score / combine_similarity.temperature)`` over the teachers,
  ``score`` being the language's score in a ``distill-rank-sources`` JSON
  (``combine_similarity.ranking``, one file or a mapping target -> file) or, without one, the
  same score computed on the run's own pairs (:mod:`distill.rank_sources`), per target language.

The label stage writes ``sources.json`` (and ``metrics.json`` key ``sources``): the teachers,
their cache entries, the weights used and each teacher's agreement with the combined label.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset, DatasetDict
from omegaconf import DictConfig, OmegaConf, open_dict

from distill.cache import label_stage
from distill.data.langs import check_lang_codes, normalize_tag
from distill.data.parallel import per_language
from distill.data.sources.chatterbot import chatterbot_side
from distill.errors import DistillError
from distill.rank_sources.ranking import (
    LanguageData,
    StudentSpec,
    rank_candidates,
    read_ranking,
    similarity_weights,
)
from distill.sources import source_of
from distill.targets import aligned_probs, combine_probs, confidence, to_logits
from distill.utils.atomic import write_text_atomic
from distill.utils.config import compose_option, config_options
from distill.utils.paths import portable

log = logging.getLogger(__name__)

METHODS = ("fixed", "confidence", "similarity")
_ENTRY_KEYS = {"lang", "weight", "teacher", "data", "name"}


@dataclass(frozen=True)
class TeacherSource:
    """One teacher of a multi-source run.

    Attributes:
        name: Its key in ``teachers:``.
        lang: The source language it is fine-tuned on and reads.
        weight: Its prior weight (> 0).
        cfg: The run's config as this teacher sees it (``teacher`` overridden, ``data.source_lang``
            = ``lang``): what :func:`~distill.teacher.train_teacher` takes.
    """

    name: str
    lang: str
    weight: float
    cfg: DictConfig


def side_column(lang: str, source_lang: str) -> str:
    """The pairs' column a teacher of ``lang`` reads: ``src``, or ``src_<lang>`` for another language."""
    return "src" if normalize_tag(lang) == normalize_tag(source_lang) else f"src_{normalize_tag(lang)}"


def _teacher_cfg(cfg: DictConfig, spec: Any, where: str) -> DictConfig:
    """The run's ``teacher`` with an entry's ``teacher:`` (a conf/teacher name or overrides)."""
    if spec is None:
        return cfg.teacher
    if isinstance(spec, str):
        option = compose_option("teacher", spec)
        if option is None:
            names = config_options("teacher")
            raise DistillError(f"{where}.teacher={spec!r} is not a teacher config", fix=f"use one of {names}")
        return OmegaConf.merge(cfg.teacher, option)  # type: ignore[return-value]
    if isinstance(spec, Mapping | DictConfig):
        return OmegaConf.merge(cfg.teacher, spec)  # type: ignore[return-value]
    raise DistillError(f"{where}.teacher must be a conf/teacher name or a mapping, got {spec!r}")


def _entries(value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, Mapping | DictConfig):
        return [(str(k), v) for k, v in value.items()]
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [
            (str(e.get("name") or e.get("lang") or i) if isinstance(e, Mapping | DictConfig) else str(i), e)
            for i, e in enumerate(value)
        ]
    raise DistillError(f"teachers must be a mapping name -> {{lang, weight, teacher}}, got {value!r}")


def _source(cfg: DictConfig, name: str, entry: Any) -> TeacherSource:
    where = f"teachers.{name}"
    if not isinstance(entry, Mapping | DictConfig):
        raise DistillError(f"{where} must be a mapping with lang (and weight, teacher), got {entry!r}")
    unknown = sorted(set(map(str, entry)) - _ENTRY_KEYS)
    if unknown:
        raise DistillError(f"{where} has unknown keys {unknown}", fix=f"use {sorted(_ENTRY_KEYS)}")
    lang = str(entry.get("lang") or cfg.data.source_lang)
    check_lang_codes([lang], f"{where}.lang")
    weight = entry.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not weight > 0:
        raise DistillError(
            f"{where}.weight must be a number > 0, got {weight!r}", fix=f"e.g. {where}.weight=1.0"
        )
    if normalize_tag(lang) in {normalize_tag(str(t)) for t in cfg.data.target_langs or []}:
        raise DistillError(
            f"{where}.lang={lang} is a target language: its teacher would be trained on target labels",
            fix="teach only from source languages",
        )
    sub = cfg.copy()
    with open_dict(sub):
        sub.teacher = _teacher_cfg(cfg, entry.get("teacher"), where)
        if entry.get("data"):
            sub.data = OmegaConf.merge(cfg.data, entry["data"])
        sub.data.source_lang = lang
        sub.teachers = None
    return TeacherSource(name=name, lang=lang, weight=float(weight), cfg=sub)


def teacher_sources(cfg: DictConfig) -> list[TeacherSource]:
    """The ``teachers:`` of a run, primary first; ``[]`` for a single-teacher run.

    Raises:
        DistillError: A malformed entry, an unknown ``combine``, or a first teacher that does not
            read the pairs' source side.
    """
    value = cfg.get("teachers")
    if not value:
        return []
    method = str(cfg.combine)
    if method not in METHODS:
        raise DistillError(
            f"combine={method!r} is not a combination method", fix=f"use one of {', '.join(METHODS)}"
        )
    sources = [_source(cfg, name, entry) for name, entry in _entries(value)]
    if side_column(sources[0].lang, cfg.data.source_lang) != "src":
        raise DistillError(
            f"the first of teachers ({sources[0].name}, lang {sources[0].lang}) must read the pairs' source "
            f"side, data.source_lang={cfg.data.source_lang}",
            fix=f"list a {cfg.data.source_lang} teacher first, or set data.source_lang={sources[0].lang}",
        )
    return sources


def primary_cfg(cfg: DictConfig) -> DictConfig:
    """The config the primary teacher is trained with (``cfg`` itself without ``teachers:``)."""
    sources = teacher_sources(cfg)
    return sources[0].cfg if sources else cfg


# ------------------------------------------------------------------------------------------ data


def add_sides(
    cfg: DictConfig, data: Mapping[str, DatasetDict], sources: Sequence[TeacherSource]
) -> dict[str, DatasetDict]:
    """Every language's pairs with a ``src_<lang>`` column per further teacher language (None where
    that language has no aligned utterance).

    Raises:
        DistillError: A data source other than chatterbot-corpus, whose pairs have no such column.
    """
    langs = sorted({s.lang for s in sources if side_column(s.lang, cfg.data.source_lang) != "src"})
    if not langs:
        return dict(data)
    out: dict[str, DatasetDict] = {}
    for target, dd in data.items():
        splits = {}
        for split, ds in dd.items():
            for lang in langs:
                column = side_column(lang, cfg.data.source_lang)
                if column in ds.column_names:
                    continue
                if not source_of(cfg.data).aligned_across_languages or "pair_id" not in ds.column_names:
                    raise DistillError(
                        f"teachers: a {lang} teacher needs the {lang} side of the {target} pairs, but "
                        f"data={cfg.data.name} gives only src and tgt",
                        fix=f"use data=chatterbot (aligned by pair_id), or pairs with a {column} column",
                    )
                ds = ds.add_column(column, chatterbot_side(lang, split, list(ds["pair_id"])))
            splits[split] = ds
        out[target] = DatasetDict(splits)
    return out


# ------------------------------------------------------------------------------------ combination


@dataclass(frozen=True)
class SourceLabels:
    """One teacher's raw logits on one language's split, scattered to the pairs' rows."""

    logits: np.ndarray  # (N, C_own); zero on rows the teacher did not read
    read: np.ndarray  # (N,) bool
    labels: list[str]
    key: str
    hit: bool


def combined_split(
    method: str,
    sources: Sequence[TeacherSource],
    per_teacher: Sequence[SourceLabels],
    labels: Sequence[str],
    tau: float,
    prior: np.ndarray,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Combine one split: the combined logits ``(N, C)`` and what to log about it.

    ``prior`` ``(K,)`` holds the teachers' weights before the per-row factors (fixed weights, or
    fixed x similarity).
    """
    probs = np.stack([aligned_probs(t.logits, t.labels, labels, tau) for t in per_teacher])  # (K, N, C)
    probs[~np.stack([t.read for t in per_teacher])] = 0.0
    w = np.tile(prior, (probs.shape[1], 1))  # (N, K)
    if method == "confidence":
        w = w * np.stack([confidence(t.logits) for t in per_teacher], axis=1) + 1e-9
    p, used = combine_probs(probs, w)
    choice = p.argmax(axis=1)
    info: dict[str, Any] = {"rows": len(p)}
    for k, (s, t) in enumerate(zip(sources, per_teacher, strict=True)):
        rows = t.read & (probs[k].sum(axis=1) > 0)
        info[s.name] = {
            "rows_read": int(rows.sum()),
            "mean_weight": round(float(used[:, k].mean()), 4) if len(p) else None,
            "agreement": round(float((probs[k][rows].argmax(axis=1) == choice[rows]).mean()), 4)
            if rows.any()
            else None,
            "key": t.key,
        }
    return to_logits(p, tau), info


# ------------------------------------------------------------------------------------------ stage


def _scatter(entry: Any, read: np.ndarray, n_labels: int) -> np.ndarray:
    out = np.zeros((len(read), n_labels), dtype=np.float32)
    out[read] = entry.logits()
    return out


def source_labels(
    source: TeacherSource,
    teacher: Any,
    data: Mapping[str, DatasetDict],
    splits: Sequence[str],
    label_kw: Mapping[str, Any],
    source_lang: str,
) -> dict[str, dict[str, SourceLabels]]:
    """One teacher's soft labels (cached raw logits) on its side of every language's pairs."""
    column = side_column(source.lang, source_lang)
    views: dict[str, DatasetDict] = {}
    reads: dict[str, dict[str, np.ndarray]] = {}
    for lang, dd in data.items():
        views[lang], reads[lang] = DatasetDict(), {}
        for split in splits:
            texts = dd[split][column]
            read = np.array([t is not None for t in texts], dtype=bool)
            views[lang][split] = Dataset.from_dict({"src": [t for t in texts if t is not None]})
            reads[lang][split] = read
    soft = label_stage(Path(teacher.path), views, mode="parallel", **label_kw)
    return {
        lang: {
            s: SourceLabels(
                _scatter(e, reads[lang][s], e.num_labels), reads[lang][s], list(teacher.labels), e.key, e.hit
            )
            for s, e in splits_.items()
        }
        for lang, splits_ in soft.items()
    }


def similarity_prior(
    cfg: DictConfig, sources: Sequence[TeacherSource], target: str, data: DatasetDict
) -> tuple[np.ndarray, dict[str, float]]:
    """``softmax(score / T)`` over the teachers for one target, from a ranking JSON or computed."""
    opts = cfg.combine_similarity
    ref = opts.ranking
    langs = [s.lang for s in sources]
    if ref:
        path = per_language(
            ref, target, [str(t) for t in cfg.data.target_langs], "combine_similarity.ranking"
        )
        scores = read_ranking(str(path), target).scores()
    else:  # the same score as distill-rank-sources, on this run's training pairs
        train = data["train"]
        tgt = list(train["tgt"])
        cand = {}
        for lang in dict.fromkeys(langs):
            side = list(train[side_column(lang, cfg.data.source_lang)])
            pairs = [(s, t) for s, t in zip(side, tgt, strict=True) if s is not None]
            cand[lang] = LanguageData([s for s, _ in pairs], pairs)
        student = StudentSpec(
            str(cfg.student.model), str(cfg.student.prefix or ""), int(cfg.student.max_length)
        )
        ranking = rank_candidates(target, cand, tgt, student, data_name="run pairs")
        scores = ranking.scores()
        log.info("teachers: language similarity to %s computed on the run's pairs: %s", target, scores)
    weights = similarity_weights(scores, langs, float(opts.temperature))
    return weights, {s.lang: round(float(scores[s.lang]), 4) for s in sources if s.lang in scores}


def combine_sources(
    cfg: DictConfig,
    sources: Sequence[TeacherSource],
    teachers: Sequence[Any],
    data: Mapping[str, DatasetDict],
    splits: Sequence[str],
    label_kw: Mapping[str, Any],
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, Any], dict[str, dict[str, Any]]]:
    """Label the pairs with every teacher (cached) and combine.

    Returns:
        ``({lang: {split: combined logits}}, report, cache)``: the report is what ``sources.json``
        and ``metrics.json`` record; ``cache`` holds each teacher's entries as ``labels.json``
        records them (``{lang: {"<split>_<teacher>": {rows, key, hit}}}``).
    """
    method = str(cfg.combine)
    tau = float(cfg.loss.temperature)
    labels = list(teachers[0].labels)
    source_lang = str(cfg.data.source_lang)
    per = [
        source_labels(s, t, data, splits, label_kw, source_lang)
        for s, t in zip(sources, teachers, strict=True)
    ]
    fixed = np.array([s.weight for s in sources], dtype=np.float64)
    combined: dict[str, dict[str, np.ndarray]] = {}
    report: dict[str, Any] = {
        "combine": method,
        "temperature": tau,
        "space": "probability",
        "teachers": [
            {
                "name": s.name,
                "lang": s.lang,
                "weight": s.weight,
                "path": portable(t.path),
                "key": t.key,
                "val_acc": t.val_acc,
                "labels": len(t.labels),
            }
            for s, t in zip(sources, teachers, strict=True)
        ],
        "languages": {},
    }
    for lang in data:
        prior, scores = fixed, dict[str, float]()
        if method == "similarity":
            sim, scores = similarity_prior(cfg, sources, lang, data[lang])
            prior = fixed * sim
        prior = prior / prior.sum()
        combined[lang] = {}
        report["languages"][lang] = {
            "prior": dict(zip([s.name for s in sources], map(float, prior), strict=True))
        }
        if scores:
            report["languages"][lang]["similarity"] = scores
        for split in splits:
            logits, info = combined_split(method, sources, [p[lang][split] for p in per], labels, tau, prior)
            combined[lang][split] = logits
            report["languages"][lang][split] = info
            log.info(
                "teachers: %s/%s combined (%s): %s",
                lang,
                split,
                method,
                ", ".join(
                    f"{s.name} w={info[s.name]['mean_weight']} agree={info[s.name]['agreement']}"
                    for s in sources
                ),
            )
    cache = {
        lang: {
            f"{split}_{s.name}": {
                "rows": int(p[lang][split].read.sum()),
                "key": p[lang][split].key,
                "hit": p[lang][split].hit,
            }
            for s, p in zip(sources, per, strict=True)
            for split in splits
        }
        for lang in data
    }
    return combined, report, cache


def write_report(out_dir: Path, report: Mapping[str, Any]) -> None:
    """``<run dir>/sources.json``."""
    write_text_atomic(out_dir / "sources.json", json.dumps(report, indent=2) + "\n")
