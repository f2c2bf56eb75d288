"""A classification study against the targets of the honest-evidence issue (each study's ``make report``).

Reads ``distill-report``'s ``summary.json`` (per-cell means over seeds and the paired bootstrap
comparisons) and checks, for every student variant that has runs:

1. student >= ``direct_transfer`` + 5 points on average over the target languages, with the 95%
   interval excluding 0 in at least 70% of them;
2. student >= 90% of ``teacher_translate_test`` (the teacher reading the human English text), the
   ratio of the means over the same languages;
3. English within 2 points of the teacher (the target is set for kd+back+cycle; shown for every
   variant): the mean over runs of the teacher's minus the student's English test score;
4. student >= ``tfidf_student`` in every language (the mean difference; intervals shown).

Every figure is computed from the runs there are, with the languages and seeds it rests on; the
verdicts are computed too, never typed in.

    python ../tools/targets.py report/summary.json --out report/targets.md --readme README.md
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from study_md import md_table, write_report

GAIN = 5.0  # points over direct_transfer, on average
EXCLUDING_SHARE = 0.7  # of the languages with an interval excluding 0
TRANSLATE_TEST_SHARE = 0.9
ENGLISH_GAP = 2.0  # points under the teacher at most


def _pt(x: float) -> str:
    return f"{100 * x:+.1f}"


def _verdict(met: bool | None) -> str:
    return "–" if met is None else ("met" if met else "**not met**")


Record = dict[str, Any]
Cells = dict[tuple[str, str], dict[str, Any]]


def _record(
    student: str, target: str, measured: str, met: bool | None, value: float | None, langs: list[str]
) -> Record:
    return {
        "student": student,
        "target": target,
        "measured": measured,
        "met": met,
        "value": value,
        "langs": langs,
    }


def _langs(names: list[str]) -> str:
    return ", ".join(names) or "none"


def _n(count: int, noun: str) -> str:
    """``1 language``, ``5 languages``."""
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _gain(s: str, dt: list[Record]) -> Record:
    """Target 1: the mean gain over direct_transfer and the languages whose interval excludes 0."""
    mean = sum(c["diff"] for c in dt) / len(dt)
    above = [c["lang"] for c in dt if c["low"] > 0]
    under = [c["lang"] for c in dt if c["high"] < 0]
    seeds = sorted({c["seeds"] for c in dt})
    measured = (
        f"{_pt(mean)} on average over {_n(len(dt), 'language')}; interval above 0 in {len(above)} "
        f"({_langs(above)}), under 0 in {len(under)} ({_langs(under)}); seeds per language "
        f"{seeds[0]}" + (f"-{seeds[-1]}" if len(seeds) > 1 else "")
    )
    met = 100 * mean >= GAIN and len(above) >= EXCLUDING_SHARE * len(dt)
    return _record(s, "gain over direct_transfer", measured, met, mean, [c["lang"] for c in dt])


def _share(s: str, langs: list[str], cells: Cells, ttt: str) -> Record:
    """Target 2: the student's mean over its teacher's (``ttt``, its translate-test rows) on the
    human English texts."""
    shares = {lang: cells[(s, lang)]["mean"] / cells[(ttt, lang)]["mean"] for lang in langs}
    share = sum(cells[(s, lang)]["mean"] for lang in langs) / sum(
        cells[(ttt, lang)]["mean"] for lang in langs
    )
    lo, hi = min(shares, key=shares.__getitem__), max(shares, key=shares.__getitem__)
    measured = f"{100 * share:.1f}% over {_n(len(langs), 'language')}"
    if len(langs) > 1:
        measured += f" ({lo} {100 * shares[lo]:.1f}% to {hi} {100 * shares[hi]:.1f}%)"
    return _record(
        s, "share of teacher_translate_test", measured, share >= TRANSLATE_TEST_SHARE, share, langs
    )


def _english(s: str, en: list[str], cells: Cells, teacher: str) -> Record:
    """Target 3: how far the student's English is under its teacher's (``teacher``, the rows'
    name), over the runs' English tests."""
    gaps = [cells[(teacher, lang)]["mean"] - cells[(s, lang)]["mean"] for lang in en]
    gap = sum(gaps) / len(gaps)
    measured = f"{100 * gap:.1f} points under it on average over {_n(len(en), 'English test set')}"
    if len(gaps) > 1:
        measured += f" (from {100 * min(gaps):.1f} to {100 * max(gaps):.1f})"
    met = 100 * gap <= ENGLISH_GAP if "back" in s else None  # set for kd+back+cycle
    return _record(s, "English under the teacher", measured, met, gap, en)


