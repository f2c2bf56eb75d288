"""The file readers on bad (and odd but valid) files, called directly: the message names file and line."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from distill.data.files import MAX_LINE_BYTES, read_aligned_text, read_parallel, read_table
from distill.errors import DistillError

ROWS = [{"text": "Hello there", "label": "greetings"}, {"text": "What is AI?", "label": "ai"}]
TEXT_KINDS = ["jsonl", "csv", "tsv"]


def _table_bytes(kind: str, rows: list[dict[str, str]], newline: str = "\n") -> bytes:
    if kind == "jsonl":
        lines = [json.dumps(r) for r in rows]
    else:
        sep = "," if kind == "csv" else "\t"
        lines = [sep.join(rows[0]), *(sep.join(r.values()) for r in rows)]
    return "".join(line + newline for line in lines).encode()


def _error(fn: object, *args: object, **kw: object) -> DistillError:
    with pytest.raises(DistillError) as info:
        fn(*args, **kw)  # type: ignore[operator]
    assert info.value.fix, str(info.value)  # every message says how to fix it
    return info.value


def _read(path: Path) -> dict[str, list[object]]:
    return read_table(path, required=("text", "label"), what="source").to_dict()


@pytest.mark.parametrize("kind", TEXT_KINDS)
@pytest.mark.parametrize("variant", ["bom", "crlf", "bom+crlf"])
def test_bom_and_crlf_parse_identically(kind: str, variant: str, tmp_path: Path) -> None:
    plain = tmp_path / f"plain.{kind}"
    plain.write_bytes(_table_bytes(kind, ROWS))
    odd = tmp_path / f"odd.{kind}"
    data = _table_bytes(kind, ROWS, "\r\n" if "crlf" in variant else "\n")
    odd.write_bytes((b"\xef\xbb\xbf" if "bom" in variant else b"") + data)
    assert _read(odd) == _read(plain)


@pytest.mark.parametrize("variant", ["bom", "crlf"])
def test_aligned_text_with_bom_or_crlf_parses_identically(variant: str, tmp_path: Path) -> None:
    src, tgt = tmp_path / "en.txt", tmp_path / "it.txt"
    src.write_text("Hello\nGood night\n")
    tgt.write_text("Ciao\nBuona notte\n")
    plain = read_aligned_text(src, tgt).to_dict()
    odd = tmp_path / "odd.txt"
    odd.write_bytes(b"\xef\xbb\xbfHello\nGood night\n" if variant == "bom" else b"Hello\r\nGood night\r\n")
    assert read_aligned_text(odd, tgt).to_dict() == plain


@pytest.mark.parametrize("kind", [*TEXT_KINDS, "parquet"])
def test_missing_label_column_in_each_format(kind: str, tmp_path: Path) -> None:
    rows = [{"text": r["text"], "topic": r["label"]} for r in ROWS]
    path = tmp_path / f"test.{kind}"
    if kind == "parquet":
        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        path.write_bytes(_table_bytes(kind, rows))
    err = _error(_read, path)
    assert f"{path} has no column 'label'; its columns are ['text', 'topic']" in str(err)
    assert "data.columns.label=" in str(err)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_in_jsonl(value: str, tmp_path: Path) -> None:
    path = tmp_path / "scores.jsonl"
    path.write_text(f'{{"text": "fine", "label": "ai"}}\n{{"text": "odd", "label": {value}}}\n')
    assert f"{path}, line 2: column 'label' is " in str(_error(_read, path))


def test_infinite_label_in_parquet(tmp_path: Path) -> None:
    path = tmp_path / "test.parquet"
    pq.write_table(
        pa.Table.from_pylist([{"text": "x", "label": 1.0}, {"text": "y", "label": float("inf")}]), path
    )
    assert f"{path}, line 2: column 'label' is inf" in str(_error(_read, path))


@pytest.mark.parametrize("kind", [*TEXT_KINDS, "txt"])
def test_huge_line_is_refused_with_bounded_memory(kind: str, tmp_path: Path) -> None:
    """A 16 MiB line (sparse: nothing written) fails after reading ~1 MiB of it, naming the line."""
    path = tmp_path / f"huge.{kind}"
    head = _table_bytes(kind, ROWS[:1]) if kind != "txt" else b"Hello\n"
    with path.open("wb") as f:
        f.write(head)
        f.truncate(len(head) + 16 * MAX_LINE_BYTES)
    line = head.count(b"\n") + 1
    tracemalloc.start()
    try:
        err = _error(read_aligned_text, path, path) if kind == "txt" else _error(_read, path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert f"{path}, line {line} is longer than {MAX_LINE_BYTES:,} bytes" in str(err)
    assert peak < 4 * MAX_LINE_BYTES, f"peak {peak:,} bytes"


def test_a_line_of_exactly_the_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "long.jsonl"
    prefix, suffix = '{"text": "', '", "label": "ai"}'
    text = "x" * (MAX_LINE_BYTES - len(prefix) - len(suffix))
    path.write_text(prefix + text + suffix + "\r\n")
    assert _read(path)["text"] == [text]


def test_json_nested_too_deeply(tmp_path: Path) -> None:
    path = tmp_path / "deep.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n" + "[" * 100_000 + "\n")
    assert f"{path}, line 2: JSON nested too deeply" in str(_error(_read, path))


def test_lone_surrogate_escape_in_json(tmp_path: Path) -> None:
    path = tmp_path / "surrogate.jsonl"
    path.write_text('{"text": "caf\\ud800", "label": "ai"}\n')
    assert f"{path}, line 1: column 'text' holds '\\ud800'" in str(_error(_read, path))


@pytest.mark.parametrize(
    ("kind", "data", "message"),
    [
        ("csv", b"\xef\xbb\xbf", "has no header row"),
        ("tsv", b"text\tlabel\n", "has no rows"),
        ("jsonl", b"\n  \n", "has no rows"),
        ("csv", b'text,label\n"unclosed,ai\n', "line"),
        ("jsonl", b'{"text": {"nested": 1}, "label": "ai"}\n', "column 'text' holds a dict"),
    ],
    ids=["bom-only", "header-only", "blank-lines", "unclosed-quote", "nested-value"],
)
def test_files_without_usable_rows(kind: str, data: bytes, message: str, tmp_path: Path) -> None:
    path = tmp_path / f"odd.{kind}"
    path.write_bytes(data)
    err = str(_error(_read, path))
    assert str(path) in err and message in err


def test_a_folder_given_as_a_file(tmp_path: Path) -> None:
    folder = tmp_path / "pairs.jsonl"
    folder.mkdir()
    assert f"parallel data {folder} is a folder, not a file" in str(_error(read_parallel, folder))
