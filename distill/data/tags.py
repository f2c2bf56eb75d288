"""Tag schemes of token-level data and their checks.

Two schemes: ``bio`` (named entities: ``O``, ``B-<TYPE>``, ``I-<TYPE>``, IOB2) and ``upos`` (one
part-of-speech tag a word, Universal Dependencies' 17). :func:`check_tags` refuses what would make
soft labels or metrics wrong (a tag outside the scheme or the tag set, a tags list whose length
differs from the words', a sentence with no words), naming where it was read.

Example::

    check_tags(["Maria", "vive"], ["B-PER", "O"], "bio", where="ner.txt line 12")
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from distill.errors import DistillError

SCHEMES = ("bio", "upos")
UPOS = (
    "ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM",
    "PART", "PRON", "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X",
)  # fmt: skip
_BIO = re.compile(r"^(O|[BI]-[^\s]+)$")


def check_tags(
    words: Sequence[str],
    tags: Sequence[str],
    scheme: str,
    *,
    where: str | Sequence[str],
    tagset: Iterable[str] | None = None,
) -> None:
    """Refuse a sentence whose tags do not fit ``scheme`` (and ``tagset`` when given).

    ``where`` names the sentence (``"ner.txt line 12"``), or each word (one entry a word: the error
    then names the word's own line).

    Raises:
        DistillError: No words, a length mismatch, a tag outside the scheme or the tag set.
    """
    at = [where] * len(words) if isinstance(where, str) else list(where)
    first = at[0] if at else str(where)
    if scheme not in SCHEMES:
        raise DistillError(
            f"tag scheme must be one of {SCHEMES}, got {scheme!r}", fix="set scheme=bio or upos"
        )
    if not words:
        raise DistillError(f"{first}: a sentence with no words", fix="remove the empty sentence")
    if len(words) != len(tags):
        raise DistillError(
            f"{first}: {len(words)} words but {len(tags)} tags",
            fix="give exactly one tag a word (tokens and tags columns of the same length)",
        )
    allowed = set(tagset) if tagset is not None else None
    for i, tag in enumerate(tags):
        if scheme == "bio" and not _BIO.match(tag):
            raise DistillError(
                f"{at[i]}: tag {tag!r} of word {i + 1} ({words[i]!r}) is not BIO (O, B-TYPE or I-TYPE)",
                fix="convert the tags to IOB2 (BIOES/BILOU: S- and E- to B- and I-)",
            )
        if scheme == "upos" and allowed is None and tag not in UPOS:
            raise DistillError(
                f"{at[i]}: tag {tag!r} of word {i + 1} ({words[i]!r}) is not a Universal POS tag",
                fix=f"use one of {', '.join(UPOS)}, or map the corpus tags to them",
            )
        if allowed is not None and tag not in allowed:
            raise DistillError(
                f"{at[i]}: unknown tag {tag!r} of word {i + 1} ({words[i]!r}); "
                f"the tag set is {sorted(allowed)}",
                fix="map the tag to one of the set, or add it to the tag set",
            )


def bio_tagset(types: Iterable[str]) -> list[str]:
    """``O`` then ``B-``/``I-`` of each entity type, in the given order."""
    return ["O", *[f"{p}-{t}" for t in types for p in ("B", "I")]]


#: The coarse universal tag set of Petrov et al. (2012) as the older Turkish treebanks write it
#: (``PUNCT`` for ``.``): what both sides of a run map to when the target's gold is that coarse.
UNIVERSAL12 = ("ADJ", "ADP", "ADV", "CONJ", "DET", "NOUN", "NUM", "PRON", "PRT", "PUNCT", "VERB", "X")
#: Universal Dependencies' UPOS -> :data:`UNIVERSAL12`.
UPOS_TO_UNIVERSAL12 = {
    "ADJ": "ADJ", "ADP": "ADP", "ADV": "ADV", "AUX": "VERB", "CCONJ": "CONJ", "DET": "DET",
    "INTJ": "X", "NOUN": "NOUN", "NUM": "NUM", "PART": "PRT", "PRON": "PRON", "PROPN": "NOUN",
    "PUNCT": "PUNCT", "SCONJ": "CONJ", "SYM": "X", "VERB": "VERB", "X": "X",
}  # fmt: skip
TAGSETS: dict[str, tuple[str, ...]] = {"upos": UPOS, "universal12": UNIVERSAL12}


def map_bio(tags: Sequence[str], types: dict[str, str | None]) -> list[str]:
    """BIO tags with their entity types renamed by ``types`` (``None``, or a type not in it: ``O``).

    Example: ``map_bio(["B-PSN", "I-PSN", "B-MNY"], {"PSN": "PER"}) == ["B-PER", "I-PER", "O"]``.
    """
    out = []
    for tag in tags:
        new = types.get(tag[2:]) if tag != "O" else None
        out.append(f"{tag[:2]}{new}" if new else "O")
    return out
