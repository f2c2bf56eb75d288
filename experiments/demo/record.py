"""Write ``measured.json`` from one measured ``make demo`` and regenerate the README's demo section.

Called by ``measure.sh`` (which says how the run was made); every number in the section comes from
the run's own ``metrics.json`` / ``timings.json`` and the measured wall time, none is typed.

    python experiments/demo/record.py --run <run dir> --console <demo.log> --repo . \\
        --start <t0> --setup-end <t1> --end <t2>
    python experiments/demo/record.py --render-only --repo .   # the section from measured.json again
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MEASURED = HERE / "measured.json"
BEGIN, END = "<!-- demo:begin (experiments/demo/record.py writes this part) -->", "<!-- demo:end -->"
SYSTEMS = ("student", "teacher", "teacher_zero_shot", "direct_transfer", "tfidf_student", "teacher_translate_test")
MEANING = {
    "student": "the distilled student (multilingual-e5-small)",
    "teacher": "the English teacher (all-MiniLM-L6-v2 + head)",
    "teacher_zero_shot": "the teacher on the Italian text",
    "direct_transfer": "multilingual-e5-small fine-tuned on the English labels, on Italian",
    "tfidf_student": "character TF-IDF + logistic regression on the same soft labels",
    "teacher_translate_test": "the teacher on the human English side of the test pairs",
}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    run = Path(args.run)
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    timings = json.loads((run / "timings.json").read_text(encoding="utf-8"))
    console = Path(args.console).read_text(encoding="utf-8").splitlines()
    gains = [line for line in console if re.match(r"^\w+: the student's accuracy ", line)]
    start, setup_end, end = float(args.start), float(args.setup_end), float(args.end)
    return {
        "command": "bash experiments/demo/measure.sh (a fresh clone, an empty DISTILL_CACHE, make demo)",
        "date": datetime.date.today().isoformat(),
        "commit": metrics.get("reproducibility", {}).get("git", {}).get("commit"),
        "cpus": os.cpu_count(),
        "seconds": {
            "total": round(end - start, 1),
            "setup": round(setup_end - start, 1),
            "demo": round(end - setup_end, 1),
        },
        "stages": timings,
        "selection": metrics.get("selection"),
        "results": [
            {k: r[k] for k in ("system", "lang", "accuracy", "macro_f1", "n")}
            for r in metrics["results"]
            if r["split"] == "test"
        ],
        "gains": gains,
        "console_lines": len(console),
    }


def _stage_seconds(stages: dict[str, Any]) -> dict[str, float]:
    return {name: float(s) for name, s in stages.get("stage_seconds", {}).items()}


#: The issue's target for ``make demo`` on a fresh clone with empty caches, in seconds.
TARGET_S = 300


def _verdict(seconds: float) -> str:
    return "meets" if seconds < TARGET_S else "misses"


def render(measured: dict[str, Any]) -> str:
    rows = {(r["system"], r["lang"]): r for r in measured["results"]}
    n = {lang: next((r["n"] for (s, lg), r in rows.items() if lg == lang), 0) for lang in ("en", "it")}

    def cell(system: str, lang: str) -> str:
        r = rows.get((system, lang))
        return "-" if r is None else f"{r['accuracy']:.3f} ({r['macro_f1']:.3f})"

    sec = measured["seconds"]
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in _stage_seconds(measured["stages"]).items())
    lines = [
        BEGIN,
        f"Measured {measured['date']} on {measured['cpus']} CPU cores at commit "
        f"`{str(measured['commit'])[:10]}` with `{measured['command']}`:",
        f"**{sec['total']:.0f} s** in all: the install (`make setup`: torch from the machine's wheel "
        f"folder, the rest through pip) {sec['setup']:.0f} s, the run {sec['demo']:.0f} s (stages: "
        f"{stages}). The console printed {measured['console_lines']} lines.",
        f"Against the target of {TARGET_S} s: the run alone {_verdict(sec['demo'])} it, the install "
        f"included {_verdict(sec['total'])} it.",
        "",
        f"| test accuracy (macro-F1) | en ({n['en']}) | it ({n['it']}) |",
        "|---|---|---|",
        *(
            f"| `{s}`: {MEANING[s]} | {cell(s, 'en')} | {cell(s, 'it')} |"
            for s in SYSTEMS
            if (s, "en") in rows or (s, "it") in rows
        ),
        "",
        *measured["gains"],
        "",
        f"Checkpoint selection: `{measured['selection']}` (no Italian label is read before evaluation).",
        END,
    ]
    return "\n".join(lines)


def write_readme(repo: Path, section: str) -> None:
    readme = repo / "README.md"
    text = readme.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        sys.exit(f"error: {readme} has no demo markers ({BEGIN} ... {END})")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    tmp = readme.with_suffix(".md.tmp")
    tmp.write_text(head + section + tail, encoding="utf-8")
    tmp.replace(readme)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repo", default=str(HERE.parent.parent))
    p.add_argument("--run")
    p.add_argument("--console")
    p.add_argument("--start")
    p.add_argument("--setup-end")
    p.add_argument("--end")
    p.add_argument("--render-only", action="store_true")
    args = p.parse_args()
    if args.render_only:
        measured = json.loads(MEASURED.read_text(encoding="utf-8"))
    else:
        measured = measure(args)
        tmp = MEASURED.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(measured, indent=2) + "\n", encoding="utf-8")
        tmp.replace(MEASURED)
    write_readme(Path(args.repo), render(measured))
    print(render(measured))


if __name__ == "__main__":
    main()
