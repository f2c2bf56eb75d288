from __future__ import annotations

from pathlib import Path

import pytest

from distill.utils.atomic import atomic_dir, atomic_file, write_text_atomic
from distill.utils.hashing import file_sha256, text_sha256


def test_atomic_dir_appears_only_when_complete(tmp_path: Path) -> None:
    final = tmp_path / "out"
    with atomic_dir(final) as tmp:
        (tmp / "a.txt").write_text("x")
        assert not final.exists()
    assert (final / "a.txt").read_text() == "x"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_atomic_dir_crash_leaves_nothing(tmp_path: Path) -> None:
    final = tmp_path / "out"
    with pytest.raises(RuntimeError), atomic_dir(final) as tmp:
        (tmp / "a.txt").write_text("partial")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_crash_keeps_previous_version(tmp_path: Path) -> None:
    final = tmp_path / "out"
    with atomic_dir(final) as tmp:
        (tmp / "v").write_text("1")
    with pytest.raises(KeyboardInterrupt), atomic_dir(final) as tmp:
        (tmp / "v").write_text("2")
        raise KeyboardInterrupt
    assert (final / "v").read_text() == "1"
    with atomic_dir(final) as tmp:
        (tmp / "v").write_text("3")
    assert (final / "v").read_text() == "3"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_atomic_file_and_hashes(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "f.txt"
    write_text_atomic(target, "hello")
    assert target.read_text() == "hello"
    with pytest.raises(ValueError, match="mid-write"), atomic_file(target) as fh:
        fh.write("half")  # type: ignore[attr-defined]
        raise ValueError("mid-write")
    assert target.read_text() == "hello"
    assert [p.name for p in target.parent.iterdir()] == ["f.txt"]
    # sha256("hello")
    assert file_sha256(target) == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    assert text_sha256("ab", "c") != text_sha256("a", "bc")
