"""The generic parts of parallel data: hash splits, per-language settings, the cap on pairs.

The pairs themselves come from a data source (:func:`distill.sources.load_parallel`). Every source
yields a ``DatasetDict`` with ``train``/``validation``/``test`` splits of pairs with at least ``id``,
``src`` (source-language text) and ``tgt`` (target-language text); labelled sources add ``label``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import numpy as np
from datasets import Dataset, DatasetDict

from distill.data.langs import format_codes, tag_key
from distill.errors import DistillError
from distill.utils.mapped_pages import column_released

SPLITS = ("train", "validation", "test")
# Unlabelled sources (one pool of pairs) are split by a hash of the pair id: stable across runs.
HASH_SPLIT = {"train": (0, 80), "validation": (80, 90), "test": (90, 100)}
CAP_SEED = 0


def _bucket(pair_id: str) -> int:
    return int(hashlib.sha256(pair_id.encode("utf-8")).hexdigest()[:8], 16) % 100


def split_by_hash(
    pool: Dataset, fractions: Mapping[str, tuple[int, int]] = HASH_SPLIT, key: str = "id"
) -> DatasetDict:
    """Split a pool of pairs 80/10/10 by a hash of ``id`` (independent of order and seed).

    ``key`` names another column to hash instead, e.g. a group such as a chapter, so that every row
    of a group lands in the same split.
    """
    # One small int per pair (not a Python list of ids): memory stays flat with the corpus size.
    keys = column_released(pool, key)  # streamed, the pages read handed back
    buckets = np.fromiter((_bucket(str(i)) for i in keys), dtype=np.int16, count=len(pool))
    return DatasetDict(
        {
            name: pool.select(np.flatnonzero((lo <= buckets) & (buckets < hi)))
            for name, (lo, hi) in fractions.items()
        }
    )


def per_language(value: Any, lang: str, langs: list[str], key: str) -> Any:
    """The entry of a per-language setting for ``lang``: a mapping lang -> value, or one value.

    Raises:
        DistillError: ``lang`` is not in the mapping (the message lists the codes present), or
            one value is given for several target languages.
    """
    if isinstance(value, Mapping):
        by_key = {tag_key(str(k)): v for k, v in value.items()}
        if tag_key(lang) not in by_key:
            raise DistillError(
                f"{key} has no entry for {lang!r}; it has {format_codes(map(str, value)) or 'none'}",
                fix=f"add {key}.{lang}=<path>, or drop {lang} from data.target_langs",
            )
        return by_key[tag_key(lang)]
    if len(langs) > 1:
        raise DistillError(
            f"{key} names one source for {len(langs)} target languages {langs}",
            fix=f"give one per language, e.g. {key}.{langs[0]}=<path>",
        )
    return value


def cap(ds: Dataset, max_pairs: int | Mapping[str, int | None] | None, split: str | None = None) -> Dataset:
    """At most ``max_pairs`` rows, drawn with a fixed seed so every label can appear.

    ``max_pairs`` is one number for every split, or a mapping split -> number (a split it does not
    name is not capped), e.g. ``{train: 4000, validation: 1000}``.
    """
    limit = max_pairs.get(split or "") if isinstance(max_pairs, Mapping) else max_pairs
    if limit is None or len(ds) <= int(limit):
        return ds
    return ds.shuffle(seed=CAP_SEED).select(range(int(limit))).flatten_indices()


def checked_pairs(dd: DatasetDict, cfg: Mapping[str, Any], lang: str) -> DatasetDict:
    """A source's splits for ``lang``, each capped to ``cfg['max_pairs']`` and checked non-empty.

    Args:
        dd: The source's splits (``train``/``validation``/``test``).
        cfg: The ``data`` config (``name``, ``source_lang``, ``max_pairs``).
        lang: Target language code.

    Raises:
        DistillError: When a split comes out empty.
    """
    name = cfg.get("name")
    dd = DatasetDict({k: cap(v, cfg.get("max_pairs"), k) for k, v in dd.items()})
    for split, ds in dd.items():
        if len(ds) == 0:
            raise DistillError(
                f"data source {name!r} has no {cfg.get('source_lang', 'en')}-{lang} pairs in split {split!r}",
                fix="choose another target language or data source",
            )
    return dd
