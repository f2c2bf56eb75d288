"""Translations the user already has (TSV, CSV, JSON Lines or two aligned plain-text files)."""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from distill.data.jsonl import jsonl_objects
from distill.data.translate.base import SHOW, Translator, short_repr
from distill.errors import DistillError
from distill.utils.hashing import file_sha256

log = logging.getLogger(__name__)


_FORMATS = {".tsv": "tsv", ".tab": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def _key(text: str) -> str:
    """Lookup key: whitespace runs collapsed, so line breaks and double spaces do not cause misses."""
    return " ".join(text.split())


def _read_text(path: Path) -> str:
    """Read ``path`` as UTF-8 (a leading BOM is dropped); decoding errors name the line."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise DistillError(f"translation file {path} does not exist", fix="check the path") from exc
    except OSError as exc:
        raise DistillError(
            f"cannot read translation file {path}: {exc}", fix="check the path and its permissions"
        ) from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DistillError(
            f"{path}:{line}: not valid UTF-8 ({exc.reason})", fix="save the file as UTF-8"
        ) from exc


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)``; only ``\\n`` ends a line (a CR before it is dropped)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, 1):
        yield number, line[:-1] if line.endswith("\r") else line


class FileTranslator(Translator):
    """Translations the user already has, looked up by source sentence.

    Formats, chosen by suffix (or ``file_format``):

    * ``.tsv``/``.tab``: a header line naming the columns, then one tab-separated row per line
      (no quoting; quotes are part of the text).
    * ``.csv``: RFC 4180 CSV with a header row.
    * ``.jsonl``/``.ndjson``: one JSON object per line.
    * two aligned plain-text files: ``path`` holds source sentences and ``target_path`` their
      translations, line by line.

    Lookups ignore differences in whitespace (runs of spaces, line breaks, surrounding space). When
    a source sentence appears more than once with different translations, the first one is used.

    Args:
        path: The translation table, or the source side of two aligned plain-text files.
        target_path: The target side of two aligned plain-text files.
        src_column: Column (key) with the source sentences.
        tgt_column: Column (key) with their translations.
        file_format: ``tsv``, ``csv`` or ``jsonl``; by default taken from the suffix (``text``
            when ``target_path`` is given).
    """

    name = "file"

    def __init__(
        self,
        path: str | os.PathLike[str],
        target_path: str | os.PathLike[str] | None = None,
        src_column: str = "src",
        tgt_column: str = "tgt",
        file_format: str | None = None,
    ) -> None:
        # Resolved now: Hydra may change the working directory before the file is read.
        self.path = Path(path).expanduser().resolve()
        self.target_path = None if target_path is None else Path(target_path).expanduser().resolve()
        self.src_column = src_column
        self.tgt_column = tgt_column
        self.format = self._pick_format(file_format)
        self._table: dict[str, str] | None = None
        self._describe: str | None = None

    def _pick_format(self, file_format: str | None) -> str:
        if self.target_path is not None:
            if file_format not in (None, "text"):
                raise DistillError(
                    f"target_path is given, so {self.path} must be plain text, not file_format={file_format}"
                )
            return "text"
        if file_format is not None:
            if file_format not in ("tsv", "csv", "jsonl"):
                raise DistillError(
                    f"unknown translation file format {file_format!r}", fix="use tsv, csv or jsonl"
                )
            return file_format
        found = _FORMATS.get(self.path.suffix.lower())
        if found is None:
            raise DistillError(
                f"cannot tell the format of translation file {self.path} from its suffix",
                fix="name it .tsv, .csv or .jsonl (or set file_format=), or give target_path for two aligned "
                "plain-text files",
            )
        return found

    def describe(self) -> str:
        """E.g. ``file:<sha256 of the file(s), 16 hex digits>:src->tgt``: edits to the file change it.

        The hash is computed once per instance, like the table, which is also read only once.
        """
        if self._describe is None:
            self._check_exists()
            digest = file_sha256(self.path)[:16]
            if self.target_path is not None:
                digest += "+" + file_sha256(self.target_path)[:16]
            columns = "" if self.format == "text" else f":{self.src_column}->{self.tgt_column}"
            self._describe = f"file:{digest}{columns}"
        return self._describe

    def __repr__(self) -> str:
        # Not describe(): a repr must not read (or fail on) the file.
        target = "" if self.target_path is None else f", target_path={str(self.target_path)!r}"
        return f"FileTranslator(path={str(self.path)!r}{target})"

    def _check_exists(self) -> None:
        for p in (self.path, self.target_path):
            if p is not None and not p.is_file():
                raise DistillError(f"translation file {p} does not exist", fix="check the path")

    def check(self) -> None:
        """Read and validate the file(s) (once)."""
        if self._table is None:
            self._table = self._load()

    def __len__(self) -> int:
        """Number of distinct source sentences in the file(s)."""
        self.check()
        assert self._table is not None
        return len(self._table)

    def _load(self) -> dict[str, str]:
        self._check_exists()
        readers: dict[str, Callable[[], Iterator[tuple[int, str, str]]]] = {
            "tsv": self._read_tsv,
            "csv": self._read_csv,
            "jsonl": self._read_jsonl,
            "text": self._read_text_pair,
        }
        table: dict[str, str] = {}
        conflicts = 0
        for line, src, tgt in readers[self.format]():
            key = _key(src)
            if not key:
                continue
            if not tgt.strip():
                raise DistillError(
                    f"{self.path}:{line}: empty translation for {short_repr(src)}",
                    fix="give every source sentence a translation, or drop the row",
                )
            old = table.setdefault(key, tgt.strip())
            conflicts += old != tgt.strip()
        if conflicts:
            log.warning(
                "%s: %d source sentences have several different translations; using the first",
                self.path,
                conflicts,
            )
        log.info("read %d translations from %s", len(table), self.path)
        return table

    def _columns(self, header: list[str]) -> tuple[int, int]:
        missing = [c for c in (self.src_column, self.tgt_column) if c not in header]
        if missing:
            raise DistillError(
                f"{self.path}:1: no column {' or '.join(map(repr, missing))} in the header {header}",
                fix=f"name them {self.src_column!r} and {self.tgt_column!r}, or set src_column/tgt_column",
            )
        return header.index(self.src_column), header.index(self.tgt_column)

    def _read_tsv(self) -> Iterator[tuple[int, str, str]]:
        lines = _lines(_read_text(self.path))
        first = next(lines, None)
        if first is None:
            raise DistillError(
                f"translation file {self.path} is empty", fix="give a header line and one row per sentence"
            )
        header = first[1].split("\t")
        s, t = self._columns(header)
        for line, row in lines:
            if not row.strip():
                continue
            fields = row.split("\t")
            if len(fields) != len(header):
                raise DistillError(
                    f"{self.path}:{line}: {len(fields)} tab-separated fields, the header has {len(header)}",
                    fix="remove tabs inside sentences (TSV has no quoting)",
                )
            yield line, fields[s], fields[t]

    def _read_csv(self) -> Iterator[tuple[int, str, str]]:
        reader = csv.reader(io.StringIO(_read_text(self.path), newline=""), strict=True)
        try:
            header = next(reader, None)
            if header is None:
                raise DistillError(
                    f"translation file {self.path} is empty", fix="give a header row and one row per sentence"
                )
            s, t = self._columns(header)
            for row in reader:
                if not row or not "".join(row).strip():
                    continue
                if len(row) != len(header):
                    raise DistillError(
                        f"{self.path}:{reader.line_num}: {len(row)} fields, the header has {len(header)}",
                        fix="quote fields that contain commas",
                    )
                yield reader.line_num, row[s], row[t]
        except csv.Error as exc:
            raise DistillError(
                f"{self.path}:{reader.line_num}: malformed CSV: {exc}",
                fix='quote fields that contain commas, quotes ("") or line breaks',
            ) from exc

    def _read_jsonl(self) -> Iterator[tuple[int, str, str]]:
        objects = jsonl_objects(
            _lines(_read_text(self.path)),
            where=lambda line: f"{self.path}:{line}",
            not_json=lambda exc: f"not a JSON object: {exc.msg}",
            example='{"src": "...", "tgt": "..."}',
            keep_cause=True,
        )
        for line, obj in objects:
            yield (
                line,
                self._json_field(obj, self.src_column, line),
                self._json_field(obj, self.tgt_column, line),
            )

    def _json_field(self, obj: dict[str, Any], column: str, line: int) -> str:
        value = obj.get(column)
        if not isinstance(value, str):
            problem = "missing" if value is None else f"a {type(value).__name__}, not a string"
            raise DistillError(
                f"{self.path}:{line}: key {column!r} is {problem}",
                fix="every line needs string values under src_column and tgt_column",
            )
        return value

    def _read_text_pair(self) -> Iterator[tuple[int, str, str]]:
        assert self.target_path is not None
        src = list(_lines(_read_text(self.path)))
        tgt = list(_lines(_read_text(self.target_path)))
        if len(src) != len(tgt):
            raise DistillError(
                f"{self.path} has {len(src)} lines but {self.target_path} has {len(tgt)} (they must align)",
                fix="give one translation per line, in the same order",
            )
        for (line, s), (_, t) in zip(src, tgt, strict=True):
            yield line, s, t

    def _translate(self, texts: list[str]) -> list[str]:
        assert self._table is not None  # loaded by check()
        table = self._table
        missing = [t for t in texts if _key(t) not in table]
        if missing:
            unique = list(dict.fromkeys(missing))
            shown = "; ".join(short_repr(t) for t in unique[:SHOW])
            raise DistillError(
                f"{len(missing)} of {len(texts)} sentences ({len(unique)} distinct) have no translation in "
                f"{self.path}; first: {shown}",
                fix="add them to the file, or translate with another backend (apertium, marian)",
            )
        return [table[_key(t)] for t in texts]
