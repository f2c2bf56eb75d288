"""Atomic writes: a crash never leaves a half-written file or folder behind.

Everything is first written to a temporary sibling (same filesystem, so ``os.replace`` is atomic)
and renamed into place only once complete and fsynced.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

TMP_PREFIX = ".tmp-"


def _tmp_prefix(final: Path) -> str:
    """``.tmp-<name>-<host>-<pid>-``: whose temporary file it is, so a dead writer's can be removed."""
    return f"{TMP_PREFIX}{final.name}-{socket.gethostname()}-{os.getpid()}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale(final: Path) -> list[Path]:
    """Remove what killed writers (on this host) left while writing ``final``; return the removed.

    A SIGKILL between creating a temporary sibling and renaming it leaves ``.tmp-<name>-...``
    behind: never read, but taking space. Temporary files of live processes are left alone.
    """
    removed = []
    head = f"{TMP_PREFIX}{final.name}-{socket.gethostname()}-"
    for p in final.parent.glob(f"{glob.escape(head)}*"):
        pid = p.name[len(head) :].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
            removed.append(p)
    return removed


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
    remove_stale(final)
    tmp = Path(tempfile.mkdtemp(prefix=_tmp_prefix(final), dir=final.parent))
    try:
        yield tmp
        _fsync_tree(tmp)
        if final.exists():
            if not overwrite:
                raise FileExistsError(final)
            old = final.with_name(f"{_tmp_prefix(final)}old")
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def atomic_file(final: str | os.PathLike[str], mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``final`` for writing; rename it into place on success."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(final)
    fd, tmp_name = tempfile.mkstemp(prefix=_tmp_prefix(final), dir=final.parent)
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
        fh.write(text)
