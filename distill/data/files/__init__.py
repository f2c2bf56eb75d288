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

The modules behind it, bottom up: :mod:`~distill.data.files.rows` (lines and rows of each format,
cells), :mod:`~distill.data.files.store` (the cached Arrow copy of a read file),
:mod:`~distill.data.files.tables` (:func:`read_table`), :mod:`~distill.data.files.pairs`
(:func:`read_aligned_text`, :func:`read_parallel`) and :mod:`~distill.data.files.texts`
(:func:`read_texts`: raw text, one a line or a table's text column).
"""

from __future__ import annotations

from distill.data.files.pairs import read_aligned_text, read_parallel
from distill.data.files.rows import MAX_LINE_BYTES, TABLE_SUFFIXES, TEXT_SUFFIXES, Skipped
from distill.data.files.tables import read_table
from distill.data.files.texts import read_texts

__all__ = [
    "MAX_LINE_BYTES",
    "TABLE_SUFFIXES",
    "TEXT_SUFFIXES",
    "Skipped",
    "read_aligned_text",
    "read_parallel",
    "read_table",
    "read_texts",
]
