"""Machine translation for the ``translate`` mode: the translator of each language pair.

The translations themselves are cached by :func:`distill.cache.cached_translate`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from distill.data.translate import Translator, build_translator
from distill.errors import DistillError

log = logging.getLogger(__name__)

# ISO 639-1 -> the ISO 639-3 codes Apertium names its pairs with (the languages of Debian's pairs).
APERTIUM_CODES = {
    "en": "eng", "es": "spa", "ca": "cat", "is": "isl", "it": "ita", "pt": "por", "fr": "fra",
    "gl": "glg", "ro": "ron", "oc": "oci", "an": "arg", "ast": "ast", "sc": "srd", "da": "dan",
    "nb": "nob", "nn": "nno", "sv": "swe", "ru": "rus", "uk": "ukr", "eu": "eus", "br": "bre",
    "cy": "cym", "eo": "epo", "mt": "mlt", "ar": "ara", "hi": "hin", "ur": "urd",
}  # fmt: skip


def apertium_pair(src_lang: str, tgt_lang: str) -> str:
    """The Apertium mode translating ``src_lang`` into ``tgt_lang``, e.g. ``("es", "en")`` -> ``spa-eng``."""
    codes = [APERTIUM_CODES.get(lang.lower(), lang.lower()) for lang in (src_lang, tgt_lang)]
    return "-".join(codes)


def make_translator(node: Mapping[str, Any] | None, src_lang: str, tgt_lang: str) -> Translator:
    """A translator from ``mode.translator`` for one direction.

    ``backend: apertium`` without ``pair`` picks the pair from the languages; ``backend: file``
    and ``backend: marian`` take a per-direction ``path``/``model`` mapping keyed ``<src>-<tgt>``
    (e.g. ``paths: {es-en: mt_es_en.tsv}``) or one value.

    Raises:
        DistillError: No translator configured, or none for this direction.
    """
    if not node:
        raise DistillError(
            "mode=translate needs a translator",
            fix="set mode.translator.backend=apertium (offline), file or marian",
        )
    options = {k: v for k, v in dict(node).items() if not str(k).startswith("_")}
    backend = str(options.pop("backend", "apertium"))
    direction = f"{src_lang}-{tgt_lang}"
    for key in ("path", "model", "pair"):
        value = options.get(key)
        if isinstance(value, Mapping):
            if direction not in value:
                have = ", ".join(map(str, value))
                raise DistillError(
                    f"mode.translator.{key} has no entry for {direction}; it has {have}",
                    fix=f"add mode.translator.{key}.{direction}=...",
                )
            options[key] = value[direction]
    if backend == "apertium" and not options.get("pair"):
        options["pair"] = apertium_pair(src_lang, tgt_lang)
    options = {k: v for k, v in options.items() if v is not None}
    return build_translator(backend, **options)
