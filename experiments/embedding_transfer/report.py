"""Tables of the embedding benchmark from its run folders (``make report``).

Reads ``runs/<setup>/<data>/seed<N>/metrics.json`` and ``retrieval_hits.parquet`` (per test pair and
system: whether the nearest neighbour in each direction is the translation, and its reciprocal
rank; ids, no text) and writes a Markdown report:

- per setup, data and language, the mean over seeds of accuracy@1 (the mean of the two retrieval
  directions) for ``student``, ``student_untrained`` and ``teacher_zero_shot``, the student's MRR,
  and student minus ``student_untrained`` with a paired bootstrap 95% interval that draws test pairs
  (the same draw for both systems and every seed);
- per setup and data, the English side's agreement with the teacher (Spearman of pairwise
  similarities) for the student and the untrained student, and the distill stage's time;
- per setup, the verdict the issue asks for: in how many languages the distilled student beats the
  untrained one (mean difference > 0, and with the interval above 0). Computed, not typed in.

    python report.py runs --out report.md --readme README.md   # also the README's results section
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from study_md import fmt, load_runs, md_table, report_args, write_report

from distill.report.bootstrap import paired_bootstrap
from distill.report.run_report import accuracy_at_1

SYSTEMS = ("student", "student_untrained", "teacher_zero_shot")
BASELINE = "student_untrained"


def load(runs: Path) -> list[dict[str, Any]]:
    """Every finished run: setup, data, seed, its metrics, per-pair outcomes and stage times."""
    return load_runs(runs, ("setup", "data"), {"hits": "retrieval_hits.parquet"}, {"timings": "timings.json"})


def _row(run: dict[str, Any], system: str, lang: str, split: str = "test") -> dict[str, Any] | None:
    for row in run["metrics"]["results"]:
        if row["system"] == system and row["lang"] == lang and row["split"] == split:
            return dict(row)
    return None


def accuracy(row: dict[str, Any] | None) -> float | None:
    """Accuracy@1, the mean of the two directions, in points."""
    acc = accuracy_at_1(row)
    return None if acc is None else 100 * acc


def mrr(row: dict[str, Any] | None) -> float | None:
    """Mean reciprocal rank, the mean of the two directions, in points."""
    if row is None or "mrr_tgt2src" not in row:
        return None
    return 50 * (float(row["mrr_tgt2src"]) + float(row["mrr_src2tgt"]))


def pair_hits(run: dict[str, Any], system: str, lang: str) -> np.ndarray | None:
    """Per test pair (in id order), accuracy@1 in points: 100, 50 (one direction) or 0."""
    h = run["hits"]
    if h is None:
        return None
    rows = h[(h["system"] == system) & (h["lang"] == lang) & (h["split"] == "test")].sort_values("id")
    if rows.empty:
        return None
    return 50 * (rows["hit_tgt2src"].to_numpy(float) + rows["hit_src2tgt"].to_numpy(float))


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def _difference(run: dict[str, Any], lang: str) -> float | None:
    """One run's student minus untrained student, accuracy@1 in points."""
    a, b = accuracy(_row(run, "student", lang)), accuracy(_row(run, BASELINE, lang))
    return None if a is None or b is None else a - b


