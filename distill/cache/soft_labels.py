"""The soft-label cache's front door: the teacher runs once, its outputs are read back memory-mapped.

:func:`soft_labels` returns the teacher's raw logits (and, when asked, its mean-pooled embeddings)
for one text column, from ``$DISTILL_CACHE/soft_labels/<key>`` (:mod:`distill.cache.entries`) or
computed once in shards (:mod:`distill.cache.shards`, on several devices with
:mod:`distill.cache.devices`). :func:`label_stage` does it for every target language and split.

Example::

    labels = soft_labels(Path("runs/teacher"), ["How are you?"], mode="parallel", max_length=128)
    labels.logits()  # (N, C) float32; labels.dataset is the memory-mapped Arrow dataset
"""

from __future__ import annotations

import functools
import logging
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TypedDict, Unpack

import torch
from datasets import DatasetDict

from distill.cache.devices import labelled_shards_on_devices
from distill.cache.entries import SoftLabels, read_entry, write_entry
from distill.cache.fingerprint import FORMAT_VERSION, entry_key, teacher_fingerprint, texts_sha256
from distill.cache.precision import check_precision
from distill.cache.shards import (
    ONE_PROCESS,
    SHARD_ROWS,
    ModelLoader,
    ShardedTeacher,
    labelled_shards,
    partial_dir,
)
from distill.errors import DistillError
from distill.models.classifier import load_frozen
from distill.utils.mapped_pages import ReleasedColumn
from distill.utils.paths import cache_dir
from distill.utils.versions import library_versions

log = logging.getLogger(__name__)

# The column the teacher reads in each mode: the source side (human, or MT of the target text in
# translate-test); in ``direct`` mode a multilingual teacher reads the target text itself.
TEACHER_COLUMNS = {"parallel": "src", "translate": "src", "direct": "tgt"}


def soft_labels(
    teacher_dir: str | Path,
    texts: Sequence[str],
    *,
    mode: str,
    max_length: int,
    prefix: str = "",
    batch_size: int = 64,
    with_embeddings: bool = False,
    progress: bool = True,
    model_loader: ModelLoader | None = None,
    device: str | torch.device | None = None,
    shard_rows: int = SHARD_ROWS,
    devices: int = 1,
    strategy: str = "ddp",
    precision: str = "fp32",
) -> SoftLabels:
    """Soft labels of ``texts`` from the teacher: read from the cache, or computed once and cached.

    On a hit the teacher is neither loaded nor run. On a miss it is loaded through
    ``model_loader``, frozen, run under ``torch.inference_mode()`` in length-sorted batches, and
    its outputs are written atomically with a ``manifest.json``. A cache entry whose rows or key do
    not match is rebuilt (with a warning).

    Args:
        teacher_dir: The teacher folder (a ``save_pretrained`` classifier and its tokenizer).
        texts: The texts the teacher reads; the result's rows follow their order.
        mode: Transfer mode, part of the key.
        max_length: Truncation length in tokens.
        prefix: Prepended to every text (e.g. ``"query: "`` for E5 models).
        batch_size: Texts per forward pass (not part of the key).
        with_embeddings: Also store mean-pooled last hidden states of ``model.base_model``.
        progress: Show a progress bar with sentences per second.
        model_loader: ``teacher_dir -> (model, tokenizer)``; default:
            :func:`~distill.models.classifier.load_frozen`.
        device: Where the teacher runs; default: CUDA when available, else CPU.
        shard_rows: Texts per shard. Each finished shard is kept (atomically) until the entry is
            complete, so a killed label stage resumes from the shards it finished. Not part of
            the key.
        devices: Processes the teacher runs in; above 1, as Lightning prediction with
            ``strategy`` (:mod:`distill.cache.devices`), each rank labelling its own shards. The
            entry is the same. Not part of the key.
        strategy: Lightning's strategy for ``devices`` > 1: ``ddp`` (the other ranks rerun the
            command, which must reach this call again) or ``ddp_spawn``.
        precision: How the teacher runs (``fp32``, ``bf16``, ``onnx``, ``onnx-int8``; see
            :mod:`distill.cache.precision`). Other than fp32 it is part of the key, and the path
            must pass its parity check against fp32 (recorded in the manifest as ``parity``).

    Returns:
        :class:`SoftLabels` over the memory-mapped entry.

    Raises:
        DistillError: For a missing teacher, a text that is not a string, an entry that cannot
            be read back after writing, an unknown precision or one that fails its parity check.
    """
    check_precision(precision, with_embeddings=with_embeddings)
    teacher_dir = Path(teacher_dir)
    # Hashed, then maybe read again: a list, or a sequence read in slices (a datasets column, which
    # streams from the memory-mapped Arrow file instead of holding every text at once).
    texts = texts if isinstance(texts, Sequence) else list(texts)
    fingerprint = teacher_fingerprint(teacher_dir)
    texts_hash, n = texts_sha256(texts)
    settings = {"mode": mode, "max_length": max_length, "prefix": prefix, "with_embeddings": with_embeddings}
    key = entry_key(
        fingerprint,
        texts_hash,
        n,
        mode=mode,
        max_length=max_length,
        prefix=prefix,
        with_embeddings=with_embeddings,
        precision=precision,
    )
    path = cache_dir("soft_labels", key)
    cached = read_entry(path, key, n)
    if cached is not None:
        log.info("soft labels: cache hit %s (%d rows)", key, n)
        return cached

    damaged = path.exists()
    start = time.perf_counter()
    teacher = ShardedTeacher(
        teacher_dir,
        model_loader or load_frozen,
        device=device,
        with_embeddings=with_embeddings,
        batch_size=batch_size,
        max_length=max_length,
        prefix=prefix,
        progress=progress,
        precision=precision,
        fingerprint=fingerprint,
    )
    group = ONE_PROCESS
    if devices > 1:
        ds, labels_info, reused, group = labelled_shards_on_devices(
            teacher, texts, key, shard_rows, devices=devices, strategy=strategy
        )
    else:
        ds, labels_info, reused = labelled_shards(teacher, texts, key, shard_rows)
    seconds = time.perf_counter() - start
    manifest = {
        "key": key,
        "format_version": FORMAT_VERSION,
        "teacher_dir": str(teacher_dir.resolve()),
        "teacher_weights_sha256": fingerprint.weights,
        "teacher_config_sha256": fingerprint.config,
        "tokenizer_sha256": fingerprint.tokenizer,
        "texts_sha256": texts_hash,
        "n_rows": n,
        **labels_info,
        **settings,
        "shard_rows": shard_rows,
        "devices": devices,
        "seconds": round(seconds, 3),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": library_versions(),
    }
    if group.rank == 0:  # one writer; the other ranks read the entry once it is in place
        write_entry(path, ds, manifest, overwrite=damaged)
    group.barrier()
    if group.rank == 0:  # after the barrier: the other ranks have finished reading the shards
        shutil.rmtree(partial_dir(key), ignore_errors=True)
    entry = read_entry(path, key, n)
    if entry is None:
        raise DistillError(
            f"soft-label cache entry {path} cannot be read back", fix=f"delete {path} and rerun"
        )
    log.info(
        "soft labels: cache miss %s: computed %d rows in %.1f s (%.0f sentences/s)%s",
        key,
        n - reused,
        seconds,
        (n - reused) / max(seconds, 1e-9),
        f"; {reused} rows from the shards of an interrupted run" if reused else "",
    )
    return replace(entry, hit=False)


