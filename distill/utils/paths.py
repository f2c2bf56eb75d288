"""Where the project keeps what it computes once (converted models, soft labels, translations).

Records a run writes (``teacher.json``, ``provenance.json``, ``metrics.json``) name folders by
:func:`portable` paths, so a committed run folder names no machine: ``$DISTILL_CACHE/...`` for the
shared cache, a relative path for anything under the working directory. :func:`local_path` turns
one back into a path on this machine.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

DEFAULT_CACHE = Path("~/.cache/xlt-distill")
CACHE_VAR = "$DISTILL_CACHE"


def cache_root() -> Path:
    """The shared cache: ``$DISTILL_CACHE`` if set, else ``~/.cache/xlt-distill``."""
    root = os.environ.get("DISTILL_CACHE") or str(DEFAULT_CACHE)
    return Path(root).expanduser()


def cache_dir(*parts: str) -> Path:
    """A sub-folder of the shared cache (not created)."""
    return cache_root().joinpath(*parts)


def portable(path: str | os.PathLike[str]) -> str:
    """``path`` as a record names it: ``$DISTILL_CACHE/<rel>`` in the cache, relative under the cwd.

    A relative path, a hub id or a path elsewhere comes back as given.

    >>> portable(cache_dir("teachers", "x")) == "$DISTILL_CACHE/teachers/x"
    True
    """
    text = os.fspath(path)
    p = Path(text).expanduser()
    if not p.is_absolute():
        return text
    p = p.resolve()
    for root, prefix in ((cache_root().resolve(), CACHE_VAR), (Path.cwd().resolve(), "")):
        try:
            rel = p.relative_to(root)
        except ValueError:
            continue
        if prefix:
            return prefix if rel == Path(".") else f"{prefix}/{rel.as_posix()}"
        return rel.as_posix() or "."
    return text


def portable_paths(value: Any) -> Any:
    """``value`` (nested dicts and lists, e.g. a resolved config) with every absolute path string
    written by :func:`portable`: what a logged config keeps of the machine it ran on."""
    if isinstance(value, dict):
        return {k: portable_paths(v) for k, v in value.items()}
    if isinstance(value, list):
        return [portable_paths(v) for v in value]
    if isinstance(value, str) and value.startswith(("/", "~/")) and "\n" not in value:
        return portable(value)
    return value


def local_path(text: str) -> Path:
    """The folder a :func:`portable` path names on this machine (``$DISTILL_CACHE`` expanded)."""
    if text == CACHE_VAR or text.startswith(CACHE_VAR + "/"):
        return cache_root().joinpath(text[len(CACHE_VAR) + 1 :])
    return Path(text).expanduser()
