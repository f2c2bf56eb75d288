"""Every benchmark's headline figures in one table: the ``summary`` section of the README.

Reads ``results/*.json`` (what each benchmark saved with its last full measurement) and writes one
row per benchmark of the README's index: its headline figure(s) as the benchmark's own section prints
them, the target the script or its section states (from the JSON's ``targets``, else the script's
``TARGET_*`` constant, else the literal its report tests against) and whether it was met, and the date
and machine of that measurement. Nothing is measured here and nothing new is computed: every figure
is one the benchmark's section shows (``tests/unit/test_bench_summary.py`` checks that). A benchmark
without a results file gets a row saying so.

    .venv/bin/python experiments/bench/summary.py            # rewrite the section (+ results/summary.json)
    .venv/bin/python experiments/bench/summary.py --print    # only print the table
"""

from __future__ import annotations

import argparse
import ast
import json
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common

HERE = Path(__file__).resolve().parent  # the benchmark scripts, read for their TARGET_* constants
NAME = "summary"
DASH = "–"
NOT_MEASURED = "not measured yet"
ERRORS = (KeyError, IndexError, TypeError, ValueError, AttributeError, ZeroDivisionError, StopIteration)


class Target(NamedTuple):
    what: str
    threshold: str  # as the script or its section states it
    verdict: str  # "met", "**not met**", or free text


class Headline(NamedTuple):
    text: str
    figures: list[str]  # every number in ``text``, as the benchmark's section prints it
    targets: tuple[Target, ...] | list[Target] = ()


# ------------------------------------------------------------------------------------------ helpers


def dig(d: Any, *keys: Any) -> Any:
    """``d[k1][k2]...``, or None where a key or index is missing."""
    for k in keys:
        in_list = isinstance(d, list) and isinstance(k, int) and -len(d) <= k < len(d)
        if not (in_list or (isinstance(d, dict) and k in d)):
            return None
        d = d[k]
    return d


def number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def calc(fn: Callable[..., float], *args: Any) -> float | None:
    """``fn(*args)`` when every argument is a number (None otherwise, and on division by zero)."""
    if not all(number(a) for a in args):
        return None
    try:
        return fn(*args)
    except ZeroDivisionError:
        return None


def fmt(x: Any, spec: str, suffix: str = "") -> str:
    return format(x, spec) + suffix if number(x) else DASH


def verdict(ok: bool | None) -> str:
    return DASH if ok is None else "met" if ok else "**not met**"


def at_least(x: Any, target: Any) -> bool | None:
    return bool(x >= target) if number(x) and number(target) else None


def stated(target: Any, text: str) -> str:
    return text.format(target) if number(target) else DASH


def script_targets(script: str) -> dict[str, float]:
    """The module-level ``TARGET* = <number>`` constants of a benchmark script (read, not imported)."""
    path = HERE / script
    if not path.is_file():
        return {}
    out = {}
    for node in ast.parse(path.read_text()).body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id.startswith("TARGET")
            and isinstance(node.value, ast.Constant)
            and number(node.value.value)
        ):
            out[node.targets[0].id] = node.value.value
    return out


def target(d: dict[str, Any], key: str, script: str, constant: str) -> Any:
    """A target from the results' ``targets`` (as measured against), else from the script's constant."""
    saved = dig(d, "targets", key)
    return saved if number(saved) else script_targets(script).get(constant)


# --------------------------------------------------------------------------------------- extractors
# One per results file: the figures its README section puts first, formatted as that section does.


def label_throughput(d: dict[str, Any]) -> Headline:
    r = d.get("ratios", {})
    st, naive = r.get("ours_vs_st_bs32"), r.get("ours_vs_naive_bs32")
    t_st = target(d, "ours_vs_st_bs32", "label_throughput.py", "TARGET_VS_ST")
    t_naive = target(d, "ours_vs_naive_bs32", "label_throughput.py", "TARGET_VS_NAIVE")
    v = [fmt(st, ".2f", "x"), fmt(naive, ".2f", "x")]
    return Headline(
        f"ours / sentence-transformers {v[0]}; ours / naive {v[1]}",
        v,
        [
            Target("ours / sentence-transformers", stated(t_st, ">= {}x"), verdict(at_least(st, t_st))),
            Target("ours / naive", stated(t_naive, ">= {}x"), verdict(at_least(naive, t_naive))),
        ],
    )


