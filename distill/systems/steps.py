"""A system whose training and validation steps are one ``_step(batch, stage)``, with an injected
optimizer over its trainable parameters (the embedding and the token-level students)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor, nn

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]


class StepSystem(pl.LightningModule):
    """Subclasses set ``self.optimizer_factory`` and define ``_step(batch, stage) -> loss``."""

    optimizer_factory: OptimizerFactory
    #: ``(batch, "train" | "val") -> loss``: logs the stage's metrics, returns the loss.
    _step: Callable[[Mapping[str, Any], str], Tensor]

    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        self._step(batch, "val")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer_factory([p for p in self.parameters() if p.requires_grad])
