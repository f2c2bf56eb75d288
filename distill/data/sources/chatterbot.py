"""Topic-labelled chit-chat in 28 languages from the ``chatterbot-corpus`` package (BSD licence).

``chatterbot-corpus==1.3.3`` ships ``chatterbot_corpus/data/<language>/<topic>.yml`` files, each with
a ``conversations:`` list of conversations (lists of utterances). Many target-language files are
human translations of the English file, conversation by conversation and in the same order, so an
English utterance and its translation share a position ``(topic, conversation, utterance)``.

What this module builds, and why:

* **Labels.** The label of an utterance is its topic, taken from the file name (the ``categories:``
  field is itself translated, so it cannot serve as a shared label). A few target files use another
  name for an English topic (``sport.yml``, ``emociones.yml``, ``IA.yml``, ...); those names are
  mapped to the English topic (see ``_TOPIC_ALIASES``) so every language uses one label set.
* **Alignment.** A target conversation is aligned with English only when the topic has the same
  number of conversations in both languages *and* that conversation has the same number of
  utterances; counts that differ mean conversations or lines were added, dropped or merged, and
  positions then no longer correspond. Aligned rows carry a ``pair_id`` ``"<topic>/<conv>/<utt>"``
  shared with the English row; unaligned target rows have ``pair_id`` ``None``. English rows always
  carry their ``pair_id`` because they define it.
* **Splits** are decided per conversation on the *English* conversation's identity (topic and
  index), so every language puts a translated conversation in the same split and no test
  conversation has its English counterpart (or any translation of it) in training. Within each
  English topic the conversations are ranked by a SHA-256 hash and the first 20% (rounded half
  up) go to ``test``, the next 10% to ``validation`` and the rest (about 70%) to ``train``
  (stratified: before de-duplication every topic with five or more conversations is in every
  split). Target
  conversations at positions English does not have fall back to a hash threshold with the same
  70/10/20 fractions. Nothing depends on ``PYTHONHASHSEED``.
* **De-duplication.** The same text recurs across conversations ("Hello", "Tell me a joke" 30
  times in ``humor``; English ``tech_support`` is 2,100 utterances with only 20 distinct texts), so
  after splitting, each language keeps every text in exactly one split and once there: the first of
  train, test, validation that has it. So no test or validation text was seen in training, and no
  validation text is in test. Rows never move between splits (that would put one conversation in
  two splits); copies are dropped instead. The copy is kept in ``train`` rather than ``test``
  because keeping it in ``test`` would move whole repeated-text topics out of training (all of
  ``tech_support`` would be test-only, a label the teacher never sees); either way the test set
  holds no text seen in training. Repeats inside a split are dropped too, so a few chit-chat
  lines do not dominate training or evaluation. Texts are compared after NFKC
  normalisation, case folding, collapsing whitespace and trimming punctuation at both ends, which
  also catches "Hello!" vs "hello". Both kinds of removal are counted in the report.
* **Oddities.** YAML is read with the base loader, so every scalar stays the text that was written
  (``yes`` stays ``"yes"``, ``1.0`` stays ``"1.0"``). A conversation written as a bare string is
  wrapped as a one-utterance conversation, nested lists are flattened, mappings and empty values
  are skipped; every such event is counted in the report. Skipped items never shift the position
  of a conversation.

Run ``python -m distill.data.sources.chatterbot`` for the per-language alignment table.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import math
import os
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from distill.data.langs import format_codes, tag_key
from distill.errors import DistillError
from distill.utils.hashing import text_sha256

if TYPE_CHECKING:
    from datasets import Dataset, DatasetDict

CORPUS_PACKAGE = "chatterbot-corpus==1.3.3"
SOURCE_LANG = "en"
SPLITS: tuple[str, ...] = ("train", "validation", "test")
SPLIT_FRACTIONS: Mapping[str, float] = {"train": 0.7, "validation": 0.1, "test": 0.2}
COLUMNS: tuple[str, ...] = ("id", "pair_id", "lang", "topic", "text")
PARALLEL_COLUMNS: tuple[str, ...] = ("id", "src", "tgt", "label", "pair_id")

# Package folder -> BCP-47 tag users type. ``hinglish`` is Hindi written in Latin script, hence
# ``hi-Latn``; ``chinese`` is simplified (``zh``, alias ``zh-Hans``), ``traditionalchinese`` is ``zh-Hant``.
FOLDER_CODES: Mapping[str, str] = {
    "bengali": "bn",
    "chinese": "zh",
    "dutch": "nl",
    "english": "en",
    "french": "fr",
    "german": "de",
    "hebrew": "he",
    "hindi": "hi",
    "hinglish": "hi-Latn",
    "indonesian": "id",
    "italian": "it",
    "japanese": "ja",
    "korean": "ko",
    "marathi": "mr",
    "oriya": "or",
    "persian": "fa",
    "portuguese": "pt",
    "russian": "ru",
    "spanish": "es",
    "swedish": "sv",
    "tamil": "ta",
    "telugu": "te",
    "thai": "th",
    "traditionalchinese": "zh-Hant",
    "turkish": "tr",
    "ukrainian": "uk",
    "urdu": "ur",
    "yoruba": "yo",
}

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

# Target file names (lower-cased stems) that mean an English topic; the label is the English one.
_TOPIC_ALIASES: Mapping[str, str] = {
    "computer": "computers",
    "coversations": "conversations",
    "emotions": "emotion",
    "greeting": "greetings",
    "sport": "sports",
    "profile": "botprofile",
    "ia": "ai",
    "dinero": "money",
    "emociones": "emotion",
    "perfilbot": "botprofile",
    "psicologia": "psychology",
}

_HASH_SALT = "chatterbot-split-v1"
# A text found in several splits is kept in the first of these (see the module docstring).
_KEEP_ORDER: tuple[str, ...] = ("train", "test", "validation")


@dataclass(frozen=True)
class _Row:
    """One utterance with its split; ``pair_id`` is ``None`` for unaligned target rows."""

    id: str
    pair_id: str | None
    lang: str
    topic: str
    text: str
    split: str


@dataclass
class _Language:
    """The parsed files of one language folder: topic -> conversations -> utterances."""

    code: str
    folder: str
    topics: dict[str, list[list[str]]]
    skipped: Counter[str]


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
        skipped: YAML oddities handled, by kind (see the module docstring).
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


# --------------------------------------------------------------------------------------------- parsing


def _default_data_dir() -> Path:
    """Return the ``data`` folder of the installed ``chatterbot_corpus`` package without importing it."""
    spec = importlib.util.find_spec("chatterbot_corpus")
    if spec is None or not spec.submodule_search_locations:
        raise DistillError(
            "the chatterbot-corpus package is not installed", fix=f"pip install {CORPUS_PACKAGE}"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _load_yaml(path: Path) -> Any:
    """Parse a YAML file keeping every scalar as the text written (no bool/number guessing)."""
    loader = getattr(yaml, "CBaseLoader", yaml.BaseLoader)  # the C loader parses all files in ~0.2 s
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.load(fh, Loader=loader)  # the base loader builds no objects: safe
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise DistillError(
            f"cannot read chatterbot-corpus file {path}: {exc}",
            fix=f"pip install --force-reinstall {CORPUS_PACKAGE}",
        ) from exc


def _utterance_texts(item: object, skipped: Counter[str]) -> list[str]:
    """Return the utterance text(s) in one list item, counting anything unusual in ``skipped``."""
    if isinstance(item, str):
        text = item.strip()
        if not text:
            skipped["empty utterance skipped"] += 1
            return []
        return [text]
    if isinstance(item, bool | int | float):  # only reachable with a typed loader; keep the value's text
        skipped["non-string scalar stringified"] += 1
        return [str(item)]
    if isinstance(item, list):
        skipped["nested list flattened"] += 1
        return [text for sub in item for text in _utterance_texts(sub, skipped)]
    skipped[f"{type(item).__name__} utterance skipped"] += 1
    return []


def _conversation(value: object, skipped: Counter[str]) -> list[str]:
    """Return one conversation's utterances; an unusable value gives ``[]`` so positions do not shift."""
    if isinstance(value, list):
        return [text for item in value for text in _utterance_texts(item, skipped)]
    if isinstance(value, str | bool | int | float):
        # A "- Q - A" line that lost its indentation: keep it as one utterance rather than guess a split.
        skipped["bare string conversation wrapped"] += 1
        return _utterance_texts(value, skipped)
    skipped[f"{type(value).__name__} conversation skipped"] += 1
    return []


