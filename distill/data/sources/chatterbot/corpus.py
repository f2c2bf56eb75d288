"""The whole corpus, built once per data folder: rows per language and the alignment report."""

from __future__ import annotations

import functools
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from distill.data.sources.chatterbot.parse import SOURCE_LANG, _default_data_dir, _Language, _read_all
from distill.data.sources.chatterbot.splits import (
    SPLITS,
    _dedup,
    _Deduped,
    _language_rows,
    _Row,
    _stratified_splits,
)


@dataclass(frozen=True)
class ChatterbotLanguageReport:
    """Alignment and split statistics of one language.

    Attributes:
        code: The language code (``it``, ``zh-Hant``, ``hi-Latn``).
        folder: The package folder (``italian``).
        topics: Number of topic files.
        utterances: Utterances parsed (before de-duplication).
        aligned_topics: Topics with at least one conversation aligned with English (for English:
            topics aligned with at least one other language).
        aligned_conversations: Conversations aligned with English (for English: with any language).
        aligned_pairs: Utterances aligned with English (for English: with any language).
        rows: Rows per split after de-duplication.
        cross_split_removed: Rows removed per split because their text is kept in another split.
        repeats_removed: Rows removed per split as repeats of a text earlier in the same split.
        parallel: Pairs per split in :func:`chatterbot_parallel` with English (``None`` for English).
        skipped: YAML oddities handled, by kind (see the package docstring).
    """

    code: str
    folder: str
    topics: int
    utterances: int
    aligned_topics: int
    aligned_conversations: int
    aligned_pairs: int
    rows: Mapping[str, int]
    cross_split_removed: Mapping[str, int]
    repeats_removed: Mapping[str, int]
    parallel: Mapping[str, int] | None
    skipped: Mapping[str, int]


@dataclass(frozen=True)
class _Corpus:
    """The whole corpus, split and de-duplicated; built once per data folder."""

    rows: Mapping[str, tuple[_Row, ...]]
    reports: Mapping[str, ChatterbotLanguageReport]
    folders: Mapping[str, str]


def _split_counts(rows: Iterable[_Row]) -> dict[str, int]:
    counts = Counter(row.split for row in rows)
    return {split: counts[split] for split in SPLITS}


def _parallel_rows(source: Sequence[_Row], target: Sequence[_Row], split: str) -> list[tuple[_Row, _Row]]:
    """Join two languages on ``pair_id`` within one split, in target order."""
    by_pair = {row.pair_id: row for row in source if row.split == split and row.pair_id is not None}
    return [
        (by_pair[row.pair_id], row)
        for row in target
        if row.split == split and row.pair_id is not None and row.pair_id in by_pair
    ]


def _report(
    lang: _Language, raw: Sequence[_Row], deduped: _Deduped, english: Sequence[_Row], partners: set[str]
) -> ChatterbotLanguageReport:
    """Build the report of one language from its rows before and after de-duplication.

    For English, "aligned" means aligned with at least one other language (``partners`` holds the
    pair ids that some target language has); for a target language it means aligned with English.
    """
    is_source = lang.code == SOURCE_LANG
    aligned = [row for row in raw if row.pair_id is not None and (not is_source or row.pair_id in partners)]
    parallel = None if is_source else {s: len(_parallel_rows(english, deduped.kept, s)) for s in SPLITS}
    return ChatterbotLanguageReport(
        code=lang.code,
        folder=lang.folder,
        topics=len(lang.topics),
        utterances=len(raw),
        aligned_topics=len({row.topic for row in aligned}),
        aligned_conversations=len({str(row.pair_id).rsplit("/", 1)[0] for row in aligned}),
        aligned_pairs=len(aligned),
        rows=_split_counts(deduped.kept),
        cross_split_removed=deduped.cross_split,
        repeats_removed=deduped.repeats,
        parallel=parallel,
        skipped=dict(sorted(lang.skipped.items())),
    )


@functools.lru_cache(maxsize=4)
def _build(data_dir: str) -> _Corpus:
    """Parse, align, split and de-duplicate the whole corpus (cached per data folder)."""
    languages = _read_all(Path(data_dir))
    english = languages[SOURCE_LANG]
    english_splits = {topic: _stratified_splits(topic, len(convs)) for topic, convs in english.topics.items()}
    raw = {code: _language_rows(lang, english, english_splits) for code, lang in languages.items()}
    deduped = {code: _dedup(rows) for code, rows in raw.items()}
    partners = {
        row.pair_id for code, rows in raw.items() if code != SOURCE_LANG for row in rows if row.pair_id
    }
    english_kept = deduped[SOURCE_LANG].kept
    reports = {
        code: _report(lang, raw[code], deduped[code], english_kept, partners)
        for code, lang in languages.items()
    }
    return _Corpus(
        rows={code: d.kept for code, d in deduped.items()},
        reports=reports,
        folders={code: lang.folder for code, lang in languages.items()},
    )


def _corpus(data_dir: str | os.PathLike[str] | None) -> _Corpus:
    path = _default_data_dir() if data_dir is None else Path(data_dir)
    return _build(str(path.resolve()))
