"""The label stage's unit of work and of resumption: shards of ``SHARD_ROWS`` texts.

Each finished shard of an entry waits (atomically written, with its manifest) in
``$DISTILL_CACHE/soft_labels_partial/<key>`` until the whole entry is in place, so a killed label
stage resumes from the shards it finished, with one process or several
(:mod:`distill.cache.devices`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset, concatenate_datasets, load_from_disk

from distill.cache.entries import MANIFEST, as_dataset
from distill.cache.fingerprint import TeacherFingerprint, teacher_fingerprint
from distill.cache.precision import TeacherForward, checked, onnx_teacher
from distill.cache.store import load_stored, save_stored
from distill.errors import DistillError
from distill.models.classifier import freeze
from distill.utils.atomic import atomic_dir
from distill.utils.manifest import files_problem
from distill.utils.paths import cache_dir

log = logging.getLogger(__name__)

# Texts per shard of the label stage: the unit a killed label stage resumes from.
SHARD_ROWS = 8192
# Token budget of a label batch of short texts, per row of teacher.label_batch_size.
LABEL_TOKENS_PER_ROW = 64

ModelLoader = Callable[[Path], tuple[Any, Any]]


def label_token_budget(batch_size: int, max_length: int) -> int:
    """Padded positions a label batch of short texts may grow to (``batch_size`` rows at least).

    ``batch_size x 64`` positions, never above a full batch of the longest texts: fewer forwards,
    each still small enough for the CPU's caches. On 2 CPU cores (all-MiniLM-L6-v2, batch 64,
    6,000 sentences, best of 2) a budget of 4,096 positions labelled in 14.5 s, 8,192 in 16.1 s and
    plain batches of 64 in 14.9 s.
    """
    return batch_size * min(max_length, LABEL_TOKENS_PER_ROW)


@dataclass
class ShardedTeacher:
    """The teacher, loaded on first use (never when every shard is already in the cache).

    ``precision`` is how it runs (:mod:`distill.cache.precision`); a fast path is checked against
    fp32 on the first texts it labels, and the record rides along in every shard's label info.
    ``fingerprint`` (the teacher's hashes) names its ONNX export in the cache.
    """

    teacher_dir: Path
    loader: ModelLoader
    device: str | torch.device | None
    with_embeddings: bool
    batch_size: int
    max_length: int
    prefix: str
    progress: bool
    precision: str = "fp32"
    fingerprint: TeacherFingerprint | None = None
    _loaded: tuple[Any, Any] | None = None
    _forward: TeacherForward | None = None
    _parity: dict[str, Any] | None = None

    def model(self) -> tuple[Any, Any]:
        """The teacher and its tokenizer, frozen (whatever the loader did) and on its device."""
        if self._loaded is None:
            model, tokenizer = self.loader(self.teacher_dir)
            freeze(model).to(self.device or ("cuda" if torch.cuda.is_available() else "cpu"))
            self._loaded = model, tokenizer
        return self._loaded

    def forward(self) -> TeacherForward:
        """The teacher's forward at ``precision`` (exporting it to ONNX first for the ONNX paths)."""
        if self._forward is None:
            model, tokenizer = self.model()
            onnx = None
            if self.precision.startswith("onnx"):
                fingerprint = self.fingerprint or teacher_fingerprint(self.teacher_dir)
                onnx = onnx_teacher(self.teacher_dir, fingerprint, int8=self.precision == "onnx-int8")
            self._forward = TeacherForward(self.precision, model, tokenizer, onnx)
        return self._forward

    def label(self, texts: Sequence[str], desc: str) -> tuple[Dataset, dict[str, Any]]:
        """The teacher's outputs on ``texts`` as an entry's table, and its label info."""
        forward = self.forward()
        kw: dict[str, Any] = {
            "batch_size": self.batch_size,
            "max_length": self.max_length,
            "prefix": self.prefix,
            "max_tokens": label_token_budget(self.batch_size, self.max_length),
        }
        logits, embeddings = forward(
            texts, with_embeddings=self.with_embeddings, progress=self.progress, desc=desc, **kw
        )
        if self.precision != "fp32" and self._parity is None and len(texts):
            # Checked before the first shard is kept: a path that misses the bar caches nothing.
            self._parity = checked(forward, texts, logits, **kw)
        model = forward.model
        info: dict[str, Any] = {
            "num_labels": int(logits.shape[1]),
            "id2label": {str(i): name for i, name in sorted(model.config.id2label.items())},
            "embedding_dim": None if embeddings is None else int(embeddings.shape[1]),
        }
        if self.precision != "fp32":  # fp32 entries keep the manifest they always had
            info.update(precision=self.precision, parity=self._parity)
        return as_dataset(logits, embeddings), info


@dataclass(frozen=True)
class Group:
    """The processes labelling one entry: this one's rank and a barrier across them."""

    rank: int
    barrier: Callable[[], None]


ONE_PROCESS = Group(rank=0, barrier=lambda: None)


def partial_dir(key: str) -> Path:
    """Where the finished shards of an entry wait until the entry is complete."""
    return cache_dir("soft_labels_partial", key)


def shard_bounds(n: int, shard_rows: int) -> list[tuple[int, int]]:
    """``[start, stop)`` of every shard of ``n`` texts."""
    if shard_rows < 1:
        raise DistillError(f"shard_rows must be >= 1, got {shard_rows}", fix="use the default (8192)")
    return [(lo, min(lo + shard_rows, n)) for lo in range(0, n, shard_rows)]


@dataclass(frozen=True)
class EntryShards:
    """The shards of one entry: their bounds, and the finished ones in the entry's partial folder.

    Shard ``i`` covers the texts ``bounds[i]`` and is kept in ``<partial folder>/shard-<i>``.
    """

    key: str
    bounds: list[tuple[int, int]]

    @classmethod
    def of(cls, key: str, n: int, shard_rows: int) -> EntryShards:
        """The shards of ``n`` texts, ``shard_rows`` each (the last one shorter)."""
        return cls(key, shard_bounds(n, shard_rows))

    @property
    def partial(self) -> Path:
        """The entry's partial folder (removed once the entry is in place)."""
        return partial_dir(self.key)

    def folder(self, index: int) -> Path:
        """The folder of shard ``index``."""
        return self.partial / f"shard-{index:05d}"

    def read(self, index: int) -> tuple[Dataset, dict[str, Any]] | None:
        """Finished shard ``index`` and its label info, or None when absent or damaged."""
        path = self.folder(index)
        start, stop = self.bounds[index]
        found = load_stored(path, MANIFEST, "soft labels: shard", "computing it again")
        if found is None:
            return None
        manifest, ds = found
        problem = (
            "not a Dataset"
            if not isinstance(ds, Dataset)
            else f"{manifest.get('key')}[{manifest.get('start')}:{manifest.get('stop')}], {len(ds)} rows"
            if (manifest.get("key"), manifest.get("start"), manifest.get("stop"), len(ds))
            != (self.key, start, stop, stop - start)
            else files_problem(path, MANIFEST, manifest.get("files"))
        )
        if problem is not None:
            log.warning("soft labels: shard %s is damaged (%s); computing it again", path, problem)
            return None
        return ds, manifest["labels"]

    def write(self, index: int, ds: Dataset, info: dict[str, Any]) -> Dataset:
        """Keep finished shard ``index`` (atomically, with its manifest); return it memory-mapped."""
        folder = self.folder(index)
        start, stop = self.bounds[index]
        with atomic_dir(folder) as tmp:
            save_stored(tmp, ds, MANIFEST, {"key": self.key, "start": start, "stop": stop, "labels": info})
        return load_from_disk(str(folder))  # type: ignore[return-value]


def labelled_shards(
    teacher: ShardedTeacher, texts: Sequence[str], key: str, shard_rows: int
) -> tuple[Dataset, dict[str, Any], int]:
    """Every shard of ``texts``, from an interrupted run's partial folder or computed (and kept).

    Returns:
        ``(all rows in order, label info of the teacher, rows reused from finished shards)``.
    """
    shards = EntryShards.of(key, len(texts), shard_rows)
    n = len(texts)
    if n <= shard_rows:  # one shard: nothing to resume from, nothing to keep on the side
        whole, whole_info = teacher.label(texts, "soft labels")
        return whole, whole_info, 0
    done: list[Dataset] = []
    info: dict[str, Any] = {}
    reused = 0
    for i, (lo, hi) in enumerate(shards.bounds):
        found = shards.read(i)
        if found is not None:
            ds, info = found
            reused += hi - lo
        else:
            ds, info = teacher.label(texts[lo:hi], f"soft labels {i + 1}/{len(shards.bounds)}")
            ds = shards.write(i, ds, info)  # memory-mapped: the rows leave memory
        done.append(ds)
    if reused:
        log.info("soft labels: %d of %d rows from the finished shards in %s", reused, n, shards.partial)
    return concatenate_datasets(done), info, reused
