"""The Bible genre study against the targets of the honest-evidence issue (``make report``).

Reads ``distill-report``'s ``summary.json`` (per-cell means over seeds and the paired bootstrap
comparisons) and checks, for every student variant that has runs:

1. student >= ``direct_transfer`` + 5 points on average over the target languages, with the 95%
   interval excluding 0 in at least 70% of them;
2. student >= 90% of ``teacher_translate_test`` (the teacher reading the human English verse), the
   ratio of the means over the same languages;
3. English within 2 points of the teacher (the target is set for kd+back+cycle; shown for every
   variant): the mean over runs of the teacher's minus the student's English test score;
4. student >= ``tfidf_student`` in every language (the mean difference; intervals shown).

Every figure is computed from the runs there are, with the languages and seeds it rests on; the
verdicts are computed too, never typed in.

    python targets.py report/summary.json --out report/targets.md --readme README.md
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from study_md import md_table, write_report

GAIN = 5.0  # points over direct_transfer, on average
EXCLUDING_SHARE = 0.7  # of the languages with an interval excluding 0
TRANSLATE_TEST_SHARE = 0.9
ENGLISH_GAP = 2.0  # points under the teacher at most


def _pt(x: float) -> str:
    return f"{100 * x:+.1f}"


def _verdict(met: bool | None) -> str:
    return "–" if met is None else ("met" if met else "**not met**")


def check(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One record per (student variant, target): what was measured, on what, and whether it is met."""
    cells = {(c["name"], c["lang"]): c for c in summary["cells"]}
    comps: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for c in summary["comparisons"]:
        comps.setdefault((c["student"], c["baseline"]), []).append(c)
    students = sorted({c["name"] for c in summary["cells"] if c["system"] == "student"})
    out: list[dict[str, Any]] = []
    for s in students:
        # 1. the gain over direct_transfer
        dt = sorted(comps.get((s, "direct_transfer"), []), key=lambda c: c["lang"])
        if dt:
            mean = sum(c["diff"] for c in dt) / len(dt)
            above = [c["lang"] for c in dt if c["low"] > 0]
            under = [c["lang"] for c in dt if c["high"] < 0]
            out.append({
                "student": s, "target": "gain over direct_transfer",
                "measured": f"{_pt(mean)} on average over {len(dt)} languages; interval above 0 in "
                            f"{len(above)} ({', '.join(above) or 'none'}), under 0 in {len(under)} "
                            f"({', '.join(under) or 'none'}); seeds {min(c['seeds'] for c in dt)}-{max(c['seeds'] for c in dt)}",
                "met": 100 * mean >= GAIN and len(above) >= EXCLUDING_SHARE * len(dt),
                "value": mean, "langs": [c["lang"] for c in dt],
            })  # fmt: skip
        # 2. the share of teacher_translate_test
        langs = [
            c["lang"]
            for c in dt
            if (s, c["lang"]) in cells and ("teacher_translate_test", c["lang"]) in cells
        ]
        if langs:
            num = sum(cells[(s, lang)]["mean"] for lang in langs)
            den = sum(cells[("teacher_translate_test", lang)]["mean"] for lang in langs)
            shares = {
                lang: cells[(s, lang)]["mean"] / cells[("teacher_translate_test", lang)]["mean"]
                for lang in langs
            }
            lo, hi = min(shares, key=shares.__getitem__), max(shares, key=shares.__getitem__)
            out.append({
                "student": s, "target": "share of teacher_translate_test",
                "measured": f"{100 * num / den:.1f}% over {len(langs)} languages ({lo} {100 * shares[lo]:.1f}% "
                            f"to {hi} {100 * shares[hi]:.1f}%)",
                "met": num / den >= TRANSLATE_TEST_SHARE, "value": num / den, "langs": langs,
            })  # fmt: skip
        # 3. English against the teacher, over the runs' English test sets ("en (sw)", ...)
        en = sorted(
            lang
            for (name, lang) in cells
            if name == s and lang.startswith("en") and ("teacher", lang) in cells
        )
        if en:
            gaps = [cells[("teacher", lang)]["mean"] - cells[(s, lang)]["mean"] for lang in en]
            gap = sum(gaps) / len(gaps)
            out.append({
                "student": s, "target": "English under the teacher",
                "measured": f"{100 * gap:.1f} points under it on average over {len(en)} English test sets "
                            f"(from {100 * min(gaps):.1f} to {100 * max(gaps):.1f})",
                "met": 100 * gap <= ENGLISH_GAP if "back" in s else None,
                "value": gap, "langs": en,
            })  # fmt: skip
        # 4. tfidf_student in every language
        tf = sorted(comps.get((s, "tfidf_student"), []), key=lambda c: c["lang"])
        if tf:
            below = [c for c in tf if c["diff"] < 0]
            worst = min(tf, key=lambda c: c["diff"])
            out.append({
                "student": s, "target": "at least tfidf_student in every language",
                "measured": f"under it in {len(below)} of {len(tf)} languages"
                            + (f" ({', '.join(c['lang'] for c in below)}; worst {worst['lang']} {_pt(worst['diff'])} "
                               f"[{_pt(worst['low'])}, {_pt(worst['high'])}])" if below else
                               f"; the smallest lead {worst['lang']} {_pt(worst['diff'])}"),
                "met": not below, "value": len(below), "langs": [c["lang"] for c in tf],
            })  # fmt: skip
    return out


def report(summary: dict[str, Any], source: str = "report/summary.json") -> str:
    """The targets table as Markdown (a title line, then the section the README carries)."""
    records = check(summary)
    rows = [[f"`{r['student']}`", r["target"], r["measured"], _verdict(r["met"])] for r in records]
    lines = [
        "# The targets, measured",
        "",
        f"From `{source}` ({len(summary['runs'])} runs; {summary['metric']} on the test "
        "verses, differences in points with paired bootstrap 95% intervals). Targets: a gain of at least "
        f"{GAIN:.0f} points over `direct_transfer` on average with the interval excluding 0 in at least "
        f"{100 * EXCLUDING_SHARE:.0f}% of the languages; at least {100 * TRANSLATE_TEST_SHARE:.0f}% of "
        f"`teacher_translate_test`; English at most {ENGLISH_GAP:.0f} points under the teacher (set for "
        "kd+back+cycle, `–` for the others); at least `tfidf_student` in every language.",
        "",
        *md_table(["student", "target", "measured", "verdict"], rows),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("summary", type=Path)
    parser.add_argument("--out", type=Path, default=Path("targets.md"))
    parser.add_argument("--readme", type=Path, help="replace this file's results section too")
    args = parser.parse_args()
    summary = json.loads(args.summary.read_text(encoding="utf-8"))
    write_report(report(summary, args.summary.as_posix()), check(summary), args.out, args.readme)


if __name__ == "__main__":
    main()
