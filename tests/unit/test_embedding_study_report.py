"""experiments/embedding_transfer/report.py: verdicts and intervals come from the per-pair outcomes."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

from tests.scripts import load_script


def _report() -> ModuleType:
    return load_script("experiments/embedding_transfer/report.py", "embedding_report")


def _run(root: Path, seed: int, hits: dict[str, dict[str, list[int]]]) -> None:
    """A run folder; ``hits``: system -> lang -> per pair 0/1 (the same in both directions)."""
    folder = root / "embed_bible_compress" / "bible" / f"seed{seed}"
    folder.mkdir(parents=True)
    rows, results = [], []
    for system, by_lang in hits.items():
        for lang, h in by_lang.items():
            for i, x in enumerate(h):
                rows.append({"system": system, "lang": lang, "split": "test", "id": i, "hit_tgt2src": x,
                             "hit_src2tgt": x, "rr_tgt2src": 1.0 if x else 0.5,
                             "rr_src2tgt": 1.0 if x else 0.5})  # fmt: skip
            acc = sum(h) / len(h)
            mrr = (sum(h) + 0.5 * (len(h) - sum(h))) / len(h)
            results.append({"system": system, "lang": lang, "split": "test", "retrieval_tgt2src": acc,
                            "retrieval_src2tgt": acc, "mrr_tgt2src": mrr, "mrr_src2tgt": mrr,
                            "n": len(h)})  # fmt: skip
    results.append({"system": "student", "lang": "en", "split": "test", "teacher_spearman": 0.9, "n": 9})
    pd.DataFrame(rows).to_parquet(folder / "retrieval_hits.parquet")
    metrics = {"source_lang": "en", "target_langs": sorted(hits["student"]), "results": results}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "timings.json").write_text(json.dumps({"stage_seconds": {"distill": 100.0 + seed}}))


def test_the_verdict_counts_languages_from_the_pairs(tmp_path: Path) -> None:
    report = _report()
    # sw: the student finds 30 of 40, the untrained 10; ja: the other way round (10 vs 30).
    for seed in (1, 2):
        _run(
            tmp_path,
            seed,
            {
                "student": {"sw": [1] * 30 + [0] * 10, "ja": [1] * 10 + [0] * 30},
                "student_untrained": {"sw": [1] * 10 + [0] * 30, "ja": [1] * 30 + [0] * 10},
            },
        )
    runs = report.load(tmp_path)
    lines, records = report.language_table(runs)
    by_lang = {r["lang"]: r for r in records}
    assert by_lang["sw"]["diff"][0] == pytest.approx(50.0) and by_lang["sw"]["diff"][1] > 0
    assert by_lang["ja"]["diff"][0] == pytest.approx(-50.0) and by_lang["ja"]["diff"][2] < 0
    assert by_lang["sw"]["acc_student"] == pytest.approx(75.0) and by_lang["sw"]["seeds"] == 2
    _, verdicts = report.verdicts(records)
    (v,) = verdicts
    assert (v["better"], v["surely_better"], v["surely_worse"], v["langs"]) == (1, 1, 1, 2)
    assert v["most"] is False  # one of two languages is not most
    assert v["seed_diffs"] == {1: pytest.approx(0.0), 2: pytest.approx(0.0)}  # (+50 - 50) / 2 each seed
    english = "\n".join(report.english_table(runs))
    assert "0.900" in english and "102" in english  # Spearman, and the mean distill time (101, 103)
    assert any("| embed_bible_compress | bible | ja | 2 | 40 |" in line for line in lines)


def test_readme_section_is_replaced(tmp_path: Path) -> None:
    report = _report()
    _run(tmp_path, 1, {"student": {"sw": [1, 1, 0]}, "student_untrained": {"sw": [1, 0, 0]}})
    readme = tmp_path / "README.md"
    readme.write_text("# x\n<!-- results:begin -->\nold\n<!-- results:end -->\ntail\n")
    argv = sys.argv
    sys.argv = ["report.py", str(tmp_path), "--out", str(tmp_path / "r.md"), "--readme", str(readme)]
    try:
        report.main()
    finally:
        sys.argv = argv
    text = readme.read_text()
    assert "old" not in text and "student > untrained" in text and text.endswith("tail\n")
    assert json.loads((tmp_path / "r.json").read_text())["verdicts"][0]["better"] == 1


def test_each_seed_gets_its_own_mean_difference(tmp_path: Path) -> None:
    report = _report()
    _run(tmp_path, 1, {"student": {"sw": [1] * 3 + [0]}, "student_untrained": {"sw": [1] + [0] * 3}})
    _run(tmp_path, 2, {"student": {"sw": [1] * 2 + [0] * 2}, "student_untrained": {"sw": [1] + [0] * 3}})
    _, records = report.language_table(report.load(tmp_path))
    lines, (verdict,) = report.verdicts(records)
    assert verdict["seed_diffs"] == {1: pytest.approx(50.0), 2: pytest.approx(25.0)}
    assert any("| +37.5 | +50.0, +25.0 |" in line for line in lines)
