"""Benchmark 9: our embedding distillation vs sentence-transformers' multilingual recipe, quality and time.

One process, ``experiment=embed_django`` (all-MiniLM-L6-v2 teaches multilingual-e5-small to put
English Django UI strings and their it/ja/sw translations onto the teacher's embedding of the
English string). Every contender starts from the same student folder and trains on the same pairs
(the experiment's train split, all languages, read once through the project's data stage) against
the same cached teacher embeddings, for the same number of epochs, with the same batch size,
learning rate, seed, maximum length and torch threads:

- **untrained**: multilingual-e5-small as it is (mean pooling), no training;
- **ours**: the project's run path, ``distill-run task=embedding`` stage by stage in this process
  (label, baselines, distill: the ``EmbeddingSystem`` in the Lightning Trainer of ``cfg.trainer``
  with the student's defaults, the checkpoint selected on ``val/loss``);
- **st_documented**: sentence-transformers' documented multilingual distillation
  (``examples/.../multilingual/make_multilingual.py``): a ``SentenceTransformer`` on the student
  folder (``Transformer`` + mean ``Pooling``, no ``Normalize``), ``losses.MSELoss`` on the English
  sentence and its translation against the teacher's embedding, ``SentenceTransformerTrainer`` with
  the example's schedule (10% linear warm-up, linear decay; the trainer's AdamW), one training
  dataset per language as the example passes them, every parameter trained, the last step kept;
- **st_normalize**: the same with a ``Normalize`` module (as ours normalises);
- **st_normalize_frozen**: the same again with the word embeddings frozen (as ours freezes them).

Every contender is scored the same way: the project's ``distill.models.encoder.encode`` (mean
pooling, normalised when the contender normalises) and ``distill.report.retrieval_metrics`` on the
test pairs of each language (retrieval accuracy target->source and source->target, MSE of the target
embedding to the teacher's source embedding). The time of a contender is the wall time of its
training (ours: the whole distill stage, validation and checkpoints included; sentence-transformers:
building the trainer and ``trainer.train()``); loading the model is not counted in either.

    flock /tmp/bench.lock .venv/bin/python experiments/bench/st_recipe.py
    .venv/bin/python experiments/bench/st_recipe.py --quick   # tiny models, one epoch, seconds
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import math
import os
import re
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from transformers import TrainerCallback

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import command_line, machine, machine_line, offline, peak_rss_mib, timer, write_section
from train_throughput import compose_cfg, st_pairs, st_student, st_train_args

NAME = "st_recipe"
OVERRIDES = ["experiment=embed_django", "logger=none", "trainer.enable_progress_bar=false"]
QUICK = ["debug=tiny", "trainer.max_epochs=1", "data.max_pairs=32"]
ST = {  # sentence-transformers contenders: Normalize module, word embeddings frozen
    "st_documented": {"normalize": False, "freeze": False},
    "st_normalize": {"normalize": True, "freeze": False},
    "st_normalize_frozen": {"normalize": True, "freeze": True},
}
CONTENDERS = ["untrained", "ours", *ST]
WARMUP = 0.1  # make_multilingual.py: warmup_ratio=0.1, the trainer's default linear decay
AGREEMENT_TEXTS = 16  # test texts each sentence-transformers student also encodes with its own encode


class StepClock(pl.Callback):
    """Where ours' distill stage spends its time: optimizer steps (forward, backward, update: from
    the fetched batch to the end of the step) and validation (the sanity check too). Added to
    ``cfg.callbacks`` only to watch; it writes its seconds to ``out`` when the fit ends."""

    def __init__(self, out: str) -> None:
        self.out, self.seconds, self.steps, self.t0 = Path(out), {"steps": 0.0, "validation": 0.0}, 0, 0.0

    def _start(self, *_: Any) -> None:
        self.t0 = time.perf_counter()

    def _add(self, phase: str) -> None:
        self.seconds[phase] += time.perf_counter() - self.t0

    on_train_batch_start = on_validation_start = _start

    def on_train_batch_end(self, *_: Any) -> None:
        self._add("steps")
        self.steps += 1

    def on_validation_end(self, *_: Any) -> None:
        self._add("validation")

    def on_fit_end(self, *_: Any) -> None:
        self.out.write_text(json.dumps({**self.seconds, "n": self.steps}))


class HFStepClock(TrainerCallback):  # type: ignore[misc]
    """The same step time in sentence-transformers' trainer (from the fetched batch to the end of
    the optimizer step)."""

    def __init__(self) -> None:
        self.seconds, self.steps, self.t0 = 0.0, 0, 0.0

    def on_step_begin(self, *_: Any, **__: Any) -> None:
        self.t0 = time.perf_counter()

    def on_step_end(self, *_: Any, **__: Any) -> None:
        self.seconds += time.perf_counter() - self.t0
        self.steps += 1


def score(encoder: Any, tokenizer: Any, labelled: Any, *, normalize: bool, cfg: Any) -> dict[str, Any]:
    """Retrieval both ways and MSE to the teacher, per language, on the test pairs."""
    from distill.models.encoder import encode
    from distill.report import retrieval_metrics

    kw = {"normalize": normalize, "max_length": int(cfg.student.max_length), "prefix": cfg.student.prefix}
    out = {}
    for lang, dd in labelled.data.items():
        test = dd["test"]
        src = encode(encoder, tokenizer, test["src"], **kw)
        tgt = encode(encoder, tokenizer, test["tgt"], **kw)
        out[lang] = retrieval_metrics(src, tgt, labelled.emb[lang]["test"])
    return out


def project_rows(report: Any, system: str) -> dict[str, dict[str, float]]:
    """The run report's own test rows of ``system`` (to check that our scoring is the project's)."""
    keys = ("retrieval_tgt2src", "retrieval_src2tgt")
    return {
        r["lang"]: {k: r[k] for k in keys}
        for r in report.to_dict()["results"]
        if r["system"] == system and r.get("split", "test") == "test" and all(k in r for k in keys)
    }


def same_scores(mine: dict[str, Any], project: dict[str, dict[str, float]]) -> bool:
    return all(
        math.isclose(mine[lang][k], v, abs_tol=1e-6) for lang, row in project.items() for k, v in row.items()
    )


def run_ours(cfg: Any, contenders: list[str]) -> tuple[Any, dict[str, Any]]:
    """Label and baselines (the untrained student), then the distill stage, timed; both scored."""
    from omegaconf import open_dict

    from distill.records import StageTimer
    from distill.tasks import task_of

    task = task_of(cfg)
    task.check(cfg)
    pl.seed_everything(int(cfg.seed), workers=True, verbose=False)  # as distill.pipeline.run does
    labelled = task.label(cfg, StageTimer())
    baselines = task.baselines(cfg, labelled)  # builds the student the distill stage trains
    system, tokenizer = labelled.student
    results: dict[str, Any] = {}
    if "untrained" in contenders:
        scores = score(system.encoder, tokenizer, labelled, normalize=system.normalize, cfg=cfg)
        results["untrained"] = {
            "test": scores,
            "same_as_run_report": same_scores(scores, project_rows(baselines, "student_untrained")),
        }
    if "ours" in contenders:
        phases = Path(cfg.paths.output_dir) / "bench_steps.json"
        with open_dict(cfg):
            cfg.callbacks.bench_steps = {"_target_": f"{__name__}.StepClock", "out": str(phases)}
        cpu = time.process_time()
        with timer() as t:
            trained = task.distill(cfg, labelled)
        cpu = time.process_time() - cpu
        scores = score(trained.system.encoder, tokenizer, labelled, normalize=system.normalize, cfg=cfg)
        report = task.evaluate(cfg, labelled, trained, baselines)
        epoch = re.search(r"epoch(\d+)", Path(trained.best.path).name)
        results["ours"] = {
            "test": scores,
            "train_s": round(t["s"], 2),
            "cpu_s": round(cpu, 2),
            **clocked(json.loads(phases.read_text())),
            "threads": torch.get_num_threads(),
            "load_1m_after": round(os.getloadavg()[0], 2),
            "selected_epoch": int(epoch.group(1)) + 1 if epoch else None,
            "best_val_loss": trained.best.score,
            "trainable_params": trainable(trained.system),
            "same_as_run_report": same_scores(scores, project_rows(report, "student")),
        }
        del trained, report
    labelled.student = None
    del system, baselines
    gc.collect()
    return labelled, results


def clocked(phases: dict[str, Any]) -> dict[str, Any]:
    return {
        "steps": int(phases["n"]),
        "step_s": round(phases["steps"], 2),
        "validation_s": round(phases.get("validation", 0.0), 2),
    }


def trainable(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def run_st(cfg: Any, labelled: Any, name: str, work: Path) -> dict[str, Any]:
    """One sentence-transformers contender: build (untimed), train (timed), score."""
    from datasets import DatasetDict
    from sentence_transformers import SentenceTransformerTrainer, losses

    from distill.tasks.embedding import _rows

    spec = ST[name]
    student = st_student(cfg, normalize=spec["normalize"], freeze=spec["freeze"])
    # make_multilingual.py trains on a DatasetDict of one dataset per language pair.
    train = DatasetDict(
        {
            f"{cfg.data.source_lang}-{lang}": st_pairs(_rows(dd["train"], labelled.emb[lang]["train"], i))
            for i, (lang, dd) in enumerate(labelled.data.items())
        }
    )
    clock, cpu = HFStepClock(), time.process_time()
    with timer() as t:
        args = st_train_args(
            cfg, work / name, num_train_epochs=int(cfg.trainer.max_epochs), warmup_steps=WARMUP
        )
        trainer = SentenceTransformerTrainer(
            model=student, args=args, train_dataset=train, loss=losses.MSELoss(student), callbacks=[clock]
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trainer.train()
    cpu = time.process_time() - cpu
    encoder, tokenizer = student[0].auto_model, student.tokenizer
    result = {
        "test": score(encoder, tokenizer, labelled, normalize=spec["normalize"], cfg=cfg),
        "train_s": round(t["s"], 2),
        "cpu_s": round(cpu, 2),
        **clocked({"n": clock.steps, "steps": clock.seconds}),
        "threads": torch.get_num_threads(),
        "load_1m_after": round(os.getloadavg()[0], 2),
        "trainable_params": trainable(student),
        "agreement_min_cosine": agreement(student, cfg, labelled, spec["normalize"]),
    }
    del trainer, student
    gc.collect()
    return result


def agreement(student: Any, cfg: Any, labelled: Any, normalize: bool) -> float:
    """Smallest cosine between sentence-transformers' own ``encode`` and the project's ``encode``
    of the same test texts (1.0: both read the model the same way)."""
    from distill.models.encoder import encode

    texts = [t for dd in labelled.data.values() for t in dd["test"]["tgt"][:AGREEMENT_TEXTS]]
    theirs = student.encode(texts, convert_to_numpy=True, show_progress_bar=False)
    mine = encode(
        student[0].auto_model,
        student.tokenizer,
        texts,
        normalize=normalize,
        max_length=int(cfg.student.max_length),
    )
    cos = (theirs * mine).sum(1) / (np.linalg.norm(theirs, axis=1) * np.linalg.norm(mine, axis=1))
    return round(float(cos.min()), 6)


# ------------------------------------------------------------------------------------------- report


def mean_retrieval(test: dict[str, Any]) -> float:
    return statistics.fmean(
        v for row in test.values() for k, v in row.items() if k in ("retrieval_tgt2src", "retrieval_src2tgt")
    )


def cells(test: dict[str, Any]) -> list[float]:
    return [row[k] for _, row in sorted(test.items()) for k in ("retrieval_tgt2src", "retrieval_src2tgt")]


def describe(cfg: Any) -> dict[str, str]:
    """What each contender is, from the configuration this run used."""
    s = cfg.student
    freeze = "word embeddings frozen" if s.freeze_word_embeddings else "every parameter trained"
    batches = "length-bucketed batches" if s.bucket_by_length else "random batches"
    norm = "normalised" if s.normalize else "not normalised"
    clip = f"at norm {cfg.trainer.gradient_clip_val}" if cfg.trainer.get("gradient_clip_val") else "no"
    st = (
        "`SentenceTransformer` (Transformer + mean Pooling{}), `losses.MSELoss` on both columns, "
        "`SentenceTransformerTrainer`: linear schedule with 10% warm-up, AdamW with the trainer's defaults "
        "(weight decay 0, gradients clipped at norm 1), one dataset per language (each batch one language), "
        "{}, last step kept"
    )
    return {
        "untrained": f"`{s.model}` as it is, mean pooling, no training",
        "ours": (
            "the distill stage of `distill-run task=embedding`: `EmbeddingSystem` in Lightning, "
            f"`emb` loss on both sides, {norm}, {freeze}, constant lr, AdamW "
            f"(weight decay {s.optimizer.weight_decay}, gradients clipped: {clip}), {batches}, "
            "validation every epoch, the epoch with the lowest `val/loss` kept"
        ),
        "st_documented": st.format(", no Normalize", "every parameter trained"),
        "st_normalize": st.format(" + Normalize", "every parameter trained"),
        "st_normalize_frozen": st.format(" + Normalize", "word embeddings frozen"),
    }


def table(result: dict[str, Any]) -> list[str]:
    langs = result["languages"]
    n = {lang: result["test_pairs"][lang] for lang in langs}
    head = " | ".join(f"{lang} ({n[lang]} pairs)" for lang in langs)
    lines = [
        f"| contender | {head} | mean | MSE to teacher | steps | in steps s | train s | train / ours |",
        "|---|" + "---:|" * (len(langs) + 6),
    ]
    ours_s = result["contenders"].get("ours", {}).get("train_s")
    for name, r in result["contenders"].items():
        per = " | ".join(
            f"{r['test'][lang]['retrieval_tgt2src']:.3f} / {r['test'][lang]['retrieval_src2tgt']:.3f}"
            for lang in langs
        )
        mse = statistics.fmean(r["test"][lang]["mse"] for lang in langs)
        if "train_s" in r:
            ratio = f"{r['train_s'] / ours_s:.2f}x" if ours_s else "–"
            timing = f"{r['steps']} | {r['step_s']:.1f} | {r['train_s']:.1f} | {ratio}"
        else:
            timing = "– | – | – | –"
        lines.append(f"| {name} | {per} | {mean_retrieval(r['test']):.3f} | {mse:.4f} | {timing} |")
    return lines


def findings(result: dict[str, Any]) -> list[str]:
    """Sentences computed from the numbers above (no conclusion is written in advance)."""
    runs = result["contenders"]
    means = {name: mean_retrieval(r["test"]) for name, r in runs.items()}
    best = max(means.values())
    lines = [
        "- highest mean retrieval: "
        + ", ".join(f"`{k}`" for k, v in means.items() if math.isclose(v, best))
        + f" ({best:.3f})"
    ]
    if "ours" not in runs:
        return lines
    ours = cells(runs["ours"]["test"])
    for name, r in runs.items():
        if name == "ours":
            continue
        other = cells(r["test"])
        higher = sum(a > b + 1e-9 for a, b in zip(ours, other, strict=True))
        lower = sum(a < b - 1e-9 for a, b in zip(ours, other, strict=True))
        equal = len(ours) - higher - lower
        line = (
            f"- ours - `{name}`: {means['ours'] - means[name]:+.3f} mean retrieval; ours higher in {higher} "
            f"of {len(ours)} language-direction cells, lower in {lower}, equal in {equal}"
        )
        if "train_s" in r:
            o = runs["ours"]
            line += (
                f"; `{name}` trained in {r['train_s'] / o['train_s']:.2f}x ours' time "
                f"({r['step_s'] / o['step_s']:.2f}x in the optimizer steps alone)"
            )
        lines.append(line)
    return lines


def report(result: dict[str, Any]) -> str:
    b = result["budget"]
    quick = " (QUICK RUN: tiny models)" if result["quick"] else ""
    what = describe_lines(result)
    pairs = ", ".join(f"{lang} {k}" for lang, k in result["train_pairs"].items())
    ours = result["contenders"].get("ours", {})
    checks = [
        f"`{k}` {v['agreement_min_cosine']:.6f}"
        for k, v in result["contenders"].items()
        if "agreement_min_cosine" in v
    ]
    lines = [
        f"## Our embedding distillation vs sentence-transformers' recipe (`st_recipe.py`){quick}",
        "",
        f"`{' '.join(result['overrides'])}`: teacher `{result['teacher']}` (its cached embeddings of the "
        f"English side), student `{result['student']}`. **Same for every contender:** the same "
        f"{sum(result['train_pairs'].values())} training pairs ({pairs}), {b['epochs']} epoch(s), batch "
        f"{b['batch_size']} pairs, learning rate {b['lr']:g}, seed {b['seed']}, max length {b['max_length']} "
        f"tokens, {result['threads']} torch threads, one process. Scored alike: the project's `encode` and "
        "`retrieval_metrics` on each language's test pairs, retrieval accuracy target->source / "
        "source->target; MSE of the target embeddings to the teacher's English ones (mean over languages). "
        "Time: wall seconds of training (`train s`; ours: the whole distill stage, validation and "
        "checkpoint writes included; sentence-transformers: trainer built and run), of which `in steps s` "
        "in the optimizer steps themselves (from the fetched batch to the end of the update); "
        "`train / ours` is the ratio to ours in this run.",
        "",
        *what,
        "",
        f"Command: `{result['command']}`",
        "",
        f"Machine: {machine_line(result['machine'])}",
        "",
        *table(result),
        "",
        *findings(result),
    ]
    if "train_s" in ours:
        rest = ours["train_s"] - ours["step_s"] - ours["validation_s"]
        lines.append(
            f"- ours' {ours['train_s']:.1f} s: {ours['step_s']:.1f} s in optimizer steps, "
            f"{ours['validation_s']:.1f} s validating, {rest:.1f} s the rest (fetching batches, "
            "checkpoint writes, setting up, reloading the kept epoch)"
        )
    timed = {k: v for k, v in result["contenders"].items() if "load_1m_after" in v}
    if timed:
        lines.append(
            "- how much of the machine each training had: CPU seconds of this process per wall second "
            f"({result['threads']} = every thread busy throughout) "
            + ", ".join(f"`{k}` {v['cpu_s'] / v['train_s']:.2f}" for k, v in timed.items())
            + "; machine load (1-minute average) at the end of each training "
            + ", ".join(f"`{k}` {v['load_1m_after']:.2f}" for k, v in timed.items())
        )
    if ours.get("selected_epoch"):
        lines.append(
            f"- ours kept epoch {ours['selected_epoch']} of {b['epochs']} (lowest `val/loss`); the "
            "sentence-transformers runs keep their last step"
        )
    if checks:
        lines.append(
            "- sentence-transformers' own `encode` vs the project's `encode` on the same test texts, "
            "smallest cosine: " + ", ".join(checks)
        )
    same = [k for k, v in result["contenders"].items() if "same_as_run_report" in v]
    if same:
        agree = all(result["contenders"][k]["same_as_run_report"] for k in same)
        lines.append(
            f"- the scores of {', '.join(f'`{k}`' for k in same)} "
            + ("equal" if agree else "**differ from**")
            + " the rows the project's own evaluate stage reports"
        )
    return "\n".join(lines)


def describe_lines(result: dict[str, Any]) -> list[str]:
    return [f"- **{k}**: {result['descriptions'][k]}" for k in result["contenders"]]


# ------------------------------------------------------------------------------------------- driver


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="torch threads (default: every core; 1 with --quick, where a busy machine's cores "
        "would make tiny steps wait on each other)",
    )
    parser.add_argument("--contenders", nargs="+", choices=CONTENDERS, default=CONTENDERS)
    parser.add_argument("--quick", action="store_true", help="tiny models, one epoch (smoke run, no README)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave README and results alone")
    parser.add_argument("overrides", nargs="*", help="more Hydra overrides (a partial run: no README)")
    args = parser.parse_args()
    if args.threads is None:
        args.threads = 1 if args.quick else os.cpu_count() or 1
    if args.quick or args.overrides or args.contenders != CONTENDERS:
        args.no_write = True  # a smoke or partial run never replaces a measurement
    return args


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    overrides = [*OVERRIDES, *(QUICK if args.quick else []), *args.overrides]
    cfg = compose_cfg(work / "ours", overrides)
    labelled, runs = run_ours(cfg, args.contenders)
    for name in ST:
        if name in args.contenders:
            t0 = time.perf_counter()
            runs[name] = run_st(cfg, labelled, name, work)
            print(f"{name}: {time.perf_counter() - t0:.0f} s", flush=True)
    return {
        "overrides": overrides,
        "quick": args.quick,
        "teacher": str(cfg.teacher.model),
        "student": str(cfg.student.model),
        "languages": list(labelled.data),
        "train_pairs": {lang: len(dd["train"]) for lang, dd in labelled.data.items()},
        "test_pairs": {lang: len(dd["test"]) for lang, dd in labelled.data.items()},
        "budget": {
            "epochs": int(cfg.trainer.max_epochs),
            "batch_size": int(cfg.student.batch_size),
            "lr": float(cfg.student.optimizer.lr),
            "seed": int(cfg.seed),
            "max_length": int(cfg.student.max_length),
        },
        "descriptions": describe(cfg),
        "contenders": {k: runs[k] for k in CONTENDERS if k in runs},
    }


def quiet() -> None:
    for name in ("pytorch_lightning", "lightning.pytorch", "transformers", "sentence_transformers"):
        logging.getLogger(name).setLevel(logging.WARNING)


def main() -> None:
    args = parse_args()
    offline()
    torch.set_num_threads(args.threads)
    quiet()
    info = machine()
    with tempfile.TemporaryDirectory(prefix="bench-st-recipe-") as tmp:
        result = measure(args, Path(tmp))
    result.update(
        command=command_line(),
        machine=info,
        threads=args.threads,
        peak_rss_mib=round(peak_rss_mib(), 1),
        finished=time.strftime("%Y-%m-%d %H:%M:%S"),
    )
    text = report(result)
    print(text)
    if not args.no_write:
        write_section(NAME, text, result)


if __name__ == "__main__":
    main()
