"""The live teacher (``teacher.live=true``): the teacher runs inside every training step.

The default pays for the teacher once: the label stage writes its soft labels to the on-disk cache
and every step, epoch and sweep job reads them. The live teacher is the fallback for what a cache
cannot hold (inputs that change from step to step) and the baseline that shows what the cache
saves (``experiments/bench/sweep_amortisation.py``). It is frozen, in ``eval()`` mode, under
``torch.no_grad()``, and it is never a submodule of the student system: checkpoints and exports
hold the student alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from distill.data.collate import tokenize
from distill.models.classifier import freeze

#: Batch keys of the teacher's own tokenisation of the text it reads.
PREFIX = "live_"


class LiveTeacher:
    """A frozen teacher classifier that labels each batch as it arrives.

    Args:
        model: The teacher, an ``AutoModelForSequenceClassification`` (frozen here).
        tokenizer: Its tokenizer.
        max_length: Truncation length of the teacher's inputs (``teacher.max_length``).
        column: The row column the teacher reads (``src``; ``tgt`` in ``direct`` mode).

    Example:
        >>> live = LiveTeacher(model, tokenizer, max_length=128)  # doctest: +SKIP
        >>> batch.update(live.encode(["How are you?"]))  # in the collate function  # doctest: +SKIP
        >>> live(batch).shape  # in the training step: (B, C)  # doctest: +SKIP
    """

    def __init__(self, model: Any, tokenizer: Any, max_length: int, column: str = "src") -> None:
        self.model = freeze(model)
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.column = column
        #: Forward passes and rows the teacher has run (what the soft-label cache saves).
        self.calls = 0
        self.rows = 0

    def encode(self, texts: Sequence[str]) -> dict[str, Tensor]:
        """The teacher's tokenisation of a batch's texts, keys prefixed ``live_``."""
        return tokenize(self.tokenizer, texts, self.max_length, keys=PREFIX)

    def __call__(self, batch: Mapping[str, Tensor]) -> Tensor:
        """Teacher logits ``(B, C)`` for the ``live_*`` inputs of ``batch``, without gradients.

        ``no_grad`` rather than ``inference_mode``: the logits become loss targets, and tensors
        made in inference mode cannot be saved for the student's backward pass.
        """
        inputs = {k.removeprefix(PREFIX): v for k, v in batch.items() if k.startswith(PREFIX)}
        device = next(iter(inputs.values())).device
        if next(self.model.parameters()).device != device:
            self.model.to(device)
        with torch.no_grad():
            logits = self.model(**inputs).logits.float()  # (B, C)
        self.calls += 1
        self.rows += int(logits.shape[0])
        return logits
