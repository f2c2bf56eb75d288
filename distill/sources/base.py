"""What a data source offers a run: the :class:`Source` base class.

A source is built from the ``data`` config (``Source(data_cfg)``) and hands out, on request:

* :meth:`Source.parallel`: the pairs for one target language (``train``/``validation``/``test``
  splits of ``id``, ``src``, ``tgt`` and, where labelled, ``label``);
* :meth:`Source.teacher_data`: labelled source-language train and validation text for the
  teacher (``None`` for a corpus without labels);
* :meth:`Source.source_test`: labelled source-language test texts (the ``teacher`` row);
* :meth:`Source.target_text` and :meth:`Source.source_text`: the target-side text that
  translate-test labels, and the source text that translate-train translates;
* :meth:`Source.known_labels`: the label set the corpus is known to have;
* :attr:`Source.package` and :meth:`Source.data_refs`: what ``provenance.json`` records.

Only :meth:`~Source.parallel` is required; the defaults say "this source has none" the way every
caller expects (``None``, or the error that names the sources that have it).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import pkgutil
import random
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from datasets import Dataset, DatasetDict

from distill.data.parallel import split_by_hash
from distill.errors import DistillError
from distill.utils.config import leaf_values
from distill.utils.hashing import text_sha256

#: ``data.*`` keys that name files, folders or hub datasets (recorded in ``provenance.json``).
DATA_KEYS = (
    "source_train",
    "source_validation",
    "source_test",
    "parallel",
    "target_test",
    "target_unlabelled",
)
#: Teacher validation taken from the training table when none is given: 10% by a hash of the text.
TRAIN_VALIDATION = {"train": (0, 90), "validation": (90, 100)}


@dataclass(frozen=True)
class TeacherData:
    """Labelled source-language text to fine-tune (and validate) a teacher on.

    Attributes:
        train_texts: Training texts.
        train_labels: Their label names.
        val_texts: Validation texts.
        val_labels: Their label names.
        labels: The label set, in id order.
    """

    train_texts: list[str]
    train_labels: list[str]
    val_texts: list[str]
    val_labels: list[str]
    labels: list[str]

    def fingerprint(self) -> str:
        """SHA-256 of every text and label, in order (the training data's part of the cache key)."""
        return text_sha256(
            json.dumps(
                [self.labels, self.train_texts, self.train_labels, self.val_texts, self.val_labels],
                ensure_ascii=False,
            )
        )


def teacher_data_of(train: Any, val: Any) -> TeacherData:
    """Teacher data from ``text``/``label`` tables; validation rows with unseen labels are dropped."""
    labels = sorted(set(train["label"]))
    known = set(labels)
    kept = [(t, y) for t, y in zip(val["text"], val["label"], strict=True) if y in known]
    return TeacherData(
        train_texts=list(train["text"]),
        train_labels=list(train["label"]),
        val_texts=[t for t, _ in kept],
        val_labels=[y for _, y in kept],
        labels=labels,
    )


def cap_examples(data: TeacherData, max_examples: int | None, seed: int) -> TeacherData:
    """At most ``max_examples`` training examples, stratified so every label appears if it can.

    Examples are shuffled with ``seed``, then taken round-robin over the labels (first example of
    each label, then the second, ...), keeping the original order among those taken.
    """
    n = len(data.train_texts)
    if max_examples is None or n <= max_examples:
        return data
    order = list(range(n))
    random.Random(seed).shuffle(order)
    seen: dict[str, int] = {}
    rank: dict[int, tuple[int, int]] = {}
    for i in order:
        label = data.train_labels[i]
        rank[i] = (seen.get(label, 0), len(rank))
        seen[label] = seen.get(label, 0) + 1
    keep = sorted(sorted(range(n), key=rank.__getitem__)[:max_examples])
    return dataclasses.replace(
        data,
        train_texts=[data.train_texts[i] for i in keep],
        train_labels=[data.train_labels[i] for i in keep],
    )


def split_train_validation(train: Dataset) -> tuple[Dataset, Dataset]:
    """90/10 train/validation of a labelled table by a hash of the text."""
    parts = split_by_hash(train.add_column("id", train["text"]), TRAIN_VALIDATION)
    return parts["train"], parts["validation"]


@dataclass(frozen=True)
class DataRef:
    """A file, folder or dataset a source reads, as ``provenance.json`` records it.

    Attributes:
        key: The ``data.*`` key that names it (``parallel``, ``source_train``, ...).
        ref: The path or hub id.
        config: The hub dataset's config name, recorded next to it when ``hub`` is true.
        hub: ``ref`` comes from a hub dataset spec (the entry then carries ``config``).
    """

    key: str
    ref: str
    config: Any = None
    hub: bool = False


def leaves(value: Any) -> Iterator[str]:
    """The non-empty strings inside a config value (``???``, a missing value, left out)."""
    return (v for v in leaf_values(value) if isinstance(v, str) and v and v != "???")


def packaged() -> dict[str, type[Source]]:
    """The sources shipped in :mod:`distill.sources`: module name (the ``data.name``) -> class."""
    package = importlib.import_module(__package__ or "distill.sources")
    out: dict[str, type[Source]] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name == "base" or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Source) and value.__module__ == module.__name__:
                out[info.name] = value
    return out


