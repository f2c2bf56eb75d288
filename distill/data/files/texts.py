"""Raw text without labels or pairs: a plain-text file (one text a line) or a table with a ``text`` column."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from datasets import Dataset

from distill.data.files.rows import TABLE_SUFFIXES, TEXT_SUFFIXES, Skipped, check_file, text_lines
from distill.data.files.store import ArrowRows
from distill.data.files.tables import read_table, with_line_ids
from distill.errors import DistillError

log = logging.getLogger(__name__)


def _lines(path: Path, what: str, blank: list[int]) -> Iterator[dict[str, Any]]:
    for line, text in text_lines(path, what):
        if not text.strip():
            blank.append(line)
            continue
        yield {"text": text, "line": line}


def _read_lines(path: Path, what: str) -> Dataset:
    store = ArrowRows([path], {"texts": True}, ["text", "line"])
    found = store.cached()
    if found is None:
        blank: list[int] = []

        def check(ds: Dataset) -> dict[str, Any]:
            if not len(ds):
                raise DistillError(
                    f"{what} file {path} has no line with text", fix="give one text a line (UTF-8)"
                )
            return {"blank": blank}

        found = store.write(_lines(path, what, blank), check)
    ds, info = found
    if info["blank"]:
        log.warning("%s", Skipped(str(path), {"blank lines": info["blank"]}).report())
    return ds


def read_texts(path: str | Path, *, columns: Mapping[str, str] | None = None, what: str = "text") -> Dataset:
    """Texts from ``path``: a ``.txt`` file, one text a line, or a table with a ``text`` column.

    Blank lines (and rows with an empty text) are skipped and reported; the other problems of
    :mod:`distill.data.files` are errors that name the file and line.

    Args:
        path: A ``.txt`` file or a table (``.jsonl``/``.json``/``.csv``/``.tsv``/``.parquet``).
        columns: Our name -> the file's column name (``text``; an ``id`` column is read when present).
        what: What the file is for, in messages.

    Returns:
        A ``Dataset`` with ``id``, ``tgt`` and ``line``. Rows without an id get ``<file name>:<line>``.

    Raises:
        DistillError: A missing or empty file, an unknown extension, bytes that are not UTF-8, a
            table without the text column, a file with no text at all.
    """
    p = Path(path).expanduser()
    check_file(p, what)
    if p.suffix in TEXT_SUFFIXES:
        ds = _read_lines(p, what)
    elif p.suffix in TABLE_SUFFIXES:
        ds = read_table(p, required=("text",), optional=("id",), columns=columns, what=what)
    else:
        raise DistillError(
            f"{what} file {p} has the extension {p.suffix or '(none)'!r}, which is neither text nor a table",
            fix=f"give one text a line in a {'/'.join(TEXT_SUFFIXES)} file, or a table "
            f"({', '.join(TABLE_SUFFIXES)}) with a text column",
        )
    out = with_line_ids(ds, p.name, "text ids").rename_column("text", "tgt")
    return out.select_columns(["id", "tgt", "line"])
