"""Atomic writes: a crash never leaves a half-written file or folder behind.

Everything is first written to a temporary sibling (same filesystem, so ``os.replace`` is atomic)
and renamed into place only once complete and fsynced.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

TMP_PREFIX = ".tmp-"


def _fsync_tree(path: Path) -> None:
    for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
        if p.is_file():
            with open(p, "rb") as fh:
                os.fsync(fh.fileno())


@contextlib.contextmanager
def atomic_dir(final: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary folder that becomes ``final`` when the block ends without error.

    On any exception the temporary folder is removed and ``final`` is left untouched.

    Args:
        final: The folder to create.
        overwrite: Replace an existing ``final`` (the old one is removed only after the new one
            is complete).
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{final.name}-", dir=final.parent))
    try:
        yield tmp
        _fsync_tree(tmp)
        if final.exists():
            if not overwrite:
                raise FileExistsError(final)
            old = final.with_name(f"{TMP_PREFIX}old-{final.name}-{os.getpid()}")
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def atomic_file(final: str | os.PathLike[str], mode: str = "w") -> Iterator[object]:
    """Open a temporary sibling of ``final`` for writing; rename it into place on success."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{final.name}-", dir=final.parent)
    tmp = Path(tmp_name)
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(final: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``final`` atomically."""
    with atomic_file(final, "w") as fh:
        fh.write(text)  # type: ignore[attr-defined]
