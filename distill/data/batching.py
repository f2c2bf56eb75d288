"""Batch samplers of the distill stage: batches of one language each (for students that route a
batch by its language, adapters), optionally length-bucketed, and each process's share of them under
data parallelism."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler


class LanguageBatchSampler(Sampler[list[int]]):
    """Row indices in batches of one language each, optionally length-bucketed.

    With ``shuffle``, every epoch shuffles the rows within each language and the order of the
    batches across languages, drawing from ``generator`` (its state is what a resumed fit
    restores); without, the batches follow the rows' order.

    With ``lengths``, the batches are length-bucketed, so a batch pads its texts to a length
    close to theirs: the shuffled rows of a language are cut into pools of ``pool_batches``
    batches and each pool is sorted by length before it is cut into batches (the "megabatch"
    scheme of ``transformers``' ``group_by_length``); the batches are then shuffled as above.
    Without ``shuffle``, each language's rows are sorted by length (evaluation).

    Args:
        langs: The language id of every row (all equal: plain, mixed-language batches).
        batch_size: Rows per batch (a language's last batch may be smaller).
        shuffle: Shuffle rows and batches every epoch.
        generator: The random generator of the shuffling.
        lengths: The length of every row (any unit: characters, tokens), or None: no bucketing.
        pool_batches: Batches per pool when bucketing: larger pools pad less, smaller ones keep
            batches more random.
    """

    def __init__(
        self,
        langs: Sequence[int] | np.ndarray,
        batch_size: int,
        *,
        shuffle: bool,
        generator: torch.Generator | None = None,
        lengths: Sequence[int] | np.ndarray | None = None,
        pool_batches: int = 50,
    ) -> None:
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator
        ids = np.asarray(langs)
        self.rows = [torch.from_numpy(np.flatnonzero(ids == lang)) for lang in np.unique(ids)]
        self.lengths = None if lengths is None else torch.as_tensor(np.asarray(lengths), dtype=torch.long)
        if self.lengths is not None and len(self.lengths) != len(ids):
            raise ValueError(f"{len(self.lengths)} lengths for {len(ids)} rows")
        self.pool_batches = pool_batches

    def _order(self, rows: torch.Tensor) -> torch.Tensor:
        """One language's rows in the order they are cut into batches."""
        if self.shuffle:
            rows = rows[torch.randperm(len(rows), generator=self.generator)]
        if self.lengths is None:
            return rows
        pool = self.batch_size * self.pool_batches if self.shuffle else len(rows)
        return torch.cat([p[torch.argsort(self.lengths[p], stable=True)] for p in rows.split(pool)])

    def _batches(self) -> list[torch.Tensor]:
        """The epoch's batches as views of each language's order (one int64 tensor per language):
        a million rows cost 8 MB here, not a million Python ints in lists (about 36 MB)."""
        batches: list[torch.Tensor] = []
        for rows in self.rows:
            batches += self._order(rows).split(self.batch_size)
        if self.shuffle:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=self.generator).tolist()]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        # The epoch's random draws happen here, when iteration starts (as before); each batch
        # becomes a list of row indices only when the loader asks for it.
        return (batch.tolist() for batch in self._batches())

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
