"""Hand the pages of memory-mapped Arrow tables back to the kernel once they have been read.

Every table ``datasets`` loads from disk (the user files' copies, the pairs, the soft-label cache,
the distillation rows) is a read-only memory map. A page read once stays in the process's resident
set until the map is closed, so a pass over a 1,000,000-row table (every epoch reads every row)
ends with the whole file counted in the process's RSS, although those pages are the kernel's page
cache, clean and shared. :class:`HeldPages` tells the kernel (``madvise(MADV_DONTNEED)``) that the
process no longer needs the resident pages of the tables it is given: they leave the RSS, stay in
the page cache, and the next read of one is a minor fault that maps it again (no disk read while the
cache holds it; the bytes are the file's, unchanged).

Safety, by construction:

* Only pages that hold a buffer of the given tables, inside a read-only file mapping, are advised:
  each buffer's address is looked up in ``/proc/self/maps``; a buffer on the heap (a table built in
  memory, or the result of a ``take``) has no such mapping and is left alone, so no data can be
  lost (``MADV_DONTNEED`` on a private anonymous page would zero it).
* A :class:`HeldPages` keeps a reference to its tables, and an Arrow memory map stays mapped while
  a buffer of it is referenced (the buffer holds its region), so the pages it advises cannot be
  unmapped and reused meanwhile.
* It is called synchronously, by the code that reads the table (never from another thread), and
  recomputes its ranges in a new process (a ``DataLoader`` worker maps the files anew).

``DISTILL_KEEP_MAPPED_PAGES=1`` turns it off (everything stays mapped, as before). Linux only;
elsewhere it does nothing.
"""

from __future__ import annotations

import bisect
import ctypes
import ctypes.util
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar, overload

import numpy as np
import pyarrow as pa

#: ``MADV_DONTNEED`` on Linux (every architecture).
MADV_DONTNEED = 4
#: The size of a memory page.
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
#: Rows read between two releases in a sequential pass.
CHUNK_ROWS = 10_000

T = TypeVar("T")


def _madvise() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    # PyDLL: the call keeps the GIL, so no other Python thread runs between reading the ranges and
    # advising them (the ranges are safe anyway: see the module's docstring).
    libc = ctypes.PyDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    fn = libc.madvise
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


_MADVISE = _madvise()


def enabled() -> bool:
    """Whether pages are released: on Linux, unless ``DISTILL_KEEP_MAPPED_PAGES=1``."""
    return _MADVISE is not None and os.environ.get("DISTILL_KEEP_MAPPED_PAGES") != "1"


def _read_only_file_mappings(maps: str) -> list[tuple[int, int]]:
    """``(start, end)`` of the read-only, file-backed mappings in a ``/proc/<pid>/maps`` text, sorted."""
    out = []
    for line in maps.splitlines():
        parts = line.split(maxsplit=5)
        # perms like "r--p"/"r--s": readable, not writable; a path, not "[heap]" or anonymous.
        if len(parts) < 6 or parts[1][:2] != "r-" or not parts[5].startswith("/"):
            continue
        start, end = (int(x, 16) for x in parts[0].split("-"))
        out.append((start, end))
    out.sort()
    return out


def _arrow_tables(table: Any) -> list[pa.Table | pa.RecordBatch]:
    """The Arrow tables behind a ``datasets.Dataset`` (rows and indices mapping) or an Arrow table."""
    if isinstance(table, pa.Table | pa.RecordBatch):
        return [table]
    out = []
    for part in (getattr(table, "data", None), getattr(table, "_indices", None)):
        inner = getattr(part, "table", part)  # datasets.table.Table wraps a pyarrow.Table
        if isinstance(inner, pa.Table | pa.RecordBatch):
            out.append(inner)
    return out


def _buffers(table: pa.Table | pa.RecordBatch) -> Iterator[pa.Buffer]:
    columns = table.columns
    for column in columns:
        for chunk in column.chunks if isinstance(column, pa.ChunkedArray) else [column]:
            yield from (b for b in chunk.buffers() if b is not None and b.size)


def mapped_ranges(tables: Sequence[Any]) -> list[tuple[int, int]]:
    """The pages (``(start, end)`` addresses, page-aligned, merged where they touch) that hold the
    buffers of ``tables`` lying in read-only file mappings; buffers elsewhere (heap) are left out.

    Only pages that hold a buffer byte are named (not the whole mapping): they belong to the memory
    map that holds the buffer, which stays mapped while the buffer is referenced. Two spans are
    merged only where they overlap or touch, inside one mapping.
    """
    try:
        with open("/proc/self/maps", encoding="utf-8") as f:
            mappings = _read_only_file_mappings(f.read())
    except OSError:
        return []
    starts = [s for s, _ in mappings]
    spans: dict[int, list[tuple[int, int]]] = {}
    for t in tables:
        for arrow in _arrow_tables(t):
            for buf in _buffers(arrow):
                i = bisect.bisect_right(starts, buf.address) - 1
                if i < 0 or buf.address + buf.size > mappings[i][1]:
                    continue  # not in a read-only file mapping: never advised
                lo = max(mappings[i][0], buf.address - buf.address % PAGE)
                end = buf.address + buf.size
                hi = min(mappings[i][1], end + (-end) % PAGE)
                spans.setdefault(i, []).append((lo, hi))
    merged: list[tuple[int, int]] = []
    for i in sorted(spans):
        current: list[tuple[int, int]] = []
        for lo, hi in sorted(spans[i]):
            if current and lo <= current[-1][1]:
                current[-1] = (current[-1][0], max(current[-1][1], hi))
            else:
                current.append((lo, hi))
        merged.extend(current)
    return merged