def _read_topic(path: Path, skipped: Counter[str]) -> list[list[str]]:
    """Return the conversations of one topic file."""
    doc = _load_yaml(path)
    conversations = doc.get("conversations") if isinstance(doc, dict) else None
    if not isinstance(conversations, list):
        skipped["file without a conversations list"] += 1
        return []
    return [_conversation(value, skipped) for value in conversations]


def _topic_names(stems: Iterable[str]) -> dict[str, str]:
    """Map each file stem of one folder to its label, using the English name where one is known."""
    lowered = {stem: stem.lower() for stem in stems}
    own = set(lowered.values())
    # An alias is used only if the folder has no file of the English name, so labels stay unique.
    return {
        stem: _TOPIC_ALIASES[low] if low in _TOPIC_ALIASES and _TOPIC_ALIASES[low] not in own else low
        for stem, low in lowered.items()
    }


def _read_language(folder: Path, code: str) -> _Language:
    """Parse every topic file of one language folder."""
    skipped: Counter[str] = Counter()
    paths = sorted(p for p in folder.iterdir() if p.suffix in (".yml", ".yaml") and p.is_file())
    names = _topic_names(p.stem for p in paths)
    topics = {names[p.stem]: _read_topic(p, skipped) for p in paths}
    return _Language(code=code, folder=folder.name, topics=topics, skipped=skipped)


