"""Markdown pieces the study report scripts share: table rows, numbers, the README results section.

The report scripts put this folder on ``sys.path`` (``experiments/tools``) and import it by name.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: The README lines between these markers are the study's results, rewritten by its report script.
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def md_row(cells: Sequence[Any]) -> str:
    """One Markdown table row."""
    return "| " + " | ".join(str(c) for c in cells) + " |"


def md_table(head: Sequence[Any], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A Markdown table: the header, the rule, the rows."""
    return [md_row(head), md_row(["---"] * len(head)), *(md_row(r) for r in rows)]


def fmt(x: float | None, digits: int = 1) -> str:
    """A number for a table cell, ``–`` when missing."""
    return "–" if x is None else f"{x:.{digits}f}"


def replace_section(readme: str, body: str) -> str:
    """``readme`` with the text between the results markers replaced by ``body``."""
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{body.strip()}\n{END}{tail}"


def write_report(text: str, data: Any, out: Path, readme: Path | None = None) -> None:
    """The study's report: ``out`` (Markdown), ``out`` with ``.json`` (``data``), and when ``readme``
    is given its results section (``text`` without its title line); the text is printed too."""
    out.write_text(text, encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    if readme is not None:
        section = text.split("\n", 2)[2]  # without the title
        readme.write_text(replace_section(readme.read_text(encoding="utf-8"), section), encoding="utf-8")
    print(text)
