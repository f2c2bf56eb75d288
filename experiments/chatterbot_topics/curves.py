"""Per-term loss curves of the study's students (from each run's CSV log), one PNG per language.

    python curves.py --runs runs --out report --langs it ja --seed 1

For every variant: the training terms (kd, back, cycle: what the optimiser saw, tau^2-scaled KL,
logged every 10 steps) and, per epoch, the validation accuracy on the target language and the
validation `back` term (the student against the teacher on the English side: the forgetting signal).
Cyclic rounds (R=2) log one CSV per round; their steps are laid end to end.
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

TRAIN_TERMS = ("train/kd", "train/back", "train/cycle")
VAL_SERIES = ("val/acc", "val/back")


def read_log(run_dir: Path) -> dict[str, list[tuple[float, float]]]:
    """``{column: [(x, value)]}`` over the run's CSV logs (rounds laid end to end on the step axis)."""
    series: dict[str, list[tuple[float, float]]] = {}
    offset_step = offset_epoch = 0.0
    for version in sorted((run_dir / "csv").glob("version_*"), key=lambda p: int(p.name.split("_")[1])):
        last_step = last_epoch = 0.0
        with (version / "metrics.csv").open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                step, epoch = float(row.get("step") or 0), float(row.get("epoch") or 0)
                last_step, last_epoch = max(last_step, step), max(last_epoch, epoch)
                for key, value in row.items():
                    wanted = key in TRAIN_TERMS or key in VAL_SERIES
                    if wanted and value not in ("", None) and math.isfinite(float(value)):
                        x = offset_step + step if key.startswith("train/") else offset_epoch + epoch + 1
                        series.setdefault(key, []).append((x, float(value)))
        offset_step += last_step + 1
        offset_epoch += last_epoch + 1
    return series


def plot_language(runs: Path, lang: str, seed: int, out: Path) -> Path | None:
    variants = sorted(p for p in runs.iterdir() if (p / lang / f"seed{seed}" / "csv").is_dir())
    if not variants:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    for variant in variants:
        log = read_log(variant / lang / f"seed{seed}")
        for term, style in zip(TRAIN_TERMS, ("-", "--", ":"), strict=True):
            if term in log and any(v for _, v in log[term]):
                xs, ys = zip(*log[term], strict=True)
                axes[0].plot(xs, ys, style, label=f"{variant.name} {term.split('/')[1]}")
        for ax, key in zip(axes[1:], VAL_SERIES, strict=True):
            if key in log:
                xs, ys = zip(*log[key], strict=True)
                ax.plot(xs, ys, marker="o", label=variant.name)
    axes[0].set(title=f"training terms ({lang}, seed {seed})", xlabel="step", yscale="log")
    axes[1].set(title=f"validation accuracy ({lang})", xlabel="epoch")
    axes[2].set(title="validation back term (student vs teacher on English)", xlabel="epoch", yscale="log")
    for ax in axes:
        ax.legend(fontsize=6)
        ax.grid(alpha=0.3)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"curves_{lang}.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--out", type=Path, default=Path("report"))
    parser.add_argument("--langs", nargs="+", default=["it", "ja", "ko", "uk", "zh"])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    for lang in args.langs:
        path = plot_language(args.runs, lang, args.seed, args.out)
        print(f"{lang}: {path or 'no runs with a CSV log'}")


if __name__ == "__main__":
    main()
