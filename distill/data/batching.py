"""Batches that hold one language each, for students that route a batch by its language (adapters)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler


class LanguageBatchSampler(Sampler[list[int]]):
    """Row indices in batches of one language each.

    With ``shuffle``, every epoch shuffles the rows within each language and the order of the
    batches across languages, drawing from ``generator`` (its state is what a resumed fit
    restores); without, the batches follow the rows' order.

    Args:
        langs: The language id of every row.
        batch_size: Rows per batch (a language's last batch may be smaller).
        shuffle: Shuffle rows and batches every epoch.
        generator: The random generator of the shuffling.
    """

    def __init__(
        self,
        langs: Sequence[int],
        batch_size: int,
        *,
        shuffle: bool,
        generator: torch.Generator | None = None,
    ) -> None:
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator
        by_lang: dict[int, list[int]] = {}
        for i, lang in enumerate(langs):
            by_lang.setdefault(int(lang), []).append(i)
        self.rows = [torch.tensor(v) for _, v in sorted(by_lang.items())]

    def _batches(self) -> list[list[int]]:
        batches = []
        for rows in self.rows:
            order = rows[torch.randperm(len(rows), generator=self.generator)] if self.shuffle else rows
            size = self.batch_size
            batches += [order[i : i + size].tolist() for i in range(0, len(order), size)]
        if self.shuffle:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=self.generator).tolist()]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self._batches())

    def __len__(self) -> int:
        return sum(-(-len(rows) // self.batch_size) for rows in self.rows)


class RankBatches(Sampler[list[int]]):
    """This process's share of every global batch, for data-parallel training (``trainer=ddp``).

    Every rank draws the same global batches from ``batches`` (the same generator, seeded alike
    and restored alike on resume), and rank ``r`` of ``world`` keeps rows ``r, r + world, ...`` of
    each. DDP averages the ranks' gradients, so a step sees the batch of a one-process fit with
    ``batch_size`` rows, split across the processes, and a fit on N processes follows the same
    data order as on one. A global batch with fewer rows than ranks (the last one of an epoch)
    gives each rank without a row of its own the batch's first row (DDP needs a batch on every
    rank).

    Args:
        batches: The global batches (a ``BatchSampler`` or :class:`LanguageBatchSampler`).
        rank: This process's global rank.
        world: The number of processes.
    """

    def __init__(self, batches: Sampler[list[int]], rank: int, world: int) -> None:
        if not 0 <= rank < world:
            raise ValueError(f"rank {rank} is not in [0, {world})")
        self.batches, self.rank, self.world = batches, rank, world

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.batches:
            yield list(batch[self.rank :: self.world]) or list(batch[:1])

    def __len__(self) -> int:
        return len(self.batches)  # type: ignore[arg-type]
