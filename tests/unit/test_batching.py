"""Batch samplers of the distill stage: one language per batch (adapter students), length bucketing."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch
from datasets import Dataset

from distill.data.batching import LanguageBatchSampler
from distill.data.datamodule import DistillDataModule

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


# Length bucketing: 40 rows of two languages whose lengths run 1..40 in a scrambled order.
BUCKET_LANGS = [i % 2 for i in range(40)]
BUCKET_LENGTHS = [(7 * i) % 40 + 1 for i in range(40)]


def _padding(batches: list[list[int]]) -> int:
    """Pad positions a batch of these rows holds: every row padded to the batch's longest."""
    return sum(
        len(b) * max(BUCKET_LENGTHS[i] for i in b) - sum(BUCKET_LENGTHS[i] for i in b) for b in batches
    )


def _bucketed(seed: int, pool_batches: int = 2) -> LanguageBatchSampler:
    return LanguageBatchSampler(
        BUCKET_LANGS,
        4,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
        lengths=BUCKET_LENGTHS,
        pool_batches=pool_batches,
    )


def test_bucketed_batches_keep_one_language_cover_every_row_and_pad_less() -> None:
    sampler = _bucketed(0)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 10
    assert all(len({BUCKET_LANGS[i] for i in b}) == 1 for b in batches)
    assert sorted(i for b in batches for i in b) == list(range(40))
    # Each pool of 2 batches is sorted by length, so a batch's rows are close in length.
    plain = LanguageBatchSampler(BUCKET_LANGS, 4, shuffle=True, generator=torch.Generator().manual_seed(0))
    assert _padding(batches) < _padding(list(plain))
    # One pool per language: 12 pad positions a batch (lengths 2 apart), against 528 in all unbucketed.
    assert _padding(list(_bucketed(0, pool_batches=5))) == 10 * 12 < 0.25 * _padding(list(plain))


def test_bucketed_batches_follow_the_generator_and_change_per_epoch() -> None:
    def epochs(seed: int) -> list[list[list[int]]]:
        sampler = _bucketed(seed)
        return [list(sampler), list(sampler)]

    assert epochs(3) == epochs(3)
    first, second = epochs(3)
    assert first != second
    # One pool per language: every batch is a run of the language's rows sorted by length.
    whole = list(_bucketed(3, pool_batches=5))
    per_lang = {lang: sorted(i for b in whole for i in b if BUCKET_LANGS[i] == lang) for lang in (0, 1)}
    for b in whole:
        rows = sorted(per_lang[BUCKET_LANGS[b[0]]], key=BUCKET_LENGTHS.__getitem__)
        spans = [rows.index(i) for i in b]
        assert max(spans) - min(spans) == len(b) - 1


def test_unshuffled_bucketed_batches_are_sorted_by_length_per_language() -> None:
    batches = list(LanguageBatchSampler(BUCKET_LANGS, 8, shuffle=False, lengths=BUCKET_LENGTHS))
    for lang in (0, 1):
        rows = [i for b in batches for i in b if BUCKET_LANGS[i] == lang]
        assert [BUCKET_LENGTHS[i] for i in rows] == sorted(
            BUCKET_LENGTHS[i] for i in range(40) if BUCKET_LANGS[i] == lang
        )


def test_lengths_must_match_the_rows() -> None:
    with pytest.raises(ValueError, match="3 lengths for 11 rows"):
        LanguageBatchSampler(LANGS, 2, shuffle=True, lengths=[1, 2, 3])


def _module(seed: int = 0, **kw: bool) -> DistillDataModule:
    rows = Dataset.from_dict(
        {
            "tgt": ["x" * n for n in BUCKET_LENGTHS],
            "src": ["y" * (n + 1) for n in BUCKET_LENGTHS],
            "lang": BUCKET_LANGS,
            "row": list(range(40)),
        }
    )
    return DistillDataModule(rows, rows, lambda b: [r["row"] for r in b], batch_size=4, seed=seed, **kw)


def test_datamodule_buckets_by_character_length_and_resumes_the_same_order() -> None:
    dm = _module(bucket_by_length=True)
    first = list(dm.train_dataloader())
    assert sorted(i for b in first for i in b) == list(range(40))
    plain = list(_module().train_dataloader())
    assert _padding(first) < 0.25 * _padding(plain)
    assert [i for b in dm.val_dataloader() for i in b] == sorted(range(40), key=BUCKET_LENGTHS.__getitem__)
    # The order of the next epoch comes from the generator, whose state a checkpoint keeps.
    state = {k: v.clone() for k, v in dm.state_dict().items()}
    second = list(dm.train_dataloader())
    assert second != first
    resumed = _module(seed=99, bucket_by_length=True)
    resumed.load_state_dict(state)
    assert list(resumed.train_dataloader()) == second


@pytest.mark.parametrize("per_language", [False, True])
def test_ranks_share_the_one_process_bucketed_batches(per_language: bool) -> None:
    kw = {"bucket_by_length": True, "one_language_per_batch": per_language}
    whole = list(_module(**kw).train_dataloader())
    shards = []
    for rank in (0, 1):
        dm = _module(**kw)
        shards.append(
            list(dm._sharded_train_dataloader(rank, 2, dm._batches(dm.train_rows, 4, shuffle=True)))
        )
    assert [sorted(a + b) for a, b in zip(*shards, strict=True)] == [sorted(b) for b in whole]
    if per_language:
        assert all(len({BUCKET_LANGS[i] for i in b}) == 1 for b in whole)


def test_an_epoch_of_batches_holds_no_python_list_of_every_row() -> None:
    """The epoch's order stays in int64 tensors (8 bytes a row); a batch becomes a list only when
    the loader takes it. Lists of every row index cost about 36 bytes a row in Python objects."""
    n = 200_000
    sampler = LanguageBatchSampler(
        np.zeros(n, dtype=np.int64),
        128,
        shuffle=True,
        generator=torch.Generator().manual_seed(0),
        lengths=np.random.default_rng(0).integers(1, 60, n),
    )
    tracemalloc.start()
    try:
        batches = iter(sampler)
        first = next(batches)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(first) == 128
    assert peak < 2 * 2**20  # Python objects; a list of every row would take about 7 MiB here
    assert sum(len(b) for b in batches) + len(first) == n
