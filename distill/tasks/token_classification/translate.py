"""``mode=translate`` for words: the student's target sentences, machine-translated into the source
language, become the pairs that ``mode=parallel`` reads.

Translate-test for training data (``mode.direction=test``, the default): each target training and
validation sentence is translated by ``mode.translator`` (Apertium offline, a file of translations
you have, or MarianMT; cached by :func:`distill.cache.cached_translate`), the translation is cut into
words by the source language's pre-tokenizer, and the teacher tags those words; the projection
through alignments then carries its tags to the real target words the student reads. The student
never trains on machine-translated target text, only the teacher reads machine translation.

Example::

    dd = with_translated_source(corpus.data["es"], "es", "en", cfg.mode.translator)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from datasets import Dataset, DatasetDict

from distill.cache import cached_translate
from distill.data.mt import make_translator
from distill.errors import DistillError
from distill.tasks.token_classification.pretok import pretokenizer

#: Languages written without spaces between words: their words are joined without one for MT.
NO_SPACE = frozenset({"ja", "zh", "th", "lo", "km", "my"})


def sentence(words: list[str], lang: str) -> str:
    """The text a translator reads for ``words`` of ``lang``."""
    return ("" if lang in NO_SPACE else " ").join(words)


def with_translated_source(
    dd: DatasetDict,
    lang: str,
    source_lang: str,
    translator: Mapping[str, Any] | None,
    pretokenizers: Mapping[str, str] | None = None,
) -> DatasetDict:
    """``dd`` with ``src_tokens``/``src`` on its ``train`` and ``validation`` splits: their sentences
    translated into ``source_lang`` and cut into words.

    Raises:
        DistillError: No translator for the direction, or a translation with no word.
    """
    to_source = make_translator(translator, lang, source_lang)
    cut = pretokenizer(source_lang, pretokenizers)
    out = DatasetDict(dict(dd))
    for split in ("train", "validation"):
        ds: Dataset = dd[split]
        texts = [sentence(list(w), lang) for w in ds["tokens"]]
        translated = cached_translate(to_source, texts, what=f"{lang}->{source_lang} {split} (token task)")
        words = [cut(t) for t in translated]
        empty = [i for i, w in enumerate(words) if not w]
        if empty:
            raise DistillError(
                f"mode=translate: the translation of {lang} {split} sentence {empty[0] + 1} has no word "
                f"({texts[empty[0]][:60]!r} -> {translated[empty[0]][:60]!r})",
                fix="check mode.translator (a file of translations must cover every sentence)",
            )
        for name in ("src_tokens", "src"):
            if name in ds.column_names:
                ds = ds.remove_columns(name)
        out[split] = ds.add_column("src_tokens", words).add_column("src", translated)
    return out
