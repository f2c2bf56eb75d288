"""English-to-X sentence pairs from the translation catalogs that ship with Django.

``pip install django`` installs compiled gettext catalogs, ``django/conf/locale/<lang>/LC_MESSAGES/
django.mo`` and ``django/contrib/<app>/locale/<lang>/LC_MESSAGES/django.mo`` (plus ``djangojs.mo``
for the admin's JavaScript): about 1,100 catalogs in ~100 languages, written by human translators,
including low-resource ones (Breton ``br``, Kabyle ``kab``, Udmurt ``udm``, Asturian ``ast``,
Lower/Upper Sorbian ``dsb``/``hsb``). Each entry maps an English ``msgid`` to its translation.

How entries become pairs:

* **Contexts** (``msgctxt``, e.g. ``"abbrev. month"`` for ``"Jan."``) only disambiguate; the
  pair is still a translation, so it is kept and the context is dropped.
* **Plural entries** give two pairs: the singular ``msgid`` with the form the catalog's own
  ``Plural-Forms`` rule selects for n=1, and ``msgid_plural`` with the form for n=5 (a plain
  plural in every language; n=2 would pick the Arabic dual or the Slavic paucal). The rule is
  evaluated by :class:`gettext.GNUTranslations`.
* **Skipped**: the header, entries whose translation is empty, and (unless ``keep_identical``)
  entries whose translation equals the English text, which are mostly names and untranslated
  copies and teach a cross-lingual student nothing.
* Texts are stripped of surrounding whitespace and otherwise kept as written, including
  placeholders such as ``%(name)s`` and ``{count}``.
* Pairs are de-duplicated by ``(src, tgt)``; the first occurrence wins, in a fixed order: the core
  catalog first, then ``django.contrib`` apps alphabetically, ``django.mo`` before ``djangojs.mo``,
  and within a catalog the ``.mo`` file's own (sorted) order.

Run ``python -m distill.data.sources.django_po [lang ...]`` for the pair counts per language.
"""

from __future__ import annotations

import argparse
import functools
import gettext
import importlib.util
import io
import re
import struct
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from distill.data.langs import format_codes, tag_key
from distill.errors import DistillError
from distill.utils.hashing import text_sha256

if TYPE_CHECKING:
    from datasets import Dataset

COLUMNS: tuple[str, ...] = ("id", "src", "tgt", "catalog")
SOURCE_LANG = "en"
CORE_CATALOG = "core"
# Plural counts whose forms are paired with msgid and msgid_plural (see the module docstring).
SINGULAR_N = 1
PLURAL_N = 5

# Other spellings of Django's locale folders (Django itself maps zh-cn/zh-tw to zh-hans/zh-hant).
_ALIASES: Mapping[str, str] = {
    "zh": "zh_Hans",
    "zh-CN": "zh_Hans",
    "zh-SG": "zh_Hans",
    "zh-TW": "zh_Hant",
    "zh-HK": "zh_Hant",
    "iw": "he",
    "in": "id",
    "no": "nb",
    "sr-Cyrl": "sr",
}

_MO_MAGIC = 0x950412DE
_CHARSET = re.compile(r"charset=([-\w.]+)", re.IGNORECASE)


@dataclass(frozen=True)
class _MoEntry:
    """One compiled catalog entry; ``translations`` holds every plural form (one for a plain entry)."""

    context: str | None
    msgid: str
    msgid_plural: str | None
    translations: tuple[str, ...]


@dataclass(frozen=True)
class _Pair:
    src: str
    tgt: str
    catalog: str


# --------------------------------------------------------------------------------------------- files


