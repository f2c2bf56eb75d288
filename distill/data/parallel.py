"""One entry point for parallel data, whatever the source: ``load_parallel(data_cfg, lang)``.

Every source yields a ``DatasetDict`` with ``train``/``validation``/``test`` splits of pairs with at
least ``id``, ``src`` (source-language text) and ``tgt`` (target-language text); labelled sources
add ``label``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from datasets import Dataset, DatasetDict

from distill.errors import DistillError

SPLITS = ("train", "validation", "test")
# Unlabelled sources (one pool of pairs) are split by a hash of the pair id: stable across runs.
HASH_SPLIT = {"train": (0, 80), "validation": (80, 90), "test": (90, 100)}
CAP_SEED = 0


def _chatterbot(cfg: Mapping[str, Any], lang: str) -> DatasetDict:
    from distill.data.sources.chatterbot import chatterbot_parallel, chatterbot_topics

    src = cfg.get("source_lang", "en")
    dd = DatasetDict({s: chatterbot_parallel(lang, s, source_lang=src) for s in SPLITS})
    common = [str(c) for c in cfg.get("common_sources") or [] if str(c) not in (src, lang)]
    if common:
        dd = DatasetDict({s: _common_pairs(ds, s, common) for s, ds in dd.items()})
        if not len(dd["train"]):
            raise DistillError(
                f"data.common_sources={common}: no {src}-{lang} training pair has an utterance in every "
                "one of these languages",
                fix="drop a language from data.common_sources, or set data.common_sources=[]",
            )
    topics = chatterbot_topics(cfg)
    return dd if topics is None else dd.filter(lambda row: row["label"] in topics)


def _common_pairs(pairs: Dataset, split: str, langs: list[str]) -> Dataset:
    """The pairs whose ``pair_id`` has an utterance in every language of ``langs`` too.

    ``data.common_sources``: runs that compare source languages (each a single-source student of the
    same target) then train and test on the same target rows, whichever source teaches.
    """
    from distill.data.sources.chatterbot import chatterbot_side

    pair_ids = list(pairs["pair_id"])
    keep = np.ones(len(pairs), dtype=bool)
    for other in langs:
        keep &= np.array([t is not None for t in chatterbot_side(other, split, pair_ids)], dtype=bool)
    return pairs.select(np.flatnonzero(keep))


def _bucket(pair_id: str) -> int:
    return int(hashlib.sha256(pair_id.encode("utf-8")).hexdigest()[:8], 16) % 100


def split_by_hash(pool: Dataset, fractions: Mapping[str, tuple[int, int]] = HASH_SPLIT) -> DatasetDict:
    """Split a pool of pairs 80/10/10 by a hash of ``id`` (independent of order and seed)."""
    # One small int per pair (not a Python list of ids): memory stays flat with the corpus size.
    buckets = np.fromiter((_bucket(str(i)) for i in pool["id"]), dtype=np.int16, count=len(pool))
    return DatasetDict(
        {
            name: pool.select(np.flatnonzero((lo <= buckets) & (buckets < hi)))
            for name, (lo, hi) in fractions.items()
        }
    )


def _django(cfg: Mapping[str, Any], lang: str) -> DatasetDict:
    from distill.data.sources.django_po import load_django_pairs

    return split_by_hash(load_django_pairs(lang, min_words=int(cfg.get("min_words", 1))))


def per_language(value: Any, lang: str, langs: list[str], key: str) -> Any:
    """The entry of a per-language setting for ``lang``: a mapping lang -> value, or one value.

    Raises:
        DistillError: ``lang`` is not in the mapping (the message lists the codes present), or
            one value is given for several target languages.
    """
    from distill.data.langs import format_codes, tag_key

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


def _files(cfg: Mapping[str, Any], lang: str) -> DatasetDict:
    from distill.data.files import read_parallel, read_table

    langs = [str(x) for x in cfg.get("target_langs") or []]
    columns = dict(cfg.get("columns") or {})
    if cfg.get("parallel") in (None, "", "???"):
        raise DistillError(
            "data=files needs data.parallel (the parallel pairs), but it is not set",
            fix=f"e.g. data.parallel=en_{lang}.tsv (a table with src, tgt) or "
            f"data.parallel=[en.txt,{lang}.txt] (two aligned text files)",
        )
    pool = read_parallel(per_language(cfg.get("parallel"), lang, langs, "data.parallel"), columns=columns)
    tests = cfg.get("target_test") or {}
    if not tests or lang not in tests:
        return split_by_hash(pool)
    dd = split_by_hash(pool, {"train": (0, 90), "validation": (90, 100)})
    test = read_table(
        per_language(tests, lang, langs, "data.target_test"),
        required=("text", "label"),
        columns=columns,
        what=f"{lang} target test",
    )
    dd["test"] = test.rename_column("text", "tgt")
    return dd


def _hub(cfg: Mapping[str, Any], lang: str) -> DatasetDict:
    """``data.parallel`` names a dataset (see :mod:`distill.data.hub`).

    ``data.parallel.splits`` maps our splits to the dataset's: ``{pool: validation, test: test}`` cuts
    the pool 90/10 into train/validation by id and takes the test split as is; ``{train: train,
    validation: validation, test: test}`` takes each; without it, the one ``split`` is cut 80/10/10.
    """
    from distill.data.hub import hub_parallel

    spec = dict(cfg.get("parallel") or {})
    source = str(cfg.get("source_lang", "en"))
    own = dict(spec.pop("splits", None) or {})
    if not own:
        return split_by_hash(hub_parallel(spec, lang, source))
    out = DatasetDict()
    if "pool" in own:
        fractions = {"train": (0, 90), "validation": (90, 100)} if "test" in own else HASH_SPLIT
        out.update(split_by_hash(hub_parallel({**spec, "split": own.pop("pool")}, lang, source), fractions))
    for ours, theirs in own.items():
        out[ours] = hub_parallel({**spec, "split": theirs}, lang, source)
    return out


SOURCES: dict[str, Callable[[Mapping[str, Any], str], DatasetDict]] = {
    "chatterbot": _chatterbot,
    "django": _django,
    "files": _files,
    "hub": _hub,
}


def cap(ds: Dataset, max_pairs: int | None) -> Dataset:
    """At most ``max_pairs`` rows, drawn with a fixed seed so every label can appear."""
    if max_pairs is None or len(ds) <= max_pairs:
        return ds
    return ds.shuffle(seed=CAP_SEED).select(range(max_pairs)).flatten_indices()


def load_parallel(cfg: Mapping[str, Any], lang: str) -> DatasetDict:
    """Parallel pairs for one target language from the source named by ``cfg['name']``.

    Args:
        cfg: The ``data`` config (``name``, ``source_lang``, ``max_pairs``, source options).
        lang: Target language code.

    Raises:
        DistillError: For an unknown source, or when a split comes out empty.
    """
    name = cfg.get("name")
    if name not in SOURCES:
        raise DistillError(f"unknown data source {name!r}", fix=f"use data= one of {', '.join(SOURCES)}")
    dd = SOURCES[name](cfg, lang)
    dd = DatasetDict({k: cap(v, cfg.get("max_pairs")) for k, v in dd.items()})
    for split, ds in dd.items():
        if len(ds) == 0:
            raise DistillError(
                f"data source {name!r} has no {cfg.get('source_lang', 'en')}-{lang} pairs in split {split!r}",
                fix="choose another target language or data source",
            )
    return dd
