"""Word-level soft labels: the teacher's logits per word, cached; projected through alignments.

* :func:`word_logits`: a token-classification model's logits pooled to the words of each sentence
  (``(W_i, C)`` per sentence; a word cut off by ``max_length`` gets a row of zeros: uniform after
  the softmax, and :func:`word_masks` marks it).
* :func:`cached_word_logits`: the same through the shared cache (``word_logits`` tables): the key
  is the teacher's spec and the sentences *with their word boundaries*, so every sweep job that
  labels the same words with the same teacher reuses one entry, and a different pre-tokenizer
  makes a different one. Rows are ragged (a list of ``W_i`` rows of ``C`` floats per sentence).
* :func:`word_vectors`: an encoder's hidden states of one layer, averaged over each word's
  sub-words (what :mod:`.align` compares).
* :func:`project_labels`: the teacher's word distributions on the source sentences carried to the
  target sentences of the pairs (:func:`.align.project`).

Example::

    logits, hit = cached_word_logits(spec, sentences, lambda: word_logits(model, tok, sentences, 128))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from distill.cache import cached_table, table_key
from distill.tasks.token_classification.align import align, project, similarity
from distill.tasks.token_classification.words import encode_words, pool_words

# Between the words of a sentence in the cache key: no pre-tokenizer puts it inside a word.
WORD_SEPARATOR = "\x1f"


def _batches(sentences: Sequence[Sequence[str]], size: int) -> list[tuple[int, list[list[str]]]]:
    return [(s, [list(x) for x in sentences[s : s + size]]) for s in range(0, len(sentences), size)]


@torch.inference_mode()
def word_logits(
    model: Any,
    tokenizer: Any,
    sentences: Sequence[Sequence[str]],
    max_length: int,
    *,
    pooling: str = "first",
    batch_size: int = 32,
    prefix: str = "",
) -> list[np.ndarray]:
    """``(W_i, C)`` float32 logits per sentence from a ``...ForTokenClassification`` model."""
    model.eval()
    out: list[np.ndarray] = []
    for _, batch in _batches(sentences, batch_size):
        enc = encode_words(tokenizer, batch, max_length, prefix)
        index = enc.pop("word_index")
        n_words = max(len(s) for s in batch)
        logits = model(**{k: v for k, v in enc.items() if k != "offset_mapping"}).logits.float()
        rows, mask = pool_words(logits, index, n_words, pooling)
        rows = rows * mask.unsqueeze(-1)  # cut-off words: zeros
        out += [rows[b, : len(s)].numpy().astype(np.float32) for b, s in enumerate(batch)]
    return out


def word_masks(logits: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Per sentence, whether each word has a row (``False``: cut off by ``max_length``)."""
    return [np.any(x != 0, axis=1) for x in logits]


def cached_word_logits(
    spec: Mapping[str, Any],
    sentences: Sequence[Sequence[str]],
    compute: Callable[[], list[np.ndarray]],
    *,
    what: str = "",
) -> tuple[list[np.ndarray], bool]:
    """The teacher's word logits of ``sentences`` from the shared cache (``compute()`` on a miss).

    Args:
        spec: What makes the logits (teacher weights, max length, pooling, prefix, ...); part of
            the key, with the sentences' words.

    Returns:
        ``(logits per sentence, hit)``.
    """
    key = table_key({"v": 1, **spec}, *(WORD_SEPARATOR.join(words) for words in sentences))

    def columns() -> dict[str, Any]:
        return {"logits": [x.tolist() for x in compute()]}

    entry = cached_table("word_logits", key, len(sentences), columns, what=what, **dict(spec))
    rows = entry.dataset["logits"]
    return [
        np.asarray(r, dtype=np.float32).reshape(len(s), -1) for r, s in zip(rows, sentences, strict=True)
    ], entry.hit


@torch.inference_mode()
def word_vectors(
    encoder: Any,
    tokenizer: Any,
    sentences: Sequence[Sequence[str]],
    max_length: int,
    *,
    layer: int = 8,
    batch_size: int = 32,
    prefix: str = "",
) -> list[np.ndarray]:
    """``(W_i, H)`` mean sub-word vectors of hidden layer ``layer`` per sentence (SimAlign uses a
    middle layer: 8 of 12)."""
    encoder.eval()
    out: list[np.ndarray] = []
    for _, batch in _batches(sentences, batch_size):
        enc = encode_words(tokenizer, batch, max_length, prefix)
        index = enc.pop("word_index")
        hidden = encoder(**enc, output_hidden_states=True).hidden_states[layer].float()
        rows, _ = pool_words(hidden, index, max(len(s) for s in batch), "mean")
        out += [rows[b, : len(s)].numpy() for b, s in enumerate(batch)]
    return out


def project_labels(
    src_probs: Sequence[np.ndarray],
    src_vectors: Sequence[np.ndarray],
    tgt_vectors: Sequence[np.ndarray],
    method: str = "itermax",
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per pair: the target words' ``(probs, confidence, mask)`` (:func:`.align.project`)."""
    out = []
    for probs, src, tgt in zip(src_probs, src_vectors, tgt_vectors, strict=True):
        sim = similarity(src, tgt)
        out.append(project(probs, sim, align(sim, method)))
    return out
