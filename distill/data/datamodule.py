"""The distillation DataModule: target text, source text, cached teacher logits, gold label, language.

Rows come from the parallel pairs of every target language, joined column-wise with the teacher's
soft labels from the cache (both memory-mapped Arrow tables, so memory does not grow with the
corpus). Tokenisation happens in the collate function with dynamic padding.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import pyarrow.compute as pc
import pytorch_lightning as pl
import torch
from datasets import Dataset, Features, List, Value, concatenate_datasets
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, Sampler

from distill.data.batching import LanguageBatchSampler, RankBatches
from distill.data.collate import token_lengths, tokenize
from distill.errors import DistillError
from distill.utils.mapped_pages import HeldPages, releasing

IGNORE = -100


class TeacherInputs(Protocol):
    """What a batch needs of a live teacher (:class:`distill.live_teacher.LiveTeacher`): the column
    it reads and its own tokenisation of that text (``live_*`` keys)."""

    column: str

    def encode(self, texts: Sequence[str]) -> dict[str, torch.Tensor]: ...


def label_ids(labels: Sequence[str | None], label2id: Mapping[str, int], where: str) -> list[int]:
    """Map gold label names to ids (``-100`` where missing).

    Raises:
        DistillError: A label the teacher does not know, naming where it occurs.
    """
    unknown = sorted({x for x in labels if x is not None and x not in label2id})
    if unknown:
        raise DistillError(
            f"{where} has labels the teacher does not know: {unknown[:10]}",
            fix=f"use a teacher trained on these labels (it knows {sorted(label2id)[:10]}...) or drop them",
        )
    return [IGNORE if x is None else label2id[x] for x in labels]


def logit_array(logits: np.ndarray | Dataset) -> np.ndarray:
    """``(N, C)`` float32 logits in memory, from an array or a cache entry's ``logits`` column."""
    if isinstance(logits, Dataset):
        return _logit_rows(logits, slice(None))
    return np.asarray(logits, dtype=np.float32)


def _logit_rows(logits: Dataset, rows: slice | list[int]) -> np.ndarray:
    """``rows`` of a ``logits`` column as a ``(b, C)`` float32 array (only those rows read)."""
    width = logits.features["logits"].length
    read = logits.with_format("numpy", columns=["logits"])[rows]["logits"]
    return read.reshape(-1, width).astype(np.float32, copy=False)


def _width(logits: np.ndarray | Dataset) -> int:
    return int(logits.features["logits"].length) if isinstance(logits, Dataset) else int(logits.shape[1])


def _batch_of(logits: np.ndarray | Dataset, idx: list[int]) -> np.ndarray:
    """The rows ``idx`` of the targets: a slice of a memory-mapped entry where they are contiguous
    (every batch of the ``map`` below), so the corpus's targets are never all in memory."""
    if not isinstance(logits, Dataset):
        return logits[idx]
    contiguous = len(idx) > 0 and idx[-1] - idx[0] == len(idx) - 1
    return _logit_rows(logits, slice(idx[0], idx[-1] + 1) if contiguous else idx)


#: Rows per batch of the ``map`` that builds the distillation rows.
ROWS_BATCH = 10_000


def distill_rows(
    pairs: Dataset,
    teacher_logits: np.ndarray | Dataset | None = None,
    *,
    lang_id: int,
    label2id: Mapping[str, int],
    where: str,
    teacher_src_logits: np.ndarray | Dataset | None = None,
    teacher_roundtrip_logits: np.ndarray | Dataset | None = None,
) -> Dataset:
    """One language's pairs with ``teacher_logits``, ``label`` ids and ``lang`` id columns.

    ``teacher_logits`` are the targets on the target side (``kd``); ``teacher_src_logits``, when
    given, those on the source side (``back``), which differ from them after a cyclic round;
    ``teacher_roundtrip_logits`` the teacher on the back-translation of the target (``roundtrip``).
    ``teacher_logits=None`` (a live teacher, ``teacher.live``) leaves the target columns out: the
    training step computes them.

    Built with a batched ``map``: pairs read from files (memory-mapped) give rows written to an
    on-disk Arrow cache, never a Python list of the corpus. Targets given as cache entries
    (memory-mapped ``Dataset``s with a ``logits`` column) are read one batch of rows at a time;
    arrays are held as they are.
    """
    targets = {
        "teacher_logits": teacher_logits,
        "teacher_src_logits": teacher_src_logits,
        "teacher_roundtrip_logits": teacher_roundtrip_logits,
    }
    for name, rows in targets.items():
        if rows is not None and len(pairs) != len(rows):
            short = "teacher" if name == "teacher_logits" else name
            raise DistillError(f"{where}: {len(pairs)} pairs but {len(rows)} {short} rows")
    arrays = {
        name: rows if isinstance(rows, Dataset) else logit_array(rows)
        for name, rows in targets.items()
        if rows is not None
    }
    has_label = "label" in pairs.column_names
    features = Features(
        {
            "tgt": Value("string"),
            "src": Value("string"),
            "labels": Value("int64"),
            "lang": Value("int64"),
            **{name: List(Value("float32"), length=_width(a)) for name, a in arrays.items()},
        }
    )

    # Each batch hands the pages it read of the pairs and the cached targets back (memory stays flat).
    held = HeldPages(pairs, *(a for a in arrays.values() if isinstance(a, Dataset)))

    def add(batch: dict[str, list[Any]], idx: list[int]) -> dict[str, Any]:
        held.release()
        golds = batch["label"] if has_label else [None] * len(idx)
        out: dict[str, Any] = {"labels": label_ids(golds, label2id, where), "lang": [lang_id] * len(idx)}
        out.update({name: _batch_of(a, idx) for name, a in arrays.items()})  # (b, C)
        return out

    rows = pairs.select_columns([c for c in ("tgt", "src", "label") if c in pairs.column_names])
    rows = rows.map(
        add,
        with_indices=True,
        batched=True,
        batch_size=ROWS_BATCH,
        remove_columns=["label"] if has_label else [],
        features=features,
        desc=f"distillation rows {where}",
    )
    return rows.select_columns(list(features))


