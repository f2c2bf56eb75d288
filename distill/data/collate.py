"""Batches of labelled text for classifier fine-tuning: tokenised per batch, padded per batch.

Used to fine-tune the teacher and, later, the ``direct_transfer`` and ``supervised`` baselines: any
``AutoModelForSequenceClassification`` fed with dicts of ``input_ids``, ``attention_mask``
(``token_type_ids`` where the tokenizer makes them) and ``labels``.

Tokenising inside the collate (rather than once up front) keeps padding to the longest text of
each batch, and length-bucketed batches keep the longest text of a batch close to the others: in
chit-chat most lines have a few words but a few (code snippets) have hundreds of tokens, and one
of those in a random batch pads all 32 rows to 128 tokens (a 4-8x slower step on CPU).
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Sampler

from distill.utils.mapped_pages import column_released

Example = tuple[str, int]


def tokenize(
    tokenizer: Any, texts: Sequence[str], max_length: int, *, prefix: str = "", keys: str = ""
) -> dict[str, Tensor]:
    """One batch of texts tokenised for a model: truncated to ``max_length`` tokens, padded to the
    batch's longest, as tensors; ``prefix`` is prepended to every text, ``keys`` to every name."""
    enc = tokenizer(
        [prefix + t for t in texts], truncation=True, max_length=max_length, padding=True, return_tensors="pt"
    )
    return {keys + k: v for k, v in enc.items()}


#: The tokenizer outputs :func:`pad_rows` pads (what a plain ``tokenizer(texts)`` call returns).
PADDED_INPUTS = ("input_ids", "token_type_ids", "attention_mask")


def pad_rows(
    enc: Mapping[str, Sequence[Sequence[int]]], rows: Sequence[int] | np.ndarray, tokenizer: Any
) -> dict[str, np.ndarray]:
    """Rows ``rows`` of a tokenizer's unpadded output (``input_ids``, ``token_type_ids``,
    ``attention_mask``), padded to their longest as the tokenizer pads (its pad id, its pad token type
    id, its padding side): ``(b, T)`` int64 arrays, as ``tokenizer(..., padding=True)`` gives them."""
    lengths = [len(enc["input_ids"][r]) for r in rows]
    width = max(lengths, default=0)
    fill = {
        "input_ids": tokenizer.pad_token_id or 0,
        "token_type_ids": getattr(tokenizer, "pad_token_type_id", 0) or 0,
        "attention_mask": 0,
    }
    left = getattr(tokenizer, "padding_side", "right") == "left"
    out = {}
    for name, values in enc.items():
        arr = np.full((len(rows), width), fill[name], dtype=np.int64)
        for i, (r, n) in enumerate(zip(rows, lengths, strict=True)):
            if not n:
                continue
            if left:
                arr[i, width - n :] = values[r]
            else:
                arr[i, :n] = values[r]
        out[name] = arr
    return out


def count_tokens(
    tokenizer: Any, texts: Iterable[str], max_length: int, *, prefix: str = "", chunk: int = 10_000
) -> np.ndarray:
    """Every text's token count after truncation to ``max_length``, tokenised ``chunk`` texts at a
    time so that only the counts are kept (not a token list per text of the whole corpus)."""
    counts: list[np.ndarray] = []
    it = iter(texts)
    while part := list(itertools.islice(it, chunk)):
        ids = tokenizer([prefix + t for t in part], truncation=True, max_length=max_length)["input_ids"]
        counts.append(np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids)))
    return np.concatenate(counts) if counts else np.zeros(0, dtype=np.int64)


def token_lengths(
    tokenizer: Any, rows: Any, columns: Sequence[str], max_length: int, *, prefix: str = ""
) -> np.ndarray:
    """Tokens a model reads per row of ``rows`` (a ``datasets.Dataset``): the truncated token counts of
    its ``columns``, summed (each column streamed from the Arrow table)."""
    out = np.zeros(len(rows), dtype=np.int64)
    for c in columns:
        out += count_tokens(tokenizer, column_released(rows, c), max_length, prefix=prefix)
    return out


class TextLabelCollate:
    """Turn a list of ``(text, label_id)`` into a padded, tokenised batch.

    Args:
        tokenizer: A Hugging Face tokenizer.
        max_length: Truncation length in tokens.
        prefix: Prepended to every text (e.g. ``"query: "`` for E5 models).

    Example:
        >>> collate = TextLabelCollate(tokenizer, max_length=32)  # doctest: +SKIP
        >>> batch = collate([("hello there", 3), ("tell me a joke", 7)])  # doctest: +SKIP
        >>> batch["input_ids"].shape, batch["labels"].tolist()  # doctest: +SKIP
        (torch.Size([2, 7]), [3, 7])
    """

    def __init__(self, tokenizer: Any, max_length: int, prefix: str = "") -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.prefix = prefix

    def __call__(self, examples: Sequence[Example]) -> dict[str, Tensor]:
        """Tokenise and pad one batch; ``labels`` is a ``(B,)`` long tensor."""
        out = tokenize(self.tokenizer, [text for text, _ in examples], self.max_length, prefix=self.prefix)
        out["labels"] = torch.tensor([label for _, label in examples], dtype=torch.long)
        return out


