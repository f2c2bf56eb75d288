"""Benchmark 3, sweep amortisation: a multirun sharing the soft-label cache vs the teacher run live.

Two Hydra multiruns of the same jobs (``seed=1,2,3,4`` by default) on the chatterbot demo (English
teacher all-MiniLM-L6-v2, student multilingual-e5-small):

- **cached** (the default): the first job's label stage runs the teacher once over the training
  and validation pairs; every step of every job reads the soft labels from the on-disk cache;
- **live** (``teacher.live=true``): the teacher labels every batch inside every training and
  validation step of every job, as frameworks without a cache do.

Both start from the same fine-tuned teacher (trained once beforehand, not timed) and a cold soft-
label cache. Each multirun runs in its own process; a forward hook counts the rows the teacher
reads in each stage, so the report shows teacher passes over the data next to the wall time.

    flock /tmp/bench.lock .venv/bin/python experiments/bench/sweep_amortisation.py
    .venv/bin/python experiments/bench/sweep_amortisation.py --quick   # tiny models, seconds
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OFFLINE, command_line, machine, machine_line, write_section
from _common import REPO as ROOT


def _child(argv: list[str], counts_file: Path) -> None:
    """Run one multirun in this process, counting the rows each stage's teacher forward reads."""
    import torch
    from transformers import PreTrainedModel

    import distill.pipeline as pipeline
    from distill.cli import run_main

    teacher_dir = Path(os.environ["BENCH_TEACHER_DIR"]).resolve()
    stage = ["setup"]
    rows: Counter[str] = Counter()
    calls: Counter[str] = Counter()

    def is_teacher(module: torch.nn.Module) -> bool:
        # The classifier wrapper (not its inner encoder) loaded from the cached teacher folder.
        if not isinstance(module, PreTrainedModel) or module.base_model is module:
            return False
        ref = str(getattr(module.config, "_name_or_path", "") or "")
        return bool(ref) and Path(ref).resolve().is_relative_to(teacher_dir)

    def hook(module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> None:
        if is_teacher(module):
            ids = kwargs.get("input_ids", args[0] if args else None)
            rows[stage[0]] += int(ids.shape[0])
            calls[stage[0]] += 1

    torch.nn.modules.module.register_module_forward_hook(hook, with_kwargs=True)
    enter = pipeline.StageTimer.__call__

    def timed(self: pipeline.StageTimer, name: str):  # type: ignore[no-untyped-def]
        stage[0] = name
        return enter(self, name)

    pipeline.StageTimer.__call__ = timed  # type: ignore[method-assign]
    sys.argv = ["distill-run", *argv]
    try:
        run_main()
    except SystemExit as exc:  # Hydra exits after a multirun
        if exc.code not in (0, None):
            raise
    counts_file.write_text(json.dumps({"rows": rows, "calls": calls}))


def _sweep(name: str, argv: list[str], env: dict[str, str], work: Path) -> dict[str, Any]:
    counts = work / f"{name}-counts.json"
    cmd = [sys.executable, __file__, "--child", str(counts), "--", *argv]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=work, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    (work / f"{name}.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"{name} sweep failed (log: {work / f'{name}.log'}):\n{proc.stderr[-3000:]}")
    found = json.loads(counts.read_text())
    return {"wall_s": round(wall, 1), "teacher_rows": found["rows"], "teacher_calls": found["calls"]}


def _jobs(sweep_dir: Path) -> list[dict[str, Any]]:
    out = []
    for job in sorted((p for p in sweep_dir.iterdir() if p.name.isdigit()), key=lambda p: int(p.name)):
        metrics = json.loads((job / "metrics.json").read_text())
        timings = json.loads((job / "timings.json").read_text())["stage_seconds"]
        labels = json.loads((job / "labels.json").read_text())
        student = {r["lang"]: r["accuracy"] for r in metrics["results"] if r["system"] == "student"}
        out.append({"job": job.name, "stages": timings, "labels": labels, "student_acc": student})
    return out


def _data_rows(job_dir: Path) -> int:
    """Training + validation pairs of a cached job (what one teacher pass over the data reads)."""
    labels = json.loads((job_dir / "labels.json").read_text())
    return sum(e["rows"] for splits in labels.values() for e in splits.values() if "rows" in e)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--seeds", default="1,2,3,4", help="the multirun's jobs (seed values)")
    parser.add_argument("--epochs", type=int, default=2, help="student epochs per job")
    parser.add_argument("--quick", action="store_true", help="tiny models (a smoke run, no README update)")
    parser.add_argument("--keep", type=Path, help="keep the sweep folders here")
    parser.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.rest, args.child)
        return

    info = machine()
    common = [
        "experiment=demo_it" if not args.quick else "debug=tiny",
        f"trainer.max_epochs={args.epochs}",
        "trainer.enable_progress_bar=false",
        "teacher.progress_bar=false",
        "logger=none",
        "baselines=none",
        "export_student=false",
    ]
    work = Path(args.keep or tempfile.mkdtemp(prefix="bench-sweep-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **OFFLINE, "PYTHONPATH": str(ROOT)}

    # The teacher, fine-tuned once (not timed) and copied into each sweep's otherwise cold cache.
    teacher_cache = work / "teacher-cache"
    subprocess.run(
        [str(Path(sys.executable).parent / "distill-teacher"), *common, f"paths.cache_dir={teacher_cache}"],
        env=env,
        cwd=work,
        check=True,
        capture_output=True,
    )
    results: dict[str, Any] = {}
    for name, extra in (("cached", []), ("live", ["teacher.live=true"])):
        cache = work / f"{name}-cache"
        shutil.rmtree(cache, ignore_errors=True)
        shutil.copytree(teacher_cache / "teachers", cache / "teachers")
        sweep_dir = work / f"{name}-sweep"
        shutil.rmtree(sweep_dir, ignore_errors=True)
        argv = [
            "-m",
            f"seed={args.seeds}",
            *common,
            *extra,
            f"paths.cache_dir={cache}",
            f"hydra.sweep.dir={sweep_dir}",
        ]
        run_env = {**env, "BENCH_TEACHER_DIR": str(cache / "teachers")}
        print(f"{name}: distill-run {' '.join(argv)}", flush=True)
        results[name] = _sweep(name, argv, run_env, work) | {"jobs": _jobs(sweep_dir)}
        print(f"{name}: {results[name]['wall_s']} s, teacher rows {results[name]['teacher_rows']}")

    n_jobs = len(args.seeds.split(","))
    data_rows = _data_rows(work / "cached-sweep" / "0")
    training = ("label", "distill")  # where the teacher labels what the student learns from
    train_rows = {name: sum(r["teacher_rows"].get(s, 0) for s in training) for name, r in results.items()}
    passes = {name: rows / data_rows for name, rows in train_rows.items()}
    ratio = results["live"]["wall_s"] / results["cached"]["wall_s"]
    distill_s = {
        name: round(sum(j["stages"].get("distill", 0) for j in r["jobs"]), 1) for name, r in results.items()
    }
    label_s = {
        name: round(sum(j["stages"].get("label", 0) for j in r["jobs"]), 1) for name, r in results.items()
    }
    summary = {
        "machine": info,
        "command": command_line(),
        "jobs": n_jobs,
        "epochs": args.epochs,
        "data_rows": data_rows,
        "teacher_passes": passes,
        "wall_ratio_live_over_cached": round(ratio, 3),
        "distill_s": distill_s,
        "label_s": label_s,
        "results": results,
    }
    print(json.dumps({k: summary[k] for k in ("teacher_passes", "wall_ratio_live_over_cached", "distill_s")}))
    if args.quick:
        print(f"(quick run: README not updated; folders in {work})")
        return

    eval_rows = {name: r["teacher_rows"].get("evaluate", 0) for name, r in results.items()}
    acc_equal = all(
        abs(a["student_acc"].get(k, 0) - b["student_acc"].get(k, 0)) < 0.02
        for a, b in zip(results["cached"]["jobs"], results["live"]["jobs"], strict=True)
        for k in a["student_acc"]
    )
    met = "met" if passes["cached"] == 1 else "NOT met"
    md = f"""## 3. Sweep amortisation: shared soft-label cache vs a live teacher

A {n_jobs}-job multirun (`seed={args.seeds}`) of the chatterbot demo (`experiment=demo_it`: English
all-MiniLM-L6-v2 teacher, multilingual-e5-small student, kd+back+cycle, {args.epochs} epochs, no
baselines, no export), once with the soft-label cache (the default) and once with `teacher.live=true`
(the teacher labels each batch inside the step). Both start from the same fine-tuned teacher (trained
once before, not timed) and a cold soft-label cache; each multirun runs in one process.

Command: `{summary["command"]}`
Machine: {machine_line(info)}

| | cached | live |
|---|---|---|
| teacher rows read while labelling + training | {train_rows["cached"]:,} | {train_rows["live"]:,} |
| teacher passes over the {data_rows:,} train+validation pairs | **{passes["cached"]:.2f}** \
| {passes["live"]:.2f} |
| teacher rows in evaluation (test sets, same in both) | {eval_rows["cached"]:,} | {eval_rows["live"]:,} |
| label stage, summed over jobs (s) | {label_s["cached"]} | {label_s["live"]} |
| distill stage, summed over jobs (s) | {distill_s["cached"]} | {distill_s["live"]} |
| multirun wall time (s) | {results["cached"]["wall_s"]} | {results["live"]["wall_s"]} |

- Teacher passes of the cached sweep: {passes["cached"]:.2f} (target: exactly 1 pass) — **{met}**. The first
  job misses the cache and labels; jobs 2-{n_jobs} hit it (`labels.json`).
- Wall-time ratio live / cached: **{ratio:.2f}x** for the whole multirun (the live teacher's
  cost grows with jobs x epochs; the cache's is paid once).
- Students of the two sweeps agree (test accuracy per job within 2 points): {"yes" if acc_equal else "no"}
  (the live teacher pads per training batch, the cache per length-sorted batch: float noise only;
  `tests/integration/test_live_teacher.py` checks the trained weights match).
"""
    write_section("sweep_amortisation", md, summary)


if __name__ == "__main__":
    main()
