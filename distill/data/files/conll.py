"""Token-level corpora: CoNLL-U files and column (CoNLL/IOB) files, one word a line.

* :func:`read_conllu`: Universal Dependencies' format (ten tab-separated fields; ``#`` comments;
  a blank line ends a sentence). Multi-word token ranges (``1-2``) and empty nodes (``1.1``) are
  skipped: the rows are the syntactic words and their ``UPOS`` (or another field).
* :func:`read_columns`: whitespace- or tab-separated columns, the word first and the tag last by
  default (CoNLL-2003, WNUT, the MeCab-column IOB of Japanese corpora); ``-DOCSTART-`` lines skipped.

Both return a :class:`datasets.Dataset` with ``id`` (``<file name>:<line>`` of the sentence's first
word), ``tokens`` and ``tags``, and check every sentence with :func:`distill.data.tags.check_tags`:
what is wrong is a :class:`~distill.errors.DistillError` naming the file and the line.

Example::

    pos = read_conllu(Path("pt/annotated.conllu"))                  # tags: UPOS
    ner = read_columns(Path("ja/iob_sents.txt"), scheme="bio")      # tags: B-PER, I-PER, O, ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from datasets import Dataset

from distill.data.tags import check_tags
from distill.errors import DistillError

CONLLU_FIELDS = ("id", "form", "lemma", "upos", "xpos", "feats", "head", "deprel", "deps", "misc")


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    if not path.is_file():
        raise DistillError(f"{path}: no such file", fix="check the path of the token-level corpus")
    number = 0
    with path.open(encoding="utf-8-sig", newline="") as f:
        try:
            for number, line in enumerate(f, start=1):
                yield number, line.rstrip("\r\n")
        except UnicodeDecodeError as exc:
            raise DistillError(
                f"{path}: bytes that are not UTF-8 after line {number}: {exc.reason}",
                fix="re-encode the file as UTF-8",
            ) from exc


Sentence = tuple[list[int], list[str], list[str]]  # each word's line number, the words, the tags


def _dataset(path: Path, sentences: Iterable[Sentence], scheme: str, tagset: Iterable[str] | None) -> Dataset:
    allowed = list(tagset) if tagset is not None else None
    rows: dict[str, list[Any]] = {"id": [], "tokens": [], "tags": []}
    for lines, words, tags in sentences:
        check_tags(words, tags, scheme, where=[f"{path} line {n}" for n in lines], tagset=allowed)
        rows["id"].append(f"{path.name}:{lines[0]}")
        rows["tokens"].append(words)
        rows["tags"].append(tags)
    if not rows["id"]:
        raise DistillError(f"{path}: no sentences", fix="give a file with at least one tagged sentence")
    return Dataset.from_dict(rows)


def _sentences(path: Path, parse: Callable[[int, str], tuple[str, str] | None]) -> Iterator[Sentence]:
    """Sentences of ``path``: a blank (or ``-DOCSTART-``) line ends one; ``parse`` makes a line a
    (word, tag), or ``None`` for a line to skip."""
    words: list[str] = []
    tags: list[str] = []
    lines: list[int] = []
    for number, line in _lines(path):
        if not line.strip() or line.startswith("-DOCSTART-"):
            if words:
                yield lines, words, tags
            words, tags, lines = [], [], []
            continue
        found = parse(number, line)
        if found is not None:
            lines.append(number)
            words.append(found[0])
            tags.append(found[1])
    if words:
        yield lines, words, tags


def read_conllu(
    path: Path, *, field: str = "upos", scheme: str = "upos", tagset: Iterable[str] | None = None
) -> Dataset:
    """Sentences of a CoNLL-U file: the words (``form``) and ``field`` (default ``upos``).

    Raises:
        DistillError: A missing file, a line without ten fields, a bad word number, a tag outside
            the scheme or ``tagset`` (with the file and the line).
    """
    if field not in CONLLU_FIELDS:
        raise DistillError(f"CoNLL-U has no field {field!r}", fix=f"use one of {', '.join(CONLLU_FIELDS)}")
    col = CONLLU_FIELDS.index(field)
    path = Path(path)

    def parse(number: int, line: str) -> tuple[str, str] | None:
        if line.startswith("#"):
            return None
        cells = line.split("\t")
        if len(cells) != len(CONLLU_FIELDS):
            raise DistillError(
                f"{path} line {number}: {len(cells)} tab-separated fields, CoNLL-U has 10",
                fix="separate the fields with tabs (spaces may appear only inside FORM and LEMMA)",
            )
        if "-" in cells[0] or "." in cells[0]:  # a multi-word token range or an empty node
            return None
        if not cells[0].isdigit():
            raise DistillError(f"{path} line {number}: word number {cells[0]!r} is not an integer")
        return cells[1], cells[col]

    return _dataset(path, _sentences(path, parse), scheme, tagset)


def read_columns(
    path: Path,
    *,
    scheme: str = "bio",
    word_column: int = 0,
    tag_column: int = -1,
    tagset: Iterable[str] | None = None,
) -> Dataset:
    """Sentences of a column file (one word a line, a blank line between sentences).

    Raises:
        DistillError: A missing file, a line with fewer than two columns, a tag outside the scheme
            or ``tagset`` (with the file and the line).
    """
    path = Path(path)

    def parse(number: int, line: str) -> tuple[str, str]:
        cells = line.split("\t") if "\t" in line else line.split()
        if len(cells) < 2:
            raise DistillError(
                f"{path} line {number}: {line[:60]!r} has one column; a word and its tag are needed",
                fix="write the word and the tag on each line, separated by a tab or spaces",
            )
        return cells[word_column], cells[tag_column]

    return _dataset(path, _sentences(path, parse), scheme, tagset)
