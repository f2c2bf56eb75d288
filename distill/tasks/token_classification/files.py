"""``data=token_files``: the token task on a user's own tagged files.

The source language's tagged sentences (``data.source_train``, ``source_validation``,
``source_test``) fine-tune and test the teacher; per target language, ``data.target_train.<lang>``
holds the student's sentences (words only: one word a line, or tagged and the tags ignored),
``data.target_test.<lang>`` the gold-tagged test sentences and, for ``mode=parallel``,
``data.aligned_source.<lang>`` the source-language words of each training sentence, in the same
order. A missing validation file is replaced by a seeded share of the training file (logged).

Formats, by extension (``data.format`` forces one for every file):

* ``.conllu``: CoNLL-U (:func:`~distill.data.files.conll.read_conllu`; the tag is ``data.field``,
  ``upos`` by default);
* ``.jsonl``/``.json``/``.csv``/``.tsv``/``.parquet``: a table read with ``datasets``, one sentence a
  row; ``data.columns`` maps our ``tokens``/``tags`` to the table's columns (lists, or in CSV/TSV
  words separated by spaces; tags may be ``ClassLabel`` ids in Parquet written by ``datasets``);
* anything else (``.conll``, ``.txt``, ``.iob``, ...): columns, one word a line, a blank line
  between sentences (:func:`~distill.data.files.conll.read_columns`, the tag last).

Every sentence is checked with :func:`~distill.data.tags.check_tags` (a length mismatch, no words,
a tag outside the scheme, a target test tag outside the source tag set): a
:class:`~distill.errors.DistillError` naming the file and the line.

Example::

    distill-run task=token_classification data=token_files mode=direct \\
      data.source_train=en_train.conll data.source_test=en_test.conll \\
      data.target_langs=[it] +data.target_train.it=it_words.txt +data.target_test.it=it_test.conll
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from datasets import Dataset, DatasetDict

from distill.data.files.conll import read_columns, read_conllu
from distill.data.tags import UPOS, bio_tagset, check_tags
from distill.errors import DistillError
from distill.sources.base import DataRef, Source, leaves, unique_refs
from distill.tasks.token_classification.data import TokenData

log = logging.getLogger(__name__)
TABLES = (".jsonl", ".json", ".csv", ".tsv", ".parquet")
FORMATS = ("auto", "conllu", "columns", "table")
#: The ``data.*`` keys of this source that name files (recorded in ``provenance.json``).
FILE_KEYS = (
    "source_train",
    "source_validation",
    "source_test",
    "target_train",
    "target_validation",
    "target_test",
    "aligned_source",
)


# --- shared by the file and hub readers -------------------------------------------------------


def tag_names(ds: Dataset, column: str) -> list[list[str]]:
    """The ``column`` of ``ds`` as tag strings: ``ClassLabel`` ids become their names."""
    feature = ds.features[column]
    inner = getattr(feature, "feature", None)
    values = ds[column]
    if inner is not None and hasattr(inner, "int2str"):
        return [[str(inner.int2str(int(v))) for v in row] for row in values]
    return [[str(v) for v in row] for row in values]


def tag_set(scheme: str, sentences: Sequence[Sequence[str]]) -> list[str]:
    """The tags seen, in a fixed order: ``O`` and ``B-``/``I-`` of each type (sorted) for BIO; for
    tag schemes (UPOS), the UPOS order, other tags after them, sorted."""
    seen = {t for tags in sentences for t in tags}
    if scheme == "bio":
        return bio_tagset(sorted({t[2:] for t in seen if t != "O"}))
    order = {t: i for i, t in enumerate(UPOS)}
    return sorted(seen, key=lambda t: (order.get(t, len(UPOS)), t))


def with_text(ds: Dataset) -> Dataset:
    """``ds`` with ``tgt`` (and ``src`` beside ``src_tokens``): the words joined with spaces."""
    out = ds.add_column("tgt", [" ".join(w) for w in ds["tokens"]])
    if "src_tokens" in ds.column_names:
        out = out.add_column("src", [" ".join(w) for w in ds["src_tokens"]])
    return out


def cap(ds: Dataset, limit: int | None, seed: int) -> Dataset:
    """At most ``limit`` sentences, a seeded sample (all when ``limit`` is ``None``)."""
    if limit is None or len(ds) <= int(limit):
        return ds
    return ds.shuffle(seed=seed).select(range(int(limit)))


def hold_out(ds: Dataset, share: float, seed: int, what: str) -> tuple[Dataset, Dataset]:
    """A seeded ``share`` of ``ds`` as validation (at least one sentence), the rest for training.

    Raises:
        DistillError: Fewer than two sentences to split.
    """
    if len(ds) < 2:
        raise DistillError(
            f"{what}: {len(ds)} sentence, too few to hold out a validation share",
            fix="give more sentences, or a validation file",
        )
    n = min(len(ds) - 1, max(1, round(len(ds) * float(share))))
    parts = ds.train_test_split(test_size=n, seed=seed)
    log.info(
        "%s: no validation file given; holding out %d of %d sentences (share %.2f, seed %d) as validation",
        what,
        n,
        len(ds),
        float(share),
        seed,
    )
    return parts["train"], parts["test"]


def per_lang(files: Mapping[str, Any] | None, lang: str, key: str, required: bool = True) -> str | None:
    """``data.<key>.<lang>``, or ``None`` when it is optional and not set.

    Raises:
        DistillError: A required file is not set for ``lang``.
    """
    value = (files or {}).get(lang)
    if value in (None, "", "???"):
        if required:
            raise DistillError(f"data.{key} has no file for {lang!r}", fix=f"set data.{key}.{lang}=<file>")
        return None
    return str(value)


# --- readers ----------------------------------------------------------------------------------


def _format(path: Path, fmt: str) -> str:
    if fmt not in FORMATS:
        raise DistillError(f"data.format must be one of {FORMATS}, got {fmt!r}", fix="set data.format=auto")
    if fmt != "auto":
        return fmt
    if path.suffix == ".conllu":
        return "conllu"
    return "table" if path.suffix in TABLES else "columns"


def _exists(path: Path, what: str) -> Path:
    if not path.is_file():
        raise DistillError(f"{what} file {path}: no such file", fix=f"check the path of {what}")
    return path


def _rows_where(path: Path, n: int) -> list[str]:
    """Where each row of a table was read: JSON Lines and CSV/TSV lines, Parquet rows."""
    if path.suffix in (".jsonl", ".json"):
        return [f"{path} line {i + 1}" for i in range(n)]
    if path.suffix in (".csv", ".tsv"):
        return [f"{path} line {i + 2}" for i in range(n)]  # after the header
    return [f"{path} row {i + 1}" for i in range(n)]


def _load_table(path: Path) -> Dataset:
    """A table file through ``datasets`` (its own cache), errors as :class:`DistillError`."""
    try:
        if path.suffix in (".jsonl", ".json"):
            ds = Dataset.from_json(str(path))
        elif path.suffix == ".parquet":
            ds = Dataset.from_parquet(str(path))
        else:
            ds = Dataset.from_csv(str(path), sep="\t" if path.suffix == ".tsv" else ",")
    except Exception as exc:  # datasets wraps parser errors in its own types
        cause = exc.__cause__ or exc
        detail = str(cause).splitlines()[0][:200] if str(cause) else type(cause).__name__
        raise DistillError(
            f"{path}: cannot read the table: {detail}",
            fix="give one JSON object a line (.jsonl), a CSV/TSV with a header row, or Parquet",
        ) from None
    assert isinstance(ds, Dataset)
    return ds


def _column(ds: Dataset, path: Path, ours: str, columns: Mapping[str, str]) -> str:
    theirs = str(columns.get(ours, ours))
    if theirs not in ds.column_names:
        mapped = f" (data.columns.{ours}={theirs})" if theirs != ours else ""
        raise DistillError(
            f"{path} has no column {theirs!r}{mapped}; its columns are {ds.column_names}",
            fix=f"map the column: data.columns.{ours}=<your column name>",
        )
    return theirs


def _words(value: Any) -> list[str]:
    if value is None:
        return []
    return value.split() if isinstance(value, str) else [str(w) for w in value]


def _table(path: Path, columns: Mapping[str, str], tagged: bool) -> tuple[list[list[str]], list[list[str]]]:
    ds = _load_table(path)
    if not len(ds):
        raise DistillError(f"{path}: no sentences", fix="give a table with one sentence a row")
    words = [_words(v) for v in ds[_column(ds, path, "tokens", columns)]]
    if not tagged:
        return words, []
    tags_col = _column(ds, path, "tags", columns)
    if isinstance(ds[0][tags_col], str):
        return words, [_words(v) for v in ds[tags_col]]
    return words, tag_names(ds, tags_col)


def read_tagged(
    path: str | Path,
    *,
    scheme: str,
    fmt: str = "auto",
    field: str = "upos",
    columns: Mapping[str, str] | None = None,
    tagset: Sequence[str] | None = None,
    what: str = "tagged data",
) -> Dataset:
    """Tagged sentences (``tokens``, ``tags``) of a CoNLL-U, column or table file.

    Raises:
        DistillError: A missing file, a bad line or row, a tag outside the scheme or ``tagset``
            (naming the file and the line).
    """
    p = _exists(Path(path).expanduser(), what)
    kind = _format(p, fmt)
    if kind == "conllu":
        return read_conllu(p, field=field, scheme=scheme, tagset=tagset).select_columns(["tokens", "tags"])
    if kind == "columns":
        return read_columns(p, scheme=scheme, tagset=tagset).select_columns(["tokens", "tags"])
    words, tags = _table(p, columns or {}, tagged=True)
    for where, w, t in zip(_rows_where(p, len(words)), words, tags, strict=True):
        check_tags(w, t, scheme, where=where, tagset=tagset)
    if not words:
        raise DistillError(f"{p}: no sentences", fix="give a file with at least one tagged sentence")
    return Dataset.from_dict({"tokens": words, "tags": tags})


def _word_lines(path: Path, conllu: bool) -> Iterator[tuple[int, str | None]]:
    """(line number, the line's word) of a one-word-a-line file; ``None`` ends a sentence."""
    try:
        with path.open(encoding="utf-8-sig") as f:
            for number, raw in enumerate(f, start=1):
                line = raw.rstrip("\r\n")
                if not line.strip() or line.startswith("-DOCSTART-"):
                    yield number, None
                elif conllu:
                    cells = line.split("\t")
                    if not line.startswith("#") and len(cells) > 1 and cells[0].isdigit():
                        yield number, cells[1]  # multi-word ranges (1-2) and empty nodes (1.1) skipped
                else:
                    yield number, (line.split("\t") if "\t" in line else line.split())[0]
    except UnicodeDecodeError as exc:
        raise DistillError(
            f"{path}: bytes that are not UTF-8: {exc.reason}", fix="re-encode the file as UTF-8"
        ) from exc


def _sentences_of_words(path: Path, conllu: bool) -> list[list[str]]:
    out: list[list[str]] = []
    words: list[str] = []
    for _, word in _word_lines(path, conllu):
        if word is None:
            if words:
                out.append(words)
            words = []
        else:
            words.append(word)
    return [*out, words] if words else out


def read_words(
    path: str | Path,
    *,
    fmt: str = "auto",
    columns: Mapping[str, str] | None = None,
    what: str = "training words",
) -> Dataset:
    """Sentences as words only (``tokens``): one word a line (its first column; tags ignored), the
    CoNLL-U forms, or a table's ``tokens`` column.

    Raises:
        DistillError: A missing file, a file without sentences, a table row with no words.
    """
    p = _exists(Path(path).expanduser(), what)
    kind = _format(p, fmt)
    if kind == "table":
        words, _ = _table(p, columns or {}, tagged=False)
        for where, w in zip(_rows_where(p, len(words)), words, strict=True):
            if not w:
                raise DistillError(f"{where}: a sentence with no words", fix="remove the empty sentence")
    else:
        words = _sentences_of_words(p, conllu=kind == "conllu")
    if not words:
        raise DistillError(f"{p}: no sentences", fix="give a file with at least one sentence")
    return Dataset.from_dict({"tokens": words})


# --- the run's data -----------------------------------------------------------------------------


def _reader(options: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "fmt": str(options.get("format") or "auto"),
        "columns": dict(options.get("columns") or {}),
    }


def _source_splits(options: Mapping[str, Any], scheme: str) -> tuple[DatasetDict, list[str]]:
    opts = {**_reader(options), "field": str(options.get("field") or "upos")}
    if not options.get("source_train"):
        raise DistillError("data.source_train is not set", fix="set data.source_train=<tagged file>")
    train = read_tagged(options["source_train"], scheme=scheme, what="data.source_train", **opts)
    seed, share = int(options.get("seed", 0)), float(options.get("validation_share", 0.1))
    if options.get("source_validation"):
        val = read_tagged(options["source_validation"], scheme=scheme, what="data.source_validation", **opts)
    else:
        train, val = hold_out(train, share, seed, f"data.source_train ({options['source_train']})")
    tags = tag_set(scheme, [*train["tags"], *val["tags"]])
    if not options.get("source_test"):
        raise DistillError("data.source_test is not set", fix="set data.source_test=<tagged file>")
    test = read_tagged(options["source_test"], scheme=scheme, tagset=tags, what="data.source_test", **opts)
    return DatasetDict({"train": train, "validation": val, "test": test}), tags


def _aligned(train: Dataset, options: Mapping[str, Any], lang: str, train_file: str) -> Dataset:
    """The training sentences with the source words of each (``data.aligned_source.<lang>``)."""
    path = per_lang(options.get("aligned_source"), lang, "aligned_source")
    assert path is not None
    src = read_words(path, what=f"data.aligned_source.{lang}", **_reader(options))
    if len(src) != len(train):
        raise DistillError(
            f"{path} has {len(src)} sentences but {train_file} has {len(train)}",
            fix=f"data.aligned_source.{lang} must hold the source words of each training sentence, in order",
        )
    return train.add_column("src_tokens", src["tokens"])


def _target_splits(options: Mapping[str, Any], lang: str, tags: list[str], mode: str) -> DatasetDict:
    scheme, opts = str(options.get("scheme", "bio")), _reader(options)
    train_file = per_lang(options.get("target_train"), lang, "target_train")
    assert train_file is not None
    train = read_words(train_file, what=f"data.target_train.{lang}", **opts)
    val_file = per_lang(options.get("target_validation"), lang, "target_validation", required=False)
    if mode == "parallel":
        if val_file:
            raise DistillError(
                f"mode=parallel holds the {lang} validation pairs out of data.target_train.{lang}",
                fix=f"unset data.target_validation.{lang}",
            )
        train = _aligned(train, options, lang, train_file)
    if val_file:
        val = read_words(val_file, what=f"data.target_validation.{lang}", **opts)
    else:
        share = float(options.get("validation_share", 0.1))
        train, val = hold_out(
            train, share, int(options.get("seed", 0)), f"data.target_train.{lang} ({train_file})"
        )
    test_file = per_lang(options.get("target_test"), lang, "target_test")
    assert test_file is not None
    test = read_tagged(
        test_file,
        scheme=scheme,
        field=str(options.get("field") or "upos"),
        tagset=tags,
        what=f"data.target_test.{lang}",
        **opts,
    )
    return DatasetDict({"train": train, "validation": val, "test": test})


def capped(dd: DatasetDict, limit: int | None, seed: int) -> DatasetDict:
    """Every split capped (:func:`cap`) and given its joined text (:func:`with_text`)."""
    return DatasetDict({k: with_text(cap(v, limit, seed)) for k, v in dd.items()})


def file_token_data(
    target_langs: Sequence[str],
    source_lang: str = "en",
    mode: str = "direct",
    max_sentences: int | None = None,
    **options: Any,
) -> TokenData:
    """The run's :class:`TokenData` from the user's files (see the module docstring).

    Args:
        target_langs: The target languages; each needs ``target_train`` and ``target_test``.
        source_lang: The source language code.
        mode: ``direct``, or ``parallel`` (then ``aligned_source`` is read too).
        max_sentences: At most this many sentences a split (a seeded sample), e.g. for debug runs.
        **options: ``scheme``, ``format``, ``field``, ``columns``, ``validation_share``, ``seed`` and
            the file keys of :data:`FILE_KEYS`.

    Raises:
        DistillError: A file that is missing or wrong (naming the file and the line).
    """
    scheme = str(options.get("scheme", "bio"))
    seed = int(options.get("seed", 0))
    source, tags = _source_splits(options, scheme)
    targets = {
        str(lang): capped(_target_splits(options, str(lang), tags, mode), max_sentences, seed)
        for lang in target_langs
    }
    return TokenData(scheme, tags, source_lang, capped(source, max_sentences, seed), targets)


class TokenFilesSource(Source):
    """``data=token_files`` as the run records see it: every file it names (hashed in
    ``provenance.json``). Token-level data: it has no sentence pairs."""

    def parallel(self, lang: str) -> DatasetDict:
        raise DistillError(
            f"data={self.name} is token-level data (task=token_classification)",
            fix="set task=token_classification",
        )

    def data_refs(self) -> list[DataRef]:
        refs = (DataRef(key, ref) for key in FILE_KEYS if key in self.data for ref in leaves(self.data[key]))
        return list(unique_refs(refs))
