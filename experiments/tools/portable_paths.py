"""Rewrite (or check) committed run records so that they name no machine folder.

Runs made before records used portable paths (``distill.utils.paths.portable``) wrote the shared
cache and the checkout as absolute paths into ``teacher.json``, ``provenance.json``,
``metrics.json``, ``sources.json`` and the logged configs. This rewrites the cache root to
``$DISTILL_CACHE`` and the checkout root to a path relative to it, in place and atomically.

    python experiments/tools/portable_paths.py --cache "$HOME/.cache/xlt-distill" --root "$PWD"
    python experiments/tools/portable_paths.py --check     # exit 1 if a record names a machine path
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from distill.utils.atomic import write_text_atomic

HERE = Path(__file__).resolve().parent.parent
RECORDS = ("*.json", "*.yaml", "*.csv", "*.jsonl")
# An absolute path under a machine's usual roots (``/tmp`` scratch folders in commands are left), not
# preceded by a word character ($DISTILL_CACHE/x and experiments/x are fine).
MACHINE_PATH = re.compile(r"(?<![\w$.~/-])/(?:root|home|work|Users|mnt|data|scratch|opt)/[^\s\"',]*")


def record_files(top: Path) -> list[Path]:
    """The run records under ``top`` (json, yaml, csv, jsonl)."""
    return sorted({p for pattern in RECORDS for p in top.rglob(pattern) if p.is_file()})


def rewrite(text: str, cache: str, root: str) -> str:
    """``text`` with ``cache`` as ``$DISTILL_CACHE`` and paths under ``root`` relative to it."""
    text = text.replace(cache.rstrip("/"), "$DISTILL_CACHE")
    return text.replace(root.rstrip("/") + "/", "")


def make_portable(path: Path, cache: str | None, root: str | None) -> list[str]:
    """Rewrite ``path`` in place (atomically, only if it changes) with :func:`rewrite`; ``None`` for
    ``cache`` or ``root`` leaves that folder alone (both ``None``: only check). Returns the machine
    paths the record still names."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if cache or root:
        new = rewrite(text, cache or "\0", root or "\0")
        if new != text:
            write_text_atomic(path, new)
            text = new
    return MACHINE_PATH.findall(text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--top", type=Path, default=HERE, help="folder to scan (default: experiments/)")
    p.add_argument("--cache", help="the absolute cache root the records name")
    p.add_argument("--root", help="the absolute checkout root the records name")
    p.add_argument("--check", action="store_true", help="only list records that name machine paths")
    args = p.parse_args(argv)
    found = 0
    for path in record_files(args.top):
        hits = make_portable(path, None, None) if args.check else make_portable(path, args.cache, args.root)
        if hits:
            found += 1
            print(f"{path.relative_to(args.top)}: {len(hits)} machine path(s), e.g. {hits[0]}")
    print(f"{found} record file(s) name machine paths", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
