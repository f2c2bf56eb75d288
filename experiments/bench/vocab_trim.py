"""Vocabulary trimming of the student (``student.trim_vocab``): size, latency and accuracy.

Two full ``distill-run`` runs of the chatterbot demo (``experiment=demo_it``, the real
multilingual-e5-small student, same seed), one with ``student.trim_vocab=true``; then, on both
exported students loaded with plain ``transformers``: parameters, disk size of the export, and CPU
inference latency (tokenisation + forward, batch 1 and batch 32, median of repeats). Target: test
accuracy within 0.5 points of the untrimmed student.

Full size (several minutes a run on 2 cores; not beside other benchmarks)::

    flock /tmp/bench.lock .venv/bin/python experiments/bench/vocab_trim.py

Smoke run (tiny models, seconds)::

    .venv/bin/python experiments/bench/vocab_trim.py --smoke
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import command_line, machine, machine_line, run_demo, student_scores, write_section

TARGET_POINTS = 0.5


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--experiment", default="demo_it")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", type=Path, default=Path("/tmp/bench_vocab_trim"), help="run folders")
    p.add_argument("--repeats", type=int, default=30, help="timed repeats per latency measurement")
    p.add_argument("--reuse", action="store_true", help="reuse finished runs in --out (re-measure only)")
    p.add_argument(
        "--smoke",
        "--quick",
        action="store_true",
        help="debug=tiny, 1 epoch: checks the script only (no README update)",
    )
    p.add_argument("--threads", type=int, default=0, help="torch threads for latency (0: torch's default)")
    return p.parse_args()


def demo_overrides(args: argparse.Namespace) -> list[str]:
    return [
        f"experiment={args.experiment}",
        f"seed={args.seed}",
        *(["debug=tiny", "trainer.max_epochs=1"] if args.smoke else []),
    ]


def folder_mib(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def test_texts(run_dir: Path) -> list[str]:
    """The Italian (target) test texts of the run, the same for both runs."""
    from hydra import compose, initialize_config_dir

    from distill.cli import config_dir
    from distill.stages.prepare import prepare_data

    overrides = json.loads((run_dir / "bench_seconds.json").read_text())["overrides"]
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("config", overrides=[o for o in overrides if not o.startswith("hydra.")])
    data = prepare_data(cfg)
    return [t for dd in data.values() for t in dd["test"]["tgt"]]


def latency_ms(model: Any, tokenizer: Any, texts: list[str], batch: int, repeats: int) -> float:
    """Median wall time (ms) of tokenising and classifying ``batch`` texts, over ``repeats`` batches."""
    import torch

    batches = [texts[(i * batch) % len(texts) :][:batch] for i in range(repeats + 3)]
    batches = [b if len(b) == batch else (b + texts)[:batch] for b in batches]
    times = []
    with torch.inference_mode():
        for i, b in enumerate(batches):
            start = time.perf_counter()
            enc = tokenizer(b, padding=True, truncation=True, max_length=64, return_tensors="pt")
            model(**enc)
            if i >= 3:  # warm-up
                times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def measure(folder: Path, texts: list[str], repeats: int) -> dict[str, Any]:
    import numpy as np
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(str(folder)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    emb = model.get_input_embeddings().weight
    ids = tokenizer(texts, truncation=True, max_length=64)["input_ids"]
    unk = sum(i == tokenizer.unk_token_id for seq in ids for i in seq) / max(1, sum(map(len, ids)))
    with torch.inference_mode():
        enc = tokenizer(texts[:64], padding=True, truncation=True, max_length=64, return_tensors="pt")
        logits = model(**enc).logits.numpy()
    return {
        "params": int(sum(p.numel() for p in model.parameters())),
        "embedding_params": int(emb.numel()),
        "vocab": len(tokenizer),
        "disk_mib": round(folder_mib(folder), 1),
        "latency_ms_b1": round(latency_ms(model, tokenizer, texts, 1, repeats), 2),
        "latency_ms_b32": round(latency_ms(model, tokenizer, texts, 32, max(5, repeats // 3)), 2),
        "unk_rate_test": round(unk, 5),
        "_logits": np.asarray(logits),
    }


def main() -> None:
    args = parse_args()
    info = machine()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
        info["torch_threads"] = args.threads
    args.out.mkdir(parents=True, exist_ok=True)
    overrides = demo_overrides(args)
    full_dir, full_s = run_demo(args.out / "full", overrides, args.reuse)
    trim_dir, trim_s = run_demo(args.out / "trimmed", [*overrides, "student.trim_vocab=true"], args.reuse)
    texts = test_texts(full_dir)
    full, trim = (
        measure(full_dir / "student", texts, args.repeats),
        measure(trim_dir / "student", texts, args.repeats),
    )
    agree = float((full.pop("_logits").argmax(1) == trim.pop("_logits").argmax(1)).mean())
    acc_full, acc_trim = student_scores(full_dir), student_scores(trim_dir)
    record = json.loads((trim_dir / "student" / "config.json").read_text()).get("xlt_distill_vocab_trim")
    diffs = {lang: acc_trim[lang] - acc_full[lang] for lang in acc_full if lang in acc_trim}
    met = all(abs(d) <= TARGET_POINTS for d in diffs.values())
    print(f"params {full['params']:,} -> {trim['params']:,} ({trim['params'] / full['params']:.3f}x)")
    print(f"disk {full['disk_mib']} MiB -> {trim['disk_mib']} MiB")
    print(
        f"latency b1 {full['latency_ms_b1']} -> {trim['latency_ms_b1']} ms; b32 {full['latency_ms_b32']} -> "
        f"{trim['latency_ms_b32']} ms"
    )
    print(f"accuracy {acc_full} -> {acc_trim} (diff {diffs}; target |diff| <= {TARGET_POINTS}: {met})")
    data = {
        "machine": info,
        "command": command_line(),
        "experiment": args.experiment,
        "seed": args.seed,
        "smoke": args.smoke,
        "full": {**full, "accuracy": acc_full, "run_seconds": round(full_s, 1)},
        "trimmed": {**trim, "accuracy": acc_trim, "run_seconds": round(trim_s, 1), "record": record},
        "accuracy_diff_points": diffs,
        "prediction_agreement_first64_test": agree,
        "target_met": met,
    }
    if args.smoke:
        print(markdown(data, args))
        return
    write_section("vocab_trim", markdown(data, args), data)


def markdown(d: dict[str, Any], args: argparse.Namespace) -> str:
    f, t = d["full"], d["trimmed"]

    def row(name: str, key: str, fmt: str = "{:,}") -> str:
        ratio = t[key] / f[key] if f[key] else float("nan")
        return f"| {name} | {fmt.format(f[key])} | {fmt.format(t[key])} | {ratio:.3f} |"

    nan = float("nan")
    accs = [
        f"| student accuracy {lang} (%) | {f['accuracy'][lang]:.2f} | {t['accuracy'].get(lang, nan):.2f} "
        f"| {d['accuracy_diff_points'].get(lang, nan):+.2f} pt |"
        for lang in f["accuracy"]
    ]
    verdict = "met" if d["target_met"] else "NOT met"
    smoke = " (SMOKE RUN: tiny models, not the demo)" if d["smoke"] else ""
    rec = t.get("record") or {}
    return f"""## Vocabulary trimming (`student.trim_vocab`){smoke}

