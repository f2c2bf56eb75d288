"""Machine translations, cached like soft labels (DESIGN.md section 2).

A ``datasets`` table on disk under ``$DISTILL_CACHE/translations/<key>``, where the key hashes the
translator's ``describe()`` (backend, pair, model or file hash) and the input texts; written
atomically with a manifest, checked on read (a damaged entry is rebuilt), reused across runs and
sweep jobs. A hit or miss is logged.
"""

from __future__ import annotations

from collections.abc import Sequence

from distill.cache.tables import cached_table, table_key
from distill.data.translate import Translator

CACHE_VERSION = 1


def cached_translate(translator: Translator, texts: Sequence[str], *, what: str = "") -> list[str]:
    """``translator.translate(texts)``, read from the cache when these texts were translated before."""
    desc = translator.describe()
    key = table_key({"v": CACHE_VERSION, "translator": desc}, *texts)
    entry = cached_table(
        "translations",
        key,
        len(texts),
        lambda: {"translation": translator.translate(list(texts))},
        what=f"{desc}{', ' + what if what else ''}",
        translator=desc,
    )
    return list(entry.dataset["translation"])
