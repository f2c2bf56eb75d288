"""Readers for the files users bring (DESIGN.md section 5), with errors that name file, line and fix.

* Tables: JSON Lines (``.jsonl``, ``.json``: one object a line), CSV (``.csv``), TSV (``.tsv``) and
  Parquet (``.parquet``), with a header (or keys) naming the columns.
* Two aligned plain-text files (``.txt``), one sentence a line: the source side and the target side.

Every reader returns a :class:`datasets.Dataset` with our column names (a ``columns`` mapping renames
the user's), text columns as strings. Rows whose required text is empty or whitespace only are
skipped, counted and reported (a logged warning); everything else that is wrong is a
:class:`~distill.errors.DistillError`: a missing or empty file, an unknown extension, bytes that
are not UTF-8 (with the line), a malformed JSON line or CSV row (with the line), a missing column,
a duplicated id (with both lines: ids pick a pair's split, so they must be unique), a NaN or infinite
number, aligned files with different line counts, a line longer than :data:`MAX_LINE_BYTES`
(text files are read line by line, so a file without line breaks is refused after 1 MiB instead of
being read whole). A UTF-8 byte-order mark and CRLF line ends are accepted.
"""

from __future__ import annotations

import csv
import itertools
import json
import logging
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datasets import Dataset

from distill.errors import DistillError

log = logging.getLogger(__name__)

TABLE_SUFFIXES = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".tsv": "tsv", ".parquet": "parquet"}
TEXT_SUFFIXES = (".txt",)
#: The longest line a text file (JSON Lines, CSV, TSV, plain text) may have, in bytes, line end not
#: counted. Lines are read at most this much at a time, so a huge line never sits in memory whole.
MAX_LINE_BYTES = 1 << 20
#: Rows per chunk written to (or read from) Arrow: what memory holds of a file at a time.
_CHUNK = 10_000
#: Bump when what a cached copy of a read file holds changes.
_FORMAT = 1


@dataclass(frozen=True)
class Skipped:
    """Rows a reader left out, by reason (reported to the user, never silent)."""

    path: str
    reasons: dict[str, list[int]]

    def total(self) -> int:
        return sum(len(v) for v in self.reasons.values())

    def report(self) -> str:
        parts = [
            f"{len(lines)} {why} (line {', '.join(map(str, lines[:5]))}{', ...' if len(lines) > 5 else ''})"
            for why, lines in self.reasons.items()
            if lines
        ]
        return f"{self.path}: skipped " + "; ".join(parts)


def _check_file(path: Path, what: str) -> None:
    if not path.exists():
        raise DistillError(
            f"{what} file {path} does not exist", fix="check the path (relative paths start where you run)"
        )
    if path.is_dir():
        raise DistillError(f"{what} {path} is a folder, not a file", fix="name the file inside it")
    if path.stat().st_size == 0:
        raise DistillError(
            f"{what} file {path} is empty", fix="give a file with a header and at least one row"
        )


def _too_long(path: Path, what: str, line: int) -> DistillError:
    return DistillError(
        f"{what} file {path}, line {line} is longer than {MAX_LINE_BYTES:,} bytes (the limit of one line)",
        fix="check that it is a text file with one record a line (JSON Lines, CSV, TSV or one sentence "
        "a line); split longer records",
    )


def _lines(path: Path, what: str) -> Iterator[tuple[int, str]]:
    """The file's lines as ``(number, text)``, without line ends, read one line at a time.

    The text is UTF-8 (invalid bytes name the line); a BOM is dropped; ``\\r\\n`` and a lone ``\\r``
    end a line like ``\\n``. A line longer than :data:`MAX_LINE_BYTES` is an error, found after
    reading at most that many bytes of it.
    """
    number = 0
    with path.open("rb") as f:
        while raw := f.readline(MAX_LINE_BYTES + 2):  # + 2: room for the line end
            if len(raw.rstrip(b"\r\n")) > MAX_LINE_BYTES:
                raise _too_long(path, what, number + 1)
            try:
                text = raw.decode("utf-8-sig" if number == 0 else "utf-8")
            except UnicodeDecodeError as exc:
                line = number + 1 + raw[: exc.start].replace(b"\r\n", b"\n").count(b"\r")
                bad = raw[exc.start : exc.start + 4]
                raise DistillError(
                    f"{what} file {path}, line {line}: bytes that are not UTF-8 ({bad!r})",
                    fix="re-save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)",
                ) from None
            pieces = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
            if pieces[-1] == "":
                pieces.pop()  # the line end
            for piece in pieces:
                number += 1
                yield number, piece