Compared: two `distill-run experiment={d["experiment"]} seed={d["seed"]}` runs (the chatterbot demo,
English teacher -> multilingual-e5-small student, Italian), one with `student.trim_vocab=true`; the two
exported students loaded with plain `transformers` and timed on the Italian test texts (tokenisation +
forward, max length 64, median of {args.repeats} batches of 1 and {max(5, args.repeats // 3)} of 32, after 3
warm-up batches).

Command: `flock /tmp/bench.lock {d["command"]}`

Machine: {machine_line(d["machine"])}

| | untrimmed | trimmed | trimmed / untrimmed |
|---|---|---|---|
{row("vocabulary (pieces)", "vocab")}
{row("parameters", "params")}
{row("word-embedding parameters", "embedding_params")}
{row("export on disk (MiB)", "disk_mib", "{:.1f}")}
{row("latency, batch 1 (ms)", "latency_ms_b1", "{:.2f}")}
{row("latency, batch 32 (ms)", "latency_ms_b32", "{:.2f}")}
{row("unknown pieces on the test texts (rate)", "unk_rate_test", "{:.5f}")}
{row("whole run, wall (s)", "run_seconds", "{:.1f}")}
{chr(10).join(accs)}

Kept pieces: {rec.get("pieces_after", "?"):,} of {rec.get("pieces_before", "?"):,}
({rec.get("tokenizer_type", "?")}), collected from {rec.get("texts", "?"):,} texts
(every split of both sides and the source test set).
Same predicted label on the first 64 test texts: {100 * d["prediction_agreement_first64_test"]:.1f}%.

**Target** (accuracy within {TARGET_POINTS} points): **{verdict}**.

Why: the trimmed tokenizer splits every text of the run into the same pieces (checked on every text
when trimming), and the embedding rows of those pieces are copied unchanged, so the trimmed student
computes the same function on the run's texts. With `freeze_word_embeddings: true` (the e5 default)
the embedding matrix is not trained either way, so both runs follow the same optimisation; any
difference in accuracy comes from floating-point order, not from the trimming. The parameter count
and the export shrink by the dropped embedding rows. Latency barely moves: an embedding lookup costs
the same whatever the size of the table, and the encoder layers, which dominate the forward pass,
are untouched; what is saved is memory and load time, not compute.
"""


if __name__ == "__main__":
    main()