def _django_root() -> Path:
    """Return the installed ``django`` package folder without importing Django."""
    spec = importlib.util.find_spec("django")
    if spec is None or not spec.submodule_search_locations:
        raise DistillError(
            "Django is not installed; its translation catalogs are the data", fix="pip install django"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _locale_dirs(root: Path) -> list[tuple[str, Path]]:
    """Return ``(catalog name, locale folder)`` in the fixed catalog order: core, then contrib apps."""
    dirs = [(CORE_CATALOG, root / "conf" / "locale")]
    contrib = root / "contrib"
    if contrib.is_dir():
        dirs += [(app.name, app / "locale") for app in sorted(contrib.iterdir()) if (app / "locale").is_dir()]
    return dirs


def _catalog_files(root: Path, folder: str) -> list[tuple[str, Path]]:
    """Return the ``(catalog, .mo path)`` of one language folder; JavaScript catalogs are ``<app>-js``."""
    files: list[tuple[str, Path]] = []
    for name, locale in _locale_dirs(root):
        for domain, suffix in (("django", ""), ("djangojs", "-js")):
            path = locale / folder / "LC_MESSAGES" / f"{domain}.mo"
            if path.is_file():
                files.append((name + suffix, path))
    return files


@functools.lru_cache(maxsize=4)
def _language_folders(root: str) -> tuple[str, ...]:
    """Return the locale folder names that hold at least one catalog, English variants excluded.

    ``en``, ``en_AU`` and ``en_GB`` are the source language: their entries are empty or copies.
    """
    folders = {
        path.parents[1].name
        for _, locale in _locale_dirs(Path(root))
        for path in locale.glob("*/LC_MESSAGES/*.mo")
        if path.name in ("django.mo", "djangojs.mo")
    }
    return tuple(sorted(f for f in folders if f != SOURCE_LANG and not f.startswith(SOURCE_LANG + "_")))


# -------------------------------------------------------------------------------------------- parsing


def _read_table(data: bytes, fmt: str, offset: int, count: int) -> list[tuple[int, int]]:
    """Read ``count`` (length, offset) descriptors of a .mo string table."""
    return [struct.unpack_from(fmt + "2I", data, offset + 8 * i) for i in range(count)]


def _raw_entries(data: bytes, path: Path) -> list[tuple[bytes, bytes]]:
    """Return the (original, translation) byte strings of a GNU .mo file.

    Raises:
        DistillError: If the file is not a .mo catalog.
    """
    if len(data) < 20:
        raise DistillError(
            f"{path} is not a gettext .mo file (too short)", fix="pip install --force-reinstall django"
        )
    fmt = "<" if int.from_bytes(data[:4], "little") == _MO_MAGIC else ">"
    magic, revision, count, originals, translations = struct.unpack_from(fmt + "5I", data, 0)
    if magic != _MO_MAGIC or revision >> 16 > 1:
        raise DistillError(
            f"{path} is not a gettext .mo file we can read", fix="pip install --force-reinstall django"
        )
    try:
        pairs = zip(
            _read_table(data, fmt, originals, count), _read_table(data, fmt, translations, count), strict=True
        )
        return [
            (data[o_off : o_off + o_len], data[t_off : t_off + t_len])
            for (o_len, o_off), (t_len, t_off) in pairs
        ]
    except struct.error as exc:
        raise DistillError(
            f"{path} is a truncated .mo file", fix="pip install --force-reinstall django"
        ) from exc


def _charset(raw: list[tuple[bytes, bytes]]) -> str:
    """Return the charset declared in the catalog header (the entry with an empty msgid)."""
    for original, translation in raw:
        if original == b"":
            match = _CHARSET.search(translation.decode("ascii", "replace"))
            return match.group(1) if match else "utf-8"
    return "utf-8"


def _decode_entry(original: bytes, translation: bytes, charset: str) -> _MoEntry:
    """Split a raw entry into context, msgid, msgid_plural and its translations."""
    context: str | None = None
    if b"\x04" in original:
        ctx, _, original = original.partition(b"\x04")
        context = ctx.decode(charset)
    msgid, sep, plural = original.partition(b"\x00")
    forms = tuple(form.decode(charset) for form in translation.split(b"\x00"))
    return _MoEntry(context, msgid.decode(charset), plural.decode(charset) if sep else None, forms)


def _read_mo(path: Path) -> tuple[list[_MoEntry], bytes]:
    """Return the entries of one .mo file (header excluded) and the file's bytes."""
    data = path.read_bytes()
    raw = _raw_entries(data, path)
    charset = _charset(raw)
    try:
        entries = [_decode_entry(o, t, charset) for o, t in raw if o != b""]
    except (LookupError, UnicodeDecodeError) as exc:
        raise DistillError(
            f"{path}: cannot decode as {charset}: {exc}", fix="pip install --force-reinstall django"
        ) from exc
    return entries, data


# -------------------------------------------------------------------------------------------- pairs


def _plural_pairs(entry: _MoEntry, plural_rule: gettext.GNUTranslations) -> Iterator[tuple[str, str]]:
    """Yield (msgid, n=1 form) and (msgid_plural, n=5 form), chosen by the catalog's Plural-Forms rule."""
    assert entry.msgid_plural is not None
    for english, n in ((entry.msgid, SINGULAR_N), (entry.msgid_plural, PLURAL_N)):
        if entry.context is None:
            form = plural_rule.ngettext(entry.msgid, entry.msgid_plural, n)
        else:
            form = plural_rule.npgettext(entry.context, entry.msgid, entry.msgid_plural, n)
        # gettext falls back to the English text when a form is missing: that is no translation.
        if form in entry.translations:
            yield english, form


def _entry_pairs(entries: list[_MoEntry], data: bytes) -> Iterator[tuple[str, str]]:
    """Yield the raw (English, translation) pairs of one catalog, before filtering."""
    plural_rule: gettext.GNUTranslations | None = None
    for entry in entries:
        if entry.msgid_plural is None:
            yield entry.msgid, entry.translations[0]
            continue
        if plural_rule is None:  # parsed only for catalogs that have plural entries
            plural_rule = gettext.GNUTranslations(io.BytesIO(data))
        yield from _plural_pairs(entry, plural_rule)


def _catalog_pairs(catalog: str, path: Path) -> list[_Pair]:
    """Return the non-empty pairs of one catalog, whitespace-stripped."""
    entries, data = _read_mo(path)
    pairs = []
    try:
        for src, tgt in _entry_pairs(entries, data):
            src, tgt = src.strip(), tgt.strip()
            if src and tgt:
                pairs.append(_Pair(src, tgt, catalog))
    # gettext parses the file again for plural entries, and evaluates its Plural-Forms rule.
    except (OSError, ValueError, ArithmeticError, RecursionError, SyntaxError, struct.error) as exc:
        raise DistillError(
            f"{path}: cannot read its plural forms ({type(exc).__name__}: {exc})",
            fix="pip install --force-reinstall django",
        ) from exc
    return pairs


@functools.lru_cache(maxsize=32)
def _language_pairs(root: str, folder: str) -> tuple[_Pair, ...]:
    """Return every pair of one language in catalog order, de-duplicated by (src, tgt) (cached)."""
    seen: set[tuple[str, str]] = set()
    out: list[_Pair] = []
    for catalog, path in _catalog_files(Path(root), folder):
        for pair in _catalog_pairs(catalog, path):
            if (pair.src, pair.tgt) not in seen:
                seen.add((pair.src, pair.tgt))
                out.append(pair)
    return tuple(out)


# ---------------------------------------------------------------------------------------- public API


def _resolve(root: str, lang: str) -> str:
    """Map a user's code (``pt-BR``, ``pt_br``, ``zh``) to a Django locale folder name."""
    folders = _language_folders(root)
    index = {tag_key(folder): folder for folder in folders}
    for alias, folder in _ALIASES.items():
        if folder in folders:
            index.setdefault(tag_key(alias), folder)
    found = index.get(tag_key(lang))
    if found is None:
        raise DistillError(
            f"Django {_django_version(root)} has no translation catalog for {lang!r}; "
            f"available: {format_codes(folders)}",
            fix="pass one of the listed codes (pt-BR and pt_BR both work)",
        )
    return found


def _django_version(root: str) -> str:
    """Return the installed Django version from its package metadata, or ``"(unknown version)"``."""
    from importlib import metadata

    try:
        return metadata.version("django")
    except metadata.PackageNotFoundError:
        return f"(at {root})"


def django_languages() -> list[str]:
    """Return the Django locale folders with catalogs, sorted (``["af", ..., "pt_BR", ..., "zh_Hant"]``).

    English (``en``, ``en_AU``, ``en_GB``), the source language, is left out.

    Raises:
        DistillError: If Django is not installed.
    """
    return list(_language_folders(str(_django_root())))


def resolve_django_lang(lang: str) -> str:
    """Return the locale folder for a user's code (``"pt-BR"`` -> ``"pt_BR"``, ``"zh"`` -> ``"zh_Hans"``).

    Raises:
        DistillError: If Django is not installed or has no catalog for the language.
    """
    root = str(_django_root())
    return _resolve(root, lang)


def _keep(pair: _Pair, min_words: int, max_words: int | None, keep_identical: bool) -> bool:
    """Apply the user's filters; word counts are whitespace tokens of the English side."""
    words = len(pair.src.split())
    if words < min_words or (max_words is not None and words > max_words):
        return False
    return keep_identical or pair.src != pair.tgt


def load_django_pairs(
    lang: str,
    min_words: int = 1,
    *,
    max_words: int | None = None,
    keep_identical: bool = False,
    include_js: bool = True,
) -> Dataset:
    """Return English-to-``lang`` pairs from Django's translation catalogs.

    Columns: ``id`` (``"django/<folder>/<16 hex>"``, a hash of the pair, stable across Django
    versions), ``src`` (English), ``tgt`` (translation) and ``catalog`` (``core``, a contrib app such
    as ``admin``, or ``admin-js`` for a JavaScript catalog). Order and de-duplication are described
    in the module docstring.

    Args:
        lang: A Django locale (``"it"``, ``"pt_BR"``) or the same tag with ``-`` (``"pt-BR"``).
        min_words: Keep pairs whose English side has at least this many whitespace-separated words.
        max_words: If given, drop pairs whose English side has more words.
        keep_identical: Keep pairs whose translation equals the English text.
        include_js: Include the admin's JavaScript catalogs (``djangojs.mo``).

    Raises:
        DistillError: If Django is not installed, the language is unknown, or no pair passes the filters.
    """
    from datasets import Dataset, Features, Value

    root = str(_django_root())
    folder = _resolve(root, lang)
    pairs = [
        pair
        for pair in _language_pairs(root, folder)
        if (include_js or not pair.catalog.endswith("-js"))
        and _keep(pair, min_words, max_words, keep_identical)
    ]
    if not pairs:
        raise DistillError(
            f"no Django translation pairs for {folder!r} pass the filters "
            f"(min_words={min_words}, max_words={max_words}, keep_identical={keep_identical})",
            fix="lower min_words, raise max_words or pass keep_identical=True",
        )
    columns = {
        "id": [f"django/{folder}/{text_sha256(p.src, p.tgt)[:16]}" for p in pairs],
        "src": [p.src for p in pairs],
        "tgt": [p.tgt for p in pairs],
        "catalog": [p.catalog for p in pairs],
    }
    return Dataset.from_dict(columns, features=Features({name: Value("string") for name in COLUMNS}))


def django_pair_counts(langs: Sequence[str] | None = None, min_words: int = 1) -> dict[str, int]:
    """Return the number of pairs :func:`load_django_pairs` gives per language (default: all languages).

    Raises:
        DistillError: If Django is not installed or a language is unknown.
    """
    root = str(_django_root())
    folders = _language_folders(root) if not langs else tuple(_resolve(root, lang) for lang in langs)
    return {
        folder: sum(_keep(p, min_words, None, False) for p in _language_pairs(root, folder))
        for folder in folders
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Print pair counts (``python -m distill.data.sources.django_po [lang ...]``)."""
    parser = argparse.ArgumentParser(description="English-to-X pairs in Django's translation catalogs.")
    parser.add_argument("langs", nargs="*", help="Django locales (default: all)")
    parser.add_argument(
        "--min-words", type=int, default=1, help="minimum English words per pair (default: 1)"
    )
    args = parser.parse_args(argv)
    try:
        counts = django_pair_counts(args.langs, args.min_words)
    except DistillError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    width = max(len(folder) for folder in counts)
    for folder, count in counts.items():
        print(f"{folder.ljust(width)}  {count:5d}")
    print(f"{'total'.ljust(width)}  {sum(counts.values()):5d}  ({len(counts)} languages)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
