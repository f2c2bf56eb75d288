"""The per-language alignment table: ``python -m distill.data.sources.chatterbot [code ...]``."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Sequence

from distill.data.sources.chatterbot.api import chatterbot_report, resolve_chatterbot_lang
from distill.data.sources.chatterbot.corpus import ChatterbotLanguageReport
from distill.data.sources.chatterbot.splits import SPLITS
from distill.errors import DistillError


def _table_line(r: ChatterbotLanguageReport) -> list[str]:
    parallel = "-" if r.parallel is None else "/".join(str(r.parallel[s]) for s in SPLITS)
    return [
        r.code,
        r.folder,
        str(r.topics),
        str(r.utterances),
        str(r.aligned_topics),
        str(r.aligned_conversations),
        str(r.aligned_pairs),
        "/".join(str(r.rows[s]) for s in SPLITS),
        str(sum(r.cross_split_removed.values())),
        str(sum(r.repeats_removed.values())),
        parallel,
        str(sum(r.skipped.values())),
    ]


def format_report(reports: Sequence[ChatterbotLanguageReport]) -> str:
    """Format reports as a plain-text table (one line per language)."""
    header = [
        "code",
        "folder",
        "topics",
        "utts",
        "al.topics",
        "al.convs",
        "al.pairs",
        "rows tr/va/te",
        "x-split-",
        "repeat-",
        "pairs tr/va/te",
        "odd",
    ]
    lines = [header, *(_table_line(r) for r in reports)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(line, widths, strict=True)) for line in lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the alignment table (``python -m distill.data.sources.chatterbot [code ...]``)."""
    parser = argparse.ArgumentParser(
        description="chatterbot-corpus alignment report (aligned = with English)."
    )
    parser.add_argument("codes", nargs="*", help="language codes to show (default: all)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        reports = chatterbot_report()
        wanted = {resolve_chatterbot_lang(code) for code in args.codes}
    except DistillError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    shown = [r for r in reports if not wanted or r.code in wanted]
    print(format_report(shown))
    odd = Counter[str]()
    for r in shown:
        odd.update(r.skipped)
    print(f"\nsplits 70/10/20 by English conversation; built in {time.perf_counter() - start:.2f} s")
    print("YAML oddities handled: " + (", ".join(f"{k}: {v}" for k, v in sorted(odd.items())) or "none"))
    return 0