class LengthBucketBatchSampler(Sampler[list[int]]):
    """Batches of indices whose texts have similar lengths, in random order.

    Each epoch: shuffle all indices, cut them into pools of ``pool_batches`` batches, sort each
    pool by length, cut it into batches and shuffle the batches (the "megabatch" scheme of
    ``transformers``' ``group_by_length``). Without ``shuffle``, batches follow the global length
    order (for evaluation, where order does not matter). The order depends only on ``seed`` and the
    epoch (Lightning calls :meth:`set_epoch`), so runs are reproducible.

    Args:
        lengths: Length (e.g. in tokens) of every example.
        batch_size: Examples per batch (the last batch of a pool may be smaller).
        shuffle: Random batches (training) or length order (evaluation).
        seed: Seed of the shuffles.
        pool_batches: Batches per pool: larger pools pad less, smaller ones mix lengths more.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        pool_batches: int = 50,
    ) -> None:
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.pool = batch_size * pool_batches
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Use the order of ``epoch`` (called by Lightning before each training epoch)."""
        self.epoch = epoch

    def _batches(self, order: list[int]) -> list[list[int]]:
        return [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]

    def __iter__(self) -> Iterator[list[int]]:
        """Yield one list of indices per batch."""
        by_length = self.lengths.__getitem__
        if not self.shuffle:
            yield from self._batches(sorted(range(len(self.lengths)), key=by_length))
            return
        rng = random.Random(self.seed * 1_000_003 + self.epoch)
        order = list(range(len(self.lengths)))
        rng.shuffle(order)
        batches = []
        for lo in range(0, len(order), self.pool):
            batches += self._batches(sorted(order[lo : lo + self.pool], key=by_length))
        rng.shuffle(batches)
        yield from batches

    def __len__(self) -> int:
        """Number of batches per epoch."""
        n, pool = len(self.lengths), self.pool
        return (n // pool) * math.ceil(pool / self.batch_size) + math.ceil((n % pool) / self.batch_size)


class LabelledTextDataModule(pl.LightningDataModule):
    """Train and validation ``(text, label_id)`` lists served as tokenised, dynamically padded batches.

    Training batches are length-bucketed (:class:`LengthBucketBatchSampler`) or plainly shuffled,
    in an order fixed by ``seed``, not by the global RNG state; validation batches go in length
    order (they are only scored).

    Args:
        train: Training examples ``(text, label_id)``.
        val: Validation examples (may be empty: then no validation loader is offered).
        tokenizer: A Hugging Face tokenizer.
        max_length: Truncation length in tokens.
        batch_size: Examples per training batch (validation uses twice as many: no gradients).
        prefix: Prepended to every text (see :class:`TextLabelCollate`).
        seed: Seed of the training order.
        bucket: Group texts of similar length into batches (less padding, faster steps).
        num_workers: DataLoader worker processes (0: tokenise in the main process, fine for
            short texts).
    """

    def __init__(
        self,
        train: Sequence[Example],
        val: Sequence[Example],
        tokenizer: Any,
        *,
        max_length: int,
        batch_size: int,
        prefix: str = "",
        seed: int = 0,
        bucket: bool = True,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        self.train = list(train)
        self.val = list(val)
        self.tokenizer = tokenizer
        self.collate = TextLabelCollate(tokenizer, max_length, prefix)
        self.batch_size = batch_size
        self.seed = seed
        self.bucket = bucket
        self.num_workers = num_workers

    def _lengths(self, examples: Sequence[Example]) -> list[int]:
        texts = [self.collate.prefix + text for text, _ in examples]
        encoded = self.tokenizer(texts, truncation=True, max_length=self.collate.max_length)
        return [len(ids) for ids in encoded["input_ids"]]

    def _loader(self, examples: list[Example], batch_sampler: Sampler[list[int]]) -> DataLoader[Example]:
        return DataLoader(
            examples,  # type: ignore[arg-type]  # a list is a map-style dataset
            batch_sampler=batch_sampler,
            collate_fn=self.collate,
            num_workers=self.num_workers,
        )

    def train_dataloader(self) -> DataLoader[Example]:
        """Training batches in random order (length-bucketed unless ``bucket=False``)."""
        if self.bucket:
            sampler = LengthBucketBatchSampler(
                self._lengths(self.train), self.batch_size, shuffle=True, seed=self.seed
            )
            return self._loader(self.train, sampler)
        return DataLoader(
            self.train,  # type: ignore[arg-type]
            batch_size=self.batch_size,
            shuffle=True,
            generator=torch.Generator().manual_seed(self.seed),
            collate_fn=self.collate,
            num_workers=self.num_workers,
        )

    def val_dataloader(self) -> DataLoader[Example] | list[DataLoader[Example]]:
        """Validation batches in length order (an empty list when there is no validation data)."""
        if not self.val:
            return []
        sampler = LengthBucketBatchSampler(self._lengths(self.val), 2 * self.batch_size, shuffle=False)
        return self._loader(self.val, sampler)
