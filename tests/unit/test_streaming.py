"""The streaming property the pipeline relies on: user files become memory-mapped Arrow, never lists.

Reading, splitting and joining with the teacher's logits must keep the rows on disk (``cache_files``
non-empty, a memory-mapped table), so that memory does not grow with the corpus
(experiments/bench/memory_scaling.py measures it on 10k-1M pairs).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from datasets.table import MemoryMappedTable

from distill.data.datamodule import distill_rows
from distill.data.files import read_parallel
from distill.data.parallel import split_by_hash


def _on_disk(ds: object) -> bool:
    return bool(ds.cache_files) and isinstance(ds.data, MemoryMappedTable)  # type: ignore[attr-defined]


def test_files_split_and_rows_stay_memory_mapped(tmp_path: Path, isolated_cache: Path) -> None:
    path = tmp_path / "pairs.tsv"
    with path.open("w", encoding="utf-8") as f:
        f.write("src\ttgt\tlabel\n")
        for i in range(300):
            f.write(f"hello {i}\tciao {i}\t{'ab'[i % 2]}\n")
    pool = read_parallel(str(path))
    assert _on_disk(pool) and len(pool) == 300
    assert pool[5] == {"src": "hello 5", "tgt": "ciao 5", "label": "b", "line": 7, "id": "pairs.tsv:7"}
    train = split_by_hash(pool)["train"]
    assert _on_disk(train)
    logits = np.random.default_rng(0).normal(size=(len(train), 2)).astype(np.float32)
    rows = distill_rows(train, logits, lang_id=0, label2id={"a": 0, "b": 1}, where="it/train")
    assert _on_disk(rows)
    assert rows.column_names == ["tgt", "src", "labels", "lang", "teacher_logits"]
    np.testing.assert_array_equal(np.asarray(rows.with_format("numpy")["teacher_logits"]), logits)
    assert rows[0]["tgt"] == train[0]["tgt"] and rows[0]["labels"] == "ab".index(train[0]["label"])
    # A second read of the unchanged file reuses the memory-mapped copy.
    again = read_parallel(str(path))
    assert again.cache_files[0]["filename"] == pool.cache_files[0]["filename"]


def test_changed_file_is_read_again(tmp_path: Path, isolated_cache: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text('{"src": "a", "tgt": "b"}\n', encoding="utf-8")
    assert read_parallel(str(path))["tgt"][:] == ["b"]
    path.write_text('{"src": "a", "tgt": "c"}\n{"src": "d", "tgt": "e"}\n', encoding="utf-8")
    assert read_parallel(str(path))["tgt"][:] == ["c", "e"]


@pytest.mark.parametrize("n", [1, 25_001])
def test_duplicate_ids_found_across_chunks(tmp_path: Path, isolated_cache: Path, n: int) -> None:
    from distill.errors import DistillError

    path = tmp_path / "dup.tsv"
    with path.open("w", encoding="utf-8") as f:
        f.write("id\tsrc\ttgt\n")
        for i in range(n):
            f.write(f"x{i}\ts\tt\n")
        f.write("x0\ts\tt\n")
    with pytest.raises(DistillError, match=rf"id 'x0' on line {n + 2} was already used on line 2"):
        read_parallel(str(path))


def test_data_hashes_stream_the_pairs_and_equal_the_hash_of_all_texts() -> None:
    from datasets import Dataset, DatasetDict

    from distill.records import data_hashes
    from distill.utils.hashing import text_sha256

    n = 25_000  # three chunks of the 10k-row stream
    pairs = Dataset.from_dict({"src": [f"s{i}" for i in range(n)], "tgt": [f"t {i}" for i in range(n)]})
    hashes = data_hashes({"it": DatasetDict(train=pairs, test=pairs.select(range(3)))})
    assert hashes["it/train"] == text_sha256(*pairs["src"], *pairs["tgt"])[:16]
    assert hashes["it/test"] == text_sha256("s0", "s1", "s2", "t 0", "t 1", "t 2")[:16]


def test_cached_targets_are_read_a_batch_of_rows_at_a_time(
    tmp_path: Path, isolated_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The teacher's logits given as a cache entry (a memory-mapped ``logits`` column, what the
    label stage hands the distill stage) are sliced per ``map`` batch, never read whole; the rows
    equal those built from the same logits in memory."""
    from datasets import Dataset, Features, List, Value, load_from_disk

    import distill.data.datamodule as datamodule

    n = 2 * datamodule.ROWS_BATCH + 123
    pairs = Dataset.from_dict(
        {"tgt": [f"ciao {i}" for i in range(n)], "src": [f"hello {i}" for i in range(n)]}
    )
    logits = np.random.default_rng(0).normal(size=(n, 3)).astype(np.float32)
    features = Features({"logits": List(Value("float32"), length=3)})
    Dataset.from_dict({"logits": logits}, features=features).save_to_disk(tmp_path / "entry")
    entry = load_from_disk(tmp_path / "entry")
    assert _on_disk(entry)
    reads: list[object] = []
    read_rows = datamodule._logit_rows

    def spy(ds: Dataset, rows: object) -> np.ndarray:
        reads.append(rows)
        return read_rows(ds, rows)

    monkeypatch.setattr(datamodule, "_logit_rows", spy)
    rows = distill_rows(pairs, entry, lang_id=0, label2id={}, where="it/train")
    assert len(reads) == 3 and all(isinstance(r, slice) for r in reads)
    b = datamodule.ROWS_BATCH
    assert [(r.start, r.stop) for r in reads] == [(0, b), (b, 2 * b), (2 * b, n)]  # type: ignore[attr-defined]
    from_memory = distill_rows(pairs, logits, lang_id=0, label2id={}, where="it/train")
    got = np.asarray(rows.with_format("numpy")["teacher_logits"])
    np.testing.assert_array_equal(got, np.asarray(from_memory.with_format("numpy")["teacher_logits"]))
    np.testing.assert_array_equal(got, logits)
