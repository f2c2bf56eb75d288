"""``distill-run trainer=ddp``: two CPU processes (gloo) give the scores of one process, and only rank 0
writes the run folder's records.

Both fits see the same global batches in the same order (``RankBatches``: each rank takes its half of
every one-process batch of ``student.batch_size`` rows, and DDP averages the halves' gradients), so
the runs differ only by dropout: one process draws one mask per batch, two processes draw one per
half from their own generators. That moves the tiny student's test confidences by ~1e-4, which may
flip an argmax where two classes are about tied: the tolerance is 2 test items per language.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]
TOLERANCE_ITEMS = 2


def _run(run_dir: Path, cache: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        str(BIN / "distill-run"),
        "debug=tiny",
        "logger=none",
        "cycle.rounds=2",  # two fits: the second one reuses the process group of the first
        "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false",
        "export_student=false",
        "seed=7",
        f"paths.cache_dir={cache}",
        f"hydra.run.dir={run_dir}",
        *extra,
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def _student(run_dir: Path) -> tuple[dict[str, Any], pd.DataFrame]:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    results = {r["lang"]: r for r in metrics["results"] if r["system"] == "student"}
    predictions = pd.read_parquet(run_dir / "predictions.parquet")
    return results, predictions[predictions["system"] == "student"].reset_index(drop=True)


def test_ddp_on_two_cpu_processes_scores_as_one_process_and_writes_once(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    one = _run(tmp_path / "one", cache)  # also fills the teacher and soft-label caches
    assert one.returncode == 0, one.stderr[-3000:]
    two = _run(tmp_path / "two", cache, "trainer=ddp")
    assert two.returncode == 0, two.stderr[-3000:]
    # Lightning's own lines are in cli.log (the console shows ours only).
    log = (tmp_path / "two" / "cli.log").read_text(encoding="utf-8") + two.stderr + two.stdout
    assert "distributed_backend=gloo" in log
    assert "Starting with 2 processes" in log
    assert (tmp_path / "two" / "train_ddp_process_1.log").is_file()  # rank 1 ran in the same folder

    # Rank 1 wrote no records: one of each, rank 0's (labels.json says the cache was hit, as rank 0
    # saw it; rank 1 would have said so too, but it must not be the writer).
    for name in ("metrics.json", "predictions.parquet", "results.md", "labels.json", "teacher.json"):
        assert [p.relative_to(tmp_path / "two") for p in (tmp_path / "two").rglob(name)] == [Path(name)]

    expected, expected_pred = _student(tmp_path / "one")
    got, got_pred = _student(tmp_path / "two")
    assert set(got) == set(expected)
    for lang, row in expected.items():
        assert got[lang]["n"] == row["n"]
        assert abs(got[lang]["accuracy"] - row["accuracy"]) <= TOLERANCE_ITEMS / row["n"] + 1e-9
    assert len(got_pred) == len(expected_pred)
    assert (got_pred["pred"] != expected_pred["pred"]).sum() <= TOLERANCE_ITEMS * len(expected)
