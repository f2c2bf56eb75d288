"""The corpus as datasets: utterances per split, parallel pairs, label sets and ``data.topics``."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from distill.data.langs import format_codes, tag_key
from distill.data.sources.chatterbot.corpus import ChatterbotLanguageReport, _Corpus, _corpus, _parallel_rows
from distill.data.sources.chatterbot.parse import SOURCE_LANG
from distill.data.sources.chatterbot.splits import SPLITS, _Row
from distill.errors import DistillError

if TYPE_CHECKING:
    from datasets import Dataset, DatasetDict

COLUMNS: tuple[str, ...] = ("id", "pair_id", "lang", "topic", "text")
PARALLEL_COLUMNS: tuple[str, ...] = ("id", "src", "tgt", "label", "pair_id")

# Other spellings users may type for the same data (deprecated ISO codes, regional variants).
_CODE_ALIASES: Mapping[str, str] = {
    "zh-Hans": "zh",
    "zh-CN": "zh",
    "zh-SG": "zh",
    "zh-TW": "zh-Hant",
    "zh-HK": "zh-Hant",
    "iw": "he",
    "in": "id",
    "pt-BR": "pt",
    "ory": "or",
    "hinglish": "hi-Latn",
}


def _resolve(corpus: _Corpus, code: str) -> str:
    """Map a user's language code (or a folder name such as ``italian``) to the corpus code."""
    index = {tag_key(c): c for c in corpus.rows}
    for alias, target in _CODE_ALIASES.items():
        if target in corpus.rows:
            index.setdefault(tag_key(alias), target)
    for c, folder in corpus.folders.items():
        index.setdefault(folder.casefold(), c)
    found = index.get(tag_key(code))
    if found is None:
        raise DistillError(
            f"chatterbot-corpus has no language {code!r}; available codes: {format_codes(corpus.rows)}",
            fix="pass one of the listed codes (ISO 639-1; zh-Hant: traditional Chinese, hi-Latn: Hinglish)",
        )
    return found


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise DistillError(f"unknown split {split!r}", fix=f"use one of: {', '.join(SPLITS)}")


