"""Records name folders portably: ``$DISTILL_CACHE/...`` or relative, never a machine path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from distill.utils.paths import cache_dir, local_path, portable

ROOT = Path(__file__).resolve().parents[2]


def test_cache_paths_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path / "cache"))
    folder = cache_dir("teachers", "t-1")
    assert portable(folder) == "$DISTILL_CACHE/teachers/t-1"
    assert local_path(portable(folder)) == folder
    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path / "elsewhere"))  # another machine's cache
    assert local_path("$DISTILL_CACHE/teachers/t-1") == tmp_path / "elsewhere" / "teachers" / "t-1"


def test_cwd_paths_become_relative_and_others_stay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path / "cache"))
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    assert portable(tmp_path / "work" / "runs" / "a.ckpt") == "runs/a.ckpt"
    assert portable("runs/a.ckpt") == "runs/a.ckpt"
    assert portable("intfloat/multilingual-e5-small") == "intfloat/multilingual-e5-small"
    assert portable(tmp_path / "other") == str(tmp_path / "other")  # outside both: as given
    assert local_path("runs/a.ckpt") == Path("runs/a.ckpt")


def test_committed_records_name_no_machine_path() -> None:
    """Every committed run record under experiments/ passes the check (rewrite with the tool)."""
    tool = ROOT / "experiments" / "tools" / "portable_paths.py"
    proc = subprocess.run([sys.executable, str(tool), "--check"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "0 record file(s)" in proc.stderr


def test_check_finds_a_machine_path(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    (run / "teacher.json").write_text('{"path": "/root/.cache/xlt-distill/teachers/t"}\n')
    tool = ROOT / "experiments" / "tools" / "portable_paths.py"
    check = [sys.executable, str(tool), "--top", str(tmp_path), "--check"]
    assert subprocess.run(check, capture_output=True, text=True).returncode == 1
    fix = [sys.executable, str(tool), "--top", str(tmp_path), "--cache", "/root/.cache/xlt-distill"]
    assert subprocess.run(fix, capture_output=True, text=True).returncode == 0
    assert (run / "teacher.json").read_text() == '{"path": "$DISTILL_CACHE/teachers/t"}\n'


def test_logged_configs_name_no_machine_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the loggers get (hparams.yaml, wandb): cache paths as $DISTILL_CACHE, cwd paths relative."""
    from distill.utils.paths import portable_paths

    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    config = {
        "paths": {"cache_dir": str(tmp_path / "cache"), "output_dir": str(tmp_path / "runs" / "a")},
        "data": {"parallel": ["/elsewhere/en.txt", "it.txt"], "name": "files"},
        "student": {"max_length": 32, "model": "intfloat/multilingual-e5-small"},
    }
    out = portable_paths(config)
    assert out["paths"] == {"cache_dir": "$DISTILL_CACHE", "output_dir": "runs/a"}
    assert out["data"]["parallel"] == ["/elsewhere/en.txt", "it.txt"]  # outside both: as given
    assert out["student"] == config["student"]


def test_collect_runs_copies_finished_runs_with_portable_records(tmp_path: Path) -> None:
    """experiments/tools/collect_runs.py: finished runs only, once, without cli.log and checkpoints,
    the worktree's and the cache's folders rewritten; a record it cannot make portable is refused."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "collect_runs", ROOT / "experiments" / "tools" / "collect_runs.py"
    )
    assert spec is not None and spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    worktree = Path("/work/study-x")  # never touched: only the text of the records names it
    src, dst = tmp_path / "src" / "runs", tmp_path / "dst" / "runs"
    done, running = src / "kd" / "sw" / "seed1", src / "kd" / "tl" / "seed1"
    for run in (done, running):
        (run / "checkpoints").mkdir(parents=True)
        (run / "checkpoints" / "last.ckpt").write_text("weights")
        (run / "cli.log").write_text(f"cwd {worktree}/experiments/s\n")
        (run / "teacher.json").write_text('{"path": "/root/.cache/xlt-distill/teachers/t"}\n')
        (run / "hydra.yaml").write_text(f"output_dir: {worktree}/experiments/s/runs/kd/sw/seed1\n")
    (done / "metrics.json").write_text("{}\n")
    copied = tool.collect(src, dst, "/root/.cache/xlt-distill", str(worktree))
    assert [p.as_posix() for p in copied] == ["kd/sw/seed1"]
    out = dst / "kd" / "sw" / "seed1"
    assert sorted(p.name for p in out.iterdir()) == ["hydra.yaml", "metrics.json", "teacher.json"]
    assert (out / "teacher.json").read_text() == '{"path": "$DISTILL_CACHE/teachers/t"}\n'
    assert (out / "hydra.yaml").read_text() == "output_dir: experiments/s/runs/kd/sw/seed1\n"
    assert tool.collect(src, dst, "/root/.cache/xlt-distill", str(worktree)) == []  # once
    (running / "metrics.json").write_text('{"data": "/home/someone/corpus.txt"}\n')
    with pytest.raises(SystemExit, match=r"still names /home/someone/corpus\.txt"):
        tool.collect(src, dst, "/root/.cache/xlt-distill", str(worktree))
    assert not (dst / "kd" / "tl").exists() or not any((dst / "kd" / "tl").iterdir())
