"""Compare the source ranking with the students' accuracies (the study's question).

    python compare.py --runs runs --target ko

Reads ``<runs>/ranking.json`` (distill-rank-sources) and every ``<runs>/<kind>/<name>/seed*/metrics.json``,
prints one table (ranking score and rank, the student's mean test accuracy on the target per source or
combination) and the Spearman correlation of the ranking's score with the single-source accuracies.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from statistics import mean


def student_accuracy(run_dir: Path, target: str) -> list[float]:
    out = []
    for path in sorted(run_dir.glob("seed*/metrics.json")):
        for r in json.loads(path.read_text())["results"]:
            if r["system"] == "student" and r["lang"] == target and r["split"] == "test":
                out.append(float(r["accuracy"]))
    return out


def spearman(a: list[float], b: list[float]) -> float | None:
    def ranks(x: list[float]) -> list[float]:
        order = sorted(range(len(x)), key=x.__getitem__)
        r = [0.0] * len(x)
        for i, j in enumerate(order):
            r[j] = float(i)
        return r

    if len(a) < 3:
        return None
    ra, rb = ranks(a), ranks(b)
    ma, mb = mean(ra), mean(rb)
    num = sum((x - ma) * (y - mb) for x, y in zip(ra, rb, strict=True))
    den = (sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb)) ** 0.5
    return num / den if den else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", default="runs")
    parser.add_argument("--target", default="ko")
    args = parser.parse_args()
    runs = Path(args.runs)
    ranking = json.loads((runs / "ranking.json").read_text())
    print("| student | ranking score (rank) | test accuracy (mean over seeds) | seeds |")
    print("|---|---:|---:|---:|")
    scores, accs = [], []
    for c in ranking["candidates"]:
        acc = student_accuracy(runs / "single" / c["lang"], args.target)
        shown = f"{mean(acc):.3f}" if acc else "not run"
        print(f"| single {c['lang']} | {c['score']:.3f} ({c['rank']}) | {shown} | {len(acc)} |")
        if acc:
            scores.append(c["score"])
            accs.append(mean(acc))
    for d in sorted(p for p in (runs / "multi").glob("*") if p.is_dir()) if (runs / "multi").is_dir() else []:
        acc = student_accuracy(d, args.target)
        shown = f"{mean(acc):.3f}" if acc else "not run"
        print(f"| multi {d.name} | - | {shown} | {len(acc)} |")
    rho = spearman(scores, accs)
    print(f"\nSpearman(ranking score, single-source accuracy) = {'n/a' if rho is None else f'{rho:.2f}'}")


if __name__ == "__main__":
    main()
