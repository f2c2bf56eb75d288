"""Under data parallelism each rank gets its share of the one-process batches, in the same order."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import torch
from datasets import Dataset

from distill.data.batching import LanguageBatchSampler, RankBatches
from distill.data.datamodule import DistillDataModule


def _indices(rows: list[dict[str, Any]]) -> list[int]:
    return [r["i"] for r in rows]


def _module(one_language_per_batch: bool = False) -> DistillDataModule:
    rows = Dataset.from_dict({"i": list(range(23)), "lang": [i % 2 for i in range(23)]})
    return DistillDataModule(
        rows, rows, collator=_indices, batch_size=6, seed=3, one_language_per_batch=one_language_per_batch
    )


def _epochs(dm: DistillDataModule, rank: int, world: int) -> list[list[int]]:
    dm.trainer = SimpleNamespace(global_rank=rank, world_size=world)  # type: ignore[assignment]
    return [batch for _ in range(2) for batch in dm.train_dataloader()]  # two epochs: the generator moves on


def test_two_ranks_split_every_one_process_batch_in_the_same_order() -> None:
    dm = _module()
    one = [batch for _ in range(2) for batch in dm.train_dataloader()]
    rank0, rank1 = _epochs(_module(), 0, 2), _epochs(_module(), 1, 2)
    assert len(rank0) == len(rank1) == len(one) == 2 * 4  # 23 rows in batches of 6
    for whole, a, b in zip(one, rank0, rank1, strict=True):
        assert sorted(a + b) == sorted(whole) and not set(a) & set(b)
        assert a == whole[0::2] and b == whole[1::2]


def test_one_language_batches_stay_one_language_on_every_rank() -> None:
    for rank in (0, 1):
        for batch in _epochs(_module(one_language_per_batch=True), rank, 2):
            assert len({i % 2 for i in batch}) == 1


def test_a_batch_smaller_than_the_ranks_gives_every_rank_a_row() -> None:
    batches = [[4, 7, 1], [5]]
    assert [list(RankBatches(batches, r, 2)) for r in (0, 1)] == [[[4, 1], [5]], [[7], [5]]]  # type: ignore[arg-type]
    sampler = LanguageBatchSampler([0, 0, 1], 2, shuffle=True, generator=torch.Generator().manual_seed(0))
    assert len(RankBatches(sampler, 1, 2)) == len(sampler)