def _groups(runs: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault((r["setup"], r["data"]), []).append(r)
    return dict(sorted(groups.items()))


def language_table(runs: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """Per setup, data and language: the scores and student minus the untrained student."""
    rows, records = [], []
    for (setup, data), group in _groups(runs).items():
        for lang in group[0]["metrics"]["target_langs"]:
            acc = {s: _mean([accuracy(_row(r, s, lang)) for r in group]) for s in SYSTEMS}
            pairs = [(a, b) for r in group if (a := pair_hits(r, "student", lang)) is not None
                     and (b := pair_hits(r, BASELINE, lang)) is not None]  # fmt: skip
            ci = paired_bootstrap(pairs) if pairs else None
            n = len(pairs[0][0]) if pairs else None
            per_seed = {r["seed"]: _difference(r, lang) for r in group}
            records.append({"setup": setup, "data": data, "lang": lang, "seeds": len(group), "n": n,
                            **{f"acc_{s}": acc[s] for s in SYSTEMS}, "diff": ci,
                            "seed_diffs": {s: d for s, d in per_seed.items() if d is not None}})  # fmt: skip
            rows.append(
                [
                    setup,
                    data,
                    lang,
                    len(group),
                    n if n is not None else "–",
                    *(fmt(acc[s]) for s in SYSTEMS),
                    fmt(_mean([mrr(_row(r, "student", lang)) for r in group])),
                    "–" if ci is None else f"{ci[0]:+.1f} [{ci[1]:+.1f}, {ci[2]:+.1f}]",
                ]
            )
    head = ["setup", "data", "lang", "seeds", "test pairs", *SYSTEMS, "student MRR",
            "student - untrained [95% CI]"]  # fmt: skip
    return md_table(head, rows), records


def spearman(run: dict[str, Any], system: str, lang: str) -> float | None:
    """The system's ``teacher_spearman`` on the source language's test sentences, if recorded."""
    row = _row(run, system, lang)
    return float(row["teacher_spearman"]) if row and "teacher_spearman" in row else None


def english_table(runs: list[dict[str, Any]]) -> list[str]:
    """Per setup and data: the English side's agreement with the teacher, and the distill time."""
    rows = []
    for (setup, data), group in _groups(runs).items():
        src = str(group[0]["metrics"]["source_lang"])
        spear = {s: _mean([spearman(r, s, src) for r in group]) for s in ("student", BASELINE)}
        seconds = _mean([r["timings"].get("stage_seconds", {}).get("distill") for r in group])
        rows.append([setup, data, len(group), fmt(spear["student"], 3), fmt(spear[BASELINE], 3),
                     fmt(seconds, 0)])  # fmt: skip
    return md_table(["setup", "data", "seeds", "student", "student_untrained", "distill stage (s)"], rows)


def verdicts(records: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """Per setup and data: languages where the student beats the untrained student."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for rec in records:
        v = out.setdefault((rec["setup"], rec["data"]), {"setup": rec["setup"], "data": rec["data"],
                                                         "langs": 0, "better": 0, "surely_better": 0,
                                                         "surely_worse": 0, "mean_diff": [],
                                                         "seed_diffs": {}})  # fmt: skip
        for seed, d in rec.get("seed_diffs", {}).items():
            v["seed_diffs"].setdefault(seed, []).append(d)
        if rec["diff"] is None:
            continue
        diff, low, high = rec["diff"]
        v["langs"] += 1
        v["better"] += diff > 0
        v["surely_better"] += low > 0
        v["surely_worse"] += high < 0
        v["mean_diff"].append(diff)
    rows, result = [], []
    for v in out.values():
        v["mean_diff"] = float(np.mean(v["mean_diff"])) if v["mean_diff"] else None
        # Each seed's mean over the languages: how much the headline moves between seeds.
        v["seed_diffs"] = {s: float(np.mean(d)) for s, d in sorted(v["seed_diffs"].items())}
        v["most"] = bool(v["langs"]) and v["better"] > v["langs"] / 2
        result.append(v)
        rows.append(
            [
                v["setup"],
                v["data"],
                f"{v['better']} of {v['langs']}",
                v["surely_better"],
                v["surely_worse"],
                "–" if v["mean_diff"] is None else f"{v['mean_diff']:+.1f}",
                ", ".join(f"{d:+.1f}" for d in v["seed_diffs"].values()) or "–",
                "yes" if v["most"] else "no",
            ]
        )
    head = ["setup", "data", "student > untrained", "interval > 0", "interval < 0", "mean difference",
            "mean difference, seed by seed", "beats it in most languages"]  # fmt: skip
    return md_table(head, rows), result


def main() -> None:
    args = report_args(__doc__)
    runs = load(args.runs)
    per_lang, records = language_table(runs)
    verdict_lines, verdict_records = verdicts(records)
    text = "\n".join(
        [
            "# Embedding benchmark: measured",
            "",
            "Accuracy@1: translation retrieval by cosine among every test pair of the language, the",
            "mean of the two directions (target -> English, English -> target), in points, mean over",
            "seeds. Intervals: paired bootstrap over test pairs, 1,000 resamples.",
            "",
            "## Does distillation beat the untrained student?",
            "",
            *verdict_lines,
            "",
            "## Per language",
            "",
            *per_lang,
            "",
            "## English side: Spearman of pairwise similarities with the teacher's",
            "",
            *english_table(runs),
            "",
        ]
    )
    write_report(text, {"languages": records, "verdicts": verdict_records}, args.out, args.readme)


if __name__ == "__main__":
    main()
