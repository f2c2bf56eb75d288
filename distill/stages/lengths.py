"""The student's input length from the data: ``student.max_length=auto``.

``auto`` takes the 95th percentile of the student's token lengths (special tokens and
``student.prefix`` included) over the target training text, rounded up to a multiple of 8 and
capped by ``student.max_length_cap``; a number is used as given. Either way the share of texts
longer than the length (cut off when the student reads them) is measured on the training text and
on each language's test text, and ``metrics.json`` records it (``max_length``).

The prepare stage resolves it once (:func:`fit_student_max_length`) and writes the number into
``cfg.student.max_length`` (what was measured into ``cfg.student.max_length_fit``), so every later
stage (training, evaluation, the baselines, the export) reads one integer; the same data gives the
same number in every stage-by-stage command.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from datasets import Dataset, DatasetDict
from omegaconf import DictConfig, open_dict

from distill.errors import DistillError
from distill.utils.mapped_pages import HeldPages

log = logging.getLogger(__name__)
AUTO = "auto"
PERCENTILE = 95
#: At most this many texts per split are tokenised to measure lengths (a seeded sample).
SAMPLE = 5000
SAMPLE_SEED = 0
MULTIPLE = 8
#: ``auto`` never goes under this.
FLOOR = 16


def _sample(splits: Sequence[Dataset]) -> list[str]:
    """The ``tgt`` texts of a seeded sample of at most :data:`SAMPLE` rows of the splits taken one
    after the other; only the sampled rows are read (a million-row split is not copied)."""
    sizes = [len(s) for s in splits]
    total = sum(sizes)
    rows = (
        range(total) if total <= SAMPLE else sorted(random.Random(SAMPLE_SEED).sample(range(total), SAMPLE))
    )
    starts = np.cumsum([0, *sizes])
    texts: list[str] = []
    for i, split in enumerate(splits):
        local = [r - int(starts[i]) for r in rows if starts[i] <= r < starts[i + 1]]
        if local:
            texts.extend(split.select(local)["tgt"])
    HeldPages(*splits).release()  # sampled rows map the pages around them (up to the whole table)
    return texts


def token_lengths(tokenizer: Any, texts: Sequence[str], prefix: str = "") -> np.ndarray:
    """Token counts of ``prefix + text`` as the student reads them (special tokens included)."""
    if not texts:
        return np.zeros(0, dtype=np.int64)
    ids = tokenizer([prefix + t for t in texts], add_special_tokens=True, truncation=False)["input_ids"]
    return np.asarray([len(x) for x in ids], dtype=np.int64)


def choose(lengths: np.ndarray, cap: int) -> int:
    """The ``auto`` length: the 95th percentile, rounded up to a multiple of 8, in ``[16, cap]``."""
    p = float(np.percentile(lengths, PERCENTILE)) if len(lengths) else FLOOR
    return int(min(cap, max(FLOOR, MULTIPLE * math.ceil(p / MULTIPLE))))


def _spec(cfg: DictConfig) -> tuple[int | None, int]:
    value = cfg.student.get("max_length")
    cap = cfg.student.get("max_length_cap") or 512
    if not isinstance(cap, int) or isinstance(cap, bool) or cap < FLOOR:
        raise DistillError(
            f"student.max_length_cap={cap!r} is not a whole number >= {FLOOR}",
            fix="e.g. student.max_length_cap=256",
        )
    if value == AUTO:
        return None, cap
    if not isinstance(value, int) or isinstance(value, bool) or value < 2:
        raise DistillError(
            f"student.max_length={value!r} is neither a whole number >= 2 nor 'auto'",
            fix="e.g. student.max_length=128, or student.max_length=auto (from the data)",
        )
    return value, cap


def fit_student_max_length(
    cfg: DictConfig, data: Mapping[str, DatasetDict], tokenizer: Any
) -> dict[str, Any]:
    """Resolve ``student.max_length`` (see the module docstring) and return what is recorded.

    Returns:
        ``{"max_length", "rule", "p95", "truncated": {"train", "<lang>/test", ...}}`` (shares in [0, 1]).
    """
    fixed, cap = _spec(cfg)
    prefix = str(cfg.student.get("prefix") or "")
    lengths = token_lengths(
        tokenizer, _sample([dd["train"] for dd in data.values() if "train" in dd]), prefix
    )
    value = fixed if fixed is not None else choose(lengths, cap)
    truncated = {"train": round(float(np.mean(lengths > value)), 6) if len(lengths) else 0.0}
    for lang, dd in data.items():
        if "test" in dd and len(dd["test"]):
            test = token_lengths(tokenizer, _sample([dd["test"]]), prefix)
            truncated[f"{lang}/test"] = round(float(np.mean(test > value)), 6)
    info = {
        "max_length": int(value),
        "rule": "fixed" if fixed is not None else f"p{PERCENTILE} of the training text, cap {cap}",
        "p95": round(float(np.percentile(lengths, PERCENTILE)), 2) if len(lengths) else None,
        "truncated": truncated,
    }
    with open_dict(cfg):
        cfg.student.max_length = int(value)
        cfg.student.max_length_fit = info  # what the evaluate stage records in metrics.json
    log.info(
        "student.max_length=%d (%s); truncated share: %s",
        value,
        info["rule"],
        ", ".join(f"{k} {v:.1%}" for k, v in truncated.items()),
    )
    return info
