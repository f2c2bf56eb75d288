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
import json
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
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


def _jsonl_rows(path: Path, what: str) -> list[tuple[int, dict[str, Any]]]:
    rows = []
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
        rows.append((number, row))
    return rows


def _csv_rows(path: Path, what: str, delimiter: str) -> list[tuple[int, dict[str, Any]]]:
    # csv needs the line ends back: a quoted field may span lines.
    reader = csv.reader((line + "\n" for _, line in _lines(path, what)), delimiter=delimiter)
    rows = []
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
            rows.append((reader.line_num, dict(zip(header, values, strict=True))))
    except csv.Error as exc:
        raise DistillError(
            f"{what} file {path}, line {reader.line_num}: {exc}",
            fix='quote fields that contain the delimiter, a quote ("") or a line break',
        ) from None
    return rows


def _parquet_rows(path: Path, what: str) -> list[tuple[int, dict[str, Any]]]:
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(path).to_pylist()
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise DistillError(
            f"{what} file {path} is not a readable Parquet file ({type(exc).__name__}: {str(exc)[:200]})",
            fix="re-write it with pandas.DataFrame.to_parquet or pyarrow, or give a .jsonl/.csv/.tsv file",
        ) from None
    return [(i + 1, row) for i, row in enumerate(rows)]


def _table_rows(path: Path, what: str) -> list[tuple[int, dict[str, Any]]]:
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
        first = next(ours for ours in required if names[ours] not in present)
        raise DistillError(
            f"{what} file {p} has no column {', '.join(missing)}; its columns are {sorted(present)}",
            fix=f"rename the columns, or map them, e.g. data.columns.{first}=<your column name>",
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
        raise DistillError(
            f"{what} file {p}: every row has an empty {' or '.join(required)}",
            fix=f"fill in {', '.join(names[r] for r in required)} (or map other columns with data.columns.*)",
        )
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
                f"{what} file {path}: id {value!r} on line {line} was already used on line {seen[value]} "
                "(ids must be unique: a pair's id picks its split)",
                fix="give every row its own id, or drop the id column (ids are then made from the line)",
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
        sides.append([line for _, line in _lines(p, what)])
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
        raise DistillError(
            f"{what}: {paths[0]} and {paths[1]} hold no pair with text on both sides",
            fix="give one sentence a line in both files",
        )
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
