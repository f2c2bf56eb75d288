"""The label stage in shards: a SIGKILL mid-way leaves no corrupt cache, the rerun computes only the
missing shards, and the entry equals that of an uninterrupted run; entries whose content no longer
matches their manifest's hashes are rebuilt."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from distill.cache import MANIFEST, SoftLabels, soft_labels
from tests.unit.test_label import MAX_LENGTH, CountingLoader, teacher  # noqa: F401 (fixture)

TEXTS = [f"sentence number {i} about {'robots' if i % 3 else 'history and science'}" for i in range(50)]
SHARD = 8  # 7 shards, the last one 2 rows
BATCH = 4  # 2 teacher batches per full shard

KILLER = """
import os, signal, sys
from pathlib import Path
from distill.cache import soft_labels
from distill.models.classifier import load_classifier

calls = 0
def loader(path):
    model, tokenizer = load_classifier(str(path))
    def hook(*_):
        global calls
        calls += 1
        if calls == int(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)
    model.register_forward_hook(hook)
    return model, tokenizer

texts = [line for line in Path(sys.argv[3]).read_text().split("\\n")]
soft_labels(Path(sys.argv[1]), texts, mode="parallel", max_length=32, batch_size=4, shard_rows=8,
            progress=False, model_loader=loader)
"""


def _label(teacher_dir: Path, **kw: Any) -> SoftLabels:
    opts: dict[str, Any] = {
        "mode": "parallel",
        "max_length": MAX_LENGTH,
        "batch_size": BATCH,
        "progress": False,
    }
    return soft_labels(teacher_dir, TEXTS, shard_rows=SHARD, **{**opts, **kw})


def _data_files(entry_path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in entry_path.iterdir() if p.name != MANIFEST}


def test_sigkill_mid_label_stage_then_rerun_computes_only_the_missing_shards(
    teacher: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The uninterrupted run, in its own cache.
    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path / "reference"))
    reference = _label(teacher)
    expected_logits, expected_files = reference.logits(), _data_files(reference.path)

    # The killed run: SIGKILL on the 7th teacher batch, i.e. inside shard 3 (shards 0-2 are done).
    cache = tmp_path / "killed"
    texts_file = tmp_path / "texts.txt"
    texts_file.write_text("\n".join(TEXTS))
    env = {**os.environ, "DISTILL_CACHE": str(cache), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, str(teacher), "7", str(texts_file)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert not (cache / "soft_labels").exists() or not any((cache / "soft_labels").iterdir())  # no entry
    partial = next((cache / "soft_labels_partial").iterdir())
    assert sorted(p.name for p in partial.iterdir() if not p.name.startswith(".tmp-")) == [
        "shard-00000",
        "shard-00001",
        "shard-00002",
    ]

    # The rerun: 4 shards left (3 of 8 rows in 2 batches, the last of 2 rows in 1 batch).
    monkeypatch.setenv("DISTILL_CACHE", str(cache))
    loader = CountingLoader()
    with caplog.at_level(logging.INFO, logger="distill.cache"):
        resumed = _label(teacher, model_loader=loader)
    assert not resumed.hit and loader.loads == 1
    assert loader.batches == 2 + 2 + 2 + 1
    assert "24 of 50 rows from the finished shards" in caplog.text
    np.testing.assert_array_equal(resumed.logits(), expected_logits)
    assert _data_files(resumed.path) == expected_files
    assert not (cache / "soft_labels_partial" / resumed.key).exists()
    assert _label(teacher).hit


def test_a_finished_run_loads_no_teacher_for_all_shards(teacher: Path, isolated_cache: Path) -> None:  # noqa: F811
    first = _label(teacher)
    loader = CountingLoader()
    again = _label(teacher, model_loader=loader)
    assert again.hit and loader.loads == 0
    assert len(first.manifest["files"]) >= 1


def test_an_entry_whose_content_does_not_match_its_hash_is_rebuilt(
    teacher: Path,  # noqa: F811
    isolated_cache: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    first = _label(teacher)
    expected = first.logits()
    arrow = next(first.path.glob("*.arrow"))
    data = bytearray(arrow.read_bytes())
    data[-64] ^= 0xFF  # one flipped byte inside the values, same size
    arrow.write_bytes(bytes(data))

    loader = CountingLoader()
    with caplog.at_level(logging.WARNING, logger="distill.cache"):
        rebuilt = _label(teacher, model_loader=loader)
    assert "does not match its recorded SHA-256" in caplog.text and "rebuilding" in caplog.text
    assert not rebuilt.hit and loader.loads == 1
    np.testing.assert_array_equal(rebuilt.logits(), expected)


def test_a_damaged_shard_is_computed_again(
    teacher: Path,  # noqa: F811
    isolated_cache: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    crashing = CountingLoader(fail_after_batches=5)  # shards 0 and 1 finish, shard 2 crashes
    with pytest.raises(RuntimeError):
        _label(teacher, model_loader=crashing)
    partial = next((isolated_cache / "soft_labels_partial").iterdir())
    shard = partial / "shard-00001"
    manifest = json.loads((shard / MANIFEST).read_text())
    (shard / MANIFEST).write_text(json.dumps({**manifest, "stop": 99}))

    loader = CountingLoader()
    with caplog.at_level(logging.WARNING, logger="distill.cache"):
        result = _label(teacher, model_loader=loader)
    assert "shard" in caplog.text and "damaged" in caplog.text
    assert loader.batches == 13 - 2  # every batch but shard 0's
    assert len(result) == len(TEXTS)