def train_throughput(d: dict[str, Any]) -> Headline:
    r = d.get("ratios", {})
    hand = r.get("ours_vs_hand_loop")
    # The script judges its emb target on the students' default (length-bucketed) when it ran.
    default = r.get("ours_emb_bucketed_vs_st_recipe", r.get("ours_emb_vs_st_recipe"))
    random = r.get("ours_emb_vs_st_recipe")
    same = r.get("ours_emb_bucketed_vs_st_frozen_bucketed")
    consts = script_targets("train_throughput.py")
    t_hand, t_st = consts.get("TARGET_VS_HAND"), consts.get("TARGET_VS_ST")
    t_same = consts.get("TARGET_SAME_WORK")
    v = [fmt(hand, ".3f", "x"), fmt(default, ".2f", "x"), fmt(random, ".2f", "x")]
    targets = [
        Target("ours / hand loop", stated(t_hand, ">= {}x"), verdict(at_least(hand, t_hand))),
        Target("emb: ours / recipe", stated(t_st, ">= {}x"), verdict(at_least(default, t_st))),
    ]
    text = (
        f"kd: ours / hand loop {v[0]}; emb: ours (length-bucketed, the default) / sentence-transformers "
        f"recipe {v[1]}, with random batches {v[2]}"
    )
    if same is not None:  # measured since the equal-work contenders exist
        v.append(fmt(same, ".2f", "x"))
        text += f"; on the same work (same batches, same trainable parameters) {v[3]}"
        targets.append(Target("emb: same work", stated(t_same, ">= {}x"), verdict(at_least(same, t_same))))
    return Headline(text, v, targets)


def sweep_amortisation(d: dict[str, Any]) -> Headline:
    cached, live = dig(d, "teacher_passes", "cached"), dig(d, "teacher_passes", "live")
    # As the section prints it: the ratio of the wall times (the saved ratio is rounded).
    wall = calc(
        lambda a, b: a / b, dig(d, "results", "live", "wall_s"), dig(d, "results", "cached", "wall_s")
    )
    v = [fmt(cached, ".2f"), fmt(live, ".2f"), fmt(wall, ".2f", "x")]
    # sweep_amortisation.py: `met = "met" if passes["cached"] == 1` ("target: exactly 1 pass").
    return Headline(
        f"teacher passes over the data: cached sweep {v[0]}, live {v[1]}; wall time live / cached {v[2]}",
        v,
        [Target("cached sweep", "exactly 1 pass", verdict(cached == 1 if number(cached) else None))],
    )


def _per_pair(r: dict[str, Any]) -> float:
    """memory_scaling.py's time per pair: label + distill seconds (distill over the pairs it trained)."""
    trained = r["n"] * (r.get("limit_train_batches") or 1.0)
    return r["stages"]["label"]["seconds"] / r["n"] + r["stages"]["distill"]["seconds"] / trained


def memory_scaling(d: dict[str, Any]) -> Headline:
    small, big = dig(d, "results", 0) or {}, dig(d, "results", -1) or {}
    ratio = d.get("rss_ratio")
    anon = calc(lambda a, b: a / b, big.get("peak_anon_mib"), small.get("peak_anon_mib"))
    try:
        linear: float | None = _per_pair(big) / _per_pair(small)
    except ERRORS:
        linear = None
    t_rss = script_targets("memory_scaling.py").get("TARGET_RSS")
    v = [fmt(big.get("n"), ","), fmt(small.get("n"), ","), fmt(ratio, ".3f"), fmt(anon, ".3f", "x")]
    v.append(fmt(linear, ".2f", "x"))
    # memory_scaling.py: `"met" if 0.67 <= lin_ratio <= 1.5` ("taken as met within 0.67-1.5x").
    lin_ok = 0.67 <= linear <= 1.5 if linear is not None else None
    return Headline(
        f"peak RSS {v[0]} / {v[1]} pairs {v[2]}; anonymous RSS (`RssAnon`) {v[3]}; "
        f"time per pair (label + distill) {v[4]}",
        v,
        [
            Target("peak RSS", stated(t_rss, "<= {}"), verdict(at_least(t_rss, ratio))),
            Target("time per pair", "within 0.67-1.5x", verdict(lin_ok)),
        ],
    )


