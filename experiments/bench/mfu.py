"""Benchmark 5, hardware efficiency: the student training step's FLOP/s against the machine's matmul peak.

1. **Peak**: the best FLOP/s of ``torch.matmul`` in fp32 and in bf16 on this machine (square and
   encoder-shaped products, same threads, best of repeats), measured in the same process.
2. **Training step**: the real student (multilingual-e5-small from the demo config, word embeddings
   frozen as configured, kd loss, AdamW) trained by Lightning on batches of 32 x 64 tokens, timed
   per step after warm-up, in several variants: fp32 (the default, fused AdamW), unfused AdamW
   (``student.optimizer.fused=false``), bf16 autocast (``trainer.precision=bf16-mixed``) and
   ``torch.compile``.
3. **MFU** = model FLOPs per step / step time / peak. Model FLOPs per token of a training step
   are ``3 x (2 N + 4 L T d)`` (forward, and a backward of twice the forward): ``N`` the encoder's
   matmul parameters (the embedding lookup does no multiply), ``L`` layers, ``T`` tokens per
   sequence, ``d`` hidden size (the attention scores and their product with the values).

4. **Demo epoch**: one epoch of the real demo data through the distill stage's data module, with
   random batches and with length-bucketed ones (``student.bucket_by_length=true``, the default of
   the multilingual-e5-small students): the share of padding,
   the time, and the useful MFU (model FLOPs of the real tokens only).

    flock /tmp/bench.lock .venv/bin/python experiments/bench/mfu.py
    .venv/bin/python experiments/bench/mfu.py --quick
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import command_line, machine, machine_line, write_section

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def matmul_peak(dtype: torch.dtype, repeats: int, quick: bool) -> dict[str, Any]:
    """Best FLOP/s of ``a @ b`` over a few shapes: square ones and the encoder's FFN shape."""
    shapes = [(512, 512, 512), (2048, 384, 1536)] if quick else [(2048, 2048, 2048), (4096, 4096, 4096)]
    shapes.append((2048, 384, 1536))  # (B*T, d) @ (d, ffn): the student's biggest product
    out: dict[str, Any] = {}
    for m, k, n in dict.fromkeys(shapes):
        a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
        for _ in range(2):  # warm-up: thread pool, oneDNN kernel selection
            a @ b
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - start)
        out[f"{m}x{k}x{n}"] = 2 * m * k * n / min(times)
    out["peak"] = max(out.values())
    return out


def model_flops_per_step(model: Any, batch: int, seq: int) -> tuple[float, int]:
    """``(FLOPs of one training step, matmul parameters N)`` by the formula in the docstring."""
    cfg = model.config
    emb = model.get_input_embeddings().weight.numel()
    positional = sum(
        p.numel() for n, p in model.named_parameters() if "position_embeddings" in n or "token_type" in n
    )
    norms_biases = sum(p.numel() for n, p in model.named_parameters() if p.dim() == 1)
    n_matmul = sum(p.numel() for p in model.parameters()) - emb - positional - norms_biases
    per_token = 2 * n_matmul + 4 * cfg.num_hidden_layers * seq * cfg.hidden_size
    return 3.0 * per_token * batch * seq, n_matmul


def synthetic_batches(n: int, batch: int, seq: int, vocab: int, classes: int) -> list[dict[str, Tensor]]:
    """Batches of ``batch`` full sequences of ``seq`` tokens (no padding), as the collator makes them."""
    g = torch.Generator().manual_seed(0)
    return [
        {
            "tgt_input_ids": torch.randint(5, vocab, (batch, seq), generator=g),
            "tgt_attention_mask": torch.ones(batch, seq, dtype=torch.long),
            "teacher_logits": torch.randn(batch, classes, generator=g),
            "teacher_src_logits": torch.randn(batch, classes, generator=g),
            "labels": torch.randint(0, classes, (batch,), generator=g),
            "lang": torch.zeros(batch, dtype=torch.long),
        }
        for _ in range(n)
    ]


class StepProfiler(pl.Callback):
    """``torch.profiler`` over a few steady training steps: where a step's time goes, by operator."""

    def __init__(self, start: int, steps: int) -> None:
        self.start, self.steps = start, steps
        self.prof: torch.profiler.profile | None = None
        self.table: list[dict[str, Any]] = []

    def on_train_batch_start(self, trainer: pl.Trainer, *args: Any) -> None:
        if trainer.global_step == self.start:
            self.prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
            self.prof.__enter__()

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if self.prof is not None and trainer.global_step >= self.start + self.steps:
            self.prof.__exit__(None, None, None)
            events = self.prof.key_averages()
            total = sum(e.self_cpu_time_total for e in events) or 1.0
            top = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:12]
            self.table = [
                {"op": e.key, "self_share": e.self_cpu_time_total / total, "calls": e.count} for e in top
            ]
            self.prof = None


