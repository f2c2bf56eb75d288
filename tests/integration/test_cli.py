"""The console scripts exist, compose the real config, and report bad input in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.helpers import labels_hit, sweep_jobs

BIN = Path(sys.executable).parent


def _run(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    env.pop("DISTILL_DEBUG", None)
    return subprocess.run(
        [str(BIN / script), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


TINY = ("debug=tiny", "logger=none", "trainer.max_epochs=1", "trainer.enable_progress_bar=false")


def _error_lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    assert "Traceback" not in proc.stderr
    return [line for line in proc.stderr.splitlines() if line.startswith("error: ")]


def test_stages_one_by_one_label_train_eval_export(tmp_path: Path) -> None:
    """The stage scripts chained by hand in one run directory give what distill-run gives."""
    cache, run_dir = tmp_path / "cache", tmp_path / "run"
    common = (*TINY, f"paths.cache_dir={cache}", f"hydra.run.dir={run_dir}")

    first = _run("distill-label", *common, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    rows = [line.split() for line in first.stdout.splitlines() if line.startswith("it ")]
    assert [r[1] for r in rows] == ["train", "validation"]  # test texts are scored directly, not cached
    assert {r[3] for r in rows} == {"miss"}
    again = _run("distill-label", *common, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert {line.split()[3] for line in again.stdout.splitlines() if line.startswith("it ")} == {"hit"}
    assert "(cache)" in again.stdout  # the teacher was not trained again

    train = _run("distill-train", *common, cwd=tmp_path)
    assert train.returncode == 0, train.stderr
    best = Path(
        next(x for x in train.stdout.splitlines() if x.startswith("best student checkpoint: ")).split(": ")[1]
    )
    assert best.is_file() and best.parent == run_dir / "checkpoints"

    ev = _run("distill-eval", *common, f"checkpoint={best}", cwd=tmp_path)
    assert ev.returncode == 0, ev.stderr
    metrics = json.loads((run_dir / "metrics.json").read_text())
    systems = {(r["system"], r["lang"]) for r in metrics["results"]}
    assert {
        ("student", "it"),
        ("teacher_zero_shot", "it"),
        ("teacher_translate_test", "it"),
        ("teacher", "en"),
    } <= systems
    # distill-eval names the checkpoint it was given, relative to the working directory (portable)
    assert not Path(metrics["student_checkpoint"]).is_absolute()
    assert (tmp_path / metrics["student_checkpoint"]).resolve() == best.resolve()

    exp = _run("distill-export", *common, f"checkpoint={best}", cwd=tmp_path)
    assert exp.returncode == 0, exp.stderr
    student = run_dir / "student"
    assert (student / "model.safetensors").is_file()
    card = (student / "README.md").read_text()
    assert "teacher_zero_shot" in card  # the metrics of distill-eval reached the model card


@pytest.mark.parametrize("stage", ["eval", "export"])
def test_eval_and_export_need_a_checkpoint(stage: str, tmp_path: Path) -> None:
    proc = _run(f"distill-{stage}", *TINY, cwd=tmp_path)
    assert proc.returncode == 2
    (line,) = _error_lines(proc)
    assert f"distill-{stage} needs the student" in line and "checkpoint=" in line

    missing = tmp_path / "nope.ckpt"
    proc = _run(f"distill-{stage}", *TINY, f"checkpoint={missing}", cwd=tmp_path)
    assert proc.returncode == 2
    (line,) = _error_lines(proc)
    assert f"no student checkpoint at {missing}" in line


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
    """Also the console: stage lines, the table, the gains and the outputs; no library noise (load
    reports, tips, W&B banners, per-map bars); every library record still in cli.log."""
    run_dir = tmp_path / "run"
    proc = _run(
        "distill-run", "debug=tiny", "data.target_langs=[it,ja]", f"hydra.run.dir={run_dir}", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "teacher  packaged" in out and "student  packaged" in out
    for lang in ("it", "ja"):
        row = next(line for line in out.splitlines() if line.strip().startswith(f"en-{lang}"))
        train, valid, test = (int(x) for x in row.split()[1:4])
        assert 0 < valid <= 64 and 0 < test <= 64 and train == 64
        assert f"{lang}: the student's accuracy " in out
    console = proc.stdout + proc.stderr
    for noise in (
        "LOAD REPORT",
        "litlogger",
        "LeafSpec",
        "wandb:",
        "Flattening",
        "Loading weights",
        "GPU available",
    ):
        assert noise not in console, noise
    for stage in ("prepare", "teacher", "label", "baselines", "distill", "evaluate", "export"):
        assert f" stage {stage}: start" in out
    assert "new classification head (initialised: " in out  # one line instead of the load report
    outputs = out[out.index("\noutputs:\n") :]
    assert f"run folder  {run_dir}  (metrics.json, results.md, predictions.parquet, cli.log)" in outputs
    assert f"student     {run_dir / 'student'}" in outputs
    assert f"W&B run     {run_dir / 'wandb'}" in outputs
    log = (run_dir / "cli.log").read_text(encoding="utf-8")
    assert "[pytorch_lightning" in log and "GPU available" in log  # the library's lines are kept
    assert "packaged copy from" in log and "new classification head" in log


def test_token_sweep_jobs_share_the_tagger_and_the_word_labels(tmp_path: Path) -> None:
    """A 2-job sweep of task=token_classification: the first job fine-tunes the teacher and labels the
    words, the second reads both from the content-addressed cache."""
    cache, sweep = tmp_path / "cache", tmp_path / "sweep"
    proc = _run(
        "distill-run", "-m", "experiment=token_toy", *TINY, "export_student=false", "seed=1,2",
        f"paths.cache_dir={cache}", f"hydra.sweep.dir={sweep}", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    jobs = [json.loads((j / "metrics.json").read_text()) for j in sweep_jobs(sweep)]
    assert [set(m["word_label_cache_hits"].values()) for m in jobs] == [{False}, {True}]
    assert len(list((cache / "token_teachers").iterdir())) == 1
    assert len(list((cache / "word_logits").iterdir())) == 2  # it/train and it/validation


def test_multirun_jobs_share_one_teacher_pass(tmp_path: Path) -> None:
    """A 2-job sweep over the student's seed: the teacher trains and labels once, in the first job."""
    cache, sweep = tmp_path / "cache", tmp_path / "sweep"
    proc = _run(
        "distill-run",
        "-m",
        *TINY,
        "seed=1,2",
        f"paths.cache_dir={cache}",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    jobs = sweep_jobs(sweep)
    assert [j.name for j in jobs] == ["0", "1"]
    teachers = [json.loads((j / "teacher.json").read_text()) for j in jobs]
    assert [t["source"] for t in teachers] == ["trained", "cache"]
    assert teachers[0]["path"] == teachers[1]["path"]
    assert teachers[0]["path"].startswith("$DISTILL_CACHE/teachers/")  # names no machine folder
    prov = json.loads((jobs[0] / "provenance.json").read_text())
    entry = next(m for m in prov["models"] if m["role"] == "teacher")
    assert entry["path"] == teachers[0]["path"] and entry["sha256"]  # found again and hashed
    metrics = json.loads((jobs[0] / "metrics.json").read_text())
    assert not Path(metrics["student_checkpoint"]).is_absolute()  # relative to the run folder
    assert len(list((cache / "teachers").iterdir())) == 1
    assert [labels_hit(j) for j in jobs] == [{False}, {True}]  # the second job never ran the teacher
    for j in jobs:
        assert (j / "metrics.json").is_file() and (j / "student" / "model.safetensors").is_file()
