"""Words and sub-words: one row of word-level outputs whatever the tokenizer.

A text is a list of words (from the language's pre-tokenizer). :func:`encode_words` runs a fast
tokenizer on the words (``is_split_into_words``) and records, for every sub-word position, the
number of the word it belongs to (``-1``: a special token, the prefix or padding). :func:`pool_words`
turns any per-sub-word tensor (logits, hidden states) into per-word rows: the word's first sub-word
(``"first"``, the usual choice for tagging) or the mean of its sub-words (``"mean"``). A word whose
sub-words were all cut off by ``max_length`` has no row: its mask is ``False``, and the loss and the
metrics leave it out. So a WordPiece teacher and a SentencePiece student give rows over the same
words, and soft labels can be cached per word.

Example::

    enc = encode_words(tokenizer, [["Maria", "vive", "a", "Roma"]], max_length=32)
    logits = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits
    per_word, mask = pool_words(logits, enc["word_index"], n_words=4)   # (1, 4, C), (1, 4)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from distill.errors import DistillError

POOLING = ("first", "mean")


def encode_words(
    tokenizer: Any, sentences: Sequence[Sequence[str]], max_length: int, prefix: str = ""
) -> dict[str, torch.Tensor]:
    """Tokenize word lists into a padded batch with ``word_index`` ``(B, T)``.

    ``prefix`` (``"query: "`` for E5) goes before the words as words of its own, indexed ``-1``.

    Raises:
        DistillError: The tokenizer is not a fast one (only those map sub-words to words).
    """
    if not getattr(tokenizer, "is_fast", False):
        raise DistillError(
            f"{type(tokenizer).__name__} is not a fast tokenizer; token tasks need word_ids()",
            fix="use a model with a tokenizer.json (AutoTokenizer(..., use_fast=True))",
        )
    head = prefix.split()
    enc = tokenizer(
        [[*head, *words] for words in sentences],
        is_split_into_words=True,
        truncation=True,
        max_length=max_length,
        padding=True,
        return_tensors="pt",
    )
    width = enc["input_ids"].shape[1]
    index = torch.full((len(sentences), width), -1, dtype=torch.long)
    for b in range(len(sentences)):
        for t, w in enumerate(enc.word_ids(b)):
            if w is not None and w >= len(head):
                index[b, t] = w - len(head)
    return {**dict(enc), "word_index": index}


def pool_words(
    x: torch.Tensor, word_index: torch.Tensor, n_words: int, mode: str = "first"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sub-word rows ``x`` ``(B, T, D)`` -> per-word rows ``(B, n_words, D)`` and their mask.

    Args:
        word_index: ``(B, T)`` word number of each sub-word, ``-1`` for none (:func:`encode_words`).
        n_words: Words per row of the output (the longest sentence of the batch).
        mode: ``"first"`` (each word's first sub-word) or ``"mean"`` (the mean of its sub-words).
    """
    if mode not in POOLING:
        raise DistillError(f"word pooling must be one of {POOLING}, got {mode!r}", fix="set pooling=first")
    valid = word_index >= 0
    if mode == "first":  # the sub-words of a word are contiguous: the first is where the index changes
        previous = torch.cat([torch.full_like(word_index[:, :1], -1), word_index[:, :-1]], dim=1)
        valid &= word_index != previous
    idx = torch.where(valid, word_index, 0).clamp(max=max(n_words - 1, 0))
    keep = valid & (word_index < n_words)
    weights = keep.to(x.dtype)
    out = torch.zeros(x.shape[0], n_words, x.shape[-1], dtype=x.dtype, device=x.device)
    out.scatter_add_(1, idx.unsqueeze(-1).expand(-1, -1, x.shape[-1]), x * weights.unsqueeze(-1))
    counts = torch.zeros(x.shape[0], n_words, dtype=x.dtype, device=x.device)
    counts.scatter_add_(1, idx, weights)
    return out / counts.clamp(min=1).unsqueeze(-1), counts > 0
