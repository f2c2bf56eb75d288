"""Paired bootstrap intervals: the student minus each baseline, per target language."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from distill.errors import DistillError
from distill.report.study import Cell, Pooled

#: Baselines the student is compared with by default in the bootstrap table.
DEFAULT_BASELINES = ("direct_transfer", "teacher_translate_test", "teacher_zero_shot")
BOOTSTRAP_SEED = 0


@dataclass
class Comparison:
    """The student minus a baseline on one language: mean difference and a 95% interval."""

    student: str
    baseline: str
    lang: str
    diff: float
    low: float
    high: float
    seeds: int
    n: int


def paired_bootstrap(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]], n_resamples: int = 1000, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float, float]:
    """Mean accuracy difference A - B with a paired percentile bootstrap 95% interval.

    Args:
        pairs: Per seed, ``(correct_a, correct_b)``: 0/1 arrays over the same test examples.
        n_resamples: Bootstrap resamples; each draws the examples with replacement once and
            applies the same draw to both systems and every seed.

    Returns:
        ``(difference, low, high)`` in accuracy units (the difference averaged over seeds).

    Raises:
        DistillError: No pair, or arrays of different lengths.
    """
    if not pairs:
        raise DistillError("paired_bootstrap needs at least one (a, b) pair")
    n = len(pairs[0][0])
    if any(len(a) != n or len(b) != n for a, b in pairs):
        raise DistillError("paired_bootstrap: every array must cover the same test examples")
    diffs = np.stack([np.asarray(a, float) - np.asarray(b, float) for a, b in pairs]).mean(axis=0)  # (n,)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(n_resamples, n))  # (R, n)
    stats = diffs[draws].mean(axis=1)  # (R,)
    low, high = np.percentile(stats, [2.5, 97.5])
    return float(diffs.mean()), float(low), float(high)


def _pairs(
    student: Cell, baseline: Cell, baseline_system: str, lang: str, split: str
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per student seed, (student correct, baseline correct); a once-trained baseline pairs with all.

    The baseline's row is the student's own run's where that run scored it with the same teacher
    as the baseline cell's run of that seed (should runs of a seed differ, e.g. a teacher refitted
    between them: :class:`~distill.report.study.Conflict`, the student meets the rows of the
    teacher it learnt from), else the cell's run's.
    """
    pairs = []
    only = next(iter(baseline.runs.values())) if baseline.seeds == 1 else None
    for seed, s_run in student.runs.items():
        b_run = baseline.runs.get(seed) or only
        if b_run is None:
            continue
        a = s_run.correct("student", lang, split)
        own = s_run.correct(baseline_system, lang, split) if s_run.teacher == b_run.teacher else None
        b = own if own is not None else b_run.correct(baseline_system, lang, split)
        if a is not None and b is not None and len(a) == len(b):
            pairs.append((a, b))
    return pairs


def compare(
    pooled: Pooled, baselines: Sequence[str] = DEFAULT_BASELINES, n_resamples: int = 1000, split: str = "test"
) -> list[Comparison]:
    """Every student name against every baseline present, per target language, on common seeds.

    A baseline that depends on the teacher (its translate-test, the tfidf_student fitted to its
    labels) is compared only with the students of that teacher, where the runs have several.
    """
    students = [n for n in pooled.names if pooled.system_of[n] == "student"]
    others = [n for n in pooled.names if pooled.system_of[n] in baselines]
    out = []
    for lang in pooled.target_langs:
        for s_name in students:
            for b_name in others:
                s_teacher, b_teacher = pooled.teacher_of.get(s_name), pooled.teacher_of.get(b_name)
                if s_teacher and b_teacher and s_teacher != b_teacher:
                    continue  # another teacher's baseline: not this student's reference
                s_cell, b_cell = pooled.cell(s_name, lang, split), pooled.cell(b_name, lang, split)
                if s_cell is None or b_cell is None:
                    continue
                pairs = _pairs(s_cell, b_cell, pooled.system_of[b_name], lang, split)
                if pairs:
                    diff, low, high = paired_bootstrap(pairs, n_resamples)
                    out.append(
                        Comparison(s_name, b_name, lang, diff, low, high, len(pairs), len(pairs[0][0]))
                    )
    return out
