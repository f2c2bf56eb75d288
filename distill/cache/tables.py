"""A content-keyed table in the shared cache: computed once, written atomically, checked on read.

Used for translations (:mod:`distill.cache.translations`) and teacher embeddings (the soft-label
cache has its own richer manifest). An entry is a ``datasets`` table saved under
``$DISTILL_CACHE/<kind>/<key>`` with a manifest; an entry whose manifest or size does not match is
rebuilt with a warning.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datasets import Dataset

from distill.cache.store import load_stored, save_stored
from distill.errors import DistillError
from distill.utils.atomic import atomic_dir
from distill.utils.hashing import text_sha256
from distill.utils.manifest import files_problem, record_hashes
from distill.utils.paths import cache_dir
from distill.utils.versions import library_versions

log = logging.getLogger(__name__)
MANIFEST = "xlt_distill_manifest.json"


@dataclass(frozen=True)
class CachedTable:
    """A cache entry: the memory-mapped table, its key and whether it was a hit."""

    dataset: Dataset
    key: str
    hit: bool


def table_key(spec: Mapping[str, Any], *texts: str) -> str:
    """32 hex digits of a JSON spec (what computes the table) and the input texts."""
    return text_sha256(json.dumps(dict(spec), sort_keys=True), *texts)[:32]


def _read(path: Path, key: str, n_rows: int, kind: str) -> Dataset | None:
    found = load_stored(path, MANIFEST, f"{kind}: cache entry", "rebuilding it")
    if found is None:
        return None
    manifest, ds = found
    if (
        not isinstance(ds, Dataset)
        or manifest.get("key") != key
        or len(ds) != n_rows
        or manifest.get("n_rows") != n_rows
    ):
        log.warning("%s: cache entry %s does not match its key or size; rebuilding it", kind, path)
        return None
    damage = files_problem(path, MANIFEST, manifest.get("files"))
    if damage is not None:
        log.warning("%s: cache entry %s is damaged (%s); rebuilding it", kind, path, damage)
        return None
    record_hashes(path, MANIFEST, manifest)
    return ds


def cached_table(
    kind: str,
    key: str,
    n_rows: int,
    compute: Callable[[], dict[str, Any]],
    *,
    what: str = "",
    **manifest: Any,
) -> CachedTable:
    """The table ``compute()`` returns (columns of ``n_rows`` rows), from the cache when present."""
    path = cache_dir(kind, key)
    found = _read(path, key, n_rows, kind)
    if found is not None:
        log.info("%s: cache hit %s (%d rows%s)", kind, key, n_rows, f", {what}" if what else "")
        return CachedTable(found, key, True)
    start = time.perf_counter()
    columns = compute()
    seconds = time.perf_counter() - start
    log.info(
        "%s: cache miss %s: %d rows in %.1f s (%.0f/s)%s",
        kind,
        key,
        n_rows,
        seconds,
        n_rows / max(seconds, 1e-9),
        f", {what}" if what else "",
    )
    info = {
        **manifest,
        "key": key,
        "n_rows": n_rows,
        "seconds": round(seconds, 2),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "versions": library_versions(),
    }
    try:
        with atomic_dir(path, overwrite=path.exists()) as tmp:
            save_stored(tmp, Dataset.from_dict(columns), MANIFEST, info, num_shards=1, indent=2, default=str)
    except OSError:
        if not path.is_dir():
            raise
        log.info("%s: %s was written by another job meanwhile; keeping it", kind, key)
    found = _read(path, key, n_rows, kind)
    if found is None:
        raise DistillError(f"cache entry {path} cannot be read back", fix=f"delete {path} and rerun")
    return CachedTable(found, key, False)