def memory_heap(d: dict[str, Any]) -> Headline:
    small, big = dig(d, "sizes", 0), dig(d, "sizes", 1)
    pa, pb = dig(d, "peak_heap_mib", 0), dig(d, "peak_heap_mib", 1)
    ma, mb = dig(d, "mmap_at_peak_mib", 0), dig(d, "mmap_at_peak_mib", 1)
    ha, hb = calc(lambda a, b: a - b, pa, ma), calc(lambda a, b: a - b, pb, mb)
    v = [fmt(small, ","), fmt(big, ","), fmt(ha, ".0f"), fmt(hb, ".0f")]
    v += [fmt(calc(lambda a, b: a / b, hb, ha), ".3f", "x"), fmt(pa, ".0f"), fmt(pb, ".0f")]
    v.append(fmt(calc(lambda a, b: a / b, pb, pa), ".3f", "x"))
    return Headline(
        f"heap at memray's peak, {v[0]} -> {v[1]} pairs: {v[2]} -> {v[3]} MiB ({v[4]}); "
        f"with the memory-mapped Arrow files {v[5]} -> {v[6]} MiB ({v[7]})",
        v,
    )


def mfu(d: dict[str, Any]) -> Headline:
    variants = {r.get("variant"): r for r in d.get("variants", []) if isinstance(r, dict)}
    fp32, bf16 = variants.get("fp32", {}), variants.get("bf16_autocast", {})
    speed = calc(lambda a, b: a / b, fp32.get("step_s_median"), bf16.get("step_s_median"))
    mfu32 = calc(lambda a: 100 * a, fp32.get("mfu"))
    real = calc(lambda a: 100 * a, dig(d, "demo_epoch", "bucketed", "useful_mfu"))
    v = [
        fmt(mfu32, ".1f", "%"),
        fmt(speed, ".2f", "x"),
        fmt(dig(d, "demo_epoch", "bucketed_speedup"), ".2f", "x"),
        fmt(real, ".1f", "%"),
    ]
    # mfu.py: `"met" if fp32["mfu"] >= 0.30` ("Target: MFU >= 30% in fp32 at sequence length 64").
    return Headline(
        f"fp32 training step MFU {v[0]} (synthetic batches), {v[3]} on a real demo epoch (useful MFU, "
        f"length-bucketed batches); bf16 autocast {v[1]} fp32's speed; demo epoch with "
        f"length-bucketed batches {v[2]} faster",
        v,
        [Target("fp32 MFU", ">= 30%", verdict(at_least(fp32.get("mfu"), 0.30)))],
    )


def vocab_trim(d: dict[str, Any]) -> Headline:
    f, t = d.get("full", {}), d.get("trimmed", {})

    def ratio(key: str) -> str:
        return fmt(calc(lambda a, b: a / b, t.get(key), f.get(key)), ".3f")

    diffs = d.get("accuracy_diff_points") or {}
    v = [ratio("params"), fmt(f.get("disk_mib"), ".1f"), fmt(t.get("disk_mib"), ".1f")]
    v += [ratio("latency_ms_b1"), ratio("latency_ms_b32")]
    accs = [f"{lang} {fmt(x, '+.2f', ' pt')}" for lang, x in diffs.items()]
    points = script_targets("vocab_trim.py").get("TARGET_POINTS")
    met = d.get("target_met")
    return Headline(
        f"parameters trimmed / untrimmed {v[0]}; export {v[1]} -> {v[2]} MiB; latency trimmed / untrimmed "
        f"{v[3]} at batch 1, {v[4]} at batch 32; accuracy change {', '.join(accs) or DASH}",
        v + [fmt(x, "+.2f", " pt") for x in diffs.values()],
        [
            Target(
                "accuracy",
                stated(points, "within {} points"),
                verdict(met if isinstance(met, bool) else None),
            )
        ],
    )


def bucketing(d: dict[str, Any]) -> Headline:
    def mean(values: Any) -> float | None:
        ok = isinstance(values, list) and values and all(number(x) for x in values)
        return statistics.fmean(values) if ok else None

    diffs = d.get("diff_points") or {}
    langs = [lang for lang in diffs if lang != "val"]
    v = [fmt(mean(d.get("distill_speedup")), ".2f", "x")]
    accs = [f"{lang} {fmt(mean(diffs[lang]), '+.2f')}" for lang in langs]
    seeds = ", ".join(map(str, d.get("seeds") or [])) or DASH
    return Headline(
        f"distill stage, bucketed / random batches {v[0]} faster; test accuracy bucketed - random "
        f"{', '.join(accs) or DASH} points (mean over seeds {seeds})",
        [*v, *(fmt(mean(diffs[lang]), "+.2f") for lang in langs), seeds],
    )


