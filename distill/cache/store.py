"""What every cache folder shares: a ``datasets`` table saved next to a JSON manifest of its files.

The manifest records the SHA-256 of every file (:func:`distill.utils.manifest.files_sha256`), so a
reader finds a truncated or edited entry. Each kind of entry (soft labels, their shards, the
translation and embedding tables) adds its own checks and its own way of being written atomically.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from datasets import Dataset, load_from_disk

from distill.utils.manifest import files_sha256

log = logging.getLogger(__name__)


def load_stored(path: Path, manifest_name: str, what: str, redo: str) -> tuple[Any, Any] | None:
    """``(manifest, dataset)`` of a cache folder, or None when it is absent or unreadable.

    Args:
        path: The folder.
        manifest_name: Its manifest's file name.
        what: How the warning names the folder (e.g. ``"soft labels: cache entry"``).
        redo: What happens instead, for the warning (e.g. ``"rebuilding it"``).
    """
    if not path.is_dir():
        return None
    try:
        manifest = json.loads((path / manifest_name).read_text(encoding="utf-8"))
        ds = load_from_disk(str(path))
    except (OSError, ValueError, KeyError) as e:  # pyarrow's ArrowInvalid is a ValueError
        log.warning("%s %s is unreadable (%s); %s", what, path, e, redo)
        return None
    return manifest, ds


def save_stored(
    folder: Path,
    ds: Dataset,
    manifest_name: str,
    manifest: Mapping[str, Any],
    *,
    num_shards: int | None = None,
    **dumps: Any,
) -> None:
    """Save ``ds`` into ``folder`` and its manifest (with the files' hashes, as ``files``) beside it.

    Args:
        folder: A temporary folder that becomes the entry afterwards (see ``atomic_dir``).
        ds: The table.
        manifest_name: The manifest's file name.
        manifest: What the manifest records besides the files.
        num_shards: Arrow files to write (``datasets`` decides when None).
        **dumps: Options of ``json.dumps`` for the manifest (its bytes stay as they always were).
    """
    ds.save_to_disk(str(folder), num_shards=num_shards)
    recorded = {**manifest, "files": files_sha256(folder, manifest_name)}
    (folder / manifest_name).write_text(json.dumps(recorded, **dumps), encoding="utf-8")
