"""The plots of ``distill-report``: accuracy bars, reliability diagrams and the embeddings' PCA."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from distill.report.contract import EMBEDDINGS_FILE
from distill.report.study import Pooled, Run, run_names
from distill.utils.atomic import atomic_file


def save_figure(fig: Any, path: Path) -> None:
    """Write ``fig`` as a PNG, atomically."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    with atomic_file(path, "wb") as fh:
        fh.write(buffer.getvalue())


def plot_bars(pooled: Pooled, path: Path, split: str = "test") -> Path:
    """Per-language bars with seed-std error bars, one bar per system."""
    import matplotlib.pyplot as plt

    langs = [*pooled.source_langs, *pooled.target_langs]
    names = pooled.names
    width = 0.8 / max(len(names), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(langs) * max(1, len(names)) * 0.35), 4.5))
    for k, name in enumerate(names):
        xs, ys, es = [], [], []
        for j, lang in enumerate(langs):
            c = pooled.cell(name, lang, split)
            if c is not None:
                xs.append(j + (k - (len(names) - 1) / 2) * width)
                ys.append(100 * c.mean)
                es.append(100 * c.std)
        ax.bar(xs, ys, width=width, yerr=es, capsize=2, label=name)
    ax.set_xticks(range(len(langs)), langs)
    ax.set_ylabel(f"{pooled.metric} (%)")
    ax.set_title(f"{pooled.metric} per language ({split}), mean ± std over seeds")
    ax.legend(fontsize=7, ncol=2, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(axis="y", alpha=0.3)
    save_figure(fig, path)
    plt.close(fig)
    return path


def reliability_bins(
    confidence: np.ndarray, correct: np.ndarray, bins: int = 10
) -> list[tuple[float, float, int]]:
    """``(mean confidence, accuracy, count)`` per equal-width confidence bin that has examples."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    out = []
    for b in range(bins):
        mask = which == b
        if mask.any():
            out.append((float(confidence[mask].mean()), float(correct[mask].mean()), int(mask.sum())))
    return out


def _pooled_outcomes(
    pooled: Pooled, name: str, langs: Sequence[str], split: str
) -> tuple[np.ndarray, np.ndarray]:
    conf, corr = [], []
    system = pooled.system_of[name]
    for lang in langs:
        c = pooled.cell(name, lang, split)
        if c is None:
            continue
        for run in c.runs.values():
            real = run.report.source_lang if lang in pooled.source_langs else lang
            p = run.predictions().get((system, real, split))
            if p is not None:
                conf.append(p["confidence"])
                corr.append((p["pred"] == p["gold"]).astype(float))
    if not conf:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(conf), np.concatenate(corr)


def plot_reliability(pooled: Pooled, path: Path, split: str = "test") -> Path | None:
    """Reliability diagrams: every student name on the target languages, the teacher on the source."""
    import matplotlib.pyplot as plt

    panels = [(n, pooled.target_langs) for n in pooled.names if pooled.system_of[n] == "student"]
    panels += [(n, pooled.source_langs) for n in pooled.names if pooled.system_of[n] == "teacher"]
    data = [(n, langs, *_pooled_outcomes(pooled, n, langs, split)) for n, langs in panels]
    data = [d for d in data if len(d[2])]
    if not data:
        return None
    fig, axes = plt.subplots(1, len(data), figsize=(3.4 * len(data), 3.6), squeeze=False)
    for ax, (name, langs, conf, corr) in zip(axes[0], data, strict=True):
        bins = reliability_bins(conf, corr)
        ax.plot([0, 1], [0, 1], "k--", lw=0.8)
        ax.bar([b[0] for b in bins], [b[1] for b in bins], width=0.08, alpha=0.7)
        ece = sum(abs(a - c) * n for c, a, n in bins) / len(conf)
        ax.set_title(f"{name}\n{'+'.join(langs)}, ECE {ece:.3f}", fontsize=8)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence")
    axes[0][0].set_ylabel("accuracy")
    save_figure(fig, path)
    plt.close(fig)
    return path


def pca_2d(vectors: np.ndarray) -> np.ndarray:
    """The first two principal components of ``vectors`` ``(N, H)`` -> ``(N, 2)``."""
    centred = vectors - vectors.mean(axis=0, keepdims=True)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T


def plot_embeddings(pooled: Pooled, path: Path, max_panels: int = 12) -> Path | None:
    """PCA of the student's embeddings of parallel test pairs, one panel per student run (lowest seed)."""
    import matplotlib.pyplot as plt

    chosen: dict[tuple[str, tuple[str, ...]], Run] = {}
    names = run_names(pooled.runs)
    for i in sorted(range(len(pooled.runs)), key=lambda i: pooled.runs[i].seed):
        run = pooled.runs[i]
        key = (names.get((i, "student"), "student"), tuple(run.report.target_langs))
        if key not in chosen and (run.path.parent / EMBEDDINGS_FILE).is_file():
            chosen[key] = run
    panels = list(chosen.items())[:max_panels]
    if not panels:
        return None
    cols = min(len(panels), 4)
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, ((name, langs), run) in zip(axes.flat, panels, strict=False):
        emb = run.embeddings()
        assert emb is not None
        xy = pca_2d(emb["vector"])
        for lang in dict.fromkeys(emb["lang"]):
            mask = np.asarray(emb["lang"]) == lang
            ax.scatter(xy[mask, 0], xy[mask, 1], s=6, alpha=0.6, label=lang)
        ax.set_axis_on()
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{name}: {'+'.join(langs)} (seed {run.seed})", fontsize=8)
        ax.legend(fontsize=7, markerscale=2)
    fig.suptitle("student sentence embeddings of parallel test pairs (PCA)", fontsize=9)
    save_figure(fig, path)
    plt.close(fig)
    return path
