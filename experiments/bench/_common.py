"""Shared pieces of the benchmarks: machine description, timing, and writing results to the README.

Every benchmark prints its ratios and rewrites its own section of ``experiments/bench/README.md``
(between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->``) with the machine and the date, so the
README always shows the last measurement of each benchmark and how it was taken.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
README = HERE / "README.md"
RESULTS = HERE / "results"
REPO = HERE.parents[1]
OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "WANDB_MODE": "offline",
}


def offline() -> None:
    """No network here: only the packaged models (the variables a caller set are kept)."""
    for name, value in OFFLINE.items():
        os.environ.setdefault(name, value)


def machine() -> dict[str, Any]:
    """What the numbers were measured on: CPU model, cores, threads, memory, load, versions."""
    import torch

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gib = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gib = round(int(line.split()[1]) / 2**20, 1)
    return {
        "date": dt.date.today().isoformat(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "memory_gib": mem_gib,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }


def machine_line(info: dict[str, Any]) -> str:
    return (
        f"{info['date']}, {info['cpu']}, {info['cores']} cores ({info['torch_threads']} torch threads), "
        f"{info['memory_gib']} GiB, load {info['load_average_1m']} at the start, "
        f"Python {info['python']}, torch {info['torch']}"
    )


@contextlib.contextmanager
def timer() -> Iterator[dict[str, float]]:
    """``with timer() as t: ...``; then ``t["s"]`` holds the wall seconds."""
    out: dict[str, float] = {}
    start = time.perf_counter()
    try:
        yield out
    finally:
        out["s"] = time.perf_counter() - start


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def command_line() -> str:
    return " ".join(["python", *[a if " " not in a else repr(a) for a in sys.argv]])


def run_demo(out: Path, overrides: list[str], reuse: bool = False) -> tuple[Path, float]:
    """One ``distill-run`` into ``out`` (CSV logger, offline); returns the folder and its wall seconds.

    With ``reuse`` a finished run in ``out`` is kept and its recorded time returned; otherwise the
    folder starts fresh, so that nothing an earlier (killed, or other-configuration) run left there
    is resumed.
    """
    if reuse and (out / "metrics.json").is_file() and (out / "student" / "config.json").is_file():
        return out, float(json.loads((out / "bench_seconds.json").read_text())["seconds"])
    shutil.rmtree(out, ignore_errors=True)
    overrides = [*overrides, "logger=csv", f"hydra.run.dir={out}"]
    start = time.perf_counter()
    distill_run = Path(sys.executable).parent / "distill-run"
    subprocess.run([str(distill_run), *overrides], check=True, env={**os.environ, **OFFLINE}, cwd=REPO)
    seconds = time.perf_counter() - start
    (out / "bench_seconds.json").write_text(json.dumps({"seconds": seconds, "overrides": overrides}))
    return out, seconds


def student_scores(run_dir: Path) -> dict[str, float]:
    """The student's test accuracy (%) per language, from the run's ``metrics.json``."""
    rows = json.loads((run_dir / "metrics.json").read_text())["results"]
    return {r["lang"]: 100 * float(r["accuracy"]) for r in rows if r["system"] == "student"}


def write_section(name: str, markdown: str, data: dict[str, Any]) -> None:
    """Replace benchmark ``name``'s README section and save its raw numbers in results/NAME.json.

    Both writes are atomic (a temporary file renamed over the old one), under a lock so that two
    benchmarks finishing together do not lose each other's section.
    """
    RESULTS.mkdir(exist_ok=True)
    _atomic_write(RESULTS / f"{name}.json", json.dumps(data, indent=2, sort_keys=True) + "\n")
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    with open(HERE / ".readme.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        text = README.read_text() if README.exists() else "# Benchmarks\n"
        block = f"{begin}\n{markdown.strip()}\n{end}"
        if begin in text and end in text:
            head, rest = text.split(begin, 1)
            text = head + block + rest.split(end, 1)[1]
        else:
            text = text.rstrip() + "\n\n" + block + "\n"
        _atomic_write(README, text)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)
