"""Content hashes of the files of a cache entry, recorded when it is written and checked on read.

A cache entry (soft labels, translations, converted models) is a folder with a manifest; the
manifest's ``files`` maps each data file's name to its SHA-256. :func:`files_problem` tells a
reader whether the folder still holds what was written (a file edited, truncated, added or lost).
Hashes are remembered per (path, size, modification time) within a process, so an entry read for
several splits is hashed once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from distill.utils.atomic import write_text_atomic
from distill.utils.hashing import file_sha256

log = logging.getLogger(__name__)

_MEMO: dict[tuple[str, int, int], str] = {}


def _sha256(path: Path) -> str:
    stat = path.stat()
    memo = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if memo not in _MEMO:
        _MEMO[memo] = file_sha256(path)
    return _MEMO[memo]


def data_files(folder: Path, manifest_name: str) -> list[Path]:
    """The files under ``folder`` the manifest covers: all but the manifest itself."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != manifest_name)


def files_sha256(folder: Path, manifest_name: str) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``folder`` except the manifest."""
    return {str(p.relative_to(folder)): _sha256(p) for p in data_files(folder, manifest_name)}


def files_problem(folder: Path, manifest_name: str, recorded: Mapping[str, str] | None) -> str | None:
    """What differs between ``folder`` and its recorded hashes; None when it is intact.

    ``recorded`` None (an entry written before manifests held hashes) passes: see
    :func:`record_hashes`.
    """
    if recorded is None:
        return None
    if not isinstance(recorded, Mapping):
        return "its manifest's file hashes are not a mapping"
    found = {str(p.relative_to(folder)): p for p in data_files(folder, manifest_name)}
    if set(found) != set(recorded):
        missing, extra = sorted(set(recorded) - set(found)), sorted(set(found) - set(recorded))
        return f"files differ from the manifest (missing {missing}, unexpected {extra})"
    for name, path in found.items():
        if _sha256(path) != recorded[name]:
            return f"{name} does not match its recorded SHA-256"
    return None


def record_hashes(folder: Path, manifest_name: str, manifest: dict[str, Any]) -> dict[str, Any]:
    """Add the ``files`` hashes to the manifest of an entry written before they were recorded.

    The entry is trusted as found (it was written atomically by an earlier version) and checked on
    every later read. A read-only cache only loses the check.
    """
    if "files" in manifest:
        return manifest
    updated = {**manifest, "files": files_sha256(folder, manifest_name)}
    try:
        write_text_atomic(folder / manifest_name, json.dumps(updated, indent=2, ensure_ascii=False) + "\n")
        log.info("%s: recorded the content hashes of an entry from an earlier version", folder)
    except OSError as e:
        log.debug("cannot record hashes in %s: %s", folder, e)
    return updated
