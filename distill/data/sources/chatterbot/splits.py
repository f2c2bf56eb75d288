"""Splits, alignment with English and de-duplication: the rows of each language.

Splits are decided per English conversation (hash-ranked within each topic), a target
conversation is aligned when its counts match English's, and each text is kept in one split only
(see :mod:`distill.data.sources.chatterbot`).
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from distill.data.sources.chatterbot.parse import SOURCE_LANG, _Language
from distill.utils.hashing import text_sha256

SPLITS: tuple[str, ...] = ("train", "validation", "test")
SPLIT_FRACTIONS: Mapping[str, float] = {"train": 0.7, "validation": 0.1, "test": 0.2}

_HASH_SALT = "chatterbot-split-v1"
# A text found in several splits is kept in the first of these (see the package docstring).
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
