"""Hand the pages of memory-mapped Arrow tables back to the kernel while a stage reads them.

Every table ``datasets`` loads (the user files' copies, the pairs, the soft-label cache, the
distillation rows) is a read-only memory map. A page read once stays in the process's resident set
until the map is closed, so a stage that reads a 1,000,000-row table (every epoch reads every row)
ends with the whole file counted in its RSS, although those pages are the kernel's page cache,
shared and clean. :class:`MappedPageReleaser` is a thread that, every ``period_s`` seconds, tells the
kernel (``madvise(MADV_DONTNEED)``) that the process no longer needs the resident pages of every
read-only mapping of an ``.arrow`` file: the pages leave the process's RSS, stay in the page cache,
and the next read of one is a minor fault that maps it again (no disk read while the cache holds
it; the data is the file's, unchanged). The effect is that of reading the tables with plain file
reads instead of a memory map, without giving up ``datasets``' zero-copy tables.

Only mappings that are file-backed, not writable and named ``*.arrow`` are touched (never heap,
code or a writable map, where ``MADV_DONTNEED`` would lose data). Linux only; elsewhere it does
nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

log = logging.getLogger(__name__)

#: ``MADV_DONTNEED`` on Linux (every architecture).
MADV_DONTNEED = 4
#: Seconds between two releases: training reads some tens of MiB of table rows a second (random rows:
#: a page each), so about half that is resident between two releases.
PERIOD_S = 0.5


@dataclass(frozen=True)
class Mapping:
    start: int
    end: int
    path: str


def arrow_mappings(maps: str | None = None) -> list[Mapping]:
    """Read-only, file-backed mappings of ``*.arrow`` files in ``/proc/self/maps`` (or ``maps``)."""
    if maps is None:
        try:
            maps = Path("/proc/self/maps").read_text()
        except OSError:
            return []
    out = []
    for line in maps.splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) < 6 or "w" in parts[1] or not parts[5].endswith(".arrow"):
            continue
        start, end = (int(x, 16) for x in parts[0].split("-"))
        out.append(Mapping(start, end, parts[5]))
    return out


def _madvise() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    fn = libc.madvise
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


_MADVISE = _madvise()


def release_arrow_pages() -> int:
    """Release the resident pages of every read-only ``*.arrow`` mapping; return the bytes advised
    (the mappings' sizes, resident or not). 0 where the platform has no ``madvise``."""
    if _MADVISE is None:
        return 0
    advised = 0
    for m in arrow_mappings():
        # A mapping the process closed since /proc/self/maps was read fails with ENOMEM: harmless.
        if _MADVISE(m.start, m.end - m.start, MADV_DONTNEED) == 0:
            advised += m.end - m.start
    return advised


def enabled() -> bool:
    """Whether stages release mapped pages: on Linux, unless ``DISTILL_KEEP_MAPPED_PAGES=1``."""
    return _MADVISE is not None and os.environ.get("DISTILL_KEEP_MAPPED_PAGES") != "1"


class MappedPageReleaser:
    """``with MappedPageReleaser():`` releases the Arrow tables' mapped pages every ``period_s``
    seconds, and once more on exit. Nested uses share one thread."""

    _lock = threading.Lock()
    _depth = 0
    _stop: threading.Event | None = None
    _thread: threading.Thread | None = None

    def __init__(self, period_s: float = PERIOD_S) -> None:
        self.period_s = period_s

    def __enter__(self) -> MappedPageReleaser:
        cls = type(self)
        with cls._lock:
            cls._depth += 1
            if cls._depth == 1 and enabled():
                stop = threading.Event()
                cls._stop = stop
                cls._thread = threading.Thread(
                    target=self._loop, args=(stop,), name="release-arrow-pages", daemon=True
                )
                cls._thread.start()
        return self

    def _loop(self, stop: threading.Event) -> None:
        while not stop.wait(self.period_s):
            release_arrow_pages()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        cls = type(self)
        with cls._lock:
            cls._depth -= 1
            if cls._depth > 0 or cls._thread is None or cls._stop is None:
                return
            cls._stop.set()
            cls._thread.join()
            cls._thread = cls._stop = None
        release_arrow_pages()
