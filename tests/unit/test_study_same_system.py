"""experiments/tools/same_system.py: how far the systems two runs share agree, item by item."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.scripts import load_script

SCRIPT = "experiments/tools/same_system.py"


def _run(folder: Path, teacher_preds: list[int], tfidf_preds: list[int], gold: list[int]) -> Path:
    rows = []
    for system, lang, preds in (("teacher", "en", teacher_preds), ("tfidf_student", "bn", tfidf_preds)):
        rows += [
            {"system": system, "lang": lang, "split": "test", "index": i, "gold": g, "pred": p}
            for i, (g, p) in enumerate(zip(gold, preds, strict=True))
        ]
    folder.mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(folder / "predictions.parquet")
    return folder


def _compare(a: Path, b: Path) -> list[list[object]]:
    module = load_script(SCRIPT, "study_same_system")
    return module.compare(*(pd.read_parquet(run / "predictions.parquet") for run in (a, b)))


def test_rows_give_the_share_of_same_predictions_and_each_runs_accuracy(tmp_path: Path) -> None:
    gold = [0, 1, 2, 0]
    a = _run(tmp_path / "a", [0, 1, 2, 1], [0, 0, 0, 0], gold)
    b = _run(tmp_path / "b", [0, 1, 1, 1], [0, 0, 0, 0], gold)
    rows = _compare(a, b)
    assert rows == [
        ["teacher", "en", 4, "75.0", "75.0", "50.0"],
        ["tfidf_student", "bn", 4, "100.0", "50.0", "50.0"],
    ]
    command = [sys.executable, SCRIPT, str(a), str(b), "--system", "teacher"]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    assert out.splitlines()[2] == "| teacher | en | 4 | 75.0 | 75.0 | 50.0 |"
    assert "tfidf_student" not in out


def test_different_test_sets_and_missing_runs_are_clear_errors(tmp_path: Path) -> None:
    a = _run(tmp_path / "a", [0, 1], [0, 1], [0, 1])
    b = _run(tmp_path / "b", [0, 1], [0, 1], [0, 2])
    with pytest.raises(SystemExit, match=r"2 matched items have different gold labels .*different test sets"):
        _compare(a, b)
    command = [sys.executable, SCRIPT, str(a), str(tmp_path / "nope")]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode != 0
    assert "nope/predictions.parquet: no such file" in done.stderr
