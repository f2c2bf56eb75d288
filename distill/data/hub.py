"""``data=hub``: parallel (and labelled) data from a Hugging Face dataset, through ``datasets``.

A dataset is named like ``load_dataset`` wants it (a hub id such as ``Helsinki-NLP/opus-100``, or a
local folder of data files) or is a folder written by ``save_to_disk``. ``{lang}`` and ``{source}``
in ``path`` and ``name`` become the target and source language codes. Two shapes of parallel data:

* **translation dicts** (OPUS-100, Tatoeba, WMT): ``translation_field: translation`` and rows like
  ``{"translation": {"en": "...", "it": "..."}}``;
* **two columns** (Tatoeba-MT style): ``src`` and ``tgt`` name the columns of one dataset;
* **index-aligned configs** (XNLI, PAWS-X, MLQA-style): the same rows in one config per language,
  aligned by position; ``source_name``/``source_path`` name the source side.

``text`` turns a row into the text a model reads: a column name, or a template over columns such
as ``"{premise} / {hypothesis}"`` for sentence-pair tasks. ``label`` names the gold column (class
ids become names through the dataset's ``ClassLabel`` feature).
"""

from __future__ import annotations

import logging
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from datasets import Dataset, DatasetDict

from distill.errors import DistillError

log = logging.getLogger(__name__)


def _fill(value: Any, lang: str, source: str) -> Any:
    return value.format(lang=lang, source=source) if isinstance(value, str) else value


def load_split(path: str, name: str | None, split: str) -> Dataset:
    """One split: ``load_from_disk`` for a saved folder, else ``datasets.load_dataset``."""
    from datasets import load_dataset, load_from_disk

    local = Path(path).expanduser()
    if local.is_dir() and any((local / f).is_file() for f in ("dataset_dict.json", "state.json")):
        ds = load_from_disk(str(local))
        if isinstance(ds, DatasetDict):
            if split not in ds:
                raise DistillError(f"{local} has no split {split!r}; it has {', '.join(ds)}")
            ds = ds[split]
        return ds
    if not local.exists() and (path.startswith((".", "/", "~")) or path.count("/") > 1):
        raise DistillError(f"dataset folder {local} does not exist", fix="check the path, or give a hub id")
    try:
        ds = load_dataset(path, name, split=split)
    except (FileNotFoundError, ValueError, ConnectionError) as exc:
        first = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        raise DistillError(
            f"cannot load dataset {path!r} (config {name!r}, split {split!r}): {first}",
            fix="check the id, config and split; offline, give a local folder (save_to_disk or data files)",
        ) from None
    assert isinstance(ds, Dataset)
    return ds


def _texts(ds: Dataset, spec: str, where: str) -> list[str]:
    """Column ``spec``, or the template ``spec`` filled per row."""
    if spec in ds.column_names:
        return [str(x) for x in ds[spec]]
    fields = [f for _, f, _, _ in string.Formatter().parse(spec) if f]
    missing = [f for f in fields if f not in ds.column_names]
    if not fields or missing:
        raise DistillError(
            f"{where}: {spec!r} names no column ({', '.join(missing or [spec])}); columns: {ds.column_names}",
            fix="set data.parallel.text to a column name or a template like '{premise} / {hypothesis}'",
        )
    columns = {f: ds[f] for f in fields}
    return [spec.format(**{f: columns[f][i] for f in fields}) for i in range(len(ds))]


def _labels(ds: Dataset, column: str | None, where: str) -> list[str | None] | None:
    if not column:
        return None
    if column not in ds.column_names:
        raise DistillError(f"{where}: no label column {column!r}; columns: {ds.column_names}")
    feature = ds.features[column]
    values = ds[column]
    if hasattr(feature, "int2str"):
        return [str(feature.int2str(v)) if v is not None and v >= 0 else None for v in values]
    return [None if v is None else str(v) for v in values]


def hub_parallel(spec: Mapping[str, Any], lang: str, source: str) -> Dataset:
    """Pairs ``id``, ``src``, ``tgt`` (and ``label``) for ``lang`` from the dataset ``spec`` describes.

    Raises:
        DistillError: A dataset, config, split or column that is not there; languages missing from
            the translation dicts; index-aligned sides of different lengths.
    """
    path = str(_fill(spec.get("path"), lang, source) or "")
    if not path:
        raise DistillError("data.parallel.path is not set", fix="name a hub id or a local dataset folder")
    name, split = _fill(spec.get("name"), lang, source), str(spec.get("split", "train"))
    where = f"{path}[{name or '-'}/{split}]"
    ds = load_split(path, name, split)
    field = spec.get("translation_field")
    if field:
        if field not in ds.column_names:
            raise DistillError(f"{where}: no column {field!r}; columns: {ds.column_names}")
        rows = ds[field]
        present = sorted({k for r in rows[:100] for k in r})
        if not rows or lang not in rows[0] or source not in rows[0]:
            raise DistillError(
                f"{where}: the translations have no {source!r}/{lang!r} pair; "
                f"languages present: {', '.join(present)}",
                fix="pick the dataset config for this pair (data.parallel.name, e.g. en-{lang})",
            )
        src, tgt = [r[source] for r in rows], [r[lang] for r in rows]
        labels = _labels(ds, spec.get("label"), where)
    elif spec.get("src") and spec.get("tgt"):
        src, tgt = _texts(ds, str(spec["src"]), where), _texts(ds, str(spec["tgt"]), where)
        labels = _labels(ds, spec.get("label"), where)
    else:
        text = str(spec.get("text", "text"))
        source_ds = load_split(
            str(_fill(spec.get("source_path"), lang, source) or path),
            _fill(spec.get("source_name"), lang, source),
            split,
        )
        if len(source_ds) != len(ds):
            raise DistillError(
                f"{where}: {len(ds)} rows but the {source} side has {len(source_ds)}",
                fix="index-aligned configs must have the same rows in the same order",
            )
        src, tgt = _texts(source_ds, text, f"{where} ({source})"), _texts(ds, text, where)
        labels = _labels(source_ds, spec.get("label"), where)
    columns: dict[str, list[Any]] = {"id": [f"{split}:{i}" for i in range(len(ds))], "src": src, "tgt": tgt}
    if labels is not None:
        columns["label"] = labels
    keep = [i for i in range(len(ds)) if str(src[i]).strip() and str(tgt[i]).strip()]
    if len(keep) < len(ds):
        log.warning("%s: skipped %d pairs with an empty side", where, len(ds) - len(keep))
    return Dataset.from_dict(columns).select(keep)


def hub_labelled(spec: Mapping[str, Any], lang: str) -> Dataset:
    """Labelled text (``text``, ``label``) in ``lang`` from a dataset (e.g. the teacher's training data)."""
    path = str(_fill(spec.get("path"), lang, lang) or "")
    if not path:
        raise DistillError(
            "the labelled dataset has no path", fix="set data.source_train.path=<hub id or folder>"
        )
    name, split = _fill(spec.get("name"), lang, lang), str(spec.get("split", "train"))
    where = f"{path}[{name or '-'}/{split}]"
    ds = load_split(path, name, split)
    limit = spec.get("max_rows")
    if limit is not None and len(ds) > int(limit):
        ds = ds.shuffle(seed=0).select(range(int(limit)))
    texts = _texts(ds, str(spec.get("text", "text")), where)
    labels = _labels(ds, str(spec.get("label", "label")), where)
    assert labels is not None
    keep = [i for i in range(len(ds)) if texts[i].strip() and labels[i] is not None]
    return Dataset.from_dict({"text": [texts[i] for i in keep], "label": [labels[i] for i in keep]})
