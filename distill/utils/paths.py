"""Where the project keeps what it computes once (converted models, soft labels, translations)."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_CACHE = Path("~/.cache/xlt-distill")


def cache_root() -> Path:
    """The shared cache: ``$DISTILL_CACHE`` if set, else ``~/.cache/xlt-distill``."""
    root = os.environ.get("DISTILL_CACHE") or str(DEFAULT_CACHE)
    return Path(root).expanduser()


def cache_dir(*parts: str) -> Path:
    """A sub-folder of the shared cache (not created)."""
    return cache_root().joinpath(*parts)
