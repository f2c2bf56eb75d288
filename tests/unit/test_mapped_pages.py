"""Mapped pages of the Arrow tables we hold go back to the kernel after each read, and nothing else."""

from __future__ import annotations

import itertools
import pickle
import sys

import numpy as np
import pytest
import torch
from datasets import Dataset, load_from_disk

from distill.data.datamodule import DistillDataModule
from distill.utils import mapped_pages
from distill.utils.mapped_pages import (
    HeldPages,
    ReleasedColumn,
    batches_released,
    column_released,
    mapped_ranges,
    releasing,
    resident_bytes,
)

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="madvise and /proc are Linux's")

ROWS = 40_000


@pytest.fixture
def on_disk(tmp_path) -> Dataset:
    """A memory-mapped table of ~5 MiB (texts that differ per row, an int column)."""
    ds = Dataset.from_dict({"text": [f"verse {i} " * 12 for i in range(ROWS)], "n": list(range(ROWS))})
    ds.save_to_disk(str(tmp_path / "rows"))
    return load_from_disk(str(tmp_path / "rows"))


def _read_everything(ds: Dataset) -> int:
    return sum(len(t) for t in ds["text"])


@linux
def test_release_drops_the_resident_pages_and_keeps_the_data(on_disk):
    held = HeldPages(on_disk)
    assert held.ranges, "a table loaded from disk is memory-mapped"
    expected = _read_everything(on_disk)
    assert resident_bytes(held.ranges) > 4 * 2**20  # the whole file was read
    assert held.release() >= 4 * 2**20
    assert resident_bytes(held.ranges) < 64 * 1024
    assert _read_everything(on_disk) == expected  # pages come back from the page cache, unchanged
    assert on_disk[12_345] == {"text": "verse 12345 " * 12, "n": 12_345}


def test_tables_in_memory_have_no_mapped_ranges():
    """Heap buffers (a table built in memory) are never advised: MADV_DONTNEED would zero them."""
    ds = Dataset.from_dict({"text": ["a b c"] * 1000})
    assert mapped_ranges([ds]) == []
    assert HeldPages(ds).release() == 0
    assert ds[999]["text"] == "a b c"


def test_only_read_only_file_mappings_holding_a_buffer_count():
    class Buf:
        def __init__(self, address, size):
            self.address, self.size = address, size

    maps = "\n".join(
        [
            "1000-2000 r--p 00000000 08:01 1 /cache/rows.arrow",
            "3000-4000 rw-p 00000000 08:01 2 /cache/written.arrow",
            "5000-6000 rw-p 00000000 00:00 0 ",
            "7000-8000 r--p 00000000 00:00 0 [vvar]",
            "9000-a000 r--s 00000000 08:01 3 /cache/other.arrow",
        ]
    )
    mappings = mapped_pages._read_only_file_mappings(maps)
    assert mappings == [(0x1000, 0x2000), (0x9000, 0xA000)]


@linux
def test_switched_off_by_the_environment(on_disk, monkeypatch):
    monkeypatch.setenv("DISTILL_KEEP_MAPPED_PAGES", "1")
    held = HeldPages(on_disk)
    _read_everything(on_disk)
    assert held.release() == 0
    assert held.ranges == []


@linux
def test_sequential_passes_leave_at_most_a_batch_resident(on_disk):
    ranges = HeldPages(on_disk).ranges
    expected = on_disk["text"][:]
    texts = list(column_released(on_disk, "text", batch_size=5_000))
    assert resident_bytes(ranges) < 64 * 1024  # the last batch too
    assert texts == expected
    ns = [n for batch in batches_released(on_disk, ["n"], 7_000) for n in batch["n"]]
    assert ns == list(range(ROWS))


@linux
def test_released_column_reads_like_the_column(on_disk):
    column = ReleasedColumn(on_disk, "text")
    ranges = HeldPages(on_disk).ranges
    assert len(column) == ROWS
    assert column[7] == "verse 7 " * 12
    expected = on_disk["text"][:]
    assert column[100:103] == ["verse 100 " * 12, "verse 101 " * 12, "verse 102 " * 12]
    assert resident_bytes(ranges) < 64 * 1024  # a slice hands its pages back
    assert list(column) == expected


def test_a_wrapped_function_pickles_without_this_process_ranges(on_disk):
    """A DataLoader worker (spawned) gets the tables and computes its own ranges."""
    wrapped = releasing(len, on_disk)
    wrapped.held.ranges  # noqa: B018 (computed here)
    copy = pickle.loads(pickle.dumps(wrapped))
    assert copy.held._pid is None and copy.held._ranges == []
    assert copy([1, 2, 3]) == 3


@linux
def test_a_map_releases_after_each_batch(on_disk):
    ranges = HeldPages(on_disk).ranges
    seen = []

    def lengths(batch):
        seen.append(resident_bytes(ranges))
        return {"length": [len(t) for t in batch["text"]]}

    out = on_disk.map(releasing(lengths, on_disk), batched=True, batch_size=10_000)
    assert out["length"][:] == [len(t) for t in on_disk["text"]]
    # Each batch starts with at most the previous batch's pages (about a quarter of the file).
    assert max(seen) < 3 * 2**20


@linux
def test_a_training_epoch_keeps_at_most_a_batch_of_rows_resident(on_disk):
    rows = on_disk.rename_column("n", "labels")

    def collate(batch):
        return {"labels": torch.tensor([r["labels"] for r in batch])}

    dm = DistillDataModule(rows, rows.select(range(100)), collate, batch_size=64, seed=1)
    ranges = HeldPages(rows).ranges
    seen, peak = [], 0
    for k, batch in enumerate(dm.train_dataloader()):
        seen.extend(batch["labels"].tolist())
        if k % 50 == 0:  # reading smaps costs more than a batch
            peak = max(peak, resident_bytes(ranges))
    assert sorted(seen) == list(range(ROWS))  # every row once, the values intact
    # 64 random rows map at most ~64 x 128 KiB between two releases; the file is ~5 MiB.
    assert peak < 0.5 * sum(e - s for s, e in ranges)
    assert resident_bytes(ranges) < 64 * 1024


def test_values_are_the_files_after_release_under_numpy(on_disk):
    """The numpy view of a released column reads the same numbers (no zeroed pages)."""
    held = HeldPages(on_disk)
    before = on_disk.with_format("arrow")["n"].to_numpy()
    held.release()
    assert np.array_equal(on_disk.with_format("arrow")["n"].to_numpy(), before)


@linux
def test_the_advised_pages_are_those_of_the_buffers(on_disk):
    """Ranges are page-aligned spans that cover every buffer of the table and nothing outside the
    file mapping that holds it."""
    ranges = mapped_ranges([on_disk])
    page = mapped_pages.PAGE
    assert all(lo % page == 0 and hi % page == 0 and lo < hi for lo, hi in ranges)
    assert all(a[1] < b[0] for a, b in itertools.pairwise(ranges))  # merged, sorted
    with open("/proc/self/maps", encoding="utf-8") as f:
        maps = mapped_pages._read_only_file_mappings(f.read())
    for lo, hi in ranges:
        assert any(s <= lo and hi <= e for s, e in maps)
    for buf in mapped_pages._buffers(on_disk.data.table):
        assert any(lo <= buf.address and buf.address + buf.size <= hi for lo, hi in ranges)
