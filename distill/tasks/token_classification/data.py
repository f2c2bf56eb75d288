"""The data of a token-level run, and the synthetic toy data of ``data=token_toy``.

:class:`TokenData` is what the task reads: the source language's tagged sentences (the teacher's
training data and the source test set) and, per target language, the student's sentences
(``train``/``validation``: words only, and in ``mode=parallel`` the source sentence's words beside
them) and a gold-tagged ``test`` split. Every split carries ``tgt`` (and ``src``), the words joined
with spaces, so that the run's data hashes and the model card name the text.

:func:`toy_data` makes that data from templates: a sentence frame per language with entity slots
(persons, places, organisations, some of two words), the same frame and fillers on both sides, so
pairs are word-aligned by construction (words in other orders: "ieri Maria ha visitato Roma" /
"yesterday Maria visited Rome"). It is for tests and the tiny run: seconds, no download, no
corpus text. Real corpora come through :mod:`distill.data.files.conll`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from datasets import Dataset, DatasetDict

from distill.data.tags import bio_tagset
from distill.errors import DistillError
from distill.sources.base import Source

TYPES = ("PER", "LOC", "ORG")
# (Italian, English) names of each kind.
_FILL = {
    "PER": [("Maria", "Maria"), ("Luca", "Luca"), ("Anna Rossi", "Anna Rossi"), ("Giulia", "Giulia"),
            ("Marco Bianchi", "Marco Bianchi"), ("Sara", "Sara")],
    "LOC": [("Roma", "Rome"), ("Parigi", "Paris"), ("Londra", "London"), ("Milano", "Milan"),
            ("New York", "New York")],
    "ORG": [("Fiat", "Fiat"), ("Ferrari", "Ferrari"), ("Banca Intesa", "Intesa Bank"), ("Eni", "Eni")],
}  # fmt: skip
# (English frame, Italian frame): words, or slots {PER}/{LOC}/{ORG}.
_FRAMES = [
    ("{PER} lives in {LOC}", "{PER} vive a {LOC}"),
    ("{PER} works for {ORG} in {LOC}", "{PER} lavora per {ORG} a {LOC}"),
    ("yesterday {PER} visited {LOC}", "ieri {PER} ha visitato {LOC}"),
    ("{ORG} opened an office in {LOC}", "{ORG} ha aperto un ufficio a {LOC}"),
    ("the weather in {LOC} is nice today", "oggi il tempo a {LOC} è bello"),
    ("{PER} met {PER} at the station", "{PER} ha incontrato {PER} alla stazione"),
    ("we called {ORG} this morning", "stamattina abbiamo chiamato {ORG}"),
]


@dataclass
class TokenData:
    """Attributes:
    scheme: ``bio`` or ``upos``.
    tags: The tag set in id order.
    source_lang: The teacher's language.
    source: ``train``/``validation``/``test`` of ``tokens``, ``tags`` (and ``tgt``).
    data: Target language -> ``train``/``validation`` (``tokens``, ``tgt``; ``src_tokens``,
        ``src`` in parallel mode) and ``test`` (``tokens``, ``tags``, ``tgt``).
    gold_train: Target language -> gold-tagged sentences apart from its test set (``tokens``,
        ``tags``), for the ``supervised`` baseline only; the student never reads them.
    source_gold: Source-language sentences tagged by people (``tokens``, ``tags``): an extra check
        (split ``gold``) of the teacher and the student where ``source`` is machine-tagged.
    source_gold_types: The entity types ``source_gold`` annotates; predictions of other types are
        read as ``O`` there (not an error of a corpus that has no such type).
    """

    scheme: str
    tags: list[str]
    source_lang: str
    source: DatasetDict
    data: dict[str, DatasetDict]
    gold_train: dict[str, Dataset] = field(default_factory=dict)
    source_gold: Dataset | None = None
    source_gold_types: tuple[str, ...] | None = None


def _fill(frame: str, values: list[tuple[str, list[str]]]) -> tuple[list[str], list[str]]:
    words: list[str] = []
    tags: list[str] = []
    slots = iter(values)
    for piece in frame.split():
        if piece.startswith("{") and piece.endswith("}"):
            kind, name = next(slots)
            words += name
            tags += [f"B-{kind}"] + [f"I-{kind}"] * (len(name) - 1)
        else:
            words.append(piece)
            tags.append("O")
    return words, tags


def _sentence(rng: np.random.Generator) -> tuple[tuple[list[str], list[str]], tuple[list[str], list[str]]]:
    en_frame, it_frame = _FRAMES[int(rng.integers(len(_FRAMES)))]
    kinds = [p[1:-1] for p in en_frame.split() if p.startswith("{")]
    picks = [(k, _FILL[k][int(rng.integers(len(_FILL[k])))]) for k in kinds]
    en = [(k, names[1].split()) for k, names in picks]
    it = [(k, names[0].split()) for k, names in picks]
    return _fill(en_frame, en), _fill(it_frame, it)


def _split(
    rows: list[tuple[list[str], list[str]]], tagged: bool, extra: dict[str, Any] | None = None
) -> Dataset:
    columns: dict[str, Any] = {"tokens": [w for w, _ in rows], "tgt": [" ".join(w) for w, _ in rows]}
    if tagged:
        columns["tags"] = [t for _, t in rows]
    return Dataset.from_dict({**columns, **(extra or {})})


def toy_data(
    target_langs: list[str] | None = None,
    n_train: int = 160,
    n_validation: int = 40,
    n_test: int = 60,
    seed: int = 0,
    mode: str = "direct",
    target_tags: bool = False,
) -> TokenData:
    """English -> Italian NER from templates (see the module docstring); ``mode=parallel`` keeps the
    English side of every training pair; ``target_tags`` keeps the Italian gold tags of ``train`` and
    ``validation`` too (for the ``supervised`` baseline)."""
    langs = list(target_langs or ["it"])
    if langs != ["it"]:
        raise DistillError(
            f"data=token_toy has Italian only, got target_langs={langs}", fix="set data.target_langs=[it]"
        )
    rng = np.random.default_rng(seed)
    source = DatasetDict(
        {
            split: _split([_sentence(rng)[0] for _ in range(n)], tagged=True)
            for split, n in (("train", n_train), ("validation", n_validation), ("test", n_test))
        }
    )
    target: dict[str, Dataset] = {}
    for split, n in (("train", n_train), ("validation", n_validation), ("test", n_test)):
        pairs = [_sentence(rng) for _ in range(n)]
        extra = None
        if mode == "parallel" and split != "test":
            extra = {"src_tokens": [p[0][0] for p in pairs], "src": [" ".join(p[0][0]) for p in pairs]}
        target[split] = _split([p[1] for p in pairs], tagged=target_tags or split == "test", extra=extra)
    return TokenData("bio", bio_tagset(TYPES), "en", source, {"it": DatasetDict(target)})


class ToySource(Source):
    """``data=token_toy`` as the run records see it (``provenance.json``): generated here, no package,
    no files. Its sentences come from :func:`toy_data`, built by the token task; it has no pairs
    for the sentence-level tasks."""

    def parallel(self, lang: str) -> DatasetDict:
        raise DistillError(
            "data=token_toy is token-level data (task=token_classification)",
            fix="set task=token_classification",
        )
