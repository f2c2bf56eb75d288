"""What the study report scripts share: their runs, table rows, numbers, the README results section.

The report scripts put this folder on ``sys.path`` (``experiments/tools``) and import it by name.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd


def report_args(doc: str | None) -> argparse.Namespace:
    """A study report script's command line: the runs folder, ``--out`` (Markdown), ``--readme``."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0] if doc else None)
    parser.add_argument("runs", type=Path)
    parser.add_argument("--out", type=Path, default=Path("report.md"))
    parser.add_argument("--readme", type=Path, help="replace this file's results section too")
    return parser.parse_args()


def load_runs(
    runs: Path,
    levels: tuple[str, str],
    tables: Mapping[str, str] | None = None,
    files: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Every finished run ``runs/<a>/<b>/seed<N>/`` (``metrics.json`` is written last), in path order.

    Each is a dict: the two folder names under ``levels`` (e.g. ``("setup", "data")``), ``seed``,
    ``metrics``; each ``tables`` key holds that Parquet file of the run (``None`` when absent), each
    ``files`` key that JSON file (``{}`` when absent).
    """
    out = []
    for metrics in sorted(runs.glob("*/*/seed*/metrics.json")):
        folder = metrics.parent
        run: dict[str, Any] = {
            levels[0]: folder.parent.parent.name,
            levels[1]: folder.parent.name,
            "seed": int(folder.name.removeprefix("seed")),
            "metrics": json.loads(metrics.read_text()),
        }
        for key, name in (tables or {}).items():
            run[key] = pd.read_parquet(folder / name) if (folder / name).is_file() else None
        for key, name in (files or {}).items():
            run[key] = json.loads((folder / name).read_text()) if (folder / name).is_file() else {}
        out.append(run)
    return out


def md_row(cells: Sequence[Any]) -> str:
    """One Markdown table row."""
    return "| " + " | ".join(str(c) for c in cells) + " |"


def md_table(head: Sequence[Any], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A Markdown table: the header, the rule, the rows."""
    return [md_row(head), md_row(["---"] * len(head)), *(md_row(r) for r in rows)]


def fmt(x: float | None, digits: int = 1) -> str:
    """A number for a table cell, ``–`` when missing."""
    return "–" if x is None else f"{x:.{digits}f}"


def replace_section(readme: str, body: str, name: str = "results") -> str:
    """``readme`` with the text between the ``name`` markers replaced by ``body``: by default
    ``<!-- results:begin -->`` and ``<!-- results:end -->``, the study's results, rewritten by its
    report script."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    head, rest = readme.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{body.strip()}\n{end}{tail}"


def write_report(text: str, data: Any, out: Path, readme: Path | None = None) -> None:
    """The study's report: ``out`` (Markdown), ``out`` with ``.json`` (``data``), and when ``readme``
    is given its results section (``text`` without its title line); the text is printed too."""
    out.write_text(text, encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    if readme is not None:
        section = text.split("\n", 2)[2]  # without the title
        readme.write_text(replace_section(readme.read_text(encoding="utf-8"), section), encoding="utf-8")
    print(text)