def chatterbot_languages(data_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """Return the language codes the installed corpus has, sorted (``["bn", "de", "en", ...]``).

    Args:
        data_dir: A folder laid out like ``chatterbot_corpus/data``; default: the installed package.
    """
    return sorted(_corpus(data_dir).rows)


def resolve_chatterbot_lang(code: str, data_dir: str | os.PathLike[str] | None = None) -> str:
    """Return the corpus code for a user's code (``"pt-BR"`` -> ``"pt"``, ``"zh_Hant"`` -> ``"zh-Hant"``).

    Raises:
        DistillError: If the corpus has no such language; the message lists the available codes.
    """
    return _resolve(_corpus(data_dir), code)


def _rows_dataset(rows: Sequence[_Row]) -> Dataset:
    from datasets import Dataset, Features, Value

    features = Features({name: Value("string") for name in COLUMNS})
    return Dataset.from_dict(
        {name: [getattr(row, name) for row in rows] for name in COLUMNS}, features=features
    )


def load_chatterbot(
    languages: Sequence[str] | None = None,
    *,
    aligned_only: bool = False,
    data_dir: str | os.PathLike[str] | None = None,
) -> DatasetDict:
    """Load the corpus as ``train``/``validation``/``test`` splits of utterances.

    Columns: ``id`` (``"<lang>/<topic>/<conv>/<utt>"``, stable and unique), ``pair_id``
    (``"<topic>/<conv>/<utt>"``, shared by an English utterance and its aligned translations;
    ``None`` for unaligned target rows), ``lang``, ``topic`` (the label) and ``text``. Rows are
    ordered by language (as given, or sorted codes), topic, conversation and utterance. Splits are
    70/10/20 by English conversation and de-duplicated across splits (see the package docstring).

    Args:
        languages: Codes to load (``["en", "it"]``); default: every language of the corpus.
        aligned_only: Keep only rows with a ``pair_id`` (English rows always have one).
        data_dir: A folder laid out like ``chatterbot_corpus/data``; default: the installed package.

    Raises:
        DistillError: For an unknown language code, or if the corpus is not installed.
    """
    from datasets import DatasetDict

    corpus = _corpus(data_dir)
    codes = sorted(corpus.rows) if languages is None else [_resolve(corpus, c) for c in languages]
    codes = list(dict.fromkeys(codes))  # a language named twice is loaded once
    rows = [row for code in codes for row in corpus.rows[code] if row.pair_id is not None or not aligned_only]
    return DatasetDict(
        {split: _rows_dataset([row for row in rows if row.split == split]) for split in SPLITS}
    )


def chatterbot_parallel(
    target_lang: str,
    split: str,
    source_lang: str = SOURCE_LANG,
    *,
    data_dir: str | os.PathLike[str] | None = None,
) -> Dataset:
    """Return the aligned pairs of one split as a parallel dataset for the label stage.

    Columns: ``id`` (the target row's id), ``src`` (source-language text, English by default),
    ``tgt`` (target text), ``label`` (the topic) and ``pair_id``. Both rows must have survived
    de-duplication of their language. Two target languages can be paired through English
    (``source_lang="it"``), since ``pair_id`` does not depend on the language.

    Args:
        target_lang: The student's language code, e.g. ``"it"``.
        split: ``"train"``, ``"validation"`` or ``"test"``.
        source_lang: The teacher's language code.
        data_dir: A folder laid out like ``chatterbot_corpus/data``; default: the installed package.

    Raises:
        DistillError: For an unknown language or split, equal languages, or no aligned pairs.
    """
    from datasets import Dataset, Features, Value

    _check_split(split)
    corpus = _corpus(data_dir)
    tgt, src = _resolve(corpus, target_lang), _resolve(corpus, source_lang)
    if tgt == src:
        raise DistillError(f"source and target language are both {src!r}", fix="pass two different languages")
    pairs = _parallel_rows(corpus.rows[src], corpus.rows[tgt], split)
    if not pairs:
        usable = [c for c, r in corpus.reports.items() if r.parallel and r.parallel[split] > 0]
        raise DistillError(
            f"chatterbot-corpus has no aligned {src}-{tgt} pairs in the {split!r} split",
            fix=f"use a target language with aligned pairs ({format_codes(usable)}); "
            "see python -m distill.data.sources.chatterbot",
        )
    columns = {
        "id": [t.id for _, t in pairs],
        "src": [s.text for s, _ in pairs],
        "tgt": [t.text for _, t in pairs],
        "label": [t.topic for _, t in pairs],
        "pair_id": [t.pair_id for _, t in pairs],
    }
    return Dataset.from_dict(columns, features=Features({name: Value("string") for name in PARALLEL_COLUMNS}))


def chatterbot_side(
    lang: str,
    split: str,
    pair_ids: Sequence[str | None],
    *,
    data_dir: str | os.PathLike[str] | None = None,
) -> list[str | None]:
    """The ``lang`` utterance at each ``pair_id`` of ``split`` (None where ``lang`` has none).

    Raises:
        DistillError: For an unknown language or split.
    """
    _check_split(split)
    corpus = _corpus(data_dir)
    rows = corpus.rows[_resolve(corpus, lang)]
    text = {r.pair_id: r.text for r in rows if r.split == split and r.pair_id}
    return [text.get(p) if p is not None else None for p in pair_ids]


def chatterbot_labels(
    split: str = "train", lang: str = SOURCE_LANG, *, data_dir: str | os.PathLike[str] | None = None
) -> list[str]:
    """Return the sorted topic labels that occur in one split of one language.

    The default (English ``train``) is the label set the teacher is fine-tuned on.

    Raises:
        DistillError: For an unknown language or split.
    """
    _check_split(split)
    corpus = _corpus(data_dir)
    code = _resolve(corpus, lang)
    return sorted({row.topic for row in corpus.rows[code] if row.split == split})


def chatterbot_parallel_labels(
    target_lang: str,
    split: str = "train",
    source_lang: str = SOURCE_LANG,
    *,
    data_dir: str | os.PathLike[str] | None = None,
) -> list[str]:
    """Return the sorted topic labels that occur in one split of :func:`chatterbot_parallel`.

    English has topics no other language translates (``coding``, ``tech_support``); this is the
    label set a teacher needs when it only serves one language pair.

    Raises:
        DistillError: As :func:`chatterbot_parallel`.
    """
    return sorted(set(chatterbot_parallel(target_lang, split, source_lang, data_dir=data_dir)["label"]))


def chatterbot_topics(data_cfg: Mapping[str, Any]) -> frozenset[str] | None:
    """The topics a run keeps (``data.topics``), or ``None`` for every topic.

    ``all`` (the default) keeps every English topic; the teacher then also learns topics no target
    language translates (``trivia``, ``coding``), which the student never reads. ``aligned`` keeps
    the topics of the English sides of the aligned *training* pairs of at least one of
    ``data.target_langs`` (what the source side of the training data covers: no validation or test
    pair and no target-language label is read), for the teacher, its validation and the
    source-language test alike; a list names the topics outright. In every language of the corpus
    the training pairs cover every topic any split's pairs have, so this equals the earlier "any
    split" rule's topics.

    Raises:
        DistillError: An unknown ``data.topics`` value or a listed topic the corpus lacks.
    """
    value = data_cfg.get("topics", "all")
    if value in (None, "all"):
        return None
    source = str(data_cfg.get("source_lang", SOURCE_LANG))
    if value == "aligned":
        topics: set[str] = set()
        for lang in data_cfg.get("target_langs") or []:
            topics.update(chatterbot_parallel_labels(str(lang), "train", source))
        return frozenset(topics)
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise DistillError(
            f"data.topics={value!r} is not all, aligned or a list of topics",
            fix="set data.topics=aligned, data.topics=all or data.topics=[emotion,food]",
        )
    known = set(chatterbot_labels("train", source))
    unknown = sorted(str(t) for t in value if t not in known)
    if unknown:
        raise DistillError(
            f"data.topics names topics the chatterbot corpus lacks: {unknown}",
            fix=f"choose among {sorted(known)}",
        )
    return frozenset(str(t) for t in value)


def chatterbot_report(data_dir: str | os.PathLike[str] | None = None) -> list[ChatterbotLanguageReport]:
    """Return the per-language alignment report, English first, then by aligned pairs (descending)."""
    reports = _corpus(data_dir).reports.values()
    return sorted(reports, key=lambda r: (r.code != SOURCE_LANG, -r.aligned_pairs, r.code))
