"""A tiny ``distill-run`` with secrets around: none reaches a file or the output; provenance is kept."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
HF_TOKEN = "hf_secret123"
WANDB_KEY = "wk_" + "0123456789abcdef" * 2 + "wxyz5"
LITERAL = "tok_literal_999"  # given on the command line under a secret-looking key
SECRETS = (HF_TOKEN, WANDB_KEY, LITERAL)
ARGS = (
    "debug=tiny",
    "logger=[wandb,csv]",
    "trainer.max_epochs=1",
    "trainer.enable_progress_bar=false",
    f"+logger_token={LITERAL}",
    "+hub.token=${oc.env:HF_TOKEN}",
    "+notes=${oc.env:HF_TOKEN}",  # not a secret-looking key: masked because it equals HF_TOKEN
)


def _run(run_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline"}
    env.update(HF_TOKEN=HF_TOKEN, WANDB_API_KEY=WANDB_KEY)
    env.pop("HYDRA_FULL_ERROR", None)
    env.pop("DISTILL_DEBUG", None)
    return subprocess.run(
        [str(BIN / "distill-run"), *args, f"hydra.run.dir={run_dir}"],
        cwd=run_dir.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def secret_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    run_dir = tmp_path_factory.mktemp("secrets") / "run"
    proc = _run(run_dir, *ARGS)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run_dir, proc


def _leaks(paths: list[Path]) -> list[str]:
    found = []
    for path in paths:
        data = path.read_bytes()
        found += [f"{path}: {s}" for s in SECRETS if s.encode() in data]
    return found


def _is_logger_output(path: Path, run_dir: Path) -> bool:
    return path.relative_to(run_dir).parts[0] in ("csv", "wandb")


def test_no_secret_in_run_files_or_output(secret_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    run_dir, proc = secret_run
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    names = {p.relative_to(run_dir).as_posix() for p in files}
    assert {".hydra/config.yaml", ".hydra/overrides.yaml", ".hydra/hydra.yaml", "config.yaml"} <= names
    assert {"metrics.json", "provenance.json", "student/README.md"} <= names
    assert any(n.endswith(".log") for n in names)  # the Hydra job log
    assert _leaks([p for p in files if not _is_logger_output(p, run_dir)]) == []
    for text in (proc.stdout, proc.stderr):
        assert not [s for s in SECRETS if s in text]
    overrides = (run_dir / ".hydra" / "overrides.yaml").read_text()
    assert "+logger_token=***" in overrides and "+hub.token=${oc.env:HF_TOKEN}" in overrides
    assert (
        "logger_token=***" in json.loads((run_dir / "metrics.json").read_text())["reproducibility"]["command"]
    )


def test_no_secret_in_logger_files(secret_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    run_dir, _ = secret_run
    files = [p for p in run_dir.rglob("*") if p.is_file() and _is_logger_output(p, run_dir)]
    assert any(p.name == "hparams.yaml" for p in files)  # CSV logger
    assert any(p.suffix == ".wandb" for p in files)  # W&B offline run
    assert _leaks(files) == []


def test_provenance_lists_teacher_student_and_data(
    secret_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    run_dir, _ = secret_run
    prov = json.loads((run_dir / "provenance.json").read_text())
    models = {m["role"]: m for m in prov["models"]}
    teacher, student = models["teacher"], models["student_base"]
    assert teacher["source"] == "fine-tuned" and teacher["base_model"] == "xlt-distill/tiny-random-bert"
    assert len(teacher["sha256"]["weights"]) == 64
    assert student["package"] == "xlt-distill" and student["license"] == "MIT"
    assert set(student["sha256"]) == {"weights", "config", "tokenizer"}
    (data,) = prov["data"]
    assert data["package"] == "chatterbot-corpus" and data["version"] == "1.3.3"
    assert data["license"] == "BSD-3-Clause" and len(data["sha256"]) == 64
    assert set(prov["pairs"]) == {"it/train", "it/validation", "it/test"}
    card = (run_dir / "student" / "README.md").read_text()
    assert "## Provenance" in card and teacher["sha256"]["weights"] in card and data["sha256"] in card
    assert "license: MIT" in card


def test_metrics_json_has_reproducibility_and_no_durations(
    secret_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    run_dir, _ = secret_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    repro = metrics["reproducibility"]
    assert repro["seed"] == 42
    assert {"python", "torch", "pytorch-lightning", "transformers", "datasets", "hydra-core"} <= set(
        repro["versions"]
    )
    assert all(repro["versions"][k] for k in ("python", "torch", "transformers", "numpy"))
    assert set(repro["git"]) == {"commit", "dirty"}
    assert repro["command"].startswith("distill-run debug=tiny")
    assert repro["platform"]["system"]
    assert "stage_seconds" not in metrics
    timings = json.loads((run_dir / "timings.json").read_text())
    assert {"prepare", "teacher", "distill", "evaluate"} <= set(timings["stage_seconds"])


def test_rerun_writes_the_same_metrics_json(
    secret_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    run_dir, _ = secret_run
    first = (run_dir / "metrics.json").read_bytes()
    shutil.rmtree(run_dir / "checkpoints")  # a fresh fit, not a resumed one
    proc = _run(run_dir, *ARGS)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (run_dir / "metrics.json").read_bytes() == first


def test_a_secret_in_an_error_message_is_masked(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = _run(run_dir, "debug=tiny", "logger=none", f"data.target_langs=[{HF_TOKEN}]")
    assert proc.returncode == 2
    assert "error: " in proc.stderr and HF_TOKEN not in proc.stderr + proc.stdout
    assert _leaks([p for p in run_dir.rglob("*") if p.is_file()]) == []
