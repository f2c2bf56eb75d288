"""Bring a study's finished runs from its frozen worktree into this checkout, ready to commit.

A study runs from a frozen worktree (``git worktree add``) so that edits do not change it mid-way;
its runs are committed here as they finish. This copies every finished run (a folder with
``metrics.json``, written last) that is not here yet, without ``cli.log`` (the console, with the
machine's folders and progress bars) and ``checkpoints/``, then rewrites the worktree's root and the
cache root in the copied records (``portable_paths.py``), so they name no machine folder.

    python experiments/tools/collect_runs.py ../study-bible/experiments/bible_genre/runs \
        experiments/bible_genre/runs
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from portable_paths import make_portable, record_files

from distill.utils.paths import cache_root

LEFT_OUT = ("cli.log", "checkpoints")


def git_root(folder: Path) -> Path:
    """The top of the git worktree holding ``folder``."""
    out = subprocess.run(
        ["git", "-C", str(folder), "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=True
    )
    return Path(out.stdout.strip())


def finished_runs(src: Path) -> list[Path]:
    """The run folders under ``src`` whose ``metrics.json`` exists, relative to ``src``."""
    return sorted(p.parent.relative_to(src) for p in src.rglob("metrics.json"))


def collect(src: Path, dst: Path, cache: str, root: str) -> list[Path]:
    """Copy the runs finished in ``src`` and missing in ``dst``; returns them (relative paths).

    Raises:
        SystemExit: A copied record still names a machine folder after the rewrite (it is removed).
    """
    copied = []
    for rel in finished_runs(src):
        if (dst / rel / "metrics.json").exists():
            continue
        target = dst / rel
        tmp = target.with_name(target.name + ".collecting")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(src / rel, tmp, ignore=shutil.ignore_patterns(*LEFT_OUT))
        for path in record_files(tmp):
            if hits := make_portable(path, cache, root):
                shutil.rmtree(tmp)
                raise SystemExit(f"{src / rel}: {path.name} still names {hits[0]}; nothing copied for it")
        shutil.rmtree(target, ignore_errors=True)  # an unfinished copy of an earlier attempt
        os.replace(tmp, target)
        copied.append(rel)
    return copied


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src", type=Path, help="the runs folder in the study's worktree")
    p.add_argument("dst", type=Path, help="the same runs folder in this checkout")
    p.add_argument(
        "--cache",
        default=str(cache_root()),
        help="the cache root the runs used (default: this machine's, $DISTILL_CACHE or its default)",
    )
    args = p.parse_args(argv)
    copied = collect(args.src.resolve(), args.dst, args.cache, str(git_root(args.src)))
    for rel in copied:
        print(args.dst / rel)
    print(
        f"{len(copied)} run(s) collected; {len(finished_runs(args.dst))} finished in {args.dst}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
