"""Bad user files (``data=files``) through the console scripts: one ``error:`` line naming file and line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from distill.data.files import MAX_LINE_BYTES
from tests.bad_inputs.conftest import Runner, write_jsonl

FILES = ("data=files", "data.target_langs=[it]")


def test_missing_file(run_cli: Runner, tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    result = run_cli("distill-run", *FILES, f"data.parallel={missing}")
    result.assert_clean_error(f"parallel data file {missing} does not exist", "check the path")


def test_empty_file(run_cli: Runner, tmp_path: Path) -> None:
    empty = tmp_path / "empty.tsv"
    empty.write_bytes(b"")
    result = run_cli("distill-label", *FILES, f"data.parallel={empty}")
    result.assert_clean_error(f"{empty} is empty")


def test_wrong_extension(run_cli: Runner, tmp_path: Path) -> None:
    xlsx = tmp_path / "pairs.xlsx"
    xlsx.write_bytes(b"PK\x03\x04")
    result = run_cli("distill-train", *FILES, f"data.parallel={xlsx}")
    result.assert_clean_error(f"{xlsx} has an unknown extension '.xlsx'", ".jsonl", ".tsv")


def test_invalid_utf8_names_the_line(run_cli: Runner, tmp_path: Path) -> None:
    latin = tmp_path / "latin1.tsv"
    latin.write_bytes(b"src\ttgt\nhello\tciao\ncaf\xe9\tcaff\xe8\n")
    result = run_cli("distill-run", *FILES, f"data.parallel={latin}")
    result.assert_clean_error(f"{latin}, line 3: bytes that are not UTF-8", "iconv")


def test_aligned_text_files_of_different_lengths(run_cli: Runner, tmp_path: Path) -> None:
    en, it = tmp_path / "en.txt", tmp_path / "it.txt"
    en.write_text("one\ntwo\nthree\n")
    it.write_text("uno\ndue\n")
    result = run_cli("distill-run", *FILES, f"data.parallel=[{en},{it}]")
    result.assert_clean_error(f"{en} has 3 lines but {it} has 2", "aligned line by line")


def test_missing_column_names_it_and_the_mapping_key(run_cli: Runner, tmp_path: Path) -> None:
    table = tmp_path / "pairs.csv"
    table.write_text("english,tgt\nhi,ciao\n")
    result = run_cli("distill-run", *FILES, f"data.parallel={table}")
    result.assert_clean_error(f"{table} has no column 'src'", "['english', 'tgt']", "data.columns.src=")


def test_duplicate_ids_are_an_error(run_cli: Runner, tmp_path: Path) -> None:
    dup = write_jsonl(
        tmp_path / "dup.jsonl",
        [{"id": "a", "src": "Hi", "tgt": "Ciao"}, {"id": "a", "src": "Bye", "tgt": "Addio"}],
    )
    result = run_cli("distill-run", *FILES, f"data.parallel={dup}")
    result.assert_clean_error(f"{dup}: id 'a' on line 2 was already used on line 1", "ids must be unique")


def test_huge_line_is_refused_without_reading_it(run_cli: Runner, tmp_path: Path) -> None:
    huge = tmp_path / "huge.jsonl"
    first = b'{"src": "Hi", "tgt": "Ciao"}\n'
    with huge.open("wb") as f:  # a sparse file: line 2 is 3 MiB of NUL bytes, never written to disk
        f.write(first)
        f.truncate(len(first) + 3 * MAX_LINE_BYTES)
    result = run_cli("distill-run", *FILES, f"data.parallel={huge}")
    result.assert_clean_error(f"{huge}, line 2 is longer than {MAX_LINE_BYTES:,} bytes")


def test_parallel_not_set(run_cli: Runner) -> None:
    result = run_cli("distill-run", *FILES)
    result.assert_clean_error(
        "data=files needs data.parallel (the parallel pairs), but it is not set", "data.target_unlabelled.it"
    )


def test_nan_label_in_the_test_file(run_cli: Runner, tmp_path: Path, pairs_file: Path) -> None:
    test = tmp_path / "it_test.jsonl"
    test.write_text('{"text": "ciao", "label": "greetings"}\n{"text": "buongiorno", "label": NaN}\n')
    result = run_cli("distill-run", *FILES, f"data.parallel={pairs_file}", f"data.target_test.it={test}")
    result.assert_clean_error(f"it target test file {test}, line 2: column 'label' is nan")


def test_unknown_labels_in_the_test_file(
    run_cli: Runner, tmp_path: Path, pairs_file: Path, classifier_factory: Callable[[list[str]], Path]
) -> None:
    teacher = classifier_factory(["greetings", "ai"])
    test = write_jsonl(tmp_path / "it_test.jsonl", [{"text": "che tempo fa", "label": "weather"}])
    result = run_cli(
        "distill-run",
        *FILES,
        f"teacher.path={teacher}",
        f"data.parallel={pairs_file}",
        f"data.target_test.it={test}",
    )
    # The check runs after the label stage (pipeline.train): its complete outputs may stay.
    result.assert_clean_error(
        "it/test has labels the teacher does not know: ['weather']",
        complete=("teacher.json", "labels.json", "soft_labels"),
    )


@pytest.mark.parametrize("bom", [False, True], ids=["plain", "bom"])
def test_bom_and_crlf_are_accepted_by_the_scripts(run_cli: Runner, tmp_path: Path, bom: bool) -> None:
    """Handled, not refused: a BOM + CRLF file gets as far as a plain one (here: to a bad language)."""
    table = tmp_path / "pairs.tsv"
    rows = "src\ttgt\r\n" + "".join(f"hello {i}\tciao {i}\r\n" for i in range(40))
    table.write_bytes(("\ufeff" if bom else "").encode() + rows.encode())
    # The data is read before the teacher is looked for: an unlabelled file without teacher.path
    # stops there, so the run shows the file was parsed (both variants, the same message).
    result = run_cli("distill-run", "data=files", "data.target_langs=[it]", f"data.parallel={table}")
    result.assert_clean_error("data=files has no labels to fine-tune a teacher on")


def test_raw_target_text_not_utf8(run_cli: Runner, tmp_path: Path) -> None:
    """``data.target_unlabelled.<lang>`` is a user file like the others: one clear line, file and line."""
    raw = tmp_path / "it_raw.txt"
    raw.write_bytes(b"ciao\ncaff\xe8\n")
    test = write_jsonl(tmp_path / "it_test.jsonl", [{"text": "ciao", "label": "greetings"}])
    args = ("mode=direct", f"data.target_unlabelled.it={raw}", f"data.target_test.it={test}")
    result = run_cli("distill-run", *FILES, *args)
    result.assert_clean_error(
        f"data.target_unlabelled.it file {raw}, line 2: bytes that are not UTF-8", "iconv"
    )
