"""Data for ``mode=translate``: machine translation stands in for the missing side of the pairs.

* ``mode.direction=test`` (translate-test labelling): target-language text (no pairs needed) is
  translated into the source language; the teacher labels the translation, the student reads the
  original target text.
* ``mode.direction=train`` (translate-train): the source-language training text is translated into
  the target language; the teacher labels the original, the student reads the translation.

Either way the result has the shape of parallel data (``src``, ``tgt``, ``label``, ``id`` per
split), so the label, distill and evaluate stages run unchanged. The test split is always human
target-language text, with its MT into the source language as ``src``: the teacher on it is the
classic translate-test baseline (``teacher_translate_test``). Translations come from
:func:`distill.cache.cached_translate` (computed once, then reused); the text itself from the
data source (:meth:`distill.sources.base.Source.target_text` and ``source_text``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from datasets import Dataset, DatasetDict

from distill.cache import cached_translate
from distill.data.mt import make_translator
from distill.data.parallel import cap
from distill.errors import DistillError
from distill.sources.unlabelled import has_unlabelled

log = logging.getLogger(__name__)
DIRECTIONS = ("test", "train")


def _known_labels(ds: Dataset, known: set[str] | None, where: str, *, evaluate: bool) -> Dataset:
    """Rows whose gold label the teacher cannot have (reported, never silent).

    On the test split (``evaluate``) they are dropped: no system could predict them. On the
    training and validation splits the rows are all kept and only such a label is blanked, so which
    rows the student reads never depends on target-language gold labels (DESIGN.md section 10).
    """
    if known is None or "label" not in ds.column_names:
        return ds
    labels = ds["label"]
    unknown = [i for i, y in enumerate(labels) if y is not None and y not in known]
    if not unknown:
        return ds
    names = sorted({labels[i] for i in unknown})
    if not evaluate:
        log.warning(
            "%s: %d rows carry labels the source data does not have (%s); kept, label blanked",
            where,
            len(unknown),
            names,
        )
        bad = set(unknown)
        blanked = [None if i in bad else y for i, y in enumerate(labels)]
        return ds.remove_columns("label").add_column("label", blanked, feature=ds.features["label"])
    log.warning(
        "%s: dropped %d rows with labels the source data does not have: %s", where, len(unknown), names
    )
    keep = sorted(set(range(len(ds))) - set(unknown))
    return ds.select(keep)


class TranslationSource(Protocol):
    """What :func:`translate_pairs` reads from a data source (see :class:`distill.sources.base.Source`)."""

    data: Mapping[str, Any]

    def target_text(self, lang: str) -> DatasetDict:
        """Target-language text per split: ``id``, ``tgt`` (and ``label``)."""
        ...

    def source_text(self) -> DatasetDict:
        """Source-language ``train``/``validation`` text: ``id``, ``src`` (and ``label``)."""
        ...

    def known_labels(self) -> set[str] | None:
        """The labels the corpus has, or ``None`` when not known ahead."""
        ...


def _translated_source(
    text: DatasetDict, data: Mapping[str, Any], mode: Mapping[str, Any], lang: str, known: set[str] | None
) -> dict[str, Dataset]:
    """translate-train: the labelled source text with its MT into ``lang`` as ``tgt``."""
    source_lang = str(data["source_lang"])
    to_target = make_translator(mode.get("translator"), source_lang, lang)
    out = {}
    for s in ("train", "validation"):
        ds = cap(
            _known_labels(text[s], known, f"{source_lang}/{s}", evaluate=False), data.get("max_pairs"), s
        )
        out[s] = ds.add_column(
            "tgt", cached_translate(to_target, ds["src"], what=f"{source_lang}->{lang} {s}")
        )
    return out


def translate_pairs(source: TranslationSource, mode: Mapping[str, Any], lang: str) -> DatasetDict:
    """Train/validation/test pairs for ``lang`` with one side machine-translated (see module docstring).

    Args:
        source: The data source: its target text, source text and known labels (and its ``data``
            config: ``source_lang``, ``max_pairs``).
        mode: The ``mode`` config (``direction``, ``translator``).
        lang: Target language code.

    Raises:
        DistillError: An unknown direction, a source without target text, a missing split, or a
            translator problem.
    """
    direction = str(mode["direction"])
    if direction not in DIRECTIONS:
        raise DistillError(f"mode.direction={direction!r} is not one of {', '.join(DIRECTIONS)}")
    data = source.data
    source_lang = str(data["source_lang"])
    target = source.target_text(lang)
    known = source.known_labels()
    splits: dict[str, Dataset] = {}
    if direction == "train":
        splits.update(_translated_source(source.source_text(), data, mode, lang, known))
    for s in ("train", "validation", "test") if direction == "test" else ("test",):
        if s in target:
            splits[s] = cap(
                _known_labels(target[s], known, f"{lang}/{s}", evaluate=s == "test"), data.get("max_pairs"), s
            )
    to_source = make_translator(mode.get("translator"), lang, source_lang)
    out = DatasetDict()
    raw = has_unlabelled(data, lang)
    for s in ("train", "validation", "test"):
        if raw and s != "test" and (s not in splits or len(splits[s]) == 0):
            continue  # data.target_unlabelled fills it (distill.sources.translate_data)
        if s not in splits or len(splits[s]) == 0:
            raise DistillError(
                f"mode=translate: no {lang} {s} data",
                fix="give target-language text (data.parallel, data.target_test, data.target_unlabelled) "
                "or data.source_train",
            )
        ds = splits[s]
        if "src" not in ds.column_names:
            ds = ds.add_column(
                "src", cached_translate(to_source, ds["tgt"], what=f"{lang}->{source_lang} {s}")
            )
        out[s] = ds
    return out
