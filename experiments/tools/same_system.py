"""How far the systems two runs share agree, item by item, on the test items both scored.

For a study whose shared cache (teacher, soft labels) was rebuilt between runs: compare a run
made before with one made after, on the systems that do not depend on the student (the teacher,
its translate-test and zero-shot rows, the TF-IDF reference), to say how different the rebuilt
parts are. One Markdown row per (system, language) both runs have: the items compared, the share
with the same prediction, each run's accuracy on those items.

    python ../tools/same_system.py runs/bible_kd_back_cycle/bn/seed2 runs/bible_kd_back_cycle/bn/seed3
    python ../tools/same_system.py RUN_A RUN_B --system teacher --system teacher_translate_test
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from study_md import fmt, md_table

KEY = ["system", "lang", "split", "index"]


def _predictions(run: Path) -> pd.DataFrame:
    path = run / "predictions.parquet"
    if not path.is_file():
        raise SystemExit(f"{path}: no such file; give a finished run's folder (it has predictions.parquet)")
    return pd.read_parquet(path)


def compare(a: pd.DataFrame, b: pd.DataFrame, systems: list[str] | None = None) -> list[list[object]]:
    """The rows (system, lang, items, same prediction %, accuracy A %, accuracy B %), sorted.

    Items are matched on (system, lang, split, index); a matched item whose gold label differs
    means the runs scored different test sets, which is an error, not a disagreement.
    """
    both = a.merge(b, on=KEY, suffixes=("_a", "_b"))
    if systems:
        both = both[both["system"].isin(systems)]
    wrong = both[both["gold_a"] != both["gold_b"]]
    if len(wrong):
        first = wrong.iloc[0]
        raise SystemExit(
            f"{len(wrong)} matched items have different gold labels (first: {first['system']} "
            f"{first['lang']} {first['split']} item {first['index']}): the runs scored different "
            "test sets; compare runs of the same language and data settings"
        )
    rows = []
    for (system, lang), g in both.groupby(["system", "lang"], sort=True):
        rows.append(
            [
                system,
                lang,
                len(g),
                fmt(100 * float((g["pred_a"] == g["pred_b"]).mean())),
                fmt(100 * float((g["pred_a"] == g["gold_a"]).mean())),
                fmt(100 * float((g["pred_b"] == g["gold_b"]).mean())),
            ]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("run_a", type=Path)
    parser.add_argument("run_b", type=Path)
    parser.add_argument("--system", action="append", help="only this system (repeatable); default: all")
    args = parser.parse_args()
    rows = compare(_predictions(args.run_a), _predictions(args.run_b), args.system)
    if not rows:
        raise SystemExit(f"{args.run_a} and {args.run_b} share no (system, language) test items to compare")
    head = ["system", "lang", "items", "same prediction, %", "accuracy A, %", "accuracy B, %"]
    print("\n".join(md_table(head, rows)))


if __name__ == "__main__":
    main()
