"""Length-sorted micro-batches: the rows of one served batch, tokenized once, run in groups of
similar length so that short texts are not padded to the longest one.

A dynamic batch of 32 chat utterances (12 tokens on average) padded to its longest row (often 40)
spends most of its forward on padding; sorted into groups of 8 the padding nearly vanishes, and
each row's output is the same as alone (padding is masked), so the answers do not change.

Example::

    enc = tokenize(tokenizer, texts, max_length=128)
    for rows, batch in micro_batches(enc, tokenizer, size=8):   # batch: name -> (b, T) int64
        out[rows] = forward(batch)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from distill.data.collate import PADDED_INPUTS, pad_rows


def tokenize(tokenizer: Any, texts: Sequence[str], max_length: int) -> dict[str, list[list[int]]]:
    """The tokenizer's ids (and masks) per text, truncated, unpadded."""
    enc = tokenizer(list(texts), truncation=True, max_length=max_length)
    return {name: list(enc[name]) for name in PADDED_INPUTS if name in enc}


def micro_batches(
    enc: dict[str, list[list[int]]], tokenizer: Any, size: int
) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
    """Groups of at most ``size`` rows in length order: ``(row indices, padded int64 arrays)``.

    Padding follows the tokenizer (:func:`~distill.data.collate.pad_rows`: its pad id and padding
    side); ``size <= 0`` is one group.
    """
    ids = enc["input_ids"]
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
    order = np.argsort(lengths, kind="stable")
    size = len(order) if size <= 0 else size
    for start in range(0, len(order), size):
        rows = order[start : start + size]
        batch = pad_rows(enc, rows, tokenizer)
        yield rows, batch
