"""Data sources: one :class:`~distill.sources.base.Source` per corpus, chosen by ``_target_``.

Each ``conf/data/*.yaml`` names its source class under ``source``::

    name: files                                   # the short name runs record
    source: {_target_: distill.sources.files.FilesSource}

:func:`source_of` builds it from the ``data`` config; the stages ask it for what they need
(:func:`load_parallel`, :func:`translate_data`, :func:`source_test_data`, the teacher's data, the
provenance entries). A data config without ``source`` (one written by hand) takes the packaged
source of its ``name``: the module ``distill.sources.<name>``.

Adding a data source is one module with a :class:`~distill.sources.base.Source` subclass and one
``conf/data/<name>.yaml`` whose ``source._target_`` names it (see docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from datasets import DatasetDict
from hydra.utils import get_class

from distill.data.parallel import checked_pairs
from distill.errors import DistillError
from distill.sources.base import DataRef, Source, TeacherData, packaged
from distill.sources.translated import translate_pairs
from distill.sources.unlabelled import add_unlabelled


def source_of(data: Mapping[str, Any]) -> Source:
    """The data source of a ``data`` config: ``data.source._target_``, else the packaged ``data.name``.

    Args:
        data: The ``data`` config (a ``DictConfig`` or a plain mapping). Keys of ``data.source``
            other than ``_target_`` are passed to the class as keyword arguments.

    Raises:
        DistillError: ``_target_`` does not name a class, or an unknown ``data.name``.
    """
    node = data.get("source")
    if isinstance(node, Mapping) and node.get("_target_"):
        target = str(node["_target_"])
        try:
            cls = get_class(target)
        except Exception as e:  # hydra wraps the import error; say which key is wrong
            raise DistillError(
                f"data.source._target_={target} is not a class that can be imported: {e}",
                fix="name a Source class by its dotted path, e.g. distill.sources.files.FilesSource",
            ) from e
        options = {str(k): v for k, v in node.items() if k != "_target_"}
        return cls(data, **options)
    name = data.get("name")
    classes = packaged()
    if name not in classes:
        raise DistillError(f"unknown data source {name!r}", fix=f"use data= one of {', '.join(classes)}")
    return classes[str(name)](data)


def load_parallel(data: Mapping[str, Any], lang: str, mode: Mapping[str, Any] | None = None) -> DatasetDict:
    """Parallel pairs for one target language from the source of ``data``, capped and checked.

    Args:
        data: The ``data`` config (``source`` or ``name``, ``source_lang``, ``max_pairs``, source options).
        lang: Target language code.
        mode: The ``mode`` config; with ``data.target_unlabelled`` it decides the raw text's source
            side (:mod:`distill.sources.unlabelled`). ``None``: ``mode=parallel``.

    Raises:
        DistillError: For an unknown source, or when a split comes out empty.
    """
    pairs = checked_pairs(source_of(data).parallel(lang), data, lang)
    return add_unlabelled(pairs, data, mode or {"name": "parallel"}, lang)  # capped on its own


def translate_data(data: Mapping[str, Any], mode: Mapping[str, Any], lang: str) -> DatasetDict:
    """``mode=translate`` pairs for ``lang`` (see :func:`distill.sources.translated.translate_pairs`),
    with ``data.target_unlabelled`` joined to the training splits."""
    return add_unlabelled(translate_pairs(source_of(data), mode, lang), data, mode, lang)


def source_test_data(cfg: Any) -> tuple[list[str], list[str]] | None:
    """Labelled source-language test texts of ``cfg.data`` (the ``teacher`` row, the source score)."""
    return source_of(cfg.data).source_test()


__all__ = [
    "DataRef",
    "Source",
    "TeacherData",
    "load_parallel",
    "packaged",
    "source_of",
    "source_test_data",
    "translate_data",
]
