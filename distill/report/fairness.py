"""``distill-report`` over many runs: per-language calibration of the students and the worst-language gap.

* :func:`calibration_table`: per student name and target language, the temperature each run fitted
  without labels (``metrics.json`` ``calibration``) and the test ECE before and after, averaged
  over seeds.
* :func:`language_gaps`: per system name scored on two or more target languages, best minus worst
  language accuracy with a bootstrap interval, the seeds of a language pooled over the same test
  examples (:func:`distill.report.calibration.language_gap`).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from distill.report.calibration import language_gap
from distill.report.study import Pooled, run_names


def calibration_table(pooled: Pooled) -> list[dict[str, Any]]:
    """Rows ``{"name", "lang", "temperature", "ece", "ece_calibrated", "seeds"}`` (means over seeds)."""
    names = run_names(pooled.runs)
    found: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for i, run in enumerate(pooled.runs):
        name = names.get((i, "student"))
        for lang, entry in (run.report.extras.get("calibration") or {}).items():
            if name is not None:
                found[(name, lang)].append(entry)
    order = {name: k for k, name in enumerate(pooled.names)}
    langs = {lang: k for k, lang in enumerate(pooled.target_langs)}
    rows = []
    for (name, lang), entries in sorted(
        found.items(), key=lambda kv: (order.get(kv[0][0], 99), langs.get(kv[0][1], 99))
    ):
        rows.append(
            {
                "name": name,
                "lang": lang,
                **{
                    key: round(float(np.mean([e[key] for e in entries])), 6)
                    for key in ("temperature", "ece", "ece_calibrated")
                },
                "seeds": len(entries),
            }
        )
    return rows


def language_gaps(pooled: Pooled, split: str = "test") -> dict[str, dict[str, Any]]:
    """Per table name: the gap over the target languages it was scored on (seeds pooled)."""
    out: dict[str, dict[str, Any]] = {}
    for name in pooled.names:
        system = pooled.system_of[name]
        correct: dict[str, np.ndarray] = {}
        for lang in pooled.target_langs:
            cell = pooled.cell(name, lang, split)
            if cell is None:
                continue
            found = [run.correct(system, lang, split) for run in cell.runs.values()]
            arrays = [a for a in found if a is not None]
            if arrays and len({len(a) for a in arrays}) == 1:
                correct[lang] = np.stack(arrays)
        gap = language_gap(correct)
        if gap is not None:
            out[name] = {**gap, "languages": len(correct)}
    return out


def fairness_markdown(rows: list[dict[str, Any]], gaps: dict[str, dict[str, Any]]) -> str:
    """The ``Calibration`` and ``Worst-language gap`` sections of ``report.md`` (empty when neither)."""
    lines: list[str] = []
    if rows:
        lines += [
            "## Calibration per language",
            "",
            "The student's temperature per language, fitted to the teacher on the validation pairs (no",
            "label), and the test ECE (15 bins) before and after; means over seeds.",
            "",
            "| student | lang | temperature | ECE | ECE calibrated | seeds |",
            "|---|---|---:|---:|---:|---:|",
            *(
                f"| {r['name']} | {r['lang']} | {r['temperature']:.3f} | {r['ece']:.3f} | "
                f"{r['ece_calibrated']:.3f} | {r['seeds']} |"
                for r in rows
            ),
            "",
        ]
    if gaps:
        lines += [
            "## Worst-language gap",
            "",
            "Best minus worst target-language accuracy, with a 95% bootstrap interval (each language's",
            "test examples resampled on their own, the same draw for all its seeds).",
            "",
            "| system | languages | best | worst | gap [95% CI] |",
            "|---|---:|---|---|---|",
            *(
                f"| {name} | {g['languages']} | {g['best']['lang']} {100 * g['best']['accuracy']:.1f} | "
                f"{g['worst']['lang']} {100 * g['worst']['accuracy']:.1f} | {100 * g['gap']:.1f} "
                f"[{100 * g['low']:.1f}, {100 * g['high']:.1f}] |"
                for name, g in gaps.items()
            ),
            "",
        ]
    return "\n".join(lines)
