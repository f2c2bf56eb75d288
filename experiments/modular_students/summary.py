"""The modular-students table from the runs' metrics.json files (see the Makefile)."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from safetensors import safe_open


def _acc(metrics: dict[str, Any], lang: str) -> float | None:
    for row in metrics["results"]:
        if row["system"] == "student" and row["lang"] == lang and row["split"] == "test":
            return float(row["accuracy"])
    return None


def _trained_full(export: Path) -> int | None:
    """Parameters a fully fine-tuned student trains: all but the (frozen) word embeddings."""
    weights = export / "model.safetensors"
    if not weights.is_file():
        return None
    total = frozen = 0
    with safe_open(str(weights), framework="np") as fh:
        for name in fh.keys():  # noqa: SIM118 - safe_open is not a mapping
            n = math.prod(fh.get_slice(name).get_shape())
            total += n
            frozen += n if name.endswith("word_embeddings.weight") else 0
    return total - frozen


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--out", type=Path, default=Path("summary.md"))
    parser.add_argument(
        "--best-lora",
        action="store_true",
        help="print the adapter run with the best validation score and stop",
    )
    args = parser.parse_args()
    runs = {p.parent.name: json.loads(p.read_text()) for p in sorted(args.runs.glob("*/metrics.json"))}
    lora = {k: v for k, v in runs.items() if k.startswith("lora_it_lr")}
    best_lora = max(lora, key=lambda k: lora[k]["best_val"]["score"] or -1) if lora else None
    if args.best_lora:
        if best_lora is None:
            raise SystemExit(f"error: no finished lora_it_lr* run under {args.runs}")
        print(best_lora)
        return

    lines = [
        "| run | trained per language | share of the model | it | ja | en | best val acc "
        "| earlier languages: change |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, m in runs.items():
        adapters = m.get("adapters")
        if adapters:
            lang = next(iter(adapters["per_language"]))
            per_lang = adapters["per_language"][lang] + adapters["shared_head"] * (
                not adapters["frozen_languages"]
            )
            total = adapters["frozen_base"] + adapters["shared_head"] + adapters["per_language"][lang]
            trained = f"{per_lang:,}"
            share = f"{100 * per_lang / total:.2f}%"
        else:
            n = _trained_full(args.runs / name / "student")
            trained, share = (f"{n:,}", "all but word embeddings") if n else ("–", "–")
        change = m.get("continual", {}).get("change", {})
        changes = ", ".join(f"{k} {100 * v:+.1f}" for k, v in change.items()) or "–"
        if name == "lora_it+ja":
            old, new = (
                (args.runs / best_lora / "student", args.runs / name / "student")
                if best_lora
                else (None, None)
            )
            same = old and all(
                (old / p).read_bytes() == (new / p).read_bytes()
                for p in ("base/model.safetensors", "adapters/it/adapter_model.safetensors")
            )
            changes = "it adapter and base byte-identical" if same else "it adapter or base changed"
        mark = " (selected)" if name == best_lora else ""
        lines.append(
            f"| {name}{mark} | {trained} | {share} | {_pct(_acc(m, 'it'))} | {_pct(_acc(m, 'ja'))} | "
            f"{_pct(_acc(m, 'en'))} | {_pct(m['best_val']['score'])} | {changes} |"
        )
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