class LabelOptions(TypedDict, total=False):
    """The options :func:`label_stage` hands on to :func:`soft_labels` for every column (see there)."""

    prefix: str
    batch_size: int
    with_embeddings: bool
    progress: bool
    model_loader: ModelLoader | None
    shard_rows: int
    devices: int
    strategy: str
    precision: str


def label_stage(
    teacher_dir: str | Path,
    data: Mapping[str, DatasetDict],
    *,
    mode: str,
    max_length: int,
    **options: Unpack[LabelOptions],
) -> dict[str, dict[str, SoftLabels]]:
    """Soft labels of the text the teacher reads, for every target language and split.

    The teacher is loaded at most once, and only if some column misses the cache. Languages that
    share a text column (the same English sentences) share one cache entry.

    Args:
        teacher_dir: The teacher folder.
        data: Target language -> its splits (as from :func:`distill.data.parallel.load_parallel`).
        mode: Transfer mode; decides the column the teacher reads (``parallel``: ``src``).
        max_length: Truncation length in tokens.
        **options: ``prefix``, ``batch_size``, ``with_embeddings``, ``progress``,
            ``model_loader``, ``shard_rows`` (the unit a killed label stage resumes from),
            ``devices`` (``teacher.label_devices``), ``strategy`` (``teacher.label_strategy``) and
            ``precision`` (``teacher.precision``), as for :func:`soft_labels`.

    Returns:
        ``{lang: {split: SoftLabels}}``.

    Raises:
        DistillError: For a mode the label stage does not handle, or a split without its column.
    """
    if mode not in TEACHER_COLUMNS:
        raise DistillError(
            f"the label stage does not handle mode={mode!r}",
            fix=f"use mode= one of {', '.join(TEACHER_COLUMNS)}",
        )
    column = TEACHER_COLUMNS[mode]
    # One loader for every column: the teacher is loaded once, on the first miss.
    once: LabelOptions = {
        **options,
        "model_loader": functools.cache(options.get("model_loader") or load_frozen),
    }
    out: dict[str, dict[str, SoftLabels]] = {}
    for lang, splits in data.items():
        out[lang] = {}
        for split, ds in splits.items():
            if column not in ds.column_names:
                raise DistillError(f"split {split!r} of {lang!r} has no {column!r} column (mode={mode})")
            # Read in slices, each slice's mapped pages handed back (memory stays flat).
            texts = ReleasedColumn(ds, column)
            out[lang][split] = soft_labels(teacher_dir, texts, mode=mode, max_length=max_length, **once)
    return out