def _serve_backend(d: dict[str, Any], name: str, top: str) -> tuple[str, list[str], str | None]:
    """One backend at the top level: its cell, its figures, and why it missed serve_load.py's target
    (None: met; DASH: figures missing)."""
    ratio = calc(lambda a, b: a / b, dig(d, "load", name, top, "rps"), dig(d, "load", "pipeline", top, "rps"))
    torch_acc, acc = dig(d, "accuracy", "torch", "accuracy"), dig(d, "accuracy", name, "accuracy")
    drop = calc(lambda a, b: 100 * (a - b), torch_acc, acc)
    speed = fmt(ratio, ".2f", "x")
    if ratio is None or drop is None:
        return f"{name} {speed}", [speed], DASH
    # serve_load.py: `"met" if ratio >= 3 and drop <= 0.5` ("target >= 3x within 0.5 point").
    why = [speed] if ratio < 3 else []
    why += [f"accuracy {-drop:+.2f} points"] if drop > 0.5 else []
    return f"{name} {speed}", list(dict.fromkeys([speed, *why])), ", ".join(why) or None


def serve_load(d: dict[str, Any]) -> Headline:
    levels = [int(c) for c in dig(d, "load", "pipeline") or {}]
    top = str(max(levels)) if levels else DASH
    cells, figures, met, missed = [], [], [], []
    for name in d.get("backends") or []:
        cell, shown, why = _serve_backend(d, name, top)
        cells.append(cell)
        figures += shown
        if why is None:
            met.append(name)
        else:
            missed.append(f"{name} ({why})")
    outcome = [f"met: {', '.join(met)}"] if met else []
    outcome += [f"**not met**: {', '.join(missed)}"] if missed else []
    return Headline(
        f"requests/s at {top} clients / `transformers.pipeline`: {', '.join(cells) or DASH}",
        figures,
        [Target(f"each backend at {top} clients", ">= 3x within 0.5 point", "; ".join(outcome) or DASH)],
    )


def st_recipe(d: dict[str, Any]) -> Headline:
    runs = d.get("contenders") or {}
    means, times = [], []
    for name, r in sorted(runs.items(), key=lambda kv: kv[0] != "ours"):  # ours first
        cells = [
            x
            for row in (dig(r, "test") or {}).values()
            for k, x in row.items()
            if k in ("retrieval_tgt2src", "retrieval_src2tgt")
        ]
        means.append(f"{name} {fmt(statistics.fmean(cells) if cells else None, '.3f')}")
        if name != "ours" and "train_s" in r:
            ratio = calc(lambda a, b: a / b, r.get("train_s"), dig(runs, "ours", "train_s"))
            times.append(f"{name} {fmt(ratio, '.2f', 'x')}")
    return Headline(
        f"mean retrieval: {', '.join(means) or DASH}; training time / ours: {', '.join(times) or DASH}",
        [x.rsplit(" ", 1)[1] for x in means + times],
    )


def label_precision(d: dict[str, Any]) -> Headline:
    best = d.get("best_passing")
    got = dig(d, "ratios", f"ours_{best}_vs_st")
    fp32 = dig(d, "ratios", "ours_fp32_vs_st")
    goal = target(d, "best_passing_vs_st", "label_precision.py", "TARGET_VS_ST")
    v = [fmt(got, ".2f", "x"), fmt(fp32, ".2f", "x")]
    failed = [p for p, r in (d.get("parity") or {}).items() if isinstance(r, dict) and not r.get("passed")]
    return Headline(
        f"fastest precision that passes its parity check: {best or DASH}, {v[0]} sentence-transformers on "
        f"equal batches; fp32 {v[1]}" + (f"; failed the parity check: {', '.join(failed)}" if failed else ""),
        v,
        [
            Target(
                f"{best or DASH} / sentence-transformers",
                stated(goal, ">= {}x"),
                verdict(at_least(got, goal)),
            )
        ],
    )


