"""Rows out of the files users bring: lines, JSON Lines, CSV/TSV and Parquet, with errors that name
file, line and fix (see :mod:`distill.data.files`).

Each reader yields ``(line number, row)`` with the row as the file has it (the file's column
names, values not yet checked); :func:`cell` turns one value into text or refuses it.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distill.data.jsonl import jsonl_objects
from distill.errors import DistillError

TABLE_SUFFIXES = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".tsv": "tsv", ".parquet": "parquet"}
TEXT_SUFFIXES = (".txt",)
#: The longest line a text file (JSON Lines, CSV, TSV, plain text) may have, in bytes, line end not
#: counted. Lines are read at most this much at a time, so a huge line never sits in memory whole.
MAX_LINE_BYTES = 1 << 20
#: Rows per chunk written to (or read from) Arrow: what memory holds of a file at a time.
CHUNK = 10_000


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


def check_file(path: Path, what: str) -> None:
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


def text_lines(path: Path, what: str) -> Iterator[tuple[int, str]]:
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
    return jsonl_objects(
        text_lines(path, what),
        where=lambda number: f"{what} file {path}, line {number}",
        not_json=lambda exc: f"not valid JSON ({exc.msg} at column {exc.colno})",
        example='{"text": "...", "label": "..."}',
    )


def _csv_rows(path: Path, what: str, delimiter: str) -> Iterator[tuple[int, dict[str, Any]]]:
    # csv needs the line ends back: a quoted field may span lines.
    reader = csv.reader((line + "\n" for _, line in text_lines(path, what)), delimiter=delimiter)
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
        batches = pq.ParquetFile(path).iter_batches(batch_size=CHUNK)
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


def table_rows(path: Path, what: str) -> Iterator[tuple[int, dict[str, Any]]]:
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


def cell(value: Any, path: Path, line: int, column: str, what: str) -> str | None:
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