def _overrides(cls: type[Source], method: str) -> bool:
    return getattr(cls, method) is not getattr(Source, method)


class Source:
    """One data source, built from the run's ``data`` config (see the module docstring).

    Subclasses set :attr:`package` when the corpus ships in a Python distribution, and override
    the methods for the parts they have. ``self.data`` is the ``data`` config as given (a
    ``DictConfig`` or a plain mapping): read options from it with ``.get``.

    Attributes:
        package: The distribution that carries the corpus (recorded with its version, license and
            hash in ``provenance.json``), or ``None``.
        teacher_hint: Appended to the fix of "no labels to fine-tune a teacher on".
        aligned_across_languages: Every pair carries a ``pair_id`` that the translations of its
            source text in the corpus's other languages share, so a run can look up other
            languages' sides (``data.common_sources``, teachers of another source language).
    """

    package: ClassVar[str | None] = None
    teacher_hint: ClassVar[str] = ""
    aligned_across_languages: ClassVar[bool] = False

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data

    @property
    def name(self) -> str:
        """The ``data.name`` (the short name runs record)."""
        return str(self.data.get("name"))

    @property
    def source_lang(self) -> str:
        """The source language code (``data.source_lang``, English by default)."""
        return str(self.data.get("source_lang", "en"))

    def parallel(self, lang: str) -> DatasetDict:
        """Pairs for ``lang``: ``train``/``validation``/``test`` splits of ``id``, ``src``, ``tgt``."""
        raise NotImplementedError(f"{type(self).__name__}.parallel")

    def teacher_data(self) -> TeacherData | None:
        """Labelled source-language train/validation text for the teacher; ``None`` without labels."""
        return None

    def source_test(self) -> tuple[list[str], list[str]] | None:
        """Labelled source-language test ``(texts, labels)``; ``None`` without them."""
        return None

    def known_labels(self) -> set[str] | None:
        """The labels the corpus has, known before reading user data; ``None`` when not known.

        ``mode=translate`` drops (and reports) rows whose gold label is not among them.
        """
        return None

    def target_text(self, lang: str) -> DatasetDict:
        """Target-language text for ``mode=translate``: splits of ``id``, ``tgt`` (and ``label``).

        Raises:
            DistillError: This source has no target-language text of its own.
        """
        raise self._no_translate()

    def source_text(self) -> DatasetDict:
        """Source-language ``train``/``validation`` text (``id``, ``src``, ``label``?) for translate-train.

        Raises:
            DistillError: This source has no source-language text to translate.
        """
        raise self._no_translate()

    def licenses(self) -> list[dict[str, Any]]:
        """Licences of the parts of the corpus a run reads, beyond the package's own (e.g. each
        translation of a multi-translation corpus), as ``provenance.json`` records them."""
        return []

    def data_refs(self) -> list[DataRef]:
        """The files, folders and datasets named under :data:`DATA_KEYS`, each once."""
        refs = (DataRef(key, ref) for key in DATA_KEYS if key in self.data for ref in leaves(self.data[key]))
        return list(unique_refs(refs))

    def _no_translate(self) -> DistillError:
        names = [name for name, cls in packaged().items() if _overrides(cls, "target_text")]
        return DistillError(
            f"mode=translate does not handle data={self.name}", fix=f"use data= one of {', '.join(names)}"
        )


def unique_refs(refs: Iterable[DataRef]) -> Iterator[DataRef]:
    seen: set[Any] = set()
    for ref in refs:
        key = (ref.ref, ref.config) if ref.hub else ref.ref
        if key not in seen:
            seen.add(key)
            yield ref