class DistillCollator:
    """Tokenise target and source text of a batch (dynamic padding) and stack the tensors.

    With ``live`` (a :class:`~distill.live_teacher.LiveTeacher`), the text the teacher reads is
    also tokenised for the teacher (``live_*`` keys), and rows need no cached ``teacher_logits``.
    """

    def __init__(
        self,
        tokenizer: Any,
        max_length: int,
        prefix: str = "",
        with_source: bool = True,
        live: TeacherInputs | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.prefix = prefix
        self.with_source = with_source
        self.live = live

    def _encode(self, texts: list[str], side: str) -> dict[str, torch.Tensor]:
        return tokenize(self.tokenizer, texts, self.max_length, prefix=self.prefix, keys=f"{side}_")

    def lengths(self, rows: Dataset) -> np.ndarray:
        """Student tokens per row (target side, plus source side when it is encoded): what
        length-bucketed batches sort by."""
        sides = ["tgt", "src"] if self.with_source else ["tgt"]
        return token_lengths(self.tokenizer, rows, sides, self.max_length, prefix=self.prefix)

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = self._encode([r["tgt"] for r in rows], "tgt")
        if self.with_source:
            batch.update(self._encode([r["src"] for r in rows], "src"))
        if self.live is not None:
            batch.update(self.live.encode([r[self.live.column] for r in rows]))
        if "teacher_logits" in rows[0]:
            batch["teacher_logits"] = torch.tensor(
                [r["teacher_logits"] for r in rows], dtype=torch.float32
            )  # (B, C)
            # Source-side targets of ``back``: the teacher's own logits unless a cyclic round mixed them.
            batch["teacher_src_logits"] = (
                torch.tensor([r["teacher_src_logits"] for r in rows], dtype=torch.float32)
                if "teacher_src_logits" in rows[0]
                else batch["teacher_logits"]
            )  # (B, C)
        if "teacher_roundtrip_logits" in rows[0]:
            batch["teacher_roundtrip_logits"] = torch.tensor(
                [r["teacher_roundtrip_logits"] for r in rows], dtype=torch.float32
            )  # (B, C)
        batch["labels"] = torch.tensor([r["labels"] for r in rows], dtype=torch.long)  # (B,)
        batch["lang"] = torch.tensor([r["lang"] for r in rows], dtype=torch.long)  # (B,)
        return batch


class DistillDataModule(pl.LightningDataModule):
    """Train/validation loaders over the distillation rows of all target languages.

    Args:
        train: Rows from :func:`distill_rows`, all languages concatenated.
        val: The same for validation.
        collator: Turns rows into tensors (:class:`DistillCollator`, or any callable such as the
            embedding task's collator).
        batch_size: Rows per batch.
        num_workers: DataLoader workers (0 keeps everything in the main process).
        seed: Seed of the shuffling generator.
        one_language_per_batch: Every batch holds rows of one language (students with
            per-language adapters route a batch by its language).
        bucket_by_length: Length-bucketed batches (:class:`LanguageBatchSampler`): far less
            padding, so faster steps, at the price of less random batches. Rows are sorted by the
            collator's ``lengths(rows)`` (tokens the student reads) where it has one, else by the
            characters of ``tgt`` plus ``src``. Validation batches are then sorted by length.
    """

    def __init__(
        self,
        train: Dataset,
        val: Dataset,
        collator: Callable[[list[dict[str, Any]]], dict[str, torch.Tensor]],
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
        one_language_per_batch: bool = False,
        bucket_by_length: bool = False,
    ) -> None:
        super().__init__()
        self.train_rows, self.val_rows = train, val
        self.one_language_per_batch = one_language_per_batch
        self.bucket_by_length = bucket_by_length
        self.collator = collator
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        # The shuffling generator lives as long as the module, so every epoch draws a new order; its
        # state travels in checkpoints (state_dict), so a resumed fit sees the same orders.
        self.generator = torch.Generator().manual_seed(seed)

    @classmethod
    def from_languages(
        cls, per_lang: Mapping[str, Mapping[str, Dataset]], **kwargs: Any
    ) -> DistillDataModule:
        """Concatenate ``{lang: {"train": rows, "validation": rows}}`` over languages."""
        train = concatenate_datasets([d["train"] for d in per_lang.values()])
        val = concatenate_datasets([d["validation"] for d in per_lang.values()])
        return cls(train, val, **kwargs)

    def state_dict(self) -> dict[str, Any]:
        """The shuffling generator's state (saved in Lightning checkpoints)."""
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the shuffling generator when a fit resumes from a checkpoint."""
        self.generator.set_state(state_dict["generator"])

    def _rank_and_world(self) -> tuple[int, int]:
        """``(global rank, processes)`` of the fit this module serves; ``(0, 1)`` outside one."""
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    @staticmethod
    def _characters(table: Any, columns: list[str]) -> np.ndarray:
        """Characters of ``tgt`` plus ``src`` per row (for collators that cannot count tokens)."""
        total = np.zeros(len(table), dtype=np.int64)
        for c in ("tgt", "src"):
            if c in columns:
                total += pc.utf8_length(table[c]).to_numpy(zero_copy_only=False)
        return total

    def _batches(self, rows: Dataset, batch_size: int, shuffle: bool) -> LanguageBatchSampler | None:
        """Our own batch sampler when batches are per language or length-bucketed; None: the
        DataLoader's plain shuffling (or order) does."""
        if not (self.one_language_per_batch or self.bucket_by_length):
            return None
        table = rows.with_format("arrow")
        langs = (
            table["lang"].to_numpy() if self.one_language_per_batch else np.zeros(len(rows), dtype=np.int64)
        )
        lengths = None
        if self.bucket_by_length:
            by_tokens = getattr(self.collator, "lengths", None)
            lengths = by_tokens(rows) if by_tokens is not None else self._characters(table, rows.column_names)
        return LanguageBatchSampler(
            langs, batch_size, shuffle=shuffle, generator=self.generator if shuffle else None, lengths=lengths
        )

    def _collate(self, rows: Dataset) -> Callable[[list[dict[str, Any]]], dict[str, torch.Tensor]]:
        """The collator, handing the pages of ``rows`` a batch mapped back to the kernel after each
        batch: random rows map about 100 KiB each (the kernel maps 64 KiB around a fault), so an
        epoch over a large corpus would otherwise leave the whole table resident."""
        return releasing(self.collator, rows)

    def train_dataloader(self) -> DataLoader:
        rank, world = self._rank_and_world()
        batches = self._batches(self.train_rows, self.batch_size, shuffle=True)
        if world > 1:
            return self._sharded_train_dataloader(rank, world, batches)
        if batches is not None:
            return DataLoader(
                self.train_rows,  # type: ignore[arg-type]
                batch_sampler=batches,
                collate_fn=self._collate(self.train_rows),
                num_workers=self.num_workers,
            )
        return DataLoader(
            self.train_rows,  # type: ignore[arg-type]
            batch_size=self.batch_size,
            shuffle=True,
            generator=self.generator,
            collate_fn=self._collate(self.train_rows),
            num_workers=self.num_workers,
        )

    def _sharded_train_dataloader(
        self, rank: int, world: int, batches: Sampler[list[int]] | None
    ) -> DataLoader:
        """Under data parallelism: this rank's share of the one-process batches (``batch_size`` is
        the global batch), in the order our generator draws. ``trainer=ddp`` sets
        ``use_distributed_sampler: false``, so Lightning keeps this sampler instead of putting in a
        ``DistributedSampler`` with its own order and no state in our checkpoints.
        """
        plain = batches is None
        if batches is None:  # what DataLoader(shuffle=True, generator=...) builds
            batches = BatchSampler(
                RandomSampler(self.train_rows, generator=self.generator),  # type: ignore[arg-type]
                self.batch_size,
                drop_last=False,
            )
        return DataLoader(
            self.train_rows,  # type: ignore[arg-type]
            batch_sampler=RankBatches(batches, rank, world),
            collate_fn=self._collate(self.train_rows),
            num_workers=self.num_workers,
            # As in one process: the loader draws its workers' base seed from the generator too.
            generator=self.generator if plain else None,
        )

    def val_dataloader(self) -> DataLoader:
        # Every rank validates every row (validation is small): the scores that select the
        # checkpoint are those of one process, on every rank alike.
        batches = self._batches(self.val_rows, self.batch_size * 2, shuffle=False)
        if batches is not None:
            return DataLoader(
                self.val_rows,  # type: ignore[arg-type]
                batch_sampler=batches,
                collate_fn=self._collate(self.val_rows),
                num_workers=self.num_workers,
            )
        return DataLoader(
            self.val_rows,  # type: ignore[arg-type]
            batch_size=self.batch_size * 2,
            shuffle=False,
            # Its own generator: validation leaves the global one (dropout) alone, as on resume.
            generator=torch.Generator().manual_seed(self.seed),
            collate_fn=self._collate(self.val_rows),
            num_workers=self.num_workers,
        )
