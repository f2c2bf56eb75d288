"""``data=chatterbot``: the topic-labelled utterances of the chatterbot-corpus package.

Every part a run needs comes from the one corpus (read by :mod:`distill.data.sources.chatterbot`):
aligned pairs per target language, the source language's labelled train/validation/test
utterances (topics as labels) and each language's own utterances for ``mode=translate``.
``data.topics`` narrows the topics everywhere; ``data.common_sources`` keeps the pairs that every
listed language also has.
"""

from __future__ import annotations

import numpy as np
from datasets import Dataset, DatasetDict

from distill.data.parallel import SPLITS
from distill.data.sources.chatterbot import (
    chatterbot_labels,
    chatterbot_parallel,
    chatterbot_side,
    chatterbot_topics,
    load_chatterbot,
)
from distill.errors import DistillError
from distill.sources.base import Source, TeacherData


def _common_pairs(pairs: Dataset, split: str, langs: list[str]) -> Dataset:
    """The pairs whose ``pair_id`` has an utterance in every language of ``langs`` too.

    ``data.common_sources``: runs that compare source languages (each a single-source student of the
    same target) then train and test on the same target rows, whichever source teaches.
    """
    pair_ids = list(pairs["pair_id"])
    keep = np.ones(len(pairs), dtype=bool)
    for other in langs:
        keep &= np.array([t is not None for t in chatterbot_side(other, split, pair_ids)], dtype=bool)
    return pairs.select(np.flatnonzero(keep))


class ChatterbotSource(Source):
    """chatterbot-corpus (28 languages, topics as labels); see the module docstring."""

    package = "chatterbot-corpus"
    aligned_across_languages = True

    def parallel(self, lang: str) -> DatasetDict:
        """The aligned ``source_lang``-``lang`` pairs, within ``data.common_sources`` and ``data.topics``."""
        src = self.source_lang
        dd = DatasetDict({s: chatterbot_parallel(lang, s, source_lang=src) for s in SPLITS})
        common = [str(c) for c in self.data.get("common_sources") or [] if str(c) not in (src, lang)]
        if common:
            dd = DatasetDict({s: _common_pairs(ds, s, common) for s, ds in dd.items()})
            if not len(dd["train"]):
                raise DistillError(
                    f"data.common_sources={common}: no {src}-{lang} training pair has an utterance in every "
                    "one of these languages",
                    fix="drop a language from data.common_sources, or set data.common_sources=[]",
                )
        topics = chatterbot_topics(self.data)
        return dd if topics is None else dd.filter(lambda row: row["label"] in topics)

    def teacher_data(self) -> TeacherData:
        """The source language's train and validation utterances, topics as labels."""
        lang = self.source_lang
        dd = load_chatterbot([lang])
        labels = chatterbot_labels("train", lang)
        topics = chatterbot_topics(self.data)
        if topics is not None:
            labels = [y for y in labels if y in topics]
            dd = dd.filter(lambda row: row["topic"] in topics)
        known = set(labels)
        # A topic with very few conversations may have validation rows but no training row: the
        # teacher cannot predict it, so such rows would only add noise to the validation score.
        val = [
            (t, y)
            for t, y in zip(dd["validation"]["text"], dd["validation"]["topic"], strict=True)
            if y in known
        ]
        return TeacherData(
            train_texts=list(dd["train"]["text"]),
            train_labels=list(dd["train"]["topic"]),
            val_texts=[t for t, _ in val],
            val_labels=[y for _, y in val],
            labels=labels,
        )

    def source_test(self) -> tuple[list[str], list[str]]:
        """The source language's test utterances (within ``data.topics``) and their topics."""
        test = load_chatterbot([self.data["source_lang"]])["test"]
        topics = chatterbot_topics(self.data)
        if topics is not None:
            test = test.filter(lambda row: row["topic"] in topics)
        return list(test["text"]), list(test["topic"])

    def known_labels(self) -> set[str]:
        """The source language's training topics."""
        return set(chatterbot_labels("train", self.source_lang))

    def target_text(self, lang: str) -> DatasetDict:
        """Every ``lang`` utterance (aligned or not) per split, as ``id``, ``tgt``, ``label``."""
        dd = load_chatterbot([lang])
        columns = {"text": "tgt", "topic": "label"}
        return DatasetDict(
            {s: ds.select_columns(["id", "text", "topic"]).rename_columns(columns) for s, ds in dd.items()}
        )

    def source_text(self) -> DatasetDict:
        """The source language's train/validation utterances as ``id``, ``src``, ``label``."""
        dd = load_chatterbot([self.source_lang])
        return DatasetDict(
            {
                s: dd[s]
                .select_columns(["id", "text", "topic"])
                .rename_columns({"text": "src", "topic": "label"})
                for s in ("train", "validation")
            }
        )
