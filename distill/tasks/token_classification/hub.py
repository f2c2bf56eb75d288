"""``data=wikiann`` and ``data=conll2003``: tagged hub datasets through ``datasets.load_dataset``.

A dataset of one tagged sentence a row (a ``tokens`` list and a tags list, ``ner_tags`` as
``ClassLabel`` ids in WikiANN/PAN-X and CoNLL-2003) is read split by split with
:func:`distill.data.hub.load_split` (``load_dataset(path, name, split=...)``, or a folder written
by ``save_to_disk``). ``{lang}`` in ``path`` and ``name`` becomes the language code: the source
language's config gives the teacher's train/validation/test sentences (unless ``source_path`` /
``source_name`` name another dataset, as CoNLL-2003 English does), each target language's config the
student's words (``train``, ``validation``: the tags are not read) and the gold test sentences.

The tag set is the source dataset's ``ClassLabel`` names in id order (so a tagger trained on the
dataset elsewhere keeps its ids), else the tags seen. ``-DOCSTART-`` rows (CoNLL-2003 document
breaks) and rows with no words are dropped and counted in the log; every other sentence is checked
with :func:`~distill.data.tags.check_tags` (a target test tag outside the source tag set is an error).

These datasets have no word-aligned pairs: only ``mode=direct`` (the teacher reads the target
words). For ``mode=parallel`` bring aligned files with ``data=token_files``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from datasets import Dataset, DatasetDict

from distill.data.hub import load_split
from distill.data.tags import check_tags
from distill.errors import DistillError
from distill.sources.base import DataRef, Source, unique_refs
from distill.tasks.token_classification.data import TokenData
from distill.tasks.token_classification.files import cap, tag_names, tag_set, with_text

log = logging.getLogger(__name__)
SPLITS = {"train": "train", "validation": "validation", "test": "test"}
DOCSTART = "-DOCSTART-"


def _fill(value: Any, lang: str) -> Any:
    return value.format(lang=lang) if isinstance(value, str) else value


def _column(ds: Dataset, name: str, where: str, key: str) -> str:
    if name not in ds.column_names:
        raise DistillError(
            f"{where}: no column {name!r}; its columns are {ds.column_names}",
            fix=f"set data.corpus.{key}=<the column with the {key}>",
        )
    return name


def _kept(words: Sequence[Sequence[str]], where: str) -> list[int]:
    """The rows to keep: not a ``-DOCSTART-`` line, not empty (both counted in the log)."""
    keep = [i for i, w in enumerate(words) if w and list(w) != [DOCSTART]]
    if len(keep) < len(words):
        log.info("%s: dropped %d rows (-DOCSTART- or no words)", where, len(words) - len(keep))
    return keep


class HubSplits:
    """Reads the splits of one tagged dataset (``path``/``name`` with ``{lang}`` filled in)."""

    def __init__(
        self, path: str, name: str | None, tokens: str, tags: str, limit: int | None, seed: int
    ) -> None:
        self.path, self.name, self.tokens, self.tags = path, name, tokens, tags
        self.limit, self.seed = limit, seed

    def load(self, lang: str, split: str) -> tuple[Dataset, str]:
        path, name = str(_fill(self.path, lang)), _fill(self.name, lang)
        where = f"{path}[{name or '-'}/{split}]"
        ds = cap(load_split(path, name, split), self.limit, self.seed)
        _column(ds, self.tokens, where, "tokens")
        return ds, where

    def words(self, lang: str, split: str) -> Dataset:
        """``tokens`` only: the student's sentences (no tag is read)."""
        ds, where = self.load(lang, split)
        words = [list(w) for w in ds[self.tokens]]
        return Dataset.from_dict({"tokens": [words[i] for i in _kept(words, where)]})

    def tagged(self, lang: str, split: str, scheme: str, tagset: Sequence[str] | None) -> Dataset:
        """``tokens`` and ``tags`` (``ClassLabel`` ids as names), each sentence checked."""
        ds, where = self.load(lang, split)
        words = [list(w) for w in ds[self.tokens]]
        tags = tag_names(ds, _column(ds, self.tags, where, "tags"))
        keep = _kept(words, where)
        for i in keep:
            check_tags(words[i], tags[i], scheme, where=f"{where} row {i + 1}", tagset=tagset)
        return Dataset.from_dict({"tokens": [words[i] for i in keep], "tags": [tags[i] for i in keep]})

    def class_names(self, lang: str, split: str) -> list[str] | None:
        """The tags column's ``ClassLabel`` names in id order, if it has them."""
        ds, where = self.load(lang, split)
        inner = getattr(ds.features[_column(ds, self.tags, where, "tags")], "feature", None)
        names = getattr(inner, "names", None)
        return [str(n) for n in names] if names else None


