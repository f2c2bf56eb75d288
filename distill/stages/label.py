"""The label stage: prepare the data, get the teacher and fill the soft-label cache (``distill-label``)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Dataset, DatasetDict
from omegaconf import DictConfig

from distill.cache import SoftLabels, label_stage
from distill.data.datamodule import label_ids, logit_array
from distill.multi_source import add_sides, combine_sources, teacher_sources
from distill.multi_source import write_report as write_sources_report
from distill.records import StageTimer
from distill.settings import rehearsal_size, teacher_label_kw, uses_roundtrip
from distill.teacher import TeacherResult, train_teacher
from distill.utils.atomic import write_text_atomic
from distill.utils.ranks import global_rank, is_rank_zero

log = logging.getLogger(__name__)


TRAIN_SPLITS = ("train", "validation")


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

    def _teacher(self, lang: str, split: str) -> np.ndarray | Dataset:
        """The kd targets of one split: the combined array (multi-source) or the cache entry."""
        return self.combined[lang][split] if self.combined is not None else self.soft[lang][split].dataset

    def logits(self) -> dict[str, dict[str, np.ndarray]]:
        """The cached teacher logits of the training splits, ``{lang: {split: (N, C)}}``."""
        return {lang: {s: logit_array(self._teacher(lang, s)) for s in TRAIN_SPLITS} for lang in self.data}

    def validation_logits(self) -> dict[str, np.ndarray]:
        """The primary teacher's cached logits on each language's validation rows (row-aligned with
        ``data[lang]["validation"]``); empty for a live teacher, which caches nothing."""
        return {
            lang: splits["validation"].logits()
            for lang, splits in self.soft.items()
            if "validation" in splits
        }

    def targets(self) -> dict[str, dict[str, dict[str, np.ndarray | Dataset]]]:
        """Every cached target column of the training splits, ``{lang: {split: {column: rows}}}``:
        the cache entries themselves (memory-mapped ``Dataset``s with ``logits``, read batch by batch
        by :func:`~distill.data.datamodule.distill_rows`), or ``(N, C)`` arrays where the targets
        are computed (multi-source)."""
        out: dict[str, dict[str, dict[str, np.ndarray | Dataset]]] = {}
        for lang in self.data:
            out[lang] = {}
            for s in TRAIN_SPLITS:
                out[lang][s] = {} if self.live else {"teacher_logits": self._teacher(lang, s)}
                if lang in self.roundtrip:
                    out[lang][s]["teacher_roundtrip_logits"] = self.roundtrip[lang][s].dataset
        return out


def label(cfg: DictConfig, timer: StageTimer | None = None) -> Labelled:
    """Prepare the data, get the teacher (cached) and fill the soft-label cache (``distill-label``)."""
    from distill.stages.prepare import prepare

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
        lang: {s: {"rows": len(e), "key": e.key, "hit": e.hit, **_precision(e)} for s, e in splits.items()}
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


def _precision(entry: SoftLabels) -> dict[str, Any]:
    """A fast-path entry's precision and parity figures against fp32 (nothing for fp32)."""
    return {k: entry.manifest[k] for k in ("precision", "parity") if k in entry.manifest}


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


def check_test_labels(data: Mapping[str, DatasetDict], labels: list[str]) -> None:
    """Fail before training when a test split holds labels the teacher does not have."""
    label2id = {name: i for i, name in enumerate(labels)}
    for lang, dd in data.items():
        if "test" in dd and "label" in dd["test"].column_names:
            label_ids(dd["test"]["label"], label2id, f"{lang}/test")