class StepTimer(pl.Callback):
    """Wall time of each training step (batch start to batch end, optimizer step included)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._start = 0.0

    def on_train_batch_start(self, *args: Any) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(self, *args: Any) -> None:
        self.times.append(time.perf_counter() - self._start)


def _cfg(overrides: list[str]) -> Any:
    from hydra import compose, initialize_config_dir

    from distill.cli import config_dir

    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose("config", overrides=["experiment=demo_it", "loss=kd", *overrides])


def train_step_time(
    variant: str, batches: list[dict[str, Tensor]], warmup: int, quick: bool
) -> dict[str, Any]:
    """Median step time of one variant of the student training step."""
    from distill.stages.distill import build_student

    overrides = ["student=tiny", "teacher=tiny"] if quick else []
    if variant == "unfused_adamw":
        overrides.append("student.optimizer.fused=false")
    cfg = _cfg(overrides)
    labels = [f"c{i}" for i in range(batches[0]["teacher_logits"].shape[1])]
    pl.seed_everything(0, verbose=False)
    system, _ = build_student(cfg, labels, ["it"])
    if variant == "compile":
        system.model = torch.compile(system.model)
    timer = StepTimer()
    profiler = StepProfiler(start=len(batches) - 3, steps=2) if variant == "fp32" else None
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=len(batches),
        precision="bf16-mixed" if variant == "bf16_autocast" else "32-true",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer, *([profiler] if profiler else [])],
        num_sanity_val_steps=0,
        limit_val_batches=0,
    )
    loader = torch.utils.data.DataLoader(batches, batch_size=None, shuffle=False)  # type: ignore[arg-type]
    start = time.perf_counter()
    trainer.fit(system, train_dataloaders=loader)
    total = time.perf_counter() - start
    steady = timer.times[warmup:]
    flops, n_matmul = model_flops_per_step(
        getattr(system.model, "_orig_mod", system.model), *batches[0]["tgt_input_ids"].shape
    )
    return {
        "variant": variant,
        # The profiled steps are left out of the timing (the profiler slows them).
        "step_s_median": statistics.median(steady[:-3] if profiler else steady),
        "profile": profiler.table if profiler else [],
        "step_s_all": [round(t, 4) for t in timer.times],
        "first_steps_s": round(sum(timer.times[:warmup]), 2),
        "fit_s": round(total, 1),
        "flops_per_step": flops,
        "n_matmul": n_matmul,
    }


class BatchTokens(pl.Callback):
    """Wall time, real tokens and computed (padded) positions of each training step's batch."""

    def __init__(self) -> None:
        self.steps: list[dict[str, Any]] = []
        self._start = 0.0

    def on_train_batch_start(self, trainer: pl.Trainer, module: Any, batch: Any, *args: Any) -> None:
        mask = batch["tgt_attention_mask"]
        self.steps.append({"real": mask.sum(1).tolist(), "computed": mask.numel()})
        self._start = time.perf_counter()

    def on_train_batch_end(self, *args: Any) -> None:
        self.steps[-1]["s"] = time.perf_counter() - self._start


