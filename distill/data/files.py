"""Readers for the files users bring (DESIGN.md section 5), with errors that name file, line and fix.

* Tables: JSON Lines (``.jsonl``, ``.json``: one object a line), CSV (``.csv``), TSV (``.tsv``) and
  Parquet (``.parquet``), with a header (or keys) naming the columns.
* Two aligned plain-text files (``.txt``), one sentence a line: the source side and the target side.

Every reader returns a :class:`datasets.Dataset` with our column names (a ``columns`` mapping renames
the user's), text columns as strings. Rows whose required text is empty or whitespace only are
skipped, counted and reported (a logged warning); everything else that is wrong is a
:class:`~distill.errors.DistillError`: a missing or empty file, an unknown extension, bytes that
are not UTF-8 (with the line), a malformed JSON line or CSV row (with the line), a missing column,
a duplicated id (with both lines), aligned files with different line counts. A UTF-8 byte-order
mark and CRLF line ends are accepted.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datasets import Dataset

from distill.errors import DistillError

log = logging.getLogger(__name__)

TABLE_SUFFIXES = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".tsv": "tsv", ".parquet": "parquet"}
TEXT_SUFFIXES = (".txt",)


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


def _decode(path: Path, what: str) -> str:
    """The file's text; invalid UTF-8 names the line. A BOM is dropped; CRLF becomes LF."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        bad = data[exc.start : exc.start + 4]
        raise DistillError(
            f"{what} file {path}, line {line}: bytes that are not UTF-8 ({bad!r})",
            fix="re-save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)",
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _jsonl_rows(path: Path, text: str, what: str) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DistillError(
                f"{what} file {path}, line {number}: not valid JSON ({exc.msg} at column {exc.colno})",
                fix="write one JSON object per line (JSON Lines)",
            ) from None
        if not isinstance(row, dict):
            raise DistillError(
                f"{what} file {path}, line {number}: expected a JSON object, got {type(row).__name__}",
                fix='write one object per line, e.g. {"text": "...", "label": "..."}',
            )
        rows.append((number, row))
    return rows


def _csv_rows(path: Path, text: str, what: str, delimiter: str) -> list[tuple[int, dict[str, Any]]]:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise DistillError(f"{what} file {path} is empty") from None
    header = [h.strip() for h in header]
    rows = []
    try:
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                raise DistillError(
                    f"{what} file {path}, line {reader.line_num}: {len(values)} fields, the header has "
                    f"{len(header)} ({', '.join(header)})",
                    fix="quote fields that contain the delimiter, or fix the row",
                )
            rows.append((reader.line_num, dict(zip(header, values, strict=True))))
    except csv.Error as exc:
        raise DistillError(f"{what} file {path}, line {reader.line_num}: {exc}") from None
    return rows


def _parquet_rows(path: Path, what: str) -> list[tuple[int, dict[str, Any]]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise DistillError(
            f"{what} file {path} is not a readable Parquet file ({type(exc).__name__}: {str(exc)[:200]})"
        ) from None
    return [(i + 1, row) for i, row in enumerate(table.to_pylist())]


def _table_rows(path: Path, what: str) -> list[tuple[int, dict[str, Any]]]:
    kind = TABLE_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise DistillError(
            f"{what} file {path} has an unknown extension {path.suffix!r}",
            fix=f"use one of {', '.join(TABLE_SUFFIXES)} (or two aligned .txt files for parallel data)",
        )
    if kind == "parquet":
        return _parquet_rows(path, what)
    text = _decode(path, what)
    if kind == "jsonl":
        return _jsonl_rows(path, text, what)
    return _csv_rows(path, text, what, "," if kind == "csv" else "\t")


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
            f"{what} file {path}, line {line}: column {column!r} holds a {type(value).__name__}"
        )
    return str(value)


def read_table(
    path: str | Path,
    *,
    required: Sequence[str],
    optional: Sequence[str] = (),
    columns: Mapping[str, str] | None = None,
    what: str = "data",
) -> Dataset:
    """Read a table file into a ``Dataset`` with columns ``required`` (+ the ``optional`` ones present).

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
    rows = _table_rows(p, what)
    if not rows:
        raise DistillError(f"{what} file {p} has no rows", fix="give a file with at least one row")
    present = set().union(*(row.keys() for _, row in rows))
    missing = [
        f"{ours!r}" + (f" (as {theirs!r})" if theirs != ours else "")
        for ours, theirs in names.items()
        if ours in required and theirs not in present
    ]
    if missing:
        raise DistillError(
            f"{what} file {p} has no column {', '.join(missing)}; its columns are {sorted(present)}",
            fix=f"rename the columns, or map them, e.g. data.columns.{required[0]}=<your column name>",
        )
    keep = [ours for ours in names if ours in required or names[ours] in present]
    out: dict[str, list[Any]] = {ours: [] for ours in keep}
    out["line"] = []
    blank: list[int] = []
    for line, row in rows:
        cells = {ours: _cell(row.get(names[ours]), p, line, names[ours], what) for ours in keep}
        if any(cells[r] is None or not cells[r].strip() for r in required):  # type: ignore[union-attr]
            blank.append(line)
            continue
        for ours in keep:
            out[ours].append(cells[ours])
        out["line"].append(line)
    skipped = Skipped(str(p), {"rows with an empty required field": blank})
    if skipped.total():
        log.warning("%s", skipped.report())
    if not out["line"]:
        raise DistillError(f"{what} file {p}: every row has an empty {' or '.join(required)}")
    if "id" in out:
        _check_unique_ids(out["id"], out["line"], p, what)
    return Dataset.from_dict(out)


def _check_unique_ids(ids: Sequence[Any], lines: Sequence[int], path: Path, what: str) -> None:
    seen: dict[Any, int] = {}
    for value, line in zip(ids, lines, strict=True):
        if value is None:
            continue
        if value in seen:
            raise DistillError(
                f"{what} file {path}: id {value!r} on line {line} was already used on line {seen[value]}",
                fix="give every row its own id, or drop the id column (ids are then made from the text)",
            )
        seen[value] = line


def read_aligned_text(src: str | Path, tgt: str | Path, *, what: str = "parallel data") -> Dataset:
    """Two plain-text files, one sentence a line, line i of one translating line i of the other.

    Pairs where either side is blank are skipped and reported; the line counts must match.

    Returns:
        A ``Dataset`` with ``src``, ``tgt`` and ``line``.
    """
    paths = [Path(src).expanduser(), Path(tgt).expanduser()]
    sides = []
    for p in paths:
        _check_file(p, what)
        text = _decode(p, what)
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()  # the newline at the end of the last line
        sides.append(lines)
    if len(sides[0]) != len(sides[1]):
        raise DistillError(
            f"{what}: {paths[0]} has {len(sides[0])} lines but {paths[1]} has {len(sides[1])}",
            fix="the files must be aligned line by line (line i of one translates line i of the other)",
        )
    out: dict[str, list[Any]] = {"src": [], "tgt": [], "line": []}
    blank = []
    for i, (s, t) in enumerate(zip(*sides, strict=True), start=1):
        if not s.strip() or not t.strip():
            blank.append(i)
            continue
        out["src"].append(s)
        out["tgt"].append(t)
        out["line"].append(i)
    if blank:
        log.warning("%s", Skipped(f"{paths[0]} + {paths[1]}", {"pairs with a blank side": blank}).report())
    if not out["line"]:
        raise DistillError(f"{what}: {paths[0]} and {paths[1]} hold no pair with text on both sides")
    return Dataset.from_dict(out)


def read_parallel(spec: Any, *, columns: Mapping[str, str] | None = None) -> Dataset:
    """Parallel pairs from a table (``src``, ``tgt``, optional ``label`` and ``id``) or two text files.

    Args:
        spec: A table path, or a list ``[source.txt, target.txt]``.
        columns: Our name -> the file's column name.

    Returns:
        A ``Dataset`` with ``id``, ``src``, ``tgt`` (and ``label`` when the file has one). Rows without
        an id get ``<file name>:<line>``.
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
    ids = ds["id"] if "id" in ds.column_names else [None] * len(ds)
    ids = [i if i not in (None, "") else f"{name}:{line}" for i, line in zip(ids, ds["line"], strict=True)]
    if "id" in ds.column_names:
        ds = ds.remove_columns("id")
    return ds.add_column("id", ids)