def resident_bytes(ranges: Sequence[tuple[int, int]]) -> int:
    """Bytes of ``ranges`` (page-aligned, as from :func:`mapped_ranges`) mapped in this process's
    page tables, from ``/proc/self/pagemap`` (its "present" bit; 0 where it cannot be read)."""
    total = 0
    try:
        with open("/proc/self/pagemap", "rb") as f:
            for start, end in ranges:
                f.seek(start // PAGE * 8)
                entries = np.frombuffer(f.read((end - start) // PAGE * 8), dtype=np.uint64)
                total += int(np.count_nonzero(entries >> np.uint64(63))) * PAGE
    except OSError:
        return 0
    return total


class HeldPages:
    """The mapped pages of tables the caller holds; :meth:`release` hands them back to the kernel.

    Args:
        *tables: ``datasets.Dataset``\\ s or Arrow tables. They are held (so
            their mappings stay valid) as long as this object lives.
    """

    def __init__(self, *tables: Any) -> None:
        self.tables = tables
        # Computed lazily, once per process: the spans are this process's addresses.
        self._pid: int | None = None
        self._ranges: list[tuple[int, int]] = []

    def __getstate__(self) -> dict[str, Any]:  # a spawned worker computes its own ranges
        return {"tables": self.tables, "_pid": None, "_ranges": []}

    @property
    def ranges(self) -> list[tuple[int, int]]:
        """The page spans of the held tables in this process (computed once per process)."""
        if self._pid != os.getpid():
            self._ranges = mapped_ranges(self.tables) if enabled() else []
            self._pid = os.getpid()
        return self._ranges

    def release(self) -> int:
        """Release the resident pages of the held tables' spans; return the bytes advised."""
        if not enabled():
            return 0
        advised = 0
        for start, end in self.ranges:
            if _MADVISE(start, end - start, MADV_DONTNEED) == 0:
                advised += end - start
        return advised


def batches_released(
    ds: Any, columns: Sequence[str], batch_size: int = CHUNK_ROWS
) -> Iterator[dict[str, list[Any]]]:
    """``ds.select_columns(columns).iter(batch_size)``, handing ``ds``'s mapped pages back after each
    batch (so a pass over the table leaves at most one batch of it resident)."""
    held = HeldPages(ds)
    for batch in ds.select_columns(list(columns)).iter(batch_size=batch_size):
        yield batch
        held.release()


def column_released(ds: Any, column: str, batch_size: int = CHUNK_ROWS) -> Iterator[Any]:
    """Every value of ``ds[column]`` in order, read ``batch_size`` rows at a time, releasing the
    mapped pages after each batch."""
    for batch in batches_released(ds, [column], batch_size):
        yield from batch[column]


def releasing(fn: Callable[..., T], *tables: Any) -> Callable[..., T]:
    """``fn`` (a batched ``map`` function, a collate function) that releases ``tables``' mapped pages
    after every call."""
    held = HeldPages(*tables)
    return _Releasing(fn, held)


class _Releasing:
    """A picklable callable: ``fn`` then ``held.release()`` (``DataLoader`` workers pickle it)."""

    def __init__(self, fn: Callable[..., Any], held: HeldPages) -> None:
        self.fn, self.held = fn, held

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.held.release()


class ReleasedColumn(Sequence[Any]):
    """A ``datasets`` column read as a sequence (by index, slice or in order) that releases the
    table's mapped pages after each slice and after every ``CHUNK_ROWS`` rows of a pass."""

    def __init__(self, ds: Any, column: str) -> None:
        self.ds, self.column = ds, column
        self._values = ds[column]
        self._held = HeldPages(ds)

    def __len__(self) -> int:
        return len(self.ds)

    @overload
    def __getitem__(self, i: int) -> Any: ...
    @overload
    def __getitem__(self, i: slice) -> list[Any]: ...
    def __getitem__(self, i: int | slice) -> Any:
        out = self._values[i]
        if isinstance(i, slice):
            out = list(out)
            self._held.release()
        return out

    def __iter__(self) -> Iterator[Any]:
        return column_released(self.ds, self.column)