def demo_epochs(batch_size: int, max_length: int, skip: int, quick: bool) -> dict[str, Any]:
    """One epoch of the real demo data (it side, kd, random teacher targets) with the student's
    random batches and with ``student.bucket_by_length=true``: padding, time and useful MFU.

    Both go through the distill stage's own :class:`DistillDataModule` and :class:`DistillCollator`;
    the first ``skip`` steps of each are left out of the timing (warm-up).
    """
    import numpy as np

    from distill.data.datamodule import DistillCollator, DistillDataModule, distill_rows
    from distill.stages.distill import build_student
    from distill.stages.prepare import prepare

    cfg = _cfg(["trainer.max_epochs=1", *(["student=tiny", "teacher=tiny"] if quick else [])])
    _, objects = prepare(cfg)
    pairs = objects["data"]["it"]["train"]
    if quick:
        pairs = pairs.select(range(min(4 * batch_size, len(pairs))))
    labels = sorted(set(pairs["label"]))
    logits = np.random.default_rng(0).normal(size=(len(pairs), len(labels))).astype(np.float32)
    rows = distill_rows(pairs, logits, lang_id=0, label2id={x: i for i, x in enumerate(labels)}, where="demo")
    out: dict[str, Any] = {"texts": len(rows)}
    for scheme in ("random", "bucketed"):
        pl.seed_everything(0, verbose=False)
        system, tokenizer = build_student(cfg, labels, ["it"])
        dm = DistillDataModule(
            rows,
            rows,
            DistillCollator(tokenizer, max_length, with_source=False),
            batch_size=batch_size,
            seed=0,
            bucket_by_length=scheme == "bucketed",
        )
        probe = BatchTokens()
        trainer = pl.Trainer(
            accelerator="cpu",
            devices=1,
            max_epochs=1,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            callbacks=[probe],
            num_sanity_val_steps=0,
            limit_val_batches=0,
        )
        print(f"demo epoch, {scheme} batches ...", flush=True)
        trainer.fit(system, train_dataloaders=dm.train_dataloader())
        model = system.model
        timed = probe.steps[skip:]
        seconds = sum(st["s"] for st in timed)
        real = sum(sum(st["real"]) for st in probe.steps)
        # Model FLOPs of the real tokens only: each sequence at its own length (formula above).
        useful = sum(model_flops_per_step(model, 1, t)[0] for st in timed for t in st["real"])
        out[scheme] = {
            "steps": len(probe.steps),
            "padding_share": 1 - real / sum(st["computed"] for st in probe.steps),
            "timed_steps_s": round(seconds, 2),
            "real_tokens_per_s": sum(sum(st["real"]) for st in timed) / seconds,
            "useful_flops": useful / seconds,
        }
        print(
            f"  padding {100 * out[scheme]['padding_share']:.0f}%, {seconds:.1f} s for steps {skip + 1}-"
            f"{len(probe.steps)}, {out[scheme]['real_tokens_per_s']:.0f} real tokens/s",
            flush=True,
        )
    out["mean_tokens"] = real / len(rows)
    out["bucketed_speedup"] = out["random"]["timed_steps_s"] / out["bucketed"]["timed_steps_s"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--steps", type=int, default=30, help="timed training steps per variant (fp32: +3 profiled)"
    )
    parser.add_argument("--warmup", type=int, default=5, help="untimed first steps")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--variants", default="fp32,unfused_adamw,bf16_autocast,compile")
    parser.add_argument("--quick", action="store_true", help="tiny student, few steps (no README update)")
    parser.add_argument(
        "--no-demo-epoch",
        dest="demo_epoch",
        action="store_false",
        help="skip the demo epoch with random vs length-bucketed batches",
    )
    args = parser.parse_args()
    info = machine()
    repeats = 3 if args.quick else 10
    print("matmul peaks ...", flush=True)
    peaks = {
        "fp32": matmul_peak(torch.float32, repeats, args.quick),
        "bf16": matmul_peak(torch.bfloat16, repeats, args.quick),
    }
    for k, v in peaks.items():
        print(f"  {k}: {v['peak'] / 1e9:.1f} GFLOP/s", flush=True)
    vocab = 200 if args.quick else 250_037  # below each student's vocabulary size
    steps = 4 if args.quick else args.steps
    warmup = 2 if args.quick else args.warmup
    batches = synthetic_batches(steps + warmup + 3, args.batch, args.seq, vocab, classes=21)
    rows = []
    for variant in args.variants.split(","):
        print(f"training step: {variant} ...", flush=True)
        try:
            r = train_step_time(variant, batches, warmup, args.quick)
        except Exception as exc:  # a variant this machine cannot run: report it, keep the others
            rows.append({"variant": variant, "error": f"{type(exc).__name__}: {exc}"[:300]})
            print(f"  failed: {rows[-1]['error']}", flush=True)
            continue
        peak = peaks["bf16" if variant == "bf16_autocast" else "fp32"]["peak"]
        r["achieved_flops"] = r["flops_per_step"] / r["step_s_median"]
        r["mfu"] = r["achieved_flops"] / peak
        r["mfu_vs_fp32_peak"] = r["achieved_flops"] / peaks["fp32"]["peak"]
        rows.append(r)
        for p in r["profile"][:3]:
            print(f"    {p['op']}: {100 * p['self_share']:.1f}% of the profiled CPU time", flush=True)
        gflops = r["achieved_flops"] / 1e9
        print(
            f"  {r['step_s_median']:.3f} s/step, {gflops:.1f} GFLOP/s, MFU {100 * r['mfu']:.1f}%", flush=True
        )
    demo = None
    if args.demo_epoch:
        demo = demo_epochs(args.batch, args.seq, skip=2, quick=args.quick)
        for scheme in ("random", "bucketed"):
            demo[scheme]["useful_mfu"] = demo[scheme]["useful_flops"] / peaks["fp32"]["peak"]
        print(f"  bucketed epoch {demo['bucketed_speedup']:.2f}x faster", flush=True)
    summary = {
        "machine": info,
        "command": command_line(),
        "peaks": peaks,
        "variants": rows,
        "demo_epoch": demo,
    }
    if args.quick:
        return
    fp32 = next((r for r in rows if r["variant"] == "fp32" and "mfu" in r), None)
    lines = []
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['variant']} | failed: {r['error']} | | | | |")
            continue
        ref = "bf16" if r["variant"] == "bf16_autocast" else "fp32"
        speed = f"{fp32['step_s_median'] / r['step_s_median']:.2f}x" if fp32 else "–"
        lines.append(
            f"| {r['variant']} | {r['step_s_median']:.3f} | {speed} | {r['achieved_flops'] / 1e9:.1f} | "
            f"{100 * r['mfu']:.1f}% of {ref} | {100 * r['mfu_vs_fp32_peak']:.1f}% |"
        )
    profile = "\n".join(
        f"| `{p['op']}` | {100 * p['self_share']:.1f}% | {p['calls']} |"
        for p in (fp32 or {}).get("profile", [])
    )
    met = "met" if fp32 and fp32["mfu"] >= 0.30 else "NOT met"
    n_matmul = fp32["n_matmul"] if fp32 else rows[0].get("n_matmul", 0)
    flops = fp32["flops_per_step"] if fp32 else 0
    demo_lines = (
        f"""
One epoch of the real demo data (it side, {demo["texts"]} texts, {demo["mean_tokens"]:.1f} tokens on average,
batch {args.batch}, kd with random teacher targets, fp32) through the distill stage's own data module,
with random batches and with length-bucketed ones (`student.bucket_by_length=true`, the students'
default since benchmark 7); steps 3 onwards timed.
Useful MFU counts the model FLOPs of the real tokens only (each text at its own length):

| batches | padding | timed steps (s) | real tokens/s | useful MFU (fp32) |
|---|---|---|---|---|
"""
        + "\n".join(
            f"| {k} | {100 * demo[k]['padding_share']:.0f}% | {demo[k]['timed_steps_s']:.1f} | "
            f"{demo[k]['real_tokens_per_s']:.0f} | {100 * demo[k]['useful_mfu']:.1f}% |"
            for k in ("random", "bucketed")
        )
        + f"\n\nLength-bucketed batches make the epoch **{demo['bucketed_speedup']:.2f}x** faster.\n"
        if demo
        else ""
    )
    md = (
        f"""## 5. Hardware efficiency (MFU) of the student training step

Matmul peak of this machine (best of {repeats} products per shape, fp32 and bf16 in the same run) against
the FLOP/s the student training step achieves: multilingual-e5-small (N = {n_matmul / 1e6:.1f}M matmul
parameters, word embeddings frozen as in `conf/student/me5_small.yaml`), kd loss, AdamW, batches of
{args.batch} x {args.seq} tokens (no padding), trained by Lightning; median of {args.steps} steps after
{args.warmup} warm-up steps. Model FLOPs per step = 3 x (2N + 4 L T d) x tokens = {flops / 1e9:.0f} GFLOP.

Command: `{summary["command"]}`
Machine: {machine_line(info)}

| peak | GFLOP/s |
|---|---|
| fp32 matmul | {peaks["fp32"]["peak"] / 1e9:.1f} |
| bf16 matmul | {peaks["bf16"]["peak"] / 1e9:.1f} |

| variant | s/step | speed vs fp32 | GFLOP/s | MFU | vs fp32 peak |
|---|---|---|---|---|---|
{chr(10).join(lines)}

Where the fp32 step's time goes (torch profiler, 2 steady steps, share of self CPU time):

| operator | share | calls |
|---|---|---|
{profile}

- Target: MFU >= 30% in fp32 at sequence length 64 — **{met}** ({100 * fp32["mfu"]:.1f}%).
{demo_lines}"""
        if fp32
        else "fp32 variant failed; see results/mfu.json"
    )
    write_section("mfu", md, summary)


if __name__ == "__main__":
    main()
