"""The memory benchmark's heap attribution (``memory_scaling.py --memray``) on captures of a small
program whose allocations are known: which project frame holds how much at the peak, and what grows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.scripts import load_script

HOLDER = """import numpy as np


def hold(mib):
    return np.ones(mib * 2**20 // 8)  # line 5: numpy allocates under the project's frame


def scratch():
    return bytearray(2 * 2**20)  # line 9: freed before the peak
"""

MAIN = """import sys
from distill.hold import hold, scratch

scratch()
kept = hold(int(sys.argv[1]))
"""


@pytest.fixture(scope="module")
def bench():
    return load_script("experiments/bench/memory_scaling.py", "memory_scaling_memray")


def _capture(folder: Path, mib: int) -> Path:
    """Run the program under memray, holding ``mib`` MiB from ``distill/hold.py`` at its peak."""
    (folder / "distill").mkdir(exist_ok=True)
    (folder / "distill" / "__init__.py").write_text("")
    (folder / "distill" / "hold.py").write_text(HOLDER)
    (folder / "main.py").write_text(MAIN)
    out = folder / f"{mib}.bin"
    subprocess.run(
        [sys.executable, "-m", "memray", "run", "-q", "--force", "-o", str(out), "main.py", str(mib)],
        cwd=folder,
        check=True,
        capture_output=True,
    )
    return out


def test_the_peak_is_attributed_to_the_project_frame_with_the_library_under_it(bench, tmp_path: Path) -> None:
    heap = bench.heap_at_peak(_capture(tmp_path, 24))
    site = "distill/hold.py:5 hold [numpy]"
    assert heap["by_site_mib"][site] == pytest.approx(24, abs=0.01)
    assert heap["peak_mib"] >= 24 and heap["mmap_mib"] == 0
    assert not any(s.startswith("distill/hold.py:9") for s in heap["by_site_mib"])  # freed before


def test_growth_between_two_sizes_names_the_site_that_grows(bench, tmp_path: Path) -> None:
    _capture(tmp_path, 8)
    _capture(tmp_path, 40)
    growth = bench.heap_growth(tmp_path, 8, 40)
    top = growth["growth_mib"][0]
    assert top["site"] == "distill/hold.py:5 hold [numpy]"
    assert (top["small_mib"], top["big_mib"], top["growth_mib"]) == pytest.approx((8, 40, 32), abs=0.01)
    assert growth["top_at_big"][0] == {"site": top["site"], "mib": pytest.approx(40, abs=0.01)}
    assert "| `distill/hold.py:5 hold [numpy]` | 8.0 | 40.0 | +32.0 |" in bench.heap_markdown(
        {**growth, "command": "memory_scaling.py --memray m", "machine": bench.machine()}
    )