def _tfidf(s: str, tf: list[Record]) -> Record:
    """Target 4: at least tfidf_student in every language (the mean difference)."""
    below = [c for c in tf if c["diff"] < 0]
    worst = min(tf, key=lambda c: c["diff"])
    measured = f"under it in {len(below)} of {len(tf)} languages"
    if below:
        where = _langs([c["lang"] for c in below])
        interval = f"[{_pt(worst['low'])}, {_pt(worst['high'])}]"
        measured += f" ({where}; worst {worst['lang']} {_pt(worst['diff'])} {interval})"
    else:
        measured += f"; the smallest lead {worst['lang']} {_pt(worst['diff'])}"
    target = "at least tfidf_student in every language"
    return _record(s, target, measured, not below, len(below), [c["lang"] for c in tf])


def _own(cells: Cells, system: str, teacher: str | None) -> str | None:
    """The table name of ``system``'s rows made with ``teacher`` (``teacher_translate_test`` or,
    where the runs have several teachers, ``teacher_translate_test (minilm_en)``): the cell whose
    ``teacher`` is the student's; ``None`` where the summary has none."""
    names = {n for (n, _), c in cells.items() if c["system"] == system and c.get("teacher") == teacher}
    return names.pop() if len(names) == 1 else None


def _not_computed(s: str, target: str, why: str) -> Record:
    return _record(s, target, f"not computed: {why}", None, None, [])


def check(summary: dict[str, Any]) -> list[Record]:
    """One record per (student variant, target): what was measured, on what, and whether it is met.

    Each student is held to its own teacher (the ``teacher`` of its cells in the summary): where the
    runs have several (``mode=direct``'s direct-transfer labeller beside the English teacher), the
    report names the teacher's rows and its tfidf_student after it and compares each student with
    its own only. A target whose reference is missing is written as not computed, never dropped.
    """
    cells: Cells = {(c["name"], c["lang"]): c for c in summary["cells"]}
    comps: dict[tuple[str, str], list[Record]] = {}
    for c in summary["comparisons"]:
        comps.setdefault((c["student"], c["baseline"]), []).append(c)
    out: list[Record] = []
    for s in sorted({c["name"] for c in summary["cells"] if c["system"] == "student"}):
        teacher = next(c.get("teacher") for (n, _), c in cells.items() if n == s)
        who = f"no rows of its teacher ({teacher or 'not recorded'}) in the summary"
        dt = sorted(comps.get((s, "direct_transfer"), []), key=lambda c: c["lang"])
        if dt:
            out.append(_gain(s, dt))
        ttt = _own(cells, "teacher_translate_test", teacher)
        langs = [c["lang"] for c in dt if (ttt, c["lang"]) in cells and (s, c["lang"]) in cells]
        if langs:
            out.append(_share(s, langs, cells, ttt or ""))
        elif dt:
            out.append(_not_computed(s, "share of teacher_translate_test", who))
        own_teacher = _own(cells, "teacher", teacher)
        en = sorted(
            lang for (n, lang) in cells if n == s and lang.startswith("en") and (own_teacher, lang) in cells
        )
        if en:
            out.append(_english(s, en, cells, own_teacher or ""))
        elif any(n == s and lang.startswith("en") for (n, lang) in cells):
            out.append(_not_computed(s, "English under the teacher", who))
        tfidf = _own(cells, "tfidf_student", teacher)
        tf = sorted(comps.get((s, tfidf or ""), []), key=lambda c: c["lang"])
        if tf:
            out.append(_tfidf(s, tf))
        elif any(c["system"] == "tfidf_student" for c in cells.values()):
            out.append(_not_computed(s, "at least tfidf_student in every language", who))
    return out


def report(summary: dict[str, Any], records: list[Record], source: str = "report/summary.json") -> str:
    """The targets table of ``records`` (:func:`check` of ``summary``) as Markdown: a title line,
    then the section the README carries."""
    rows = [[f"`{r['student']}`", r["target"], r["measured"], _verdict(r["met"])] for r in records]
    lines = [
        "# The targets, measured",
        "",
        f"From `{source}` ({_n(len(summary['runs']), 'run')}; {summary['metric']} on the test "
        "set, differences in points with paired bootstrap 95% intervals). Targets: a gain of at least "
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
    records = check(summary)
    write_report(report(summary, records, args.summary.as_posix()), records, args.out, args.readme)


if __name__ == "__main__":
    main()