def _jsonl_rows(path: Path, what: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in _lines(path, what):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DistillError(
                f"{what} file {path}, line {number}: not valid JSON ({exc.msg} at column {exc.colno})",
                fix="write one JSON object per line (JSON Lines)",
            ) from None
        except RecursionError:
            raise DistillError(
                f"{what} file {path}, line {number}: JSON nested too deeply to read",
                fix='write one flat object per line, e.g. {"text": "...", "label": "..."}',
            ) from None
        if not isinstance(row, dict):
            raise DistillError(
                f"{what} file {path}, line {number}: expected a JSON object, got {type(row).__name__}",
                fix='write one object per line, e.g. {"text": "...", "label": "..."}',
            )
        yield number, row


def _csv_rows(path: Path, what: str, delimiter: str) -> Iterator[tuple[int, dict[str, Any]]]:
    # csv needs the line ends back: a quoted field may span lines.
    reader = csv.reader((line + "\n" for _, line in _lines(path, what)), delimiter=delimiter)
    try:
        header = [h.strip() for h in next(reader, [])]
        if not any(header):
            raise DistillError(
                f"{what} file {path} has no header row", fix="give a file with a header and at least one row"
            )
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                raise DistillError(
                    f"{what} file {path}, line {reader.line_num}: {len(values)} fields, the header has "
                    f"{len(header)} ({', '.join(header)})",
                    fix="quote fields that contain the delimiter, or fix the row",
                )
            yield reader.line_num, dict(zip(header, values, strict=True))
    except csv.Error as exc:
        raise DistillError(
            f"{what} file {path}, line {reader.line_num}: {exc}",
            fix='quote fields that contain the delimiter, a quote ("") or a line break',
        ) from None


def _parquet_rows(path: Path, what: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """The rows of a Parquet file, one record batch in memory at a time."""
    import pyarrow.parquet as pq

    def unreadable(exc: Exception) -> DistillError:
        return DistillError(
            f"{what} file {path} is not a readable Parquet file ({type(exc).__name__}: {str(exc)[:200]})",
            fix="re-write it with pandas.DataFrame.to_parquet or pyarrow, or give a .jsonl/.csv/.tsv file",
        )

    try:
        batches = pq.ParquetFile(path).iter_batches(batch_size=_CHUNK)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise unreadable(exc) from None
    number = 0
    while True:
        try:
            batch = next(batches, None)
        except Exception as exc:
            raise unreadable(exc) from None
        if batch is None:
            return
        for row in batch.to_pylist():
            number += 1
            yield number, row


def _table_rows(path: Path, what: str) -> Iterator[tuple[int, dict[str, Any]]]:
    kind = TABLE_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise DistillError(
            f"{what} file {path} has an unknown extension {path.suffix!r}",
            fix=f"use one of {', '.join(TABLE_SUFFIXES)} (or two aligned .txt files for parallel data)",
        )
    if kind == "parquet":
        return _parquet_rows(path, what)
    if kind == "jsonl":
        return _jsonl_rows(path, what)
    return _csv_rows(path, what, "," if kind == "csv" else "\t")


def _cell(value: Any, path: Path, line: int, column: str, what: str) -> str | None:
    """A cell as text (``None`` when missing); numbers that are NaN or infinite are refused."""
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        raise DistillError(
            f"{what} file {path}, line {line}: column {column!r} is {value}",
            fix="give a real value or drop the row",
        )
    if isinstance(value, dict | list):
        raise DistillError(
            f"{what} file {path}, line {line}: column {column!r} holds a {type(value).__name__}",
            fix="give a single value (text or number) in that column",
        )
    text = str(value)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate, e.g. from the JSON escape "\\ud800"
            raise DistillError(
                f"{what} file {path}, line {line}: column {column!r} holds {exc.object[exc.start]!r}, "
                "half of a UTF-16 surrogate pair, which is not text",
                fix="write the character itself, or its full surrogate pair",
            ) from None
    return text


class _ArrowRows:
    """Rows written in chunks to an Arrow file in the cache, read back memory-mapped.

    The file is named by a hash of the source file(s) (resolved path, size, modification time) and
    of how they are read, so reading the same file again reuses it; it is written under a temporary
    name and renamed when complete. The skipped rows are kept beside it (``.json``) and reported
    again on reuse. Memory holds one chunk of rows at a time, whatever the size of the file.
    """

    def __init__(self, sources: Sequence[Path], how: Mapping[str, Any], columns: Sequence[str]) -> None:
        from distill.utils.hashing import text_sha256
        from distill.utils.paths import cache_dir

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
                    if len(chunk["line"]) >= _CHUNK:
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


def read_table(
    path: str | Path,
    *,
    required: Sequence[str],
    optional: Sequence[str] = (),
    columns: Mapping[str, str] | None = None,
    what: str = "data",
) -> Dataset:
    """Read a table file into a ``Dataset`` with columns ``required`` (+ the ``optional`` ones present).

    The rows stream into a memory-mapped Arrow file in the cache (``$DISTILL_CACHE/files``), so
    memory does not grow with the file; reading the same unchanged file again reuses it.

    Args:
        path: A ``.jsonl``/``.json``/``.csv``/``.tsv``/``.parquet`` file.
        required: Our column names that every row must have, e.g. ``("text", "label")``; a row
            where one of them is blank is skipped and reported.
        optional: Our column names that are read when the file has them (``id``, ``label``).
        columns: Our name -> the file's name, for files whose columns are named otherwise.
        what: What the file is for, in messages (``parallel data``, ``target test``).

    Raises:
        DistillError: See the module docstring.
    """
    p = Path(path).expanduser()
    _check_file(p, what)
    names = {ours: (columns or {}).get(ours, ours) for ours in (*required, *optional)}
    rows = _table_rows(p, what)  # checks the extension
    store = _ArrowRows([p], {"table": names, "required": list(required)}, [*names, "line"])
    found = store.cached()
    if found is None:
        state: dict[str, Any] = {"present": set(), "blank": [], "rows": 0}

        def cells() -> Iterator[dict[str, Any]]:
            for line, row in rows:
                state["rows"] += 1
                state["present"].update(row.keys())
                out: dict[str, Any] = {
                    ours: _cell(row.get(theirs), p, line, theirs, what) for ours, theirs in names.items()
                }
                if any(out[r] is None or not out[r].strip() for r in required):
                    state["blank"].append(line)
                    continue
                out["line"] = line
                yield out

        def check(ds: Dataset) -> dict[str, Any]:
            _check_read(p, what, names, required, state, len(ds))
            if "id" in ds.column_names and "id" in state["present"]:
                _check_unique_ids(ds, p, what)
            return {"blank": state["blank"], "present": sorted(state["present"])}

        found = store.write(cells(), check)
    ds, info = found
    skipped = Skipped(str(p), {"rows with an empty required field": info["blank"]})
    if skipped.total():
        log.warning("%s", skipped.report())
    absent = [ours for ours in names if ours not in required and names[ours] not in info["present"]]
    return ds.remove_columns(absent) if absent else ds


def _check_read(
    p: Path, what: str, names: Mapping[str, str], required: Sequence[str], state: Mapping[str, Any], kept: int
) -> None:
    if not state["rows"]:
        raise DistillError(f"{what} file {p} has no rows", fix="give a file with at least one row")
    present = state["present"]
    missing = [
        f"{ours!r}" + (f" (as {theirs!r})" if theirs != ours else "")
        for ours, theirs in names.items()
        if ours in required and theirs not in present
    ]
    if missing:
        first = next(ours for ours in required if names[ours] not in present)
        raise DistillError(
            f"{what} file {p} has no column {', '.join(missing)}; its columns are {sorted(present)}",
            fix=f"rename the columns, or map them, e.g. data.columns.{first}=<your column name>",
        )
    if not kept:
        raise DistillError(
            f"{what} file {p}: every row has an empty {' or '.join(required)}",
            fix=f"fill in {', '.join(names[r] for r in required)} (or map other columns with data.columns.*)",
        )


def _check_unique_ids(ds: Dataset, path: Path, what: str) -> None:
    """Refuse a repeated id, naming the first repeat in file order and where it was first used.

    Streams the column: memory holds one 8-byte hash per row, not the ids themselves.
    """
    import numpy as np

    hashes = np.empty(len(ds), dtype=np.int64)
    lines = np.empty(len(ds), dtype=np.int64)
    present = np.zeros(len(ds), dtype=bool)
    pos = 0
    for batch in ds.select_columns(["id", "line"]).iter(batch_size=_CHUNK):
        n = len(batch["line"])
        hashes[pos : pos + n] = [hash(v) if v is not None else 0 for v in batch["id"]]
        present[pos : pos + n] = [v is not None for v in batch["id"]]
        lines[pos : pos + n] = batch["line"]
        pos += n
    idx = np.flatnonzero(present)
    order = idx[np.lexsort((lines[idx], hashes[idx]))]  # by hash, then by line
    same = np.flatnonzero(hashes[order][1:] == hashes[order][:-1])
    best: tuple[int, int, str] | None = None  # (line of the repeat, first line, id)
    for k in same:
        first, again = int(order[k]), int(order[k + 1])
        value = ds[again]["id"]
        if ds[first]["id"] != value:  # a hash collision, not a repeat
            continue
        # The first row of this hash with this very id (rows before k may be other ids).
        group = [int(i) for i in order[: k + 1] if hashes[i] == hashes[again] and ds[int(i)]["id"] == value]
        first_line = int(lines[group[0]])
        if best is None or int(lines[again]) < best[0]:
            best = (int(lines[again]), first_line, value)
    if best is not None:
        line, seen, value = best
        raise DistillError(
            f"{what} file {path}: id {value!r} on line {line} was already used on line {seen} "
            "(ids must be unique: a pair's id picks its split)",
            fix="give every row its own id, or drop the id column (ids are then made from the line)",
        )


def _aligned_pairs(paths: Sequence[Path], what: str, state: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Pairs of lines with text on both sides; ``state`` collects the blank pairs and the line counts."""
    sides = [_lines(p, what) for p in paths]
    for i, (a, b) in enumerate(itertools.zip_longest(*sides), start=1):
        for k, item in enumerate((a, b)):
            if item is not None:
                state["counts"][k] = i
        if a is None or b is None:
            continue
        s, t = a[1], b[1]
        if not s.strip() or not t.strip():
            state["blank"].append(i)
            continue
        yield {"src": s, "tgt": t, "line": i}


def read_aligned_text(src: str | Path, tgt: str | Path, *, what: str = "parallel data") -> Dataset:
    """Two plain-text files, one sentence a line, line i of one translating line i of the other.

    Pairs where either side is blank are skipped and reported; the line counts must match. The
    pairs stream into a memory-mapped Arrow file (see :func:`read_table`).

    Returns:
        A ``Dataset`` with ``src``, ``tgt`` and ``line``.
    """
    paths = [Path(src).expanduser(), Path(tgt).expanduser()]
    for p in paths:
        _check_file(p, what)
    store = _ArrowRows(paths, {"aligned": True}, ["src", "tgt", "line"])
    found = store.cached()
    if found is None:
        state: dict[str, Any] = {"blank": [], "counts": [0, 0]}

        pairs = _aligned_pairs(paths, what, state)

        def check(ds: Dataset) -> dict[str, Any]:
            counts = state["counts"]
            if counts[0] != counts[1]:
                raise DistillError(
                    f"{what}: {paths[0]} has {counts[0]} lines but {paths[1]} has {counts[1]}",
                    fix="the files must be aligned line by line "
                    "(line i of one translates line i of the other)",
                )
            if not len(ds):
                raise DistillError(
                    f"{what}: {paths[0]} and {paths[1]} hold no pair with text on both sides",
                    fix="give one sentence a line in both files",
                )
            return {"blank": state["blank"]}

        found = store.write(pairs, check)
    ds, info = found
    if info["blank"]:
        log.warning(
            "%s", Skipped(f"{paths[0]} + {paths[1]}", {"pairs with a blank side": info["blank"]}).report()
        )
    return ds


def read_parallel(spec: Any, *, columns: Mapping[str, str] | None = None) -> Dataset:
    """Parallel pairs from a table (``src``, ``tgt``, optional ``label`` and ``id``) or two text files.

    Args:
        spec: A table path, or a list ``[source.txt, target.txt]``.
        columns: Our name -> the file's column name.

    Returns:
        A ``Dataset`` with ``id``, ``src``, ``tgt`` (and ``label`` when the file has one). Rows without
        an id get ``<file name>:<line>``. Memory-mapped: the ids are added by a batched ``map``
        whose result is cached beside the rows.
    """
    if isinstance(spec, str | Path):
        ds = read_table(
            spec, required=("tgt", "src"), optional=("label", "id"), columns=columns, what="parallel data"
        )
        name = Path(spec).name
    elif isinstance(spec, Sequence) and len(spec) == 2:
        ds = read_aligned_text(spec[0], spec[1])
        name = Path(spec[1]).name
    else:
        raise DistillError(
            f"parallel data must be one table file or two aligned text files, got {spec!r}",
            fix="e.g. data.parallel.ja=en_ja.tsv or data.parallel.ja=[en.txt,ja.txt]",
        )
    has_id = "id" in ds.column_names

    def with_ids(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        ids = batch["id"] if has_id else [None] * len(batch["line"])
        return {
            "id": [
                i if i not in (None, "") else f"{name}:{line}"
                for i, line in zip(ids, batch["line"], strict=True)
            ]
        }

    out = ds.map(with_ids, batched=True, batch_size=_CHUNK, desc="pair ids")
    if has_id:  # map replaced the column in place; keep the order of before (id last)
        out = out.select_columns([c for c in out.column_names if c != "id"] + ["id"])
    return out
