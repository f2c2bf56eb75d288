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
:func:`distill.data.mt.cached_translate` (computed once, then reused).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from datasets import Dataset, DatasetDict

from distill.data.mt import cached_translate, make_translator
from distill.data.parallel import cap, per_language, split_by_hash
from distill.errors import DistillError

log = logging.getLogger(__name__)
DIRECTIONS = ("test", "train")


def _known_labels(ds: Dataset, known: set[str] | None, where: str) -> Dataset:
    """Drop rows whose gold label the teacher cannot have (reported, never silent)."""
    if known is None or "label" not in ds.column_names:
        return ds
    labels = ds["label"]
    drop = [i for i, y in enumerate(labels) if y is not None and y not in known]
    if not drop:
        return ds
    dropped = sorted({labels[i] for i in drop})
    log.warning(
        "%s: dropped %d rows with labels the source data does not have: %s", where, len(drop), dropped
    )
    keep = sorted(set(range(len(ds))) - set(drop))
    return ds.select(keep)


def _chatterbot_target(data: Mapping[str, Any], lang: str) -> DatasetDict:
    from distill.data.sources.chatterbot import load_chatterbot

    dd = load_chatterbot([lang])
    return DatasetDict(
        {
            s: ds.select_columns(["id", "text", "topic"]).rename_columns({"text": "tgt", "topic": "label"})
            for s, ds in dd.items()
        }
    )


def _chatterbot_source(data: Mapping[str, Any]) -> DatasetDict:
    from distill.data.sources.chatterbot import load_chatterbot

    dd = load_chatterbot([str(data.get("source_lang", "en"))])
    return DatasetDict(
        {
            s: dd[s].select_columns(["id", "text", "topic"]).rename_columns({"text": "src", "topic": "label"})
            for s in ("train", "validation")
        }
    )


def _files_target(data: Mapping[str, Any], lang: str) -> DatasetDict:
    from distill.data.files import read_parallel, read_table

    langs = [str(x) for x in data.get("target_langs") or []]
    columns = dict(data.get("columns") or {})
    out = DatasetDict()
    tests = data.get("target_test") or {}
    if data.get("parallel"):
        pool = read_parallel(per_language(data["parallel"], lang, langs, "data.parallel"), columns=columns)
        pool = pool.select_columns([c for c in ("id", "tgt", "label") if c in pool.column_names])
        out = (
            split_by_hash(pool, {"train": (0, 90), "validation": (90, 100)})
            if lang in tests
            else split_by_hash(pool)
        )
    if lang in tests:
        test = read_table(
            per_language(tests, lang, langs, "data.target_test"),
            required=("text", "label"),
            columns=columns,
            what=f"{lang} target test",
        )
        out["test"] = test.rename_column("text", "tgt").add_column("id", [f"test:{i}" for i in test["line"]])
    return out


def _files_source(data: Mapping[str, Any]) -> DatasetDict:
    from distill.data.files import read_table

    if not data.get("source_train"):
        raise DistillError(
            "mode.direction=train translates the source data, but data.source_train is not set",
            fix="set data.source_train=<file with a text column; labels optional>, or mode.direction=test",
        )
    columns = dict(data.get("columns") or {})
    # Labels are optional: unlabelled source text is translated and labelled by the teacher alike.
    train = read_table(
        data["source_train"],
        required=("text",),
        optional=("label",),
        columns=columns,
        what="data.source_train",
    )
    train = train.rename_column("text", "src")
    return split_by_hash(
        train.add_column("id", [f"src:{i}" for i in train["line"]]),
        {"train": (0, 90), "validation": (90, 100)},
    )


def _source_labels(data: Mapping[str, Any]) -> set[str] | None:
    if data.get("name") == "chatterbot":
        from distill.data.sources.chatterbot import chatterbot_labels

        return set(chatterbot_labels("train", str(data.get("source_lang", "en"))))
    return None


def _translated_source(
    data: Mapping[str, Any], mode: Mapping[str, Any], lang: str, known: set[str] | None
) -> dict[str, Dataset]:
    """translate-train: the labelled source text with its MT into ``lang`` as ``tgt``."""
    source_lang = str(data.get("source_lang", "en"))
    source = _chatterbot_source(data) if data.get("name") == "chatterbot" else _files_source(data)
    to_target = make_translator(mode.get("translator"), source_lang, lang)
    out = {}
    for s in ("train", "validation"):
        ds = cap(_known_labels(source[s], known, f"{source_lang}/{s}"), data.get("max_pairs"))
        out[s] = ds.add_column(
            "tgt", cached_translate(to_target, ds["src"], what=f"{source_lang}->{lang} {s}")
        )
    return out


def translate_data(data: Mapping[str, Any], mode: Mapping[str, Any], lang: str) -> DatasetDict:
    """Train/validation/test pairs for ``lang`` with one side machine-translated (see module docstring).

    Raises:
        DistillError: An unknown direction or data source, a missing split, or a translator problem.
    """
    direction = str(mode.get("direction", "test"))
    if direction not in DIRECTIONS:
        raise DistillError(f"mode.direction={direction!r} is not one of {', '.join(DIRECTIONS)}")
    name = str(data.get("name"))
    targets = {"chatterbot": _chatterbot_target, "files": _files_target}
    if name not in targets:
        raise DistillError(
            f"mode=translate does not handle data={name}", fix=f"use data= one of {', '.join(targets)}"
        )
    source_lang = str(data.get("source_lang", "en"))
    known = _source_labels(data)
    target = targets[name](data, lang)
    splits: dict[str, Dataset] = {}
    if direction == "train":
        splits.update(_translated_source(data, mode, lang, known))
    for s in ("train", "validation", "test") if direction == "test" else ("test",):
        if s in target:
            splits[s] = cap(_known_labels(target[s], known, f"{lang}/{s}"), data.get("max_pairs"))
    to_source = make_translator(mode.get("translator"), lang, source_lang)
    out = DatasetDict()
    for s in ("train", "validation", "test"):
        if s not in splits or len(splits[s]) == 0:
            raise DistillError(
                f"mode=translate: no {lang} {s} data",
                fix="give target-language text (data.parallel, data.target_test) or data.source_train",
            )
        ds = splits[s]
        if "src" not in ds.column_names:
            ds = ds.add_column(
                "src", cached_translate(to_source, ds["tgt"], what=f"{lang}->{source_lang} {s}")
            )
        out[s] = ds
    return out
