"""Loss terms of the distillation objective, one module per file, each taking tensors only.

Notation: the teacher reads the source sentence ``x_s`` and gives ``z_T`` (cached); the student
gives ``z_t = S(x_t)`` and ``z_s = S(x_s)``; ``p(z) = softmax(z / tau)``; ``sg`` = stop-gradient.

- :class:`KDLoss`: ``tau^2 KL(p(z_T) || p(z_t))``
- :class:`BackTransferLoss`: ``tau^2 KL(p(z_T) || p(z_s))``
- :class:`CycleConsistencyLoss`: ``tau^2 / 2 [KL(sg p(z_t) || p(z_s)) + KL(sg p(z_s) || p(z_t))]``
- :class:`RoundTripLoss`: ``tau^2 KL(p(T(MT(x_t))) || p(z_t))``
- :class:`CrossEntropyLoss`: gold-label cross-entropy, missing labels (-100) skipped
- :class:`EmbeddingDistillationLoss`: ``MSE(W h_S(x_t), h_T(x_s)) + MSE(W h_S(x_s), h_T(x_s))``
- :class:`WeightedDistillationLoss`: their weighted sum, returning every term for logging

The terms a run can weight are registered in config (``loss.terms``, by default
``conf/loss/terms/standard.yaml``): name -> ``{_target_: <class>, arguments}``.
"""

from __future__ import annotations

from distill.losses._kl import tempered_kl
from distill.losses.back import BackTransferLoss
from distill.losses.ce import CrossEntropyLoss
from distill.losses.cycle import CycleConsistencyLoss
from distill.losses.emb import EmbeddingDistillationLoss
from distill.losses.kd import KDLoss
from distill.losses.roundtrip import RoundTripLoss
from distill.losses.weighted import (
    STANDARD_TERMS_FILE,
    TERM_NAMES,
    LossOutput,
    WeightedDistillationLoss,
    standard_terms,
    term_names,
)

__all__ = [
    "STANDARD_TERMS_FILE",
    "TERM_NAMES",
    "BackTransferLoss",
    "CrossEntropyLoss",
    "CycleConsistencyLoss",
    "EmbeddingDistillationLoss",
    "KDLoss",
    "LossOutput",
    "RoundTripLoss",
    "WeightedDistillationLoss",
    "standard_terms",
    "tempered_kl",
    "term_names",
]