def _read_all(data_dir: Path) -> dict[str, _Language]:
    """Parse every language folder; an unknown folder keeps its name as the code."""
    if not data_dir.is_dir():
        raise DistillError(
            f"chatterbot-corpus data folder {data_dir} does not exist", fix=f"pip install {CORPUS_PACKAGE}"
        )
    languages: dict[str, _Language] = {}
    for folder in sorted(p for p in data_dir.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
        code = FOLDER_CODES.get(folder.name, folder.name)
        languages[code] = _read_language(folder, code)
    if SOURCE_LANG not in languages:
        raise DistillError(
            f"chatterbot-corpus data folder {data_dir} has no english/ folder",
            fix=f"pip install --force-reinstall {CORPUS_PACKAGE}",
        )
    return languages


# ------------------------------------------------------------------------------------ splits, alignment


def _hash_unit(topic: str, index: int) -> float:
    """Return a number in [0, 1) fixed by the conversation identity (independent of PYTHONHASHSEED)."""
    return int(text_sha256(_HASH_SALT, topic, str(index))[:16], 16) / float(1 << 64)


def _half_up(x: float) -> int:
    """Round half up (Python's ``round`` rounds half to even, which would give 0.5 -> 0)."""
    return math.floor(x + 0.5)


def _stratified_splits(topic: str, n: int) -> list[str]:
    """Assign the ``n`` English conversations of a topic to splits: hash-ranked, exact fractions."""
    order = sorted(range(n), key=lambda i: _hash_unit(topic, i))
    n_test = _half_up(n * SPLIT_FRACTIONS["test"])
    n_val = _half_up(n * SPLIT_FRACTIONS["validation"])
    splits = ["train"] * n
    for rank, index in enumerate(order):
        if rank < n_test:
            splits[index] = "test"
        elif rank < n_test + n_val:
            splits[index] = "validation"
    return splits


def _split_of(topic: str, index: int, english_splits: Mapping[str, list[str]]) -> str:
    """Return the split of conversation ``index`` of ``topic`` in any language."""
    table = english_splits.get(topic)
    if table is not None and index < len(table):
        return table[index]
    # No English conversation at this position: a hash threshold with the same fractions.
    u = _hash_unit(topic, index)
    if u < SPLIT_FRACTIONS["train"]:
        return "train"
    return "validation" if u < SPLIT_FRACTIONS["train"] + SPLIT_FRACTIONS["validation"] else "test"


def _aligned_flags(english: list[list[str]] | None, target: list[list[str]]) -> list[bool]:
    """Return, per target conversation, whether it is aligned with the English one at its position."""
    if english is None or len(english) != len(target):
        return [False] * len(target)
    return [len(en) == len(tgt) for en, tgt in zip(english, target, strict=True)]


def _language_rows(
    lang: _Language, english: _Language, english_splits: Mapping[str, list[str]]
) -> list[_Row]:
    """Return one language's rows in (topic, conversation, utterance) order, before de-duplication."""
    rows: list[_Row] = []
    for topic in sorted(lang.topics):
        conversations = lang.topics[topic]
        if lang.code == SOURCE_LANG:
            aligned = [True] * len(conversations)
        else:
            aligned = _aligned_flags(english.topics.get(topic), conversations)
        for c, utterances in enumerate(conversations):
            split = _split_of(topic, c, english_splits)
            for u, text in enumerate(utterances):
                pair_id = f"{topic}/{c}/{u}" if aligned[c] else None
                rows.append(_Row(f"{lang.code}/{topic}/{c}/{u}", pair_id, lang.code, topic, text, split))
    return rows


# ------------------------------------------------------------------------------------------ dedup


def _is_edge_noise(ch: str) -> bool:
    """Whitespace and punctuation are ignored at the ends of a text when comparing texts."""
    return ch.isspace() or unicodedata.category(ch)[0] in "PZ"


def dedup_key(text: str) -> str:
    """Return the form under which two texts count as the same for cross-split de-duplication.

    NFKC-normalised, case-folded, whitespace collapsed and punctuation trimmed at both ends; a text
    made only of punctuation keeps it (``"?"`` and ``"!"`` stay distinct).
    """
    norm = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    start, end = 0, len(norm)
    while start < end and _is_edge_noise(norm[start]):
        start += 1
    while end > start and _is_edge_noise(norm[end - 1]):
        end -= 1
    return norm[start:end] or norm


@dataclass(frozen=True)
class _Deduped:
    """One language after de-duplication, with what was removed per split."""

    kept: tuple[_Row, ...]
    cross_split: Mapping[str, int]
    repeats: Mapping[str, int]


def _dedup(rows: Sequence[_Row]) -> _Deduped:
    """De-duplicate one language by :func:`dedup_key`, leaving every kept row in its conversation's split.

    A text is kept in exactly one split, the first of ``_KEEP_ORDER`` (train, test, validation)
    that has it, and only once there (its first occurrence in corpus order).
    """
    keys = [dedup_key(row.text) for row in rows]
    rank = {split: i for i, split in enumerate(_KEEP_ORDER)}
    home: dict[str, str] = {}
    for row, key in zip(rows, keys, strict=True):
        if key not in home or rank[row.split] < rank[home[key]]:
            home[key] = row.split
    kept: list[_Row] = []
    seen: set[str] = set()
    cross, repeats = dict.fromkeys(SPLITS, 0), dict.fromkeys(SPLITS, 0)
    for row, key in zip(rows, keys, strict=True):
        if home[key] != row.split:
            cross[row.split] += 1
        elif key in seen:
            repeats[row.split] += 1
        else:
            seen.add(key)
            kept.append(row)
    return _Deduped(tuple(kept), cross, repeats)


# ----------------------------------------------------------------------------------------- reports


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


# ------------------------------------------------------------------------------------------ public API


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
    70/10/20 by English conversation and de-duplicated across splits (see the module docstring).

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
    the topics that occur in the aligned pairs of at least one of ``data.target_langs`` (any
    split), for the teacher, its validation and the source-language test alike; a list names the
    topics outright.

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
            for split in SPLITS:
                topics.update(chatterbot_parallel_labels(str(lang), split, source))
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


def _table_line(r: ChatterbotLanguageReport) -> list[str]:
    parallel = "-" if r.parallel is None else "/".join(str(r.parallel[s]) for s in SPLITS)
    return [
        r.code,
        r.folder,
        str(r.topics),
        str(r.utterances),
        str(r.aligned_topics),
        str(r.aligned_conversations),
        str(r.aligned_pairs),
        "/".join(str(r.rows[s]) for s in SPLITS),
        str(sum(r.cross_split_removed.values())),
        str(sum(r.repeats_removed.values())),
        parallel,
        str(sum(r.skipped.values())),
    ]


def format_report(reports: Sequence[ChatterbotLanguageReport]) -> str:
    """Format reports as a plain-text table (one line per language)."""
    header = [
        "code",
        "folder",
        "topics",
        "utts",
        "al.topics",
        "al.convs",
        "al.pairs",
        "rows tr/va/te",
        "x-split-",
        "repeat-",
        "pairs tr/va/te",
        "odd",
    ]
    lines = [header, *(_table_line(r) for r in reports)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(line, widths, strict=True)) for line in lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the alignment table (``python -m distill.data.sources.chatterbot [code ...]``)."""
    parser = argparse.ArgumentParser(
        description="chatterbot-corpus alignment report (aligned = with English)."
    )
    parser.add_argument("codes", nargs="*", help="language codes to show (default: all)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        reports = chatterbot_report()
        wanted = {resolve_chatterbot_lang(code) for code in args.codes}
    except DistillError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    shown = [r for r in reports if not wanted or r.code in wanted]
    print(format_report(shown))
    odd = Counter[str]()
    for r in shown:
        odd.update(r.skipped)
    print(f"\nsplits 70/10/20 by English conversation; built in {time.perf_counter() - start:.2f} s")
    print("YAML oddities handled: " + (", ".join(f"{k}: {v}" for k, v in sorted(odd.items())) or "none"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
