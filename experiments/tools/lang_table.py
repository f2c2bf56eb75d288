"""A study's systems x languages table from ``distill-report``'s ``summary.json``, for its README.

One row per student variant and per baseline of the students' teacher (the baselines of another
teacher, e.g. ``mode=direct``'s labeller, are left to ``report.md``), then the English rows (each
run's English test, under the target language it ran with); one column per target language, the
mean over the languages a row has, and the seeds each cell pools (fewest to most). Cells are means
over seeds, in %.

    python ../tools/lang_table.py report/summary.json --readme README.md
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from study_md import fmt, md_table, replace_section

#: Row order after the students: the baselines, then the references.
ORDER = ("tfidf_student", "direct_transfer", "teacher_zero_shot", "teacher_translate_test", "supervised")
SECTION = "languages"


def _teacher(cells: list[dict[str, Any]]) -> str | None:
    """The teacher most student cells learnt from (``None`` where the summary records none)."""
    counts = Counter(c.get("teacher") for c in cells if c["system"] == "student")
    return counts.most_common(1)[0][0] if counts else None


def table(summary: dict[str, Any], teacher: str | None = None) -> list[str]:
    """The Markdown lines of the table (see the module's docstring)."""
    cells = summary["cells"]
    teacher = teacher or _teacher(cells)
    by = {(c["name"], c["lang"]): c for c in cells}
    langs = [lang for lang in dict.fromkeys(c["lang"] for c in cells) if " " not in lang and lang != "en"]
    system_of = {c["name"]: c["system"] for c in cells}
    students = sorted(n for n, system in system_of.items() if system == "student")
    own = {c["name"] for c in cells if c.get("teacher") in (None, teacher)}
    baselines = sorted(
        (n for n in own if system_of[n] in ORDER), key=lambda n: (ORDER.index(system_of[n]), n)
    )
    english = sorted(n for n in own if system_of[n] == "teacher")
    rows = []
    for name, suffix, lang_of in [
        *[(n, "target", lambda lang: lang) for n in students + baselines],
        *[(n, "English", lambda lang: f"en ({lang})") for n in english + students],
    ]:
        found = [by.get((name, lang_of(lang))) for lang in langs]
        have = [c for c in found if c is not None]
        if not have:
            continue
        seeds = sorted(c["seeds"] for c in have)
        mean = sum(100 * c["mean"] for c in have) / len(have)
        rows.append(
            [
                f"`{name}`, {suffix}",
                *(fmt(None if c is None else 100 * c["mean"]) for c in found),
                fmt(mean) + ("" if len(have) == len(langs) else f" ({len(have)})"),
                f"{seeds[0]}" + (f"-{seeds[-1]}" if seeds[-1] != seeds[0] else ""),
            ]
        )
    return md_table(["accuracy, %", *langs, "mean", "seeds"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("summary", type=Path)
    parser.add_argument("--teacher", help="whose baselines to show (default: the students' teacher)")
    parser.add_argument("--readme", type=Path, help=f"replace this file's {SECTION} section")
    args = parser.parse_args()
    summary = json.loads(args.summary.read_text(encoding="utf-8"))
    text = "\n".join(table(summary, args.teacher)) + "\n"
    if args.readme is not None:
        readme = args.readme.read_text(encoding="utf-8")
        args.readme.write_text(replace_section(readme, text, SECTION), encoding="utf-8")
    print(text, end="")


if __name__ == "__main__":
    main()
