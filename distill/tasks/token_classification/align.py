"""Word alignment from contextual embeddings, and label projection through it.

SimAlign (Jalili Sabet et al. 2020, "SimAlign: High Quality Word Alignments without Parallel
Training Data using Static and Contextualized Embeddings") aligns the words of a sentence pair
with no training: the similarity of every source word's and target word's contextual vector
(``(cos + 1) / 2``, word vectors averaged over their sub-words, from a middle layer of a
multilingual encoder), then

* ``argmax``: a pair is aligned when each word is the other's most similar one (the intersection
  of the two directions' argmax);
* ``itermax``: argmax, then up to ``max_count - 1`` more rounds in which words that are still
  unaligned on at least one side may be aligned among themselves (their similarities kept, those of
  words aligned on both sides damped by ``alpha``): more recall for a little precision.

This module holds our implementation of both on numpy similarity matrices (no ``simalign``
dependency: the encoder is the student's, already loaded). :func:`project` carries the teacher's
word distributions from the source words to the target words: a target word gets the similarity-
weighted mean of the distributions of the source words it is aligned to, and a confidence (its best
aligned similarity); a target word aligned to none is masked.

Example::

    sim = similarity(src_vectors, tgt_vectors)                     # (Ws, Wt)
    links = itermax(sim)                                           # (Ws, Wt) bool
    probs, confidence, mask = project(teacher_src_probs, sim, links)
"""

from __future__ import annotations

import numpy as np

from distill.errors import DistillError

METHODS = ("argmax", "itermax")


def similarity(src: np.ndarray, tgt: np.ndarray) -> np.ndarray:
    """``(cos + 1) / 2`` of every source and target word vector: ``(Ws, H), (Wt, H) -> (Ws, Wt)``."""
    a = src / np.clip(np.linalg.norm(src, axis=1, keepdims=True), 1e-12, None)
    b = tgt / np.clip(np.linalg.norm(tgt, axis=1, keepdims=True), 1e-12, None)
    return np.asarray((a @ b.T + 1.0) / 2.0)


def _mutual_best(sim: np.ndarray) -> np.ndarray:
    m, n = sim.shape
    forward = np.zeros((m, n), dtype=bool)
    forward[np.arange(m), sim.argmax(axis=1)] = True
    backward = np.zeros((m, n), dtype=bool)
    backward[sim.argmax(axis=0), np.arange(n)] = True
    return forward & backward


def argmax(sim: np.ndarray) -> np.ndarray:
    """Pairs that are each other's most similar word, ``(Ws, Wt)`` bool."""
    return _mutual_best(sim) if sim.size else np.zeros(sim.shape, dtype=bool)


def itermax(sim: np.ndarray, max_count: int = 2, alpha: float = 0.9) -> np.ndarray:
    """SimAlign's itermax: argmax, then rounds among the words still unaligned on a side."""
    if not sim.size:
        return np.zeros(sim.shape, dtype=bool)
    links = _mutual_best(sim)
    if min(sim.shape) <= 2:
        return links
    for _ in range(max_count - 1):
        free_src = np.asarray(~links.any(axis=1))  # (Ws,)
        free_tgt = np.asarray(~links.any(axis=0))  # (Wt,)
        if not free_src.any() or not free_tgt.any():
            break
        # A pair may be added when at least one of its words is free; it keeps alpha (one free) or
        # all (both free, capped at 1) of its similarity.
        either = free_src[:, None] | free_tgt[None, :]
        weight = np.clip(alpha * free_src[:, None] + alpha * free_tgt[None, :], 0.0, 1.0)
        added = _mutual_best(sim * weight) & either
        if not (added & ~links).any():
            break
        links = links | added
    return links


def align(sim: np.ndarray, method: str = "itermax") -> np.ndarray:
    if method not in METHODS:
        raise DistillError(f"alignment must be one of {METHODS}, got {method!r}", fix="set align=itermax")
    return argmax(sim) if method == "argmax" else itermax(sim)


def project(
    src_probs: np.ndarray, sim: np.ndarray, links: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The source words' distributions ``(Ws, C)`` carried to the target words.

    Returns:
        ``(probs (Wt, C), confidence (Wt,), mask (Wt,))``: each aligned target word's similarity-
        weighted mean of its source words' distributions and its best aligned similarity; rows of
        unaligned words are uniform with confidence 0 and mask ``False``.
    """
    weights = np.where(links, sim, 0.0)  # (Ws, Wt)
    total = weights.sum(axis=0)  # (Wt,)
    mask = np.asarray(links.any(axis=0))
    n_classes = src_probs.shape[1]
    probs = np.full((sim.shape[1], n_classes), 1.0 / n_classes)
    probs[mask] = (weights[:, mask].T @ src_probs) / total[mask, None]
    confidence = np.where(mask, weights.max(axis=0, initial=0.0), 0.0)
    return probs, confidence, mask
