"""Machine-translation backends for translate-test (target -> English for the teacher) and
translate-train (English -> target for the student).

Every backend implements :class:`Translator`: ``translate(texts)`` returns exactly one string per
input, in input order, and ``describe()`` returns a stable string that goes into cache keys (it
changes whenever the output could change). Backends are plain classes with keyword arguments, so a
Hydra config can build one directly::

    translator:
      _target_: distill.data.translate.ApertiumTranslator
      pair: eng-spa

or by name through :func:`build_translator` (``_target_: distill.data.translate.build_translator``
with ``backend: apertium``).

Backends:

* :class:`ApertiumTranslator` -- Debian's rule-based MT (``apertium``), run as a subprocess; no
  model download, works offline.
* :class:`FileTranslator` -- translations the user already has (TSV, CSV, JSONL or two aligned
  plain-text files).
* :class:`MarianTranslator` -- a Hugging Face ``MarianMTModel`` (a hub id such as
  ``Helsinki-NLP/opus-mt-en-es`` when online, or a local folder).

Shared contract (enforced in :meth:`Translator.translate`): an empty or whitespace-only input
translates to ``""`` without reaching the backend, because MT systems hallucinate on empty input.

The modules: :mod:`~distill.data.translate.base` (the :class:`Translator` contract),
:mod:`~distill.data.translate.apertium`, :mod:`~distill.data.translate.file` and
:mod:`~distill.data.translate.marian` (one backend each); this package adds the factory.
"""

from __future__ import annotations

from typing import Any

from distill.data.translate.apertium import ApertiumTranslator, apertium_package
from distill.data.translate.base import Translator
from distill.data.translate.file import FileTranslator
from distill.data.translate.marian import MarianTranslator
from distill.errors import DistillError

__all__ = [
    "TRANSLATORS",
    "ApertiumTranslator",
    "FileTranslator",
    "MarianTranslator",
    "Translator",
    "apertium_package",
    "build_translator",
]


#: Backend name -> class, for :func:`build_translator`.
TRANSLATORS: dict[str, type[Translator]] = {
    ApertiumTranslator.name: ApertiumTranslator,
    FileTranslator.name: FileTranslator,
    MarianTranslator.name: MarianTranslator,
}


def build_translator(backend: str, **options: Any) -> Translator:
    """Build a translator by backend name (``apertium``, ``file`` or ``marian``).

    Usable from Hydra as ``_target_: distill.data.translate.build_translator``.

    Args:
        backend: Key of :data:`TRANSLATORS`.
        **options: Keyword arguments of that backend's class.

    Raises:
        DistillError: Unknown backend or option.
    """
    cls = TRANSLATORS.get(backend)
    if cls is None:
        raise DistillError(
            f"unknown translator backend {backend!r}", fix=f"use one of {', '.join(TRANSLATORS)}"
        )
    try:
        return cls(**options)
    except TypeError as exc:  # an unknown or missing keyword from the config
        raise DistillError(
            f"bad options for translator {backend!r}: {exc}", fix=f"see {cls.__name__}'s arguments"
        ) from exc
