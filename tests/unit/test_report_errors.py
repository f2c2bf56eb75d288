"""distill-report's error analysis on synthetic runs: confusions, most confused pairs, disagreements."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from distill.report import load_runs, pool, write_predictions, write_report
from distill.report.errors import errors_markdown, language_errors

LABELS = ["bye", "greet", "thanks"]
GOLD = np.array([0, 0, 1, 1, 2, 2])


def _run(folder: Path, seed: int, student: list[int], teacher: list[int]) -> None:
    folder.mkdir(parents=True)
    rows = []
    preds = {}
    for system, pred in (("student", student), ("teacher_translate_test", teacher)):
        p = np.array(pred)
        acc = float(np.mean(p == GOLD))
        rows.append(
            {
                "system": system,
                "lang": "it",
                "split": "test",
                "accuracy": acc,
                "macro_f1": acc,
                "ece": 0.1,
                "n": 6,
            }
        )
        preds[(system, "it", "test")] = {"gold": GOLD, "pred": p, "confidence": np.full(6, 0.9)}
    data = {
        "task": "classification",
        "source_lang": "en",
        "target_langs": ["it"],
        "results": rows,
        "run": {"experiment": "x", "variant": "kd", "seed": seed, "teacher": "t"},
    }
    (folder / "metrics.json").write_text(json.dumps(data))
    (folder / "teacher.json").write_text(json.dumps({"labels": LABELS}))
    write_predictions(preds, folder / "predictions.parquet")


def test_confusions_are_summed_over_seeds_and_the_worst_pairs_named(tmp_path: Path) -> None:
    # seed 1 calls one "thanks" a "greet"; seed 2 calls both "thanks" "greet" and one "bye" "thanks".
    _run(tmp_path / "s1", 1, [0, 0, 1, 1, 1, 2], [0, 0, 1, 1, 2, 2])
    _run(tmp_path / "s2", 2, [0, 2, 1, 1, 1, 1], [0, 0, 1, 1, 2, 1])
    (errors,) = language_errors(pool(load_runs([tmp_path])))
    assert errors.lang == "it" and errors.labels == LABELS
    assert errors.confusion.sum() == 12 and np.trace(errors.confusion) == 8
    assert errors.most_confused(2) == [("thanks", "greet", 3), ("bye", "thanks", 1)]
    assert errors.disagreements == {1: [4], 2: [1, 4]} and errors.compared == 12
    md = errors_markdown([errors])
    assert "## Error analysis" in md and "thanks -> greet: 3" in md and "3 of 12 (25.0%); seed 1: 4" in md


def test_the_report_carries_the_section_the_plot_and_the_numbers(tmp_path: Path) -> None:
    _run(tmp_path / "runs" / "s1", 1, [0, 0, 1, 1, 1, 2], [0, 0, 1, 1, 2, 2])
    report = write_report([tmp_path / "runs"], tmp_path / "out", n_resamples=50)
    assert "thanks -> greet: 1" in report.read_text()
    assert (tmp_path / "out" / "confusions.png").stat().st_size > 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    (entry,) = summary["errors"]
    assert entry["confusion"][2] == [0, 1, 1] and entry["disagreements"] == {"1": [4]}


def test_runs_without_label_names_or_predictions_are_left_out(tmp_path: Path) -> None:
    _run(tmp_path / "s1", 1, [0, 0, 1, 1, 1, 2], [0, 0, 1, 1, 2, 2])
    (tmp_path / "s1" / "teacher.json").unlink()
    assert language_errors(pool(load_runs([tmp_path]))) == []
    assert errors_markdown([]) == ""
