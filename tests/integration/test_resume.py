"""Killing ``distill-run`` with SIGKILL mid-training and rerunning the same command resumes from the
last checkpoint and ends with the metrics of a run that was never stopped (CPU, same seed)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch

from tests.integration.killer import ENV

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]
EPOCHS = 3


def _cmd(run_dir: Path, cache: Path) -> list[str]:
    return [
        str(BIN / "distill-run"),
        "debug=tiny",
        "logger=none",
        "cycle.rounds=2",
        f"trainer.max_epochs={EPOCHS}",
        "trainer.deterministic=true",
        "trainer.enable_progress_bar=false",
        "export_student=false",
        "seed=7",
        f"paths.cache_dir={cache}",
        f"hydra.run.dir={run_dir}",
        "+callbacks.killer._target_=tests.integration.killer.KillAtStep",
    ]


def _run(run_dir: Path, cache: Path, kill_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    env.pop(ENV, None)
    if kill_at:
        env[ENV] = kill_at
    return subprocess.run(
        _cmd(run_dir, cache), cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


def _scores(run_dir: Path) -> dict[str, Any]:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    predictions = pd.read_parquet(run_dir / "predictions.parquet")
    return {
        "results": metrics["results"],
        "best_val": metrics["best_val"],
        "checkpoint": metrics["student_checkpoint"],
        "predictions": predictions.to_dict("list"),
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], int]:
    """An uninterrupted run: its scores and the number of training steps per epoch."""
    base = tmp_path_factory.mktemp("resume")
    run_dir, cache = base / "reference", base / "cache"
    proc = _run(run_dir, cache)
    assert proc.returncode == 0, proc.stderr[-3000:]
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    return cache, _scores(run_dir), int(last["global_step"]) // EPOCHS


@pytest.mark.parametrize("folder", ["checkpoints", "round2"], ids=["round1", "round2"])
def test_sigkill_at_a_random_step_then_rerun_resumes_to_the_same_metrics(
    reference: tuple[Path, dict[str, Any], int], tmp_path: Path, folder: str
) -> None:
    cache, expected, per_epoch = reference
    # A step after the first epoch's checkpoint and before the last one of the round.
    step = random.randint(per_epoch + 1, EPOCHS * per_epoch - 1)
    run_dir = tmp_path / "run"

    killed = _run(run_dir, cache, kill_at=f"{folder}:{step}")
    assert killed.returncode == -signal.SIGKILL, f"step {step}: {killed.stderr[-2000:]}"
    assert not (run_dir / "metrics.json").exists()
    assert (run_dir / folder / "last.ckpt").is_file() if folder == "checkpoints" else True
    assert not list(run_dir.rglob(".tmp-*"))

    rerun = _run(run_dir, cache)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "resume: continuing from" in rerun.stderr + rerun.stdout, f"step {step}"
    assert _scores(run_dir) == expected, f"killed at {folder}:{step}"


def test_a_checkpoint_of_another_configuration_is_refused(
    reference: tuple[Path, dict[str, Any], int], tmp_path: Path
) -> None:
    cache, _, per_epoch = reference
    run_dir = tmp_path / "run"
    killed = _run(run_dir, cache, kill_at=f"checkpoints:{per_epoch + 1}")
    assert killed.returncode == -signal.SIGKILL
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    env.pop(ENV, None)
    env.pop("HYDRA_FULL_ERROR", None)
    other = subprocess.run(
        [*_cmd(run_dir, cache), "student.optimizer.lr=0.01"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert other.returncode == 2
    assert "Traceback" not in other.stderr
    errors = [line for line in other.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "another configuration" in errors[0] and "resume=false" in errors[0]
    fresh = subprocess.run(
        [*_cmd(run_dir, cache), "student.optimizer.lr=0.01", "resume=false"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    assert "resume: continuing" not in fresh.stderr + fresh.stdout
