"""The label stage across devices: the teacher as Lightning prediction, every rank writing its shards.

``teacher.label_devices=N`` (N > 1) runs the teacher under
``pl.Trainer(strategy="ddp", devices=N).predict``. Shard ``i`` of an entry (``shard_rows`` texts)
belongs to rank ``i % N``; a :class:`ShardWriter` callback keeps each finished shard in the entry's
partial folder (:class:`~distill.cache.EntryShards`) exactly as the one-process path does, so a
killed run resumes from the finished shards with any number of devices. After a barrier every shard
is on disk; rank 0 concatenates them into the entry (atomically) and the other ranks read it after a
second barrier. Each shard is labelled with the same batches as in one process, so the entry is the
same, bit for bit.

With ``strategy="ddp"`` Lightning starts ranks 1.. by running the command again (``LOCAL_RANK``
set), so every rank must reach the same :func:`~distill.cache.soft_labels` calls; the console
scripts do. ``ddp_spawn`` starts worker processes that run the prediction alone (any caller, at the
cost of starting fresh interpreters).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pytorch_lightning as pl
from datasets import Dataset, concatenate_datasets
from pytorch_lightning.callbacks import BasePredictionWriter
from torch import Tensor
from torch.utils.data import DataLoader

# The cache's public API only (bound in ``distill/cache/__init__.py`` before this module is read).
from distill.cache import EntryShards, Group, ShardedTeacher

log = logging.getLogger(__name__)


class ShardPredictor(pl.LightningModule):
    """The frozen teacher labelling whole shards: one prediction "batch" is one shard index.

    Args:
        teacher: Loads and runs the teacher (batches within a shard as in one process).
        texts: Every text of the entry.
        bounds: ``[start, stop)`` of every shard.
        todo: The shards not finished yet (by an interrupted run).
    """

    def __init__(
        self, teacher: ShardedTeacher, texts: Sequence[str], bounds: list[tuple[int, int]], todo: list[int]
    ) -> None:
        super().__init__()
        self.teacher, self.texts, self.bounds, self.todo = teacher, texts, bounds, todo

    def setup(self, stage: str) -> None:
        # Loaded in the rank's own process (ddp_spawn pickles this module, not the model), and
        # registered as a submodule, so that the strategy then moves it to the rank's device.
        self.net = self.teacher.model()[0]

    def predict_dataloader(self) -> DataLoader:
        rank, world = self.trainer.global_rank, self.trainer.world_size
        return DataLoader([i for i in self.todo if i % world == rank], batch_size=1)  # type: ignore[arg-type]

    def predict_step(self, batch: Tensor, batch_idx: int) -> tuple[int, Dataset, dict[str, Any]]:
        shard = int(batch[0])
        lo, hi = self.bounds[shard]
        ds, info = self.teacher.label(self.texts[lo:hi], f"soft labels {shard + 1}/{len(self.bounds)}")
        return shard, ds, info


class ShardWriter(BasePredictionWriter):
    """Keeps every shard this rank labelled in the entry's partial folder; counts its rows."""

    def __init__(self, shards: EntryShards) -> None:
        super().__init__(write_interval="batch")
        self.shards = shards
        self.rows = 0

    def write_on_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        prediction: Any,
        batch_indices: Sequence[int] | None,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int,
    ) -> None:
        shard, ds, info = prediction
        lo, hi = self.shards.bounds[shard]
        self.shards.write(shard, ds, info)
        self.rows += hi - lo


def labelled_shards_on_devices(
    teacher: ShardedTeacher,
    texts: Sequence[str],
    key: str,
    shard_rows: int,
    *,
    devices: int,
    strategy: str = "ddp",
    accelerator: str = "auto",
) -> tuple[Dataset, dict[str, Any], int, Group]:
    """Every shard of ``texts`` labelled across ``devices`` processes, read back in order.

    Returns:
        ``(all rows in order, label info of the teacher, rows reused from finished shards, the
        process group)``; the caller writes the entry on rank 0 and then waits at the barrier.
    """
    shards = EntryShards.of(key, len(texts), shard_rows)
    bounds = shards.bounds
    # Each rank decides only on its own shards, so ranks that look at different moments agree.
    todo = [i for i in range(len(bounds)) if shards.read(i) is None]
    writer = ShardWriter(shards)
    trainer = pl.Trainer(
        accelerator=accelerator,
        devices=devices,
        strategy=strategy,
        callbacks=[writer],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,  # the module hands each rank its own shards
        default_root_dir=str(shards.partial),
    )
    trainer.predict(ShardPredictor(teacher, texts, bounds, todo), return_predictions=False)
    trainer.strategy.barrier("soft-label shards")  # every rank's shards are on disk
    if writer.rows or not trainer.is_global_zero:
        log.info("soft labels: rank %d labelled %d rows", trainer.global_rank, writer.rows)
    if not bounds:  # no texts: an empty entry of the right widths
        merged, info = teacher.label([], "soft labels")
    else:
        done = []
        for i in range(len(bounds)):
            found = shards.read(i)
            if found is None:  # a rank died before writing it (Lightning stops the others then)
                raise RuntimeError(f"soft labels: shard {i} of {key} is missing after the prediction")
            done.append(found[0])
            info = found[1]
        merged = concatenate_datasets(done)
    reused = sum(hi - lo for i, (lo, hi) in enumerate(bounds) if i not in todo)
    group = Group(rank=trainer.global_rank, barrier=lambda: trainer.strategy.barrier("soft-label entry"))
    return merged, info, reused, group