def _refuse_parallel(mode: str, path: str) -> None:
    if mode != "direct":
        raise DistillError(
            f"{path} has tagged sentences but no word-aligned pairs: mode={mode} needs them",
            fix="set mode=direct, or bring aligned files: data=token_files data.aligned_source.<lang>=...",
        )


def hub_token_data(
    path: str,
    target_langs: Sequence[str],
    name: str | None = None,
    source_lang: str = "en",
    source_path: str | None = None,
    source_name: str | None = None,
    tokens: str = "tokens",
    tags: str = "ner_tags",
    scheme: str = "bio",
    splits: Mapping[str, str] | None = None,
    max_sentences: int | None = None,
    seed: int = 0,
    mode: str = "direct",
) -> TokenData:
    """The run's :class:`TokenData` from tagged hub datasets (see the module docstring).

    Args:
        path: The dataset of the target languages (hub id or local folder; ``{lang}`` filled in).
        target_langs: Target language codes.
        name: Its config name (``"{lang}"`` for WikiANN).
        source_lang: The teacher's language.
        source_path: The source language's dataset, when it is another one (CoNLL-2003).
        source_name: Its config name (defaults to ``name`` when ``source_path`` is not set).
        tokens: The words column.
        tags: The tags column (``ClassLabel`` ids or strings).
        scheme: ``bio`` or ``upos``.
        splits: Our ``train``/``validation``/``test`` -> the dataset's split names.
        max_sentences: At most this many sentences a split (a seeded sample), e.g. for debug runs.
        seed: The sample's seed.
        mode: The run's mode; only ``direct``.

    Raises:
        DistillError: ``mode`` other than ``direct``; a dataset, split or column that is not there;
            a sentence whose tags are wrong (naming the dataset, split and row).
    """
    _refuse_parallel(mode, path)
    theirs = {**SPLITS, **dict(splits or {})}
    src_name = source_name if source_name is not None or source_path else name
    source = HubSplits(source_path or path, src_name, tokens, tags, max_sentences, seed)
    target = HubSplits(path, name, tokens, tags, max_sentences, seed)
    train = source.tagged(source_lang, theirs["train"], scheme, None)
    val = source.tagged(source_lang, theirs["validation"], scheme, None)
    tagset = source.class_names(source_lang, theirs["train"]) or tag_set(
        scheme, [*train["tags"], *val["tags"]]
    )
    src = DatasetDict(
        {
            "train": with_text(train),
            "validation": with_text(val),
            "test": with_text(source.tagged(source_lang, theirs["test"], scheme, tagset)),
        }
    )
    data = {
        str(lang): DatasetDict(
            {
                "train": with_text(target.words(str(lang), theirs["train"])),
                "validation": with_text(target.words(str(lang), theirs["validation"])),
                "test": with_text(target.tagged(str(lang), theirs["test"], scheme, tagset)),
            }
        )
        for lang in target_langs
    }
    return TokenData(scheme, list(tagset), source_lang, src, data)


class TokenHubSource(Source):
    """``data=wikiann``/``conll2003`` as the run records see it: each dataset and config it reads
    (``provenance.json``). Token-level data: it has no sentence pairs."""

    def parallel(self, lang: str) -> DatasetDict:
        raise DistillError(
            f"data={self.name} is token-level data (task=token_classification)",
            fix="set task=token_classification",
        )

    def data_refs(self) -> list[DataRef]:
        return list(unique_refs(self._refs()))

    def _refs(self) -> Iterator[DataRef]:
        corpus = self.data.get("corpus") or {}
        source = self.source_lang
        src_path = corpus.get("source_path")
        src_name = corpus.get("source_name") if src_path else corpus.get("name")
        yield DataRef(
            "corpus", str(_fill(src_path or corpus.get("path"), source)), _fill(src_name, source), hub=True
        )
        for lang in [str(x) for x in self.data.get("target_langs") or []]:
            yield DataRef(
                "corpus", str(_fill(corpus.get("path"), lang)), _fill(corpus.get("name"), lang), hub=True
            )
