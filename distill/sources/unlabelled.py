"""Raw target-language text for the student: ``data.target_unlabelled.<lang>=<file>`` (any source).

One text a line (``.txt``) or a table with a ``text`` column, read by
:func:`distill.data.files.read_texts` with the same bad-input guarantees as the other files. The
texts are split 90/10 (train/validation) by a hash of their id and join the pairs' training and
validation rows: the teacher labels them, the student learns from those labels, and the held-out
ones take part in checkpoint selection (agreement with the teacher). They carry no label.

What stands on the source side of such a row depends on who labels it:

* ``mode=direct``: the multilingual teacher reads the target text itself, so the text is both sides
  (``src`` = ``tgt``; the ``back``/``cycle`` terms then see the target text twice);
* ``mode=translate`` and ``mode=parallel``: the teacher reads the source language, so ``src`` is
  the machine translation of the text by ``mode.translator`` (cached), which must be set.

In ``mode=direct`` with ``data=files``, ``data.parallel`` may be left out: the raw text is then all
the student trains on, and the test split is ``data.target_test.<lang>``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from datasets import Dataset, DatasetDict, concatenate_datasets

from distill.cache import cached_translate
from distill.data.files import read_texts
from distill.data.langs import tag_key
from distill.data.mt import make_translator
from distill.data.parallel import cap, per_language, split_by_hash
from distill.errors import DistillError
from distill.sources.base import TRAIN_VALIDATION

log = logging.getLogger(__name__)
KEY = "target_unlabelled"
#: Ids of raw-text rows start with this, so they never collide with a pair id.
ID_PREFIX = "raw:"


def has_unlabelled(data: Mapping[str, Any], lang: str) -> bool:
    """Whether ``data.target_unlabelled`` gives text for ``lang``."""
    spec = data.get(KEY)
    if not spec:
        return False
    if isinstance(spec, Mapping):
        return tag_key(lang) in {tag_key(str(k)) for k in spec}
    return True


def unlabelled_splits(data: Mapping[str, Any], lang: str) -> DatasetDict | None:
    """``data.target_unlabelled`` for ``lang``: ``train``/``validation`` of ``id``, ``tgt`` (``None``: unset).

    Each split is capped at ``data.max_pairs`` like the pairs.

    Raises:
        DistillError: One file for several target languages, or a file problem.
    """
    if not has_unlabelled(data, lang):
        return None
    langs = [str(x) for x in data.get("target_langs") or [lang]]
    spec = per_language(data.get(KEY), lang, langs, f"data.{KEY}")
    texts = read_texts(spec, columns=dict(data.get("columns") or {}), what=f"data.{KEY}.{lang}")
    texts = texts.map(
        lambda b: {"id": [ID_PREFIX + i for i in b["id"]]}, batched=True, desc="raw text ids"
    ).select_columns(["id", "tgt"])
    parts = split_by_hash(texts, TRAIN_VALIDATION)
    return DatasetDict({k: cap(v, data.get("max_pairs"), k) for k, v in parts.items()})


def with_source_side(
    rows: Dataset, data: Mapping[str, Any], mode: Mapping[str, Any], lang: str, split: str
) -> Dataset:
    """``rows`` (``id``, ``tgt``) with the ``src`` the teacher reads (see the module docstring)."""
    if str(mode.get("name")) == "direct":
        return rows.add_column("src", list(rows["tgt"]))
    spec = mode.get("translator")
    if not spec:
        raise DistillError(
            f"data.{KEY}.{lang}: mode={mode.get('name')} has the teacher read the source language, "
            "and raw target text has none",
            fix="set mode.translator (MT into the source language labels it, as in mode=translate), "
            "or use mode=direct with a multilingual teacher",
        )
    source_lang = str(data.get("source_lang", "en"))
    translator = make_translator(spec, lang, source_lang)
    what = f"raw text {lang}->{source_lang} {split}"
    return rows.add_column("src", cached_translate(translator, list(rows["tgt"]), what=what))


def join(pairs: Dataset | None, rows: Dataset) -> Dataset:
    """``pairs`` followed by ``rows``; columns ``rows`` lacks (``label``, ...) are empty there."""
    if pairs is None:
        return rows
    missing = [c for c in pairs.column_names if c not in rows.column_names]
    for c in missing:
        rows = rows.add_column(c, [None] * len(rows))
    rows = rows.select_columns(pairs.column_names).cast(pairs.features)
    return concatenate_datasets([pairs, rows])


def add_unlabelled(
    dd: DatasetDict, data: Mapping[str, Any], mode: Mapping[str, Any], lang: str
) -> DatasetDict:
    """``dd`` with ``data.target_unlabelled`` for ``lang`` joined to its train and validation splits."""
    extra = unlabelled_splits(data, lang)
    if extra is None:
        return dd
    out = DatasetDict(dd)
    for split in ("train", "validation"):
        rows = with_source_side(extra[split], data, mode, lang, split)
        out[split] = join(dd.get(split), rows)
    log.info(
        "data.%s.%s: %d raw texts join the training rows, %d the validation rows",
        KEY,
        lang,
        len(extra["train"]),
        len(extra["validation"]),
    )
    return out
