"""``student.max_length=auto``: the student's input length from the data, its cut-off share recorded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from distill.errors import DistillError
from distill.stages.lengths import choose, token_lengths
from distill.stages.prepare import prepare, student_tokenizer
from tests.integration.helpers import compose_cfg


def test_choose_rounds_the_95th_percentile_up_and_caps_it() -> None:
    lengths = np.arange(1, 101)  # p95 = 95.05
    assert choose(lengths, cap=512) == 96
    assert choose(lengths, cap=64) == 64
    assert choose(np.full(10, 3), cap=512) == 16  # never under the floor


def test_the_length_sample_reads_only_the_sampled_rows_of_several_splits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import random

    from datasets import Dataset

    from distill.stages import lengths

    monkeypatch.setattr(lengths, "SAMPLE", 7)
    splits = [
        Dataset.from_dict({"tgt": [f"{name}{i}" for i in range(n)]}) for name, n in (("a", 5), ("b", 9))
    ]
    every = [t for s in splits for t in s["tgt"]]
    rows = sorted(random.Random(lengths.SAMPLE_SEED).sample(range(len(every)), 7))
    assert lengths._sample(splits) == [every[i] for i in rows]  # the seeded draw over all the text
    assert lengths._sample(splits[:1]) == splits[0]["tgt"]  # under the sample size: every text
    assert lengths._sample([]) == []


def test_auto_fits_the_training_text_and_records_the_cut_off_share(tmp_path: Path) -> None:
    cfg = compose_cfg(tmp_path, "debug=tiny", "student.max_length=auto", "student.max_length_cap=512")
    summary, objects = prepare(cfg)
    fit = summary["student_max_length"]
    chosen = int(cfg.student.max_length)  # every later stage reads this integer
    assert fit["max_length"] == chosen and cfg.student.max_length_fit.max_length == chosen
    tokenizer = student_tokenizer(objects["models"]["student"])
    train = [t for dd in objects["data"].values() for t in dd["train"]["tgt"]]
    lengths = token_lengths(tokenizer, train)
    assert chosen == choose(lengths, 512) and chosen % 8 == 0
    assert fit["truncated"]["train"] == pytest.approx(float(np.mean(lengths > chosen)), abs=1e-6)
    assert fit["truncated"]["train"] <= 0.05  # the 95th percentile: at most 5% cut off
    for lang, dd in objects["data"].items():
        test = token_lengths(tokenizer, list(dd["test"]["tgt"]))
        assert fit["truncated"][f"{lang}/test"] == pytest.approx(float(np.mean(test > chosen)), abs=1e-6)


def test_a_fixed_length_is_kept_and_its_cut_off_measured(tmp_path: Path) -> None:
    cfg = compose_cfg(tmp_path, "debug=tiny", "student.max_length=8")
    summary, _ = prepare(cfg)
    fit = summary["student_max_length"]
    assert fit["rule"] == "fixed" and cfg.student.max_length == 8
    assert fit["truncated"]["train"] > 0.5  # chatterbot sentences are mostly longer than 8 tokens


@pytest.mark.parametrize("value", ["long", "0", "true"])
def test_bad_max_length_is_refused(tmp_path: Path, value: str) -> None:
    cfg = compose_cfg(tmp_path, "debug=tiny", f"student.max_length={value}")
    with pytest.raises(DistillError, match="neither a whole number >= 2 nor 'auto'") as err:
        prepare(cfg)
    assert "student.max_length=auto" in err.value.fix
