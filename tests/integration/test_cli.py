"""The console scripts exist, compose the real config, and report bad input in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
STAGES = ["label", "train", "eval", "export"]


def _run(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    env.pop("DISTILL_DEBUG", None)
    return subprocess.run(
        [str(BIN / script), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.parametrize("stage", STAGES)
def test_stage_script_composes_config(stage: str, tmp_path: Path) -> None:
    proc = _run(f"distill-{stage}", "student=me5_small_enpt", "data.target_langs=[it,ja]", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"stage: {stage}" in proc.stdout
    assert "model: xlt-distill/multilingual-e5-small-enpt" in proc.stdout
    assert "- ja" in proc.stdout
    # Hydra wrote its run folder with the saved config under the working directory.
    saved = list(tmp_path.glob("outputs/*/*/.hydra/config.yaml"))
    assert len(saved) == 1


def test_teacher_script_fine_tunes_and_reports(tmp_path: Path) -> None:
    proc = _run("distill-teacher", "debug=tiny", f"paths.cache_dir={tmp_path / 'cache'}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert '"source": "trained"' in proc.stdout
    assert list((tmp_path / "cache" / "teachers").glob("*/model.safetensors"))


def test_unknown_config_option_fails(tmp_path: Path) -> None:
    proc = _run("distill-train", "student=no_such_student", cwd=tmp_path)
    assert proc.returncode != 0
    assert "no_such_student" in proc.stderr


def test_run_reports_bad_model_in_one_line(tmp_path: Path) -> None:
    proc = _run("distill-run", f"teacher.model={tmp_path / 'missing'}", cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    missing = tmp_path / "missing"
    fix = "give an existing folder or a hub id"
    assert errors == [f"error: model folder {missing} does not exist (fix: {fix})"]


def test_run_prepares_tiny_models_and_data(tmp_path: Path) -> None:
    proc = _run("distill-run", "debug=tiny", "data.target_langs=[it,ja]", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "teacher  packaged" in out and "student  packaged" in out
    for lang in ("it", "ja"):
        row = next(line for line in out.splitlines() if line.strip().startswith(f"en-{lang}"))
        train, valid, test = (int(x) for x in row.split()[1:4])
        assert 0 < valid <= 64 and 0 < test <= 64 and train == 64
