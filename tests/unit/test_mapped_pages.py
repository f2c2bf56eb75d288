"""Mapped pages of the Arrow tables leave the resident set while a stage reads them, data unchanged."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest
from datasets import Dataset, load_from_disk

from distill.records import StageTimer
from distill.utils import mapped_pages
from distill.utils.mapped_pages import MappedPageReleaser, arrow_mappings, release_arrow_pages

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="madvise and /proc are Linux's")

MAPS = """\
55d0c0000000-55d0c0021000 r--p 00000000 08:01 1 /usr/bin/python3.11
7f0000000000-7f0004000000 r--s 00000000 08:01 2 /cache/files/cache-1.arrow
7f0010000000-7f0010100000 r--p 00000000 08:01 3 /cache/labels/data-00000-of-00001.arrow
7f0020000000-7f0020100000 rw-p 00000000 08:01 4 /cache/out/cache-2.arrow
7f0030000000-7f0030100000 rw-p 00000000 00:00 0
7f0040000000-7f0040100000 r-xp 00000000 08:01 5 /lib/libarrow.so.2600
"""


def test_only_read_only_arrow_files_are_released() -> None:
    found = arrow_mappings(MAPS)
    assert [m.path for m in found] == [
        "/cache/files/cache-1.arrow",
        "/cache/labels/data-00000-of-00001.arrow",
    ]
    assert found[0].end - found[0].start == 0x4000000


def _resident_kib(path: str) -> int:
    """Resident KiB of every mapping of ``path`` (``/proc/self/smaps``)."""
    total, current = 0, None
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and ":" not in head[0]:
            current = head[5] if len(head) > 5 else None
        elif head and head[0] == "Rss:" and current == path:
            total += int(head[1])
    return total


@pytest.fixture
def mapped_table(tmp_path: Path) -> tuple[Dataset, str]:
    texts = [f"verse {i} " + "x" * 300 for i in range(30_000)]  # about 9 MiB of text
    Dataset.from_dict({"text": texts}).save_to_disk(str(tmp_path / "ds"))
    ds = load_from_disk(str(tmp_path / "ds"))
    return ds, ds.cache_files[0]["filename"]


def _read_all(ds: Dataset) -> list[str]:
    return [t for batch in ds.iter(batch_size=5_000) for t in batch["text"]]


@linux_only
def test_release_drops_the_pages_of_a_table_that_was_read(mapped_table: tuple[Dataset, str]) -> None:
    ds, path = mapped_table
    first = _read_all(ds)
    assert _resident_kib(path) > 8 * 1024  # every page read is resident
    assert release_arrow_pages() >= 8 * 2**20
    assert _resident_kib(path) < 1024
    # The data is the file's: read again, equal, and resident again.
    assert _read_all(ds) == first
    assert _resident_kib(path) > 8 * 1024


@linux_only
def test_a_stage_releases_while_it_runs_and_keep_turns_it_off(
    mapped_table: tuple[Dataset, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ds, path = mapped_table
    with StageTimer()("label"):
        _read_all(ds)
        deadline = time.monotonic() + 10 * mapped_pages.PERIOD_S
        while _resident_kib(path) > 1024 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _resident_kib(path) < 1024  # released by the thread, within the stage
        assert any(t.name == "release-arrow-pages" for t in threading.enumerate())
    assert not any(t.name == "release-arrow-pages" for t in threading.enumerate())

    monkeypatch.setenv("DISTILL_KEEP_MAPPED_PAGES", "1")
    with MappedPageReleaser(period_s=0.01):
        _read_all(ds)
        time.sleep(0.1)
        assert _resident_kib(path) > 8 * 1024
        assert not any(t.name == "release-arrow-pages" for t in threading.enumerate())


@linux_only
def test_nested_stages_share_one_thread() -> None:
    with MappedPageReleaser(period_s=0.01), MappedPageReleaser(period_s=0.01):
        assert sum(t.name == "release-arrow-pages" for t in threading.enumerate()) == 1
    assert not any(t.name == "release-arrow-pages" for t in threading.enumerate())
