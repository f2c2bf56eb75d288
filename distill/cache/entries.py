"""Soft-label cache entries: the memory-mapped teacher outputs of one text column and their manifest.

An entry is a ``datasets`` Arrow dataset under ``$DISTILL_CACHE/soft_labels/<key>`` with
``logits`` (raw, not temperature-scaled: the temperature belongs to the loss) and, when asked,
``embedding`` columns, and a ``manifest.json``. Entries are written into a temporary folder and
renamed into place, so a crash never leaves half an entry, and two jobs writing the same key keep
whichever finished first. Reads memory-map the Arrow files: training memory does not grow with the
corpus.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset, Features, List, Value

from distill.cache.store import load_stored, save_stored
from distill.utils.atomic import atomic_dir
from distill.utils.manifest import files_problem, record_hashes

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"


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


def _entry_problem(path: Path, manifest: Mapping[str, Any], ds: Dataset, key: str, n_rows: int) -> str | None:
    if manifest.get("key") != key:
        return f"manifest key {manifest.get('key')!r} is not {key!r}"
    if len(ds) != n_rows or manifest.get("n_rows") != n_rows:
        return f"{len(ds)} rows (manifest: {manifest.get('n_rows')}), expected {n_rows}"
    wanted = {"logits", "embedding"} if manifest.get("with_embeddings") else {"logits"}
    if not wanted <= set(ds.column_names):
        return f"columns {ds.column_names}, expected {sorted(wanted)}"
    return files_problem(path, MANIFEST, manifest.get("files"))


def read_entry(path: Path, key: str, n_rows: int) -> SoftLabels | None:
    """The entry at ``path`` if it is complete and belongs to ``key``; ``None`` (with a warning) if not."""
    found = load_stored(path, MANIFEST, "soft labels: cache entry", "rebuilding it")
    if found is None:
        return None
    manifest, ds = found
    if not isinstance(manifest, dict) or not isinstance(ds, Dataset):
        problem: str | None = "not a manifest and a Dataset"
    else:
        problem = _entry_problem(path, manifest, ds, key, n_rows)
    if problem is not None:
        log.warning("soft labels: cache entry %s is damaged (%s); rebuilding it", path, problem)
        return None
    manifest = record_hashes(path, MANIFEST, manifest)
    return SoftLabels(dataset=ds, key=key, path=path, hit=True, manifest=manifest)


def as_dataset(logits: np.ndarray, embeddings: np.ndarray | None) -> Dataset:
    """The Arrow table of an entry (or shard): fixed-width float32 ``logits`` and ``embedding``."""
    columns: dict[str, Any] = {"logits": logits}
    features = {"logits": List(Value("float32"), length=logits.shape[1])}
    if embeddings is not None:
        columns["embedding"] = embeddings
        features["embedding"] = List(Value("float32"), length=embeddings.shape[1])
    return Dataset.from_dict(columns, features=Features(features))


def write_entry(path: Path, ds: Dataset, manifest: Mapping[str, Any], *, overwrite: bool) -> None:
    """Write an entry atomically; if another job renamed the same key into place first, keep its."""
    try:
        with atomic_dir(path, overwrite=overwrite) as tmp:
            # datasets writes no shard at all for 0 rows unless told, and then cannot load it back.
            num_shards = 1 if len(ds) == 0 else None
            save_stored(tmp, ds, MANIFEST, manifest, num_shards=num_shards, indent=2, ensure_ascii=False)
    except OSError:
        # FileExistsError (seen before the rename) or ENOTEMPTY (lost the race at the rename): the
        # other writer's entry holds the same numbers. Anything else with no entry is a real error.
        if overwrite or not path.is_dir():
            raise
        log.info("soft labels: %s was written by another job meanwhile; keeping it", path.name)
