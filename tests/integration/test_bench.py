"""Every benchmark script runs its quick (seconds-long, tiny-model) version, so none of them rots.

The quick versions print their numbers and leave experiments/bench/README.md alone; the real
measurements are taken by hand (experiments/bench/README.md says how).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "experiments" / "bench"
OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "WANDB_MODE": "offline",
}


def _quick(script: str, *args: str, cwd: Path) -> str:
    before = (BENCH / "README.md").read_text()
    proc = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick", *args],
        env={**os.environ, **OFFLINE},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert (BENCH / "README.md").read_text() == before  # quick runs never overwrite measurements
    return proc.stdout


def test_sweep_amortisation_quick_counts_one_cached_teacher_pass(tmp_path: Path) -> None:
    out = _quick("sweep_amortisation.py", "--seeds", "1,2", "--keep", str(tmp_path / "sweeps"), cwd=tmp_path)
    # 2 jobs x 2 epochs: the live teacher reads the data 4 times, the cached sweep once.
    assert '"teacher_passes": {"cached": 1.0, "live": 4.0}' in out


@pytest.mark.parametrize(
    "variants",
    [
        "fp32,unfused_adamw,bf16_autocast",
        pytest.param("compile", marks=pytest.mark.slow),  # compiling takes a minute on 2 cores
    ],
)
def test_mfu_quick_times_each_variant(variants: str, tmp_path: Path) -> None:
    out = _quick("mfu.py", "--variants", variants, cwd=tmp_path)
    for variant in variants.split(","):
        assert f"training step: {variant}" in out
    assert "failed" not in out and "MFU" in out
    # The demo epoch through the distill stage's data module: bucketed batches pad less.
    random, bucketed = (int(p) for p in re.findall(r"padding (\d+)%", out))
    assert bucketed < random


def test_vocab_trim_quick_trims_and_keeps_accuracy(tmp_path: Path) -> None:
    out = _quick("vocab_trim.py", "--out", str(tmp_path / "runs"), "--repeats", "2", cwd=tmp_path)
    assert "accuracy" in out and "target |diff| <= 0.5: True" in out


def test_memory_scaling_quick_measures_each_size_on_real_verse_pairs(tmp_path: Path) -> None:
    from tests.unit.test_bench_bible_corpus import _db

    db = _db(tmp_path / "bible.db", chapters=40)  # 2 English x (400 + 399) aligned verse pairs
    out = _quick(
        "memory_scaling.py",
        *("--corpus", "bible", "--db", str(db), "--test-rows", "50", "--teacher-rows", "50"),
        *("--sizes", "300", "600", "--keep-sizes", "300", "--work", str(tmp_path / "work")),
        cwd=tmp_path,
    )
    assert re.search(r"^\s+300 pairs: peak RSS [0-9.]+ MiB", out, re.M)
    assert re.search(r"^\s+300 pairs \(pages kept\): peak RSS [0-9.]+ MiB", out, re.M)
    assert re.search(r"^\s+600 pairs: peak RSS [0-9.]+ MiB", out, re.M)


# Two pipeline runs under memray: 77 s on 2 cores (2026-12-08), over the minute `slow` stands for; the
# attribution itself is checked on captures of known allocations in tests/unit/test_bench_memray.py.
@pytest.mark.slow
def test_memory_scaling_memray_attributes_the_heap_to_project_code(tmp_path: Path) -> None:
    out = _quick(
        "memory_scaling.py",
        "--corpus",
        "generated",
        "--sizes",
        "300",
        "600",
        "--work",
        str(tmp_path / "work"),
        "--memray",
        str(tmp_path / "memray"),
        cwd=tmp_path,
    )
    assert "Where the heap grows" in out
    # Heap is attributed to the project's own frames, each named with the library that allocated
    # under it. Which frames lead at 300 and 600 pairs varies from run to run (the student's forward,
    # its dropout masks, an import), so the test names none of them; the attribution itself is
    # checked exactly on captures of known allocations in tests/unit/test_bench_memray.py.
    frames = re.findall(r"`distill/[\w/]+\.py:\d+ [\w<>]+ \[([\w-]+)\]`", out)
    assert frames, out


def test_label_throughput_quick_compares_three_contenders(tmp_path: Path) -> None:
    out = _quick("label_throughput.py", "--naive-sentences", "32", cwd=tmp_path)
    assert "ours" in out and "naive" in out


def test_label_precision_quick_checks_parity_and_times_the_passing_paths(tmp_path: Path) -> None:
    out = _quick("label_precision.py", cwd=tmp_path)
    assert re.search(r"^\| fp32 \| – \| – \| reference \| [0-9.]+x \| [0-9.]+ of limit_fp32 \|$", out, re.M)
    rows = dict(
        re.findall(
            r"^\| (bf16|onnx|onnx-int8) \| [0-9.]+% \| [0-9.e+-]+ \| (passed|\*\*failed\*\*) \|", out, re.M
        )
    )
    assert set(rows) == {"bf16", "onnx", "onnx-int8"}
    assert rows["onnx"] == "passed"  # the float32 graph equals torch to rounding
    for name in ("st", "limit_fp32", "limit_bf16"):
        assert re.search(rf"^\| {name} \| [0-9.]+ \|", out, re.M)


@pytest.mark.slow  # a few real e5-small steps per contender: minutes on 2 cores
def test_train_throughput_quick_runs_every_contender(tmp_path: Path) -> None:
    out = _quick("train_throughput.py", cwd=tmp_path)
    assert "hand_loop" in out and "st_recipe" in out


def test_bucketing_quick_compares_random_and_bucketed_runs(tmp_path: Path) -> None:
    out = _quick("bucketing.py", "--out", str(tmp_path / "runs"), cwd=tmp_path)
    assert "bucketed - random, it:" in out and "bucketed - random, val:" in out
    assert re.search(r"distill stage: bucketed \d+\.\d+x faster", out)


def test_serve_load_quick_serves_every_backend_without_failures(tmp_path: Path) -> None:
    out = _quick("serve_load.py", cwd=tmp_path)
    for contender in ("torch", "onnx", "pipeline"):
        rows = re.findall(
            rf"^\| {contender} \| (\d+) \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| (\d+) \| (?:\d+%|–) \|$",
            out,
            re.M,
        )
        assert [c for c, _ in rows] == ["1", "8"] and all(f == "0" for _, f in rows), (contender, out[-3000:])
    assert re.search(r"^\| onnx \| [0-9.]+ \| 100\.00 \|$", out, re.M)  # agreement with torch


def test_st_recipe_quick_scores_every_contender_alike(tmp_path: Path) -> None:
    out = _quick("st_recipe.py", cwd=tmp_path)
    for name in ("untrained", "ours", "st_documented", "st_normalize", "st_normalize_frozen"):
        assert re.search(rf"^\| {name} \| (\d\.\d{{3}} / \d\.\d{{3}} \| ){{3}}", out, re.M), (
            name,
            out[-3000:],
        )
    # The trained contenders are timed against ours, in the same run.
    assert re.search(r"^\| st_normalize \|.* \| \d+\.\d\dx \|$", out, re.M)
    # sentence-transformers' own encode reads its students as the project's encode does, and our
    # scoring of the project's students equals the rows its evaluate stage reports.
    assert "smallest cosine: `st_documented` 1.0000" in out
    assert "equal the rows the project's own evaluate stage reports" in out
