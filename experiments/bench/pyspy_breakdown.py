"""Where a training benchmark's time goes, per contender, from a py-spy recording.

Record ``train_throughput.py`` under py-spy in raw (collapsed-stack) format, then read the file
with this script: every sample is given to the contender whose function is on its stack (ours:
``lightning_fit``; sentence-transformers: ``st_fit``; the hand loop: ``hand``) and to the phase of
the innermost frame that names one (optimizer step, backward, forward, loss, data, model loading;
the rest is "framework"). Samples are wall-clock samples of running threads, so the shares are
shares of each contender's busy time::

    py-spy record --format raw --rate 50 -o /tmp/emb.pyspy -- .venv/bin/python \\
        experiments/bench/train_throughput.py --contenders ours hand_loop ours_emb st_frozen \\
        --steps 4 --skip 1 --reps 1 --warmup-steps 2
    .venv/bin/python experiments/bench/pyspy_breakdown.py /tmp/emb.pyspy
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

CONTENDERS = {"lightning_fit": "ours", "st_fit": "sentence-transformers", "hand": "hand loop"}
# (phase, function name pattern (its last dotted part), file pattern), tried in this order on each
# frame from the innermost outwards; the first frame that matches names the sample's phase. The
# optimizer comes after forward and backward: Lightning runs them in a closure inside its step.
PHASES = [
    ("load", r"from_pretrained|_load_pretrained_model|__init__", r"modeling_utils|SentenceTransformer"),
    ("backward", r"backward|_engine_run_backward", r"torch/"),
    ("loss", r"forward|__call__", r"distill/losses/|sentence_transformers/.*losses/"),
    ("forward", r"forward|\w+_forward|pooled|mean_pool", r".*"),
    ("optimizer", r".*", r"torch/optim/"),
    ("data", r".*", r"torch/utils/data/|tokeniz|datasets/|collat|datamodule"),
]


FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^:]+)(?::\d+)?\)$")


def parse(path: Path) -> list[tuple[list[tuple[str, str]], int]]:
    """``[(frames outermost first as (function, file)), count]`` of a py-spy raw file."""
    out = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = []
        for part in stack.split(";"):
            m = FRAME.match(part.strip())
            frames.append((m["func"], m["file"]) if m else (part.strip(), ""))
        out.append((frames, int(count)))
    return out


def contender(frames: list[tuple[str, str]]) -> str | None:
    """``"<task> <contender>"`` of a sample (the task from the ``kd_contenders``/``emb_contenders``
    frame), or None outside the timed contenders."""
    task = ""
    for func, file in frames:
        if not file.endswith("train_throughput.py"):
            continue
        task = next((t for t in ("kd", "emb") if func.startswith(f"{t}_contenders")), task)
        name = func.rsplit(".", 1)[-1]
        if name in CONTENDERS:
            return f"{task} {CONTENDERS[name]}".strip()
    return None


def phase(frames: list[tuple[str, str]]) -> str:
    for func, file in reversed(frames):
        name = func.rsplit(".", 1)[-1]
        for phase_name, func_re, file_re in PHASES:
            if re.search(file_re, file) and re.fullmatch(func_re, name):
                return phase_name
    return "framework"


def breakdown(path: Path) -> dict[str, dict[str, float]]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for frames, n in parse(path):
        who = contender(frames)
        if who is not None:
            counts[who][phase(frames)] += n
    return {
        who: {"samples": float(sum(c.values())), **{k: v / sum(c.values()) for k, v in c.most_common()}}
        for who, c in counts.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("raw", type=Path, help="py-spy record --format raw output")
    args = parser.parse_args()
    result = breakdown(args.raw)
    phases = ["forward", "backward", "optimizer", "loss", "data", "framework", "load"]
    print("| contender | samples | " + " | ".join(phases) + " |")
    print("|---|---:|" + "---:|" * len(phases))
    for who, shares in result.items():
        cells = " | ".join(f"{100 * shares.get(p, 0.0):.0f}%" for p in phases)
        print(f"| {who} | {int(shares['samples'])} | {cells} |")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
