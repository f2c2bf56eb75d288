"""Readers of users' files: every format, column mapping, and errors naming file, line and fix."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from distill.data.files import read_aligned_text, read_parallel, read_table
from distill.data.parallel import per_language
from distill.errors import DistillError
from distill.sources import load_parallel

ROWS = [
    {"id": "a", "src": "Hello", "tgt": "Ciao", "label": "greetings"},
    {"id": "b", "src": "What is AI?", "tgt": "Cos'è l'IA?", "label": "ai"},
]


def _write(path: Path, kind: str, rows: list[dict], **kw: object) -> Path:
    if kind == "jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    elif kind in ("csv", "tsv"):
        import csv

        with path.open("w", encoding="utf-8", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter="," if kind == "csv" else "\t")
            w.writeheader()
            w.writerows(rows)
    elif kind == "parquet":
        pq.write_table(pa.Table.from_pylist(rows), path)
    return path


@pytest.mark.parametrize("kind", ["jsonl", "csv", "tsv", "parquet"])
def test_every_table_format_reads_the_same_pairs(kind: str, tmp_path: Path) -> None:
    ds = read_parallel(_write(tmp_path / f"p.{kind}", kind, ROWS))
    assert ds["src"] == ["Hello", "What is AI?"]
    assert ds["tgt"] == ["Ciao", "Cos'è l'IA?"]
    assert ds["label"] == ["greetings", "ai"]
    assert ds["id"] == ["a", "b"]


def test_aligned_text_files_bom_crlf_and_blank_lines_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    src = tmp_path / "en.txt"
    tgt = tmp_path / "it.txt"
    src.write_bytes("\ufeffHello\r\n\r\nGood night\r\n".encode())
    tgt.write_bytes(b"Ciao\r\nVuoto\r\nBuona notte\r\n")
    with caplog.at_level(logging.WARNING):
        ds = read_parallel([str(src), str(tgt)])
    assert ds["src"] == ["Hello", "Good night"] and ds["tgt"] == ["Ciao", "Buona notte"]
    assert ds["id"] == ["it.txt:1", "it.txt:3"]  # ids from the line numbers
    assert "skipped 1 pairs with a blank side (line 2)" in caplog.text


def test_column_mapping(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", "csv", [{"sentence": "Hi", "topic": "greetings"}])
    ds = read_table(path, required=("text", "label"), columns={"text": "sentence", "label": "topic"})
    assert ds["text"] == ["Hi"] and ds["label"] == ["greetings"]


def _error(fn: object, *args: object, **kw: object) -> str:
    with pytest.raises(DistillError) as info:
        fn(*args, **kw)  # type: ignore[operator]
    return str(info.value)


def test_bad_files_name_file_line_and_fix(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    assert f"parallel data file {missing} does not exist" in _error(read_parallel, missing)

    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    assert "is empty" in _error(read_parallel, empty)

    xlsx = tmp_path / "pairs.xlsx"
    xlsx.write_text("x")
    msg = _error(read_parallel, xlsx)
    assert "unknown extension '.xlsx'" in msg and ".jsonl" in msg

    latin = tmp_path / "latin.tsv"
    latin.write_bytes(b"src\ttgt\nhello\tciao\ncaf\xe9\tcaff\xe8\n")
    assert f"{latin}, line 3: bytes that are not UTF-8" in _error(read_parallel, latin)

    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"src": "a", "tgt": "b"}\n{"src": "a", "tgt": \n')
    assert f"{broken}, line 2: not valid JSON" in _error(read_parallel, broken)

    short = tmp_path / "short.csv"
    short.write_text("src,tgt\nhello,ciao\nonly one field\n")
    assert f"{short}, line 3: 1 fields, the header has 2" in _error(read_parallel, short)

    nocol = _write(tmp_path / "nocol.jsonl", "jsonl", [{"english": "Hi", "tgt": "Ciao"}])
    msg = _error(read_parallel, nocol)
    assert "has no column 'src'; its columns are ['english', 'tgt']" in msg and "data.columns." in msg
    msg = _error(read_parallel, nocol, columns={"src": "source"})
    assert "no column 'src' (as 'source')" in msg

    dup = _write(tmp_path / "dup.jsonl", "jsonl", [ROWS[0], ROWS[1], {**ROWS[1], "id": "a"}])
    assert "id 'a' on line 3 was already used on line 1" in _error(read_parallel, dup)

    nan = tmp_path / "nan.parquet"
    pq.write_table(pa.Table.from_pylist([{"text": "x", "label": float("nan")}]), nan)
    assert "line 1: column 'label' is nan" in _error(read_table, nan, required=("text", "label"))

    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("one\ntwo\nthree\n")
    b.write_text("uno\ndue\n")
    assert f"{a} has 3 lines but {b} has 2" in _error(read_aligned_text, a, b)

    blanks = _write(tmp_path / "blank.jsonl", "jsonl", [{"src": " ", "tgt": "x"}])
    assert "every row has an empty tgt or src" in _error(read_parallel, blanks)


def test_per_language_settings_list_the_codes_present() -> None:
    assert per_language({"ja": "a.tsv", "it": "b.tsv"}, "ja", ["ja", "it"], "data.parallel") == "a.tsv"
    msg = _error(per_language, {"ja": "a.tsv", "it": "b.tsv"}, "ko", ["ko"], "data.parallel")
    assert "data.parallel has no entry for 'ko'; it has it, ja" in msg
    assert "one source for 2 target languages" in _error(
        per_language, "a.tsv", "ja", ["ja", "it"], "data.parallel"
    )


def test_files_source_splits_pairs_and_reads_the_target_test(tmp_path: Path) -> None:
    pairs = [{"src": f"sentence {i}", "tgt": f"frase {i}"} for i in range(200)]
    parallel = _write(tmp_path / "en_it.jsonl", "jsonl", pairs)
    cfg = {"name": "files", "source_lang": "en", "target_langs": ["it"], "parallel": str(parallel)}
    dd = load_parallel(cfg, "it")
    sizes = {k: len(v) for k, v in dd.items()}
    assert sum(sizes.values()) == 200 and sizes["train"] > sizes["validation"] > 0 and sizes["test"] > 0

    test = _write(tmp_path / "it_test.jsonl", "jsonl", [{"text": "ciao", "label": "greetings"}])
    dd = load_parallel({**cfg, "target_test": {"it": str(test)}}, "it")
    assert set(dd) == {"train", "validation", "test"}
    assert len(dd["train"]) + len(dd["validation"]) == 200
    assert dd["test"]["tgt"] == ["ciao"] and dd["test"]["label"] == ["greetings"]


def test_read_texts_keeps_ids_from_a_table_and_makes_them_for_lines(tmp_path: Path) -> None:
    from distill.data.files import read_texts

    table = tmp_path / "raw.csv"
    table.write_text("id,text\nx1,ciao\n,buongiorno\n", encoding="utf-8")
    ds = read_texts(table, what="raw")
    assert ds["id"] == ["x1", "raw.csv:3"] and ds["tgt"] == ["ciao", "buongiorno"]
    lines = tmp_path / "raw.txt"
    lines.write_text("\ufeffuno\r\ndue\n\ntre", encoding="utf-8")
    ds = read_texts(lines, what="raw")
    assert ds["id"] == ["raw.txt:1", "raw.txt:2", "raw.txt:4"] and ds["tgt"] == ["uno", "due", "tre"]
