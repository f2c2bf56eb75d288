"""The cache of read files: rows streamed in chunks into an Arrow file, read back memory-mapped."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from datasets import Dataset

from distill.data.files.rows import CHUNK
from distill.utils.hashing import text_sha256
from distill.utils.paths import cache_dir

log = logging.getLogger(__name__)

#: Bump when what a cached copy of a read file holds changes.
_FORMAT = 1


class ArrowRows:
    """Rows written in chunks to an Arrow file in the cache, read back memory-mapped.

    The file is named by a hash of the source file(s) (resolved path, size, modification time) and
    of how they are read, so reading the same file again reuses it; it is written under a temporary
    name and renamed when complete. The skipped rows are kept beside it (``.json``) and reported
    again on reuse. Memory holds one chunk of rows at a time, whatever the size of the file.
    """

    def __init__(self, sources: Sequence[Path], how: Mapping[str, Any], columns: Sequence[str]) -> None:

        stats = [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in sources]
        key = text_sha256(json.dumps({"v": _FORMAT, "files": stats, "how": how}, sort_keys=True))[:32]
        self.path = cache_dir("files", f"{key}.arrow")
        self.info = self.path.with_suffix(".json")
        self.columns = list(columns)

    def cached(self) -> tuple[Dataset, dict[str, Any]] | None:
        if not (self.path.is_file() and self.info.is_file()):
            return None
        try:
            return Dataset.from_file(str(self.path)), json.loads(self.info.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:  # a damaged entry is rebuilt
            log.warning("files: cached copy %s is unreadable (%s); reading the file again", self.path, exc)
            return None

    def write(
        self, rows: Iterator[dict[str, Any]], check: Callable[[Dataset], dict[str, Any]]
    ) -> tuple[Dataset, dict[str, Any]]:
        """Write ``rows`` (dicts of the columns), run ``check`` on the result, then keep it."""
        from datasets import Features, Value
        from datasets.arrow_writer import ArrowWriter

        features = Features({c: Value("int64") if c == "line" else Value("string") for c in self.columns})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".tmp-{os.getpid()}-{self.path.name}")
        try:
            with ArrowWriter(features=features, path=str(tmp)) as writer:
                chunk: dict[str, list[Any]] = {c: [] for c in self.columns}
                for row in rows:
                    for c in self.columns:
                        chunk[c].append(row.get(c))
                    if len(chunk["line"]) >= CHUNK:
                        writer.write_batch(chunk)
                        chunk = {c: [] for c in self.columns}
                if chunk["line"]:
                    writer.write_batch(chunk)
                writer.finalize()
            ds = Dataset.from_file(str(tmp))
            info = check(ds)
            self.info.write_text(json.dumps(info), encoding="utf-8")
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)
        return Dataset.from_file(str(self.path)), info
