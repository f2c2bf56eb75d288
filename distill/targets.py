"""All soft-label arithmetic: tempered softmax, the cyclic-round mix and the multi-source combination.

The cache holds the teacher's *raw* logits; the temperature ``tau`` (``loss.temperature``) belongs to
the loss, so everything that combines distributions does it here, in probability space at ``tau``,
and hands the loss logits whose ``softmax(. / tau)`` is the combined distribution (``to_logits``).
Callers read ``tau`` once (``settings``) and pass it in.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from distill.errors import DistillError


def tempered(z: np.ndarray, tau: float) -> np.ndarray:
    """``softmax(z / tau)`` over the last axis."""
    z = z / tau - (z / tau).max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)  # type: ignore[no-any-return]


def to_logits(p: np.ndarray, tau: float) -> np.ndarray:
    """Logits whose ``softmax(. / tau)`` is ``p``."""
    return (tau * np.log(np.clip(p, 1e-12, None))).astype(np.float32)  # type: ignore[no-any-return]


def mix_soft_labels(teacher: np.ndarray, student: np.ndarray, mix: float, tau: float) -> np.ndarray:
    """Logits whose tempered softmax is ``mix * p_T + (1 - mix) * p_S`` (cyclic training rounds).

    Mixing in probability space, then mapping back with ``tau * log``, makes the loss see exactly the
    mixed distribution at temperature ``tau``.
    """
    p = mix * tempered(teacher, tau) + (1.0 - mix) * tempered(student, tau)  # (N, C)
    return to_logits(p, tau)


def confidence(z: np.ndarray) -> np.ndarray:
    """``1 - H(softmax(z)) / log C`` per row: 1 for a one-hot teacher, 0 for a uniform one."""
    p = tempered(z, 1.0)
    h = -(p * np.log(np.clip(p, 1e-12, None))).sum(axis=-1)  # (N,)
    return 1.0 - h / np.log(max(z.shape[-1], 2))  # type: ignore[no-any-return]


def aligned_probs(z: np.ndarray, own: Sequence[str], labels: Sequence[str], tau: float) -> np.ndarray:
    """A teacher's ``softmax(z / tau)`` over its own labels, moved to ``labels`` (missing: 0),
    renormalised; a row with no mass left is all zero (the teacher abstains there)."""
    p = tempered(z, tau)  # (N, C_own)
    index = {name: i for i, name in enumerate(own)}
    out = np.zeros((len(z), len(labels)), dtype=np.float64)
    for j, name in enumerate(labels):
        if name in index:
            out[:, j] = p[:, index[name]]
    total = out.sum(axis=1, keepdims=True)
    return np.divide(out, total, out=np.zeros_like(out), where=total > 0)


def combine_probs(probs: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``p_n = sum_k w_nk p_knc`` with each row's weights renormalised to sum 1.

    Args:
        probs: ``(K, N, C)`` per-teacher distributions; an all-zero row means "no label".
        weights: ``(N, K)`` non-negative weights (0 where the teacher does not read the row).

    Returns:
        ``(p (N, C), w (N, K))``, the weights as used.

    Raises:
        DistillError: A row that no teacher labels.
    """
    w = weights * (probs.sum(axis=2).T > 0)  # (N, K): abstaining teachers get no weight
    total = w.sum(axis=1, keepdims=True)
    if np.any(total <= 0):
        raise DistillError(f"{int(np.sum(total <= 0))} rows have no teacher label to combine")
    w = w / total
    return np.einsum("nk,knc->nc", w, probs), w
