"""Batches of one language each (per-language adapter students)."""

from __future__ import annotations

import torch

from distill.data.batching import LanguageBatchSampler

LANGS = [0, 1, 0, 2, 1, 0, 0, 2, 1, 1, 0]


def test_every_batch_holds_one_language_and_every_row_comes_once() -> None:
    sampler = LanguageBatchSampler(LANGS, 2, shuffle=True, generator=torch.Generator().manual_seed(0))
    batches = list(sampler)
    assert len(batches) == len(sampler) == 3 + 2 + 1
    assert all(len({LANGS[i] for i in b}) == 1 for b in batches)
    assert sorted(i for b in batches for i in b) == list(range(len(LANGS)))


def test_shuffling_follows_the_generator_and_changes_per_epoch() -> None:
    def epochs(seed: int) -> list[list[list[int]]]:
        sampler = LanguageBatchSampler(LANGS, 2, shuffle=True, generator=torch.Generator().manual_seed(seed))
        return [list(sampler), list(sampler)]

    assert epochs(1) == epochs(1)
    first, second = epochs(1)
    assert first != second


def test_without_shuffling_batches_follow_the_rows() -> None:
    batches = list(LanguageBatchSampler(LANGS, 3, shuffle=False))
    assert batches == [[0, 2, 5], [6, 10], [1, 4, 8], [9], [3, 7]]
