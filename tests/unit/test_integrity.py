"""Cache integrity: content hashes in every manifest, checked on read; leftovers of killed writers."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from distill.cache import TABLE_MANIFEST as MANIFEST
from distill.cache import cached_table
from distill.utils.atomic import atomic_dir, remove_stale
from distill.utils.manifest import files_problem

KILLED_WRITER = """
import os, signal, sys
from distill.utils.atomic import atomic_dir
with atomic_dir(sys.argv[1]) as tmp:
    (tmp / "half").write_text("half of it")
    os.kill(os.getpid(), signal.SIGKILL)
"""


def _flip_a_byte(path: Path, at: bytes | None = None) -> None:
    """Flip one byte of ``path`` (the first of ``at`` when given: a value, not the metadata)."""
    data = bytearray(path.read_bytes())
    data[data.index(at) if at else len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_killed_writers_leftover_is_removed_by_the_next_write(tmp_path: Path) -> None:
    final = tmp_path / "entry"
    proc = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(final)], capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-entry-")]
    assert len(leftovers) == 1 and not final.exists()

    with atomic_dir(tmp_path / "other") as live:  # a live writer of another entry is left alone
        with atomic_dir(final) as tmp:
            (tmp / "whole").write_text("all of it")
        assert live.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["entry", "other"]
    assert (final / "whole").read_text() == "all of it"


def test_a_live_writers_temporary_folder_is_kept(tmp_path: Path) -> None:
    with atomic_dir(tmp_path / "entry") as tmp:
        assert remove_stale(tmp_path / "entry") == [] and tmp.is_dir()


def _table(calls: list[int]) -> dict[str, list[str]]:
    calls.append(1)
    return {"text": ["uno", "due", "tre"]}


def test_a_table_whose_content_does_not_match_its_hash_is_rebuilt(
    isolated_cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []
    first = cached_table("translations", "k" * 32, 3, lambda: _table(calls))
    assert not first.hit and calls == [1]
    entry = isolated_cache / "translations" / ("k" * 32)
    assert cached_table("translations", "k" * 32, 3, lambda: _table(calls)).hit

    _flip_a_byte(next(entry.glob("*.arrow")), at=b"due")
    with caplog.at_level(logging.WARNING):
        again = cached_table("translations", "k" * 32, 3, lambda: _table(calls))
    assert not again.hit and calls == [1, 1]
    assert "does not match its recorded SHA-256" in caplog.text
    assert again.dataset["text"] == ["uno", "due", "tre"]  # not "eue"


def test_an_entry_from_an_earlier_version_gets_its_hashes_recorded_then_checked(isolated_cache: Path) -> None:
    calls: list[int] = []
    cached_table("translations", "o" * 32, 3, lambda: _table(calls))
    entry = isolated_cache / "translations" / ("o" * 32)
    manifest = json.loads((entry / MANIFEST).read_text())
    del manifest["files"]  # as written before manifests held hashes
    (entry / MANIFEST).write_text(json.dumps(manifest))

    assert cached_table("translations", "o" * 32, 3, lambda: _table(calls)).hit
    recorded = json.loads((entry / MANIFEST).read_text())["files"]
    assert files_problem(entry, MANIFEST, recorded) is None
    (entry / "extra.txt").write_text("not ours")
    assert "unexpected ['extra.txt']" in str(files_problem(entry, MANIFEST, recorded))


def test_a_cached_teacher_with_damaged_weights_is_fine_tuned_again(
    isolated_cache: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from distill.teacher import train_teacher
    from tests.integration.helpers import compose_cfg

    cfg = compose_cfg(tmp_path / "run", "debug=tiny", f"paths.cache_dir={isolated_cache}")
    first = train_teacher(cfg)
    assert first.source == "trained"
    assert train_teacher(cfg).source == "cache"
    _flip_a_byte(Path(first.path) / "model.safetensors")
    with caplog.at_level(logging.WARNING, logger="distill.teacher"):
        again = train_teacher(cfg)
    assert again.source == "trained" and "is damaged" in caplog.text
    assert train_teacher(cfg).source == "cache"
