"""Machine translation for the ``translate`` mode: translators per language pair, and a cache.

Translations are cached like soft labels (DESIGN.md section 2): a ``datasets`` table on disk under
``$DISTILL_CACHE/translations/<key>``, where the key hashes the translator's ``describe()`` (backend,
pair, model or file hash) and the input texts; written atomically with a manifest, checked on read
(a damaged entry is rebuilt), reused across runs and sweep jobs. A hit or miss is logged.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from datasets import Dataset, load_from_disk

from distill.data.translate import Translator, build_translator
from distill.errors import DistillError
from distill.utils.atomic import atomic_dir
from distill.utils.hashing import text_sha256
from distill.utils.paths import cache_dir

log = logging.getLogger(__name__)
MANIFEST = "xlt_distill_translations.json"
CACHE_VERSION = 1

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


def _entry_ok(path: Path, key: str, n: int) -> list[str] | None:
    if not path.is_dir():
        return None
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        ds = load_from_disk(str(path))
    except (OSError, ValueError, KeyError) as exc:
        log.warning("translations: cache entry %s is unreadable (%s); rebuilding it", path, exc)
        return None
    if (
        not isinstance(ds, Dataset)
        or manifest.get("key") != key
        or len(ds) != n
        or manifest.get("n_rows") != n
    ):
        log.warning("translations: cache entry %s does not match its key or size; rebuilding it", path)
        return None
    return list(ds["translation"])


def cached_translate(translator: Translator, texts: Sequence[str], *, what: str = "") -> list[str]:
    """``translator.translate(texts)``, read from the cache when these texts were translated before."""
    desc = translator.describe()
    key = text_sha256(json.dumps({"v": CACHE_VERSION, "translator": desc}), *texts)[:32]
    path = cache_dir("translations", key)
    hit = _entry_ok(path, key, len(texts))
    if hit is not None:
        log.info(
            "translations: cache hit %s (%s, %d sentences%s)",
            key,
            desc,
            len(texts),
            f", {what}" if what else "",
        )
        return hit
    start = time.perf_counter()
    out = translator.translate(list(texts))
    seconds = time.perf_counter() - start
    log.info(
        "translations: cache miss %s: %s translated %d sentences in %.1f s (%.0f/s)%s",
        key,
        desc,
        len(texts),
        seconds,
        len(texts) / max(seconds, 1e-9),
        f", {what}" if what else "",
    )
    manifest = {"key": key, "translator": desc, "n_rows": len(texts), "seconds": round(seconds, 2)}
    try:
        with atomic_dir(path, overwrite=path.exists()) as tmp:
            Dataset.from_dict({"translation": out}).save_to_disk(str(tmp), num_shards=1)
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    except OSError:
        if not path.is_dir():
            raise
        log.info("translations: %s was written by another job meanwhile; keeping it", key)
    return out