# (#, results file, script, extractor): the README's index, in its order. Benchmark 4's --memray run
# saves its own results (memory_heap).
BENCHMARKS: list[tuple[str, str, str, Callable[[dict[str, Any]], Headline]]] = [
    ("1", "label_throughput", "label_throughput.py", label_throughput),
    ("2", "train_throughput", "train_throughput.py", train_throughput),
    ("3", "sweep_amortisation", "sweep_amortisation.py", sweep_amortisation),
    ("4", "memory_scaling", "memory_scaling.py", memory_scaling),
    ("4", "memory_heap", "memory_scaling.py --memray", memory_heap),
    ("5", "mfu", "mfu.py", mfu),
    ("6", "vocab_trim", "vocab_trim.py", vocab_trim),
    ("7", "bucketing", "bucketing.py", bucketing),
    ("8", "serve_load", "serve_load.py", serve_load),
    ("9", "st_recipe", "st_recipe.py", st_recipe),
    ("10", "label_precision", "label_precision.py", label_precision),
]
EXTRACTORS: dict[str, Callable[[dict[str, Any]], Headline]] = {name: fn for _, name, _, fn in BENCHMARKS}


# ------------------------------------------------------------------------------------------- table


def measured_on(d: dict[str, Any]) -> tuple[str, str]:
    """The date(s) and machine(s) of a results file (train_throughput keeps one per task)."""
    machines = [d["machine"]] if isinstance(d.get("machine"), dict) else []
    machines += [
        v["machine"] for v in d.values() if isinstance(v, dict) and isinstance(v.get("machine"), dict)
    ]
    dates = list(dict.fromkeys(str(m["date"]) for m in machines if m.get("date")))
    if not dates and isinstance(d.get("finished"), str):
        dates = [d["finished"][:10]]
    where = list(
        dict.fromkeys(f"{m.get('cpu', DASH)}, {m.get('cores', DASH)} cores" for m in machines if m.get("cpu"))
    )
    return ", ".join(dates) or DASH, "; ".join(where) or DASH


def row(n: str, name: str, script: str, results: Path) -> dict[str, Any]:
    """One benchmark's row: its headline from results/NAME.json, or "not measured yet"."""
    base = {"n": n, "name": name, "script": script}
    path = results / f"{name}.json"
    if not path.is_file():
        return {
            **base,
            "measured": False,
            "headline": NOT_MEASURED,
            "figures": [],
            "targets": [],
            "date": DASH,
            "machine": DASH,
        }
    try:
        data = json.loads(path.read_text())
        head = EXTRACTORS[name](data)
        date, where = measured_on(data)
    except ERRORS as exc:  # a results file of another shape: say so, never guess
        head = Headline(f"{DASH} (results/{name}.json not understood: {type(exc).__name__})", [])
        date, where = DASH, DASH
    return {
        **base,
        "measured": True,
        "headline": head.text,
        "figures": [x for x in head.figures if x != DASH],
        "targets": [t._asdict() for t in head.targets],
        "date": date,
        "machine": where,
    }


def rows(results: Path | None = None) -> list[dict[str, Any]]:
    folder = results or _common.RESULTS
    return [row(n, name, script, folder) for n, name, script, _ in BENCHMARKS]


def target_cell(r: dict[str, Any]) -> str:
    if not r["measured"]:
        return DASH
    if not r["targets"]:
        return "none stated"
    return "; ".join(f"{t['what']} {t['threshold']}: {t['verdict']}" for t in r["targets"])


def render(table_rows: list[dict[str, Any]]) -> str:
    """The section's Markdown (writes nothing)."""
    lines = [
        "## Summary (`summary.py`)",
        "",
        "Assembled from `results/*.json` by `summary.py`: each benchmark's headline figures as its own "
        "section below prints them, with the date and machine of that measurement. Rows measured on "
        "different dates or machines are not comparable with each other. Rebuild the table with "
        "`.venv/bin/python experiments/bench/summary.py`; `make bench` reruns every benchmark, then this.",
        "",
        "| # | benchmark | headline (as measured) | target | date | machine |",
        "|---|---|---|---|---|---|",
    ]
    for r in table_rows:
        cells = [r["n"], f"`{r['script']}`", r["headline"], target_cell(r), r["date"], r["machine"]]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--print", dest="print_only", action="store_true", help="only print the table")
    args = parser.parse_args(argv)
    table_rows = rows()
    text = render(table_rows)
    print(text)
    if not args.print_only:
        _common.write_section(NAME, text, {"rows": table_rows})


if __name__ == "__main__":
    main()
