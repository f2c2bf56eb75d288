"""A LightningModule that fine-tunes an injected sequence classifier with cross-entropy.

Used for the teacher (an English encoder + new head, fine-tuned on English labels) and for the
``direct_transfer`` and ``supervised`` baselines (a multilingual encoder fine-tuned on labels). The
network, the optimizer and the schedule are injected: this module never calls ``from_pretrained``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

import pytorch_lightning as pl
import torch.nn.functional as F
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler
from torchmetrics.classification import MulticlassAccuracy

# The optimizer partial receives parameter groups (a list of dicts), which torch optimizers accept
# wherever they accept parameters.
OptimizerFactory = Callable[[Iterable[Any]], Optimizer]
# Called with the optimizer and the total number of optimizer steps of the fit.
SchedulerFactory = Callable[[Optimizer, int], LRScheduler]

# No weight decay on biases and normalisation weights (the BERT recipe): decaying them towards
# zero only hurts.
_NO_DECAY = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")


def _linear_factor(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / (warmup + 1)
    return max(0.0, (total - step) / max(1, total - warmup))


def linear_warmup_decay(optimizer: Optimizer, total_steps: int, warmup_ratio: float = 0.1) -> LambdaLR:
    """Linear warmup over ``warmup_ratio`` of the steps, then linear decay to zero.

    Meant as a partial: ``functools.partial(linear_warmup_decay, warmup_ratio=0.1)`` (or
    ``_partial_: true`` in a config) is a :data:`SchedulerFactory`.

    Args:
        optimizer: The optimizer whose learning rate is scheduled.
        total_steps: Optimizer steps of the whole fit.
        warmup_ratio: Fraction of the steps spent warming up.
    """
    warmup = round(total_steps * warmup_ratio)
    return LambdaLR(optimizer, functools.partial(_linear_factor, warmup=warmup, total=total_steps))


def parameter_groups(model: nn.Module) -> list[dict[str, Any]]:
    """Two groups: weights that take the optimizer's weight decay, and biases/norms that take none."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if name.endswith(_NO_DECAY) else decay).append(param)
    return [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}]


class ClassifierSystem(pl.LightningModule):
    """Fine-tune a sequence classifier on gold labels with cross-entropy.

    Batches are dicts with ``input_ids``, ``attention_mask``, optionally ``token_type_ids``, and
    ``labels`` ``(B,)`` (see :class:`distill.data.collate.LabelledTextDataModule`). Logged:
    ``train/loss``, ``train/acc``, ``val/loss``, ``val/acc`` (and ``test/*`` when tested).

    Args:
        model: An ``AutoModelForSequenceClassification`` (or any module that takes the batch's
            inputs as keywords and returns an object with ``logits`` ``(B, C)``).
        optimizer: A partial optimizer, e.g. ``functools.partial(torch.optim.AdamW, lr=5e-5)``;
            called with parameter groups (biases and norms without weight decay).
        scheduler: Optional partial called as ``scheduler(optimizer, total_steps)``, stepped every
            optimizer step (e.g. :func:`linear_warmup_decay`).
        num_labels: Number of classes; default ``model.config.num_labels``.
        label_smoothing: Cross-entropy label smoothing.

    Example:
        >>> system = ClassifierSystem(model, functools.partial(torch.optim.AdamW, lr=5e-5))  # doctest: +SKIP
        >>> pl.Trainer(max_epochs=3).fit(system, datamodule=data)  # doctest: +SKIP
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        *,
        num_labels: int | None = None,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["model", "optimizer", "scheduler"])
        self.model = model
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        config: Any = getattr(model, "config", None)
        classes = num_labels if num_labels is not None else int(config.num_labels)
        self.label_smoothing = label_smoothing
        # One metric object per stage: torchmetrics keeps state, so sharing one would mix stages.
        self.train_acc = MulticlassAccuracy(num_classes=classes, average="micro")
        self.val_acc = MulticlassAccuracy(num_classes=classes, average="micro")
        self.test_acc = MulticlassAccuracy(num_classes=classes, average="micro")

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        """Return the logits ``(B, C)`` for a batch (``labels`` is ignored if present)."""
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        return self.model(**inputs).logits

    def _step(self, batch: dict[str, Tensor], stage: str, metric: MulticlassAccuracy) -> Tensor:
        logits = self(batch)  # (B, C)
        labels = batch["labels"]  # (B,)
        loss = F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing)
        metric.update(logits.detach(), labels)
        on_step = stage == "train"
        size = labels.shape[0]
        self.log(f"{stage}/loss", loss, on_step=on_step, on_epoch=True, prog_bar=True, batch_size=size)
        self.log(f"{stage}/acc", metric, on_step=False, on_epoch=True, prog_bar=True, batch_size=size)
        return loss

    def on_fit_start(self) -> None:
        """Put the network in training mode (dropout on) before Lightning's fit loop starts.

        ``from_pretrained`` returns models in eval mode, and Lightning keeps each submodule's mode
        as it finds it, so without this the whole fine-tuning would run with dropout off.
        """
        self.model.train()

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        """Cross-entropy on one batch."""
        return self._step(batch, "train", self.train_acc)

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        """Validation loss and accuracy (dropout off: Lightning puts the model in eval mode)."""
        return self._step(batch, "val", self.val_acc)

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        """Test loss and accuracy."""
        return self._step(batch, "test", self.test_acc)

    def predict_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        """Logits ``(B, C)``."""
        return self(batch)

    def configure_optimizers(self) -> Any:
        """The injected optimizer over decay / no-decay groups, and the schedule stepped per step."""
        optimizer = self.optimizer_factory(parameter_groups(self.model))
        if self.scheduler_factory is None:
            return optimizer
        total = int(self.trainer.estimated_stepping_batches)
        scheduler = self.scheduler_factory(optimizer, total)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


__all__ = [
    "ClassifierSystem",
    "OptimizerFactory",
    "SchedulerFactory",
    "linear_warmup_decay",
    "parameter_groups",
]
