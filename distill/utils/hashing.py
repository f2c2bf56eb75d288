"""Content hashes used as cache keys and provenance stamps."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

_CHUNK = 1 << 20


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Return the hex SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(Path(path), "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def text_sha256(*parts: str) -> str:
    """Return the hex SHA-256 of the given strings, separated unambiguously."""
    return texts_sha256(parts)


def texts_sha256(parts: Iterable[str]) -> str:
    """:func:`text_sha256` of the strings an iterable yields (a stream: none is kept)."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()
