"""The label stage: the teacher runs once, its soft labels live in a memory-mapped on-disk cache.

The teacher's raw logits (not temperature-scaled: the temperature belongs to the loss) and, when
asked, its mean-pooled embeddings are stored as a ``datasets`` Arrow dataset under
``$DISTILL_CACHE/soft_labels/<key>``. The key is a content hash of everything that decides the
numbers (teacher weights, config, tokenizer, the texts in order, mode, max length, prefix, the
embedding flag and the cache format), and of nothing else: a copied teacher folder or another batch
size hits the same entry, also across Hydra sweep jobs and runs.

Entries are written into a temporary folder and renamed into place, so a crash never leaves half an
entry, and two jobs writing the same key keep whichever finished first. Reads use
``datasets.load_from_disk``, which memory-maps the Arrow files: training memory does not grow with
the corpus.

Example::

    labels = soft_labels(Path("runs/teacher"), ["How are you?"], mode="parallel", max_length=128)
    labels.logits()  # (N, C) float32; labels.dataset is the memory-mapped Arrow dataset
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import shutil
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Dataset, DatasetDict, Features, List, Value, concatenate_datasets, load_from_disk

from distill.errors import DistillError
from distill.models.classifier import length_sorted_batches, load_classifier, mean_pool, predict_logits
from distill.provenance import library_versions
from distill.utils.atomic import atomic_dir, write_text_atomic
from distill.utils.hashing import file_sha256, text_sha256
from distill.utils.manifest import files_problem, files_sha256, record_hashes
from distill.utils.paths import cache_dir

log = logging.getLogger(__name__)

# Bump when the stored columns or their meaning change: every old entry then misses.
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
# Texts per shard of the label stage: the unit a killed label stage resumes from.
SHARD_ROWS = 8192
# Token budget of a label batch of short texts, per row of teacher.label_batch_size.
LABEL_TOKENS_PER_ROW = 64
WEIGHT_PATTERNS = ("*.safetensors", "*.bin")
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "sentencepiece.bpe.model",
    "sentencepiece.model",
    "spiece.model",
    "tokenizer.model",
)
# JSON files whose bytes carry where and with what they were saved: hashed without these keys.
CANONICAL_JSON = ("config.json", "tokenizer_config.json")
_VOLATILE_KEYS = frozenset(
    {"_name_or_path", "name_or_path", "_commit_hash", "transformers_version", "is_local", "local_files_only"}
)
# The column each mode's teacher reads, per split (modes not listed arrive with their MT backends).
# The column the teacher reads in each mode: the source side (human, or MT of the target text in
# translate-test); in ``direct`` mode a multilingual teacher reads the target text itself.
TEACHER_COLUMNS = {"parallel": "src", "translate": "src", "direct": "tgt"}
_SHA256 = re.compile(r"[0-9a-f]{64}")

ModelLoader = Callable[[Path], tuple[Any, Any]]

# Per-file weight hashes of this process, keyed by (path, size, mtime_ns): a multi-GB teacher is
# hashed once, not once per split and language.
_FILE_HASHES: dict[tuple[str, int, int], str] = {}


@dataclass(frozen=True)
class SoftLabels:
    """The teacher's outputs for one text column, rows aligned with the texts.

    Attributes:
        dataset: Memory-mapped Arrow dataset with ``logits`` (``C`` float32 per row) and, when
            asked, ``embedding`` (``H`` float32 per row).
        key: The cache key (also the entry's folder name).
        path: The entry's folder under ``$DISTILL_CACHE/soft_labels``.
        hit: True when read from the cache, False when the teacher ran for this call.
        manifest: The entry's ``manifest.json`` (teacher, label names, settings, versions).
    """

    dataset: Dataset
    key: str
    path: Path
    hit: bool
    manifest: dict[str, Any]

    def __len__(self) -> int:
        return len(self.dataset)

    @property
    def num_labels(self) -> int:
        """Number of teacher classes ``C``."""
        return int(self.manifest["num_labels"])

    def logits(self) -> np.ndarray:
        """All raw logits as one ``(N, C)`` float32 array (read into memory)."""
        return self._array("logits")

    def embeddings(self) -> np.ndarray | None:
        """All pooled embeddings as one ``(N, H)`` float32 array, or ``None`` if not stored."""
        return self._array("embedding") if "embedding" in self.dataset.column_names else None

    def _array(self, column: str) -> np.ndarray:
        width = self.dataset.features[column].length
        # The reshape keeps the width for 0 rows, where the numpy formatter returns shape (0,).
        return self.dataset.with_format("numpy")[:][column].reshape(-1, width)


@dataclass(frozen=True)
class TeacherFingerprint:
    """Content hashes of what in a teacher folder decides its outputs (its location does not)."""

    weights: str
    config: str
    tokenizer: str


def _weights_file_sha256(path: Path) -> str:
    """``file_sha256`` remembered per (path, size, mtime), in memory and in a sidecar in the cache.

    The sidecar lets the jobs of a sweep share one hashing of a large teacher. A file rewritten
    with the same size within one filesystem timestamp tick would keep its old hash; saving a
    teacher takes far longer than a tick.
    """
    stat = path.stat()
    memo = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if memo in _FILE_HASHES:
        return _FILE_HASHES[memo]
    sidecar = cache_dir("file_hashes", text_sha256(*map(str, memo)))
    digest = sidecar.read_text().strip() if sidecar.is_file() else ""
    if not _SHA256.fullmatch(digest):
        digest = file_sha256(path)
        try:
            write_text_atomic(sidecar, digest)
        except OSError as e:  # a read-only cache only costs a re-hash next time
            log.debug("cannot write hash sidecar %s: %s", sidecar, e)
    _FILE_HASHES[memo] = digest
    return digest


def _canonical_json_sha256(path: Path) -> str:
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k not in _VOLATILE_KEYS}
    return text_sha256(json.dumps(data, sort_keys=True, ensure_ascii=False))


def _files_sha256(folder: Path, names: Iterable[str], hasher: Callable[[Path], str]) -> str:
    """One hash over (file name, content hash) of the files among ``names`` that exist."""
    parts = [f"{name}={hasher(folder / name)}" for name in sorted(names) if (folder / name).is_file()]
    return text_sha256(*parts)


def teacher_fingerprint(teacher_dir: str | Path) -> TeacherFingerprint:
    """Hash a teacher folder's weights, config and tokenizer files.

    Args:
        teacher_dir: A folder written by ``save_pretrained`` (model and tokenizer).

    Raises:
        DistillError: When the folder or its weights are missing.
    """
    folder = Path(teacher_dir)
    if not folder.is_dir():
        raise DistillError(f"teacher folder {folder} does not exist", fix="run distill-teacher first")
    weights = sorted({p.name for pattern in WEIGHT_PATTERNS for p in folder.glob(pattern)})
    if not weights:
        raise DistillError(
            f"teacher folder {folder} has no weights (*.safetensors or *.bin)",
            fix="save the teacher with save_pretrained",
        )

    def canonical_or_raw(path: Path) -> str:
        return _canonical_json_sha256(path) if path.name in CANONICAL_JSON else file_sha256(path)

    return TeacherFingerprint(
        weights=_files_sha256(folder, weights, _weights_file_sha256),
        config=_files_sha256(folder, ["config.json"], _canonical_json_sha256),
        tokenizer=_files_sha256(folder, TOKENIZER_FILES, canonical_or_raw),
    )


def texts_sha256(texts: Iterable[str]) -> tuple[str, int]:
    """Order-sensitive streaming hash of texts (each length-prefixed) and their count.

    Raises:
        DistillError: When an item is not a string (e.g. a missing text).
    """
    h = hashlib.sha256()
    n = 0
    for n, text in enumerate(texts, start=1):
        if not isinstance(text, str):
            raise DistillError(f"text {n - 1} is {text!r}, not a string", fix="drop rows without text")
        data = text.encode("utf-8")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest(), n


def _key(
    teacher: TeacherFingerprint,
    texts_hash: str,
    n_texts: int,
    *,
    mode: str,
    max_length: int,
    prefix: str,
    with_embeddings: bool,
) -> str:
    spec = {
        "format": FORMAT_VERSION,
        "teacher": [teacher.weights, teacher.config, teacher.tokenizer],
        "texts": [texts_hash, n_texts],
        "mode": mode,
        "max_length": int(max_length),
        "prefix": prefix,
        "with_embeddings": bool(with_embeddings),
    }
    # 128 bits name an entry uniquely and keep paths short.
    return text_sha256(json.dumps(spec, sort_keys=True))[:32]


def cache_key(
    teacher_dir: str | Path,
    texts: Sequence[str],
    *,
    mode: str,
    max_length: int,
    prefix: str = "",
    with_embeddings: bool = False,
) -> str:
    """The soft-label cache key of a teacher and a text column.

    It changes with the teacher's weights, config (label names), tokenizer files, the texts or
    their order, ``mode``, ``max_length``, ``prefix``, ``with_embeddings`` and the cache format,
    and with nothing else (not the teacher's location, not the batch size).

    Args:
        teacher_dir: The teacher folder.
        texts: The texts the teacher reads, in row order.
        mode: Transfer mode (``parallel``, ...).
        max_length: Truncation length in tokens.
        prefix: Prepended to every text before tokenising (e.g. ``"query: "``).
        with_embeddings: Whether pooled embeddings are stored too.

    Returns:
        32 hex characters.
    """
    return _key(
        teacher_fingerprint(teacher_dir),
        *texts_sha256(texts),
        mode=mode,
        max_length=max_length,
        prefix=prefix,
        with_embeddings=with_embeddings,
    )


def _load_frozen(teacher_dir: Path) -> tuple[Any, Any]:
    model, tokenizer = load_classifier(str(teacher_dir))
    model.eval()
    model.requires_grad_(False)
    return model, tokenizer


@torch.inference_mode()
def _logits_and_embeddings(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    batch_size: int,
    max_length: int,
    prefix: str,
    progress: bool,
    max_tokens: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One teacher pass giving logits and mean-pooled last hidden states of ``model.base_model``.

    Batching as in :func:`~distill.models.classifier.predict_logits` (longest first, dynamic
    padding, original order restored); the base model's output is caught with a forward hook so
    the encoder runs once for both.
    """
    logits = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
    pooled: np.ndarray | None = None
    caught: list[torch.Tensor] = []
    handle = model.base_model.register_forward_hook(lambda _m, _args, out: caught.append(out[0]))
    batches = length_sorted_batches(
        tokenizer,
        texts,
        batch_size=batch_size,
        max_length=max_length,
        device=next(model.parameters()).device,
        prefix=prefix,
        progress=progress,
        desc="soft labels",
        max_tokens=max_tokens,
    )
    try:
        for idx, batch in batches:
            logits[idx] = model(**batch).logits.float().cpu().numpy()  # (b, C)
            emb = mean_pool(caught.pop(), batch["attention_mask"]).float().cpu().numpy()  # (b, H)
            if pooled is None:
                pooled = np.zeros((len(texts), emb.shape[1]), dtype=np.float32)
            pooled[idx] = emb
    finally:
        handle.remove()
    assert pooled is not None, "no texts: _teacher_outputs handles that case"
    return logits, pooled


def _load_teacher(
    teacher_dir: Path, loader: ModelLoader, device: str | torch.device | None
) -> tuple[Any, Any]:
    """Load the teacher and freeze it (whatever the loader did: no dropout, no gradients)."""
    model, tokenizer = loader(teacher_dir)
    model.eval()
    model.requires_grad_(False)
    model.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    return model, tokenizer


def label_token_budget(batch_size: int, max_length: int) -> int:
    """Padded positions a label batch of short texts may grow to (``batch_size`` rows at least).

    ``batch_size x 64`` positions, never above a full batch of the longest texts: fewer forwards,
    each still small enough for the CPU's caches. On 2 CPU cores (all-MiniLM-L6-v2, batch 64,
    6,000 sentences, best of 2) a budget of 4,096 positions labelled in 14.5 s, 8,192 in 16.1 s and
    plain batches of 64 in 14.9 s.
    """
    return batch_size * min(max_length, LABEL_TOKENS_PER_ROW)


def _teacher_outputs(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    with_embeddings: bool,
    batch_size: int,
    max_length: int,
    prefix: str,
    progress: bool,
    desc: str = "soft labels",
) -> tuple[np.ndarray, np.ndarray | None]:
    """Run the frozen teacher: ``(logits (N, C), embeddings (N, H) or None)``."""
    if not texts:  # tokenizers reject an empty batch; the Arrow schema still needs the widths
        hidden = np.zeros((0, int(model.config.hidden_size)), dtype=np.float32)
        return np.zeros((0, model.config.num_labels), dtype=np.float32), hidden if with_embeddings else None
    opts: dict[str, Any] = {
        "batch_size": batch_size,
        "max_length": max_length,
        "prefix": prefix,
        "progress": progress,
        "max_tokens": label_token_budget(batch_size, max_length),
    }
    if with_embeddings:
        return _logits_and_embeddings(model, tokenizer, texts, **opts)
    return predict_logits(model, tokenizer, texts, desc=desc, **opts), None


def _entry_problem(path: Path, manifest: Mapping[str, Any], ds: Dataset, key: str, n_rows: int) -> str | None:
    if manifest.get("key") != key:
        return f"manifest key {manifest.get('key')!r} is not {key!r}"
    if len(ds) != n_rows or manifest.get("n_rows") != n_rows:
        return f"{len(ds)} rows (manifest: {manifest.get('n_rows')}), expected {n_rows}"
    wanted = {"logits", "embedding"} if manifest.get("with_embeddings") else {"logits"}
    if not wanted <= set(ds.column_names):
        return f"columns {ds.column_names}, expected {sorted(wanted)}"
    return files_problem(path, MANIFEST, manifest.get("files"))


def _read_entry(path: Path, key: str, n_rows: int) -> SoftLabels | None:
    """The entry at ``path`` if it is complete and belongs to ``key``; ``None`` (with a warning) if not."""
    if not path.is_dir():
        return None
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        ds = load_from_disk(str(path))
    except (OSError, ValueError, KeyError) as e:  # pyarrow's ArrowInvalid is a ValueError
        log.warning("soft labels: cache entry %s is unreadable (%s); rebuilding it", path, e)
        return None
    if not isinstance(manifest, dict) or not isinstance(ds, Dataset):
        problem: str | None = "not a manifest and a Dataset"
    else:
        problem = _entry_problem(path, manifest, ds, key, n_rows)
    if problem is not None:
        log.warning("soft labels: cache entry %s is damaged (%s); rebuilding it", path, problem)
        return None
    manifest = record_hashes(path, MANIFEST, manifest)
    return SoftLabels(dataset=ds, key=key, path=path, hit=True, manifest=manifest)


def _as_dataset(logits: np.ndarray, embeddings: np.ndarray | None) -> Dataset:
    columns: dict[str, Any] = {"logits": logits}
    features = {"logits": List(Value("float32"), length=logits.shape[1])}
    if embeddings is not None:
        columns["embedding"] = embeddings
        features["embedding"] = List(Value("float32"), length=embeddings.shape[1])
    return Dataset.from_dict(columns, features=Features(features))


def _write_entry(path: Path, ds: Dataset, manifest: Mapping[str, Any], *, overwrite: bool) -> None:
    """Write an entry atomically; if another job renamed the same key into place first, keep its."""
    try:
        with atomic_dir(path, overwrite=overwrite) as tmp:
            # datasets writes no shard at all for 0 rows unless told, and then cannot load it back.
            ds.save_to_disk(str(tmp), num_shards=1 if len(ds) == 0 else None)
            recorded = {**manifest, "files": files_sha256(tmp, MANIFEST)}
            (tmp / MANIFEST).write_text(json.dumps(recorded, indent=2, ensure_ascii=False), encoding="utf-8")
    except OSError:
        # FileExistsError (seen before the rename) or ENOTEMPTY (lost the race at the rename): the
        # other writer's entry holds the same numbers. Anything else with no entry is a real error.
        if overwrite or not path.is_dir():
            raise
        log.info("soft labels: %s was written by another job meanwhile; keeping it", path.name)


@dataclass
class _ShardedTeacher:
    """The teacher, loaded on first use (never when every shard is already in the cache)."""

    teacher_dir: Path
    loader: ModelLoader
    device: str | torch.device | None
    with_embeddings: bool
    batch_size: int
    max_length: int
    prefix: str
    progress: bool
    _loaded: tuple[Any, Any] | None = None

    def model(self) -> tuple[Any, Any]:
        if self._loaded is None:
            self._loaded = _load_teacher(self.teacher_dir, self.loader, self.device)
        return self._loaded

    def label(self, texts: Sequence[str], desc: str) -> tuple[Dataset, dict[str, Any]]:
        model, tokenizer = self.model()
        logits, embeddings = _teacher_outputs(
            model,
            tokenizer,
            texts,
            with_embeddings=self.with_embeddings,
            batch_size=self.batch_size,
            max_length=self.max_length,
            prefix=self.prefix,
            progress=self.progress,
            desc=desc,
        )
        info = {
            "num_labels": int(logits.shape[1]),
            "id2label": {str(i): name for i, name in sorted(model.config.id2label.items())},
            "embedding_dim": None if embeddings is None else int(embeddings.shape[1]),
        }
        return _as_dataset(logits, embeddings), info


@dataclass(frozen=True)
class Group:
    """The processes labelling one entry: this one's rank and a barrier across them."""

    rank: int
    barrier: Callable[[], None]


_ONE_PROCESS = Group(rank=0, barrier=lambda: None)


def _partial_dir(key: str) -> Path:
    """Where the finished shards of an entry wait until the entry is complete."""
    return cache_dir("soft_labels_partial", key)


def _read_shard(path: Path, key: str, start: int, stop: int) -> tuple[Dataset, dict[str, Any]] | None:
    """A finished shard ``[start, stop)`` of ``key``, or None when absent or damaged."""
    if not path.is_dir():
        return None
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        ds = load_from_disk(str(path))
    except (OSError, ValueError, KeyError) as e:
        log.warning("soft labels: shard %s is unreadable (%s); computing it again", path, e)
        return None
    problem = (
        "not a Dataset"
        if not isinstance(ds, Dataset)
        else f"{manifest.get('key')}[{manifest.get('start')}:{manifest.get('stop')}], {len(ds)} rows"
        if (manifest.get("key"), manifest.get("start"), manifest.get("stop"), len(ds))
        != (key, start, stop, stop - start)
        else files_problem(path, MANIFEST, manifest.get("files"))
    )
    if problem is not None:
        log.warning("soft labels: shard %s is damaged (%s); computing it again", path, problem)
        return None
    return ds, manifest["labels"]


def _shard_bounds(n: int, shard_rows: int) -> list[tuple[int, int]]:
    """``[start, stop)`` of every shard of ``n`` texts."""
    if shard_rows < 1:
        raise DistillError(f"shard_rows must be >= 1, got {shard_rows}", fix="use the default (8192)")
    return [(lo, min(lo + shard_rows, n)) for lo in range(0, n, shard_rows)]


def _write_shard(folder: Path, ds: Dataset, key: str, start: int, stop: int, info: dict[str, Any]) -> Dataset:
    """Keep a finished shard (atomically, with its manifest); return it memory-mapped."""
    with atomic_dir(folder) as tmp:
        ds.save_to_disk(str(tmp))
        shard = {"key": key, "start": start, "stop": stop, "labels": info}
        shard["files"] = files_sha256(tmp, MANIFEST)
        (tmp / MANIFEST).write_text(json.dumps(shard), encoding="utf-8")
    return load_from_disk(str(folder))  # type: ignore[return-value]


def _labelled_shards(
    teacher: _ShardedTeacher, texts: Sequence[str], key: str, shard_rows: int
) -> tuple[Dataset, dict[str, Any], int]:
    """Every shard of ``texts``, from an interrupted run's partial folder or computed (and kept).

    Returns:
        ``(all rows in order, label info of the teacher, rows reused from finished shards)``.
    """
    bounds = _shard_bounds(len(texts), shard_rows)
    n = len(texts)
    if n <= shard_rows:  # one shard: nothing to resume from, nothing to keep on the side
        whole, whole_info = teacher.label(texts, "soft labels")
        return whole, whole_info, 0
    partial = _partial_dir(key)
    shards: list[Dataset] = []
    info: dict[str, Any] = {}
    reused = 0
    for i, (lo, hi) in enumerate(bounds):
        folder = partial / f"shard-{i:05d}"
        found = _read_shard(folder, key, lo, hi)
        if found is not None:
            ds, info = found
            reused += hi - lo
        else:
            ds, info = teacher.label(texts[lo:hi], f"soft labels {i + 1}/{len(bounds)}")
            ds = _write_shard(folder, ds, key, lo, hi, info)  # memory-mapped: the rows leave memory
        shards.append(ds)
    if reused:
        log.info("soft labels: %d of %d rows from the finished shards in %s", reused, n, partial)
    return concatenate_datasets(shards), info, reused


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
        model_loader: ``teacher_dir -> (model, tokenizer)``; default: ``load_classifier``.
        device: Where the teacher runs; default: CUDA when available, else CPU.
        shard_rows: Texts per shard. Each finished shard is kept (atomically) until the entry is
            complete, so a killed label stage resumes from the shards it finished. Not part of
            the key.
        devices: Processes the teacher runs in; above 1, as Lightning prediction with
            ``strategy`` (:mod:`distill.label_devices`), each rank labelling its own shards. The
            entry is the same. Not part of the key.
        strategy: Lightning's strategy for ``devices`` > 1: ``ddp`` (the other ranks rerun the
            command, which must reach this call again) or ``ddp_spawn``.

    Returns:
        :class:`SoftLabels` over the memory-mapped entry.

    Raises:
        DistillError: For a missing teacher, a text that is not a string, or an entry that cannot
            be read back after writing.
    """
    teacher_dir = Path(teacher_dir)
    # Hashed, then maybe read again: a list, or a sequence read in slices (a datasets column, which
    # streams from the memory-mapped Arrow file instead of holding every text at once).
    texts = texts if isinstance(texts, Sequence) else list(texts)
    fingerprint = teacher_fingerprint(teacher_dir)
    texts_hash, n = texts_sha256(texts)
    settings = {"mode": mode, "max_length": max_length, "prefix": prefix, "with_embeddings": with_embeddings}
    key = _key(
        fingerprint,
        texts_hash,
        n,
        mode=mode,
        max_length=max_length,
        prefix=prefix,
        with_embeddings=with_embeddings,
    )
    path = cache_dir("soft_labels", key)
    cached = _read_entry(path, key, n)
    if cached is not None:
        log.info("soft labels: cache hit %s (%d rows)", key, n)
        return cached

    damaged = path.exists()
    start = time.perf_counter()
    teacher = _ShardedTeacher(
        teacher_dir,
        model_loader or _load_frozen,
        device=device,
        with_embeddings=with_embeddings,
        batch_size=batch_size,
        max_length=max_length,
        prefix=prefix,
        progress=progress,
    )
    group = _ONE_PROCESS
    if devices > 1:
        from distill.label_devices import labelled_shards_on_devices

        ds, labels_info, reused, group = labelled_shards_on_devices(
            teacher, texts, key, shard_rows, devices=devices, strategy=strategy
        )
    else:
        ds, labels_info, reused = _labelled_shards(teacher, texts, key, shard_rows)
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
        _write_entry(path, ds, manifest, overwrite=damaged)
    group.barrier()
    if group.rank == 0:  # after the barrier: the other ranks have finished reading the shards
        shutil.rmtree(_partial_dir(key), ignore_errors=True)
    entry = _read_entry(path, key, n)
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


def label_stage(
    teacher_dir: str | Path,
    data: Mapping[str, DatasetDict],
    *,
    mode: str,
    max_length: int,
    prefix: str = "",
    batch_size: int = 64,
    with_embeddings: bool = False,
    progress: bool = True,
    model_loader: ModelLoader | None = None,
    shard_rows: int = SHARD_ROWS,
    devices: int = 1,
    strategy: str = "ddp",
) -> dict[str, dict[str, SoftLabels]]:
    """Soft labels of the text the teacher reads, for every target language and split.

    The teacher is loaded at most once, and only if some column misses the cache. Languages that
    share a text column (the same English sentences) share one cache entry.

    Args:
        teacher_dir: The teacher folder.
        data: Target language -> its splits (as from :func:`distill.data.parallel.load_parallel`).
        mode: Transfer mode; decides the column the teacher reads (``parallel``: ``src``).
        max_length: Truncation length in tokens.
        prefix: Prepended to every text the teacher reads.
        batch_size: Texts per forward pass.
        with_embeddings: Also store pooled embeddings.
        progress: Show progress bars.
        model_loader: ``teacher_dir -> (model, tokenizer)``; default: ``load_classifier``.
        shard_rows: Texts per shard (the unit a killed label stage resumes from).
        devices: Processes the teacher runs in (``teacher.label_devices``; see :func:`soft_labels`).
        strategy: Lightning's strategy for ``devices`` > 1 (``teacher.label_strategy``).

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
    loader = functools.cache(model_loader or _load_frozen)
    out: dict[str, dict[str, SoftLabels]] = {}
    for lang, splits in data.items():
        out[lang] = {}
        for split, ds in splits.items():
            if column not in ds.column_names:
                raise DistillError(f"split {split!r} of {lang!r} has no {column!r} column (mode={mode})")
            out[lang][split] = soft_labels(
                teacher_dir,
                ds[column],
                mode=mode,
                max_length=max_length,
                prefix=prefix,
                batch_size=batch_size,
                with_embeddings=with_embeddings,
                progress=progress,
                model_loader=loader,
                shard_rows=shard_rows,
                devices=devices,
                strategy=strategy,
            )
    return out
