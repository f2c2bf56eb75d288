"""experiments/token_transfer/report.py: the study's tables and intervals come from the runs' counts."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

from tests.scripts import load_script


def _report() -> ModuleType:
    return load_script("experiments/token_transfer/report.py", "token_report")


def _run(root: Path, seed: int, student_tp: list[int], direct_tp: list[int]) -> None:
    folder = root / "token_ner_ja" / "parallel" / f"seed{seed}"
    folder.mkdir(parents=True)
    n = len(student_tp)
    rows = []
    for system, tp in (("student", student_tp), ("direct_transfer", direct_tp)):
        for i, t in enumerate(tp):
            rows.append({"system": system, "lang": "ja", "split": "test", "id": f"s{i}", "words": 5,
                         "correct": 4 + t, "tp": t, "n_pred": 1, "n_gold": 1})  # fmt: skip
    pd.DataFrame(rows).to_parquet(folder / "token_counts.parquet")
    f1 = {s: sum(tp) / n for s, tp in (("student", student_tp), ("direct_transfer", direct_tp))}
    results = [
        {"system": s, "lang": "ja", "split": "test", "f1": v, "token_accuracy": 0.9, "n": n}
        for s, v in f1.items()
    ]
    (folder / "metrics.json").write_text(json.dumps({"target_langs": ["ja"], "results": results}))


def test_the_gain_and_its_interval_come_from_the_sentence_counts(tmp_path: Path) -> None:
    report = _report()
    # Per sentence one gold and one predicted entity: F1 = the share of sentences with tp = 1.
    _run(tmp_path, 1, [1] * 30 + [0] * 10, [1] * 10 + [0] * 30)
    _run(tmp_path, 2, [1] * 28 + [0] * 12, [1] * 12 + [0] * 28)
    runs = report.load(tmp_path)
    diff, low, high = report.paired_interval(runs, "direct_transfer")
    assert diff == pytest.approx(((30 - 10) / 40 * 100 + (28 - 12) / 40 * 100) / 2)
    assert low < diff < high and low > 0
    lines, verdicts = report.summary_table(runs)
    assert verdicts[0]["met"] is True and verdicts[0]["seeds"] == 2
    assert "| token_ner_ja | ja | parallel | 2 |" in lines[2]
    readme = "# x\n<!-- results:begin -->\nold\n<!-- results:end -->\ntail\n"
    assert (
        report.replace_section(readme, "new")
        == "# x\n<!-- results:begin -->\nnew\n<!-- results:end -->\ntail\n"
    )


def test_no_gain_is_not_called_a_gain(tmp_path: Path) -> None:
    report = _report()
    _run(tmp_path, 1, [1] * 20 + [0] * 20, [1] * 20 + [0] * 20)
    _, verdicts = report.summary_table(report.load(tmp_path))
    assert verdicts[0]["diff"][0] == 0 and verdicts[0]["met"] is False
