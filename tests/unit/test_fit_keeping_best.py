"""distill/systems/fit.py: the epoch kept is the one with the best score the caller names."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from distill.systems.fit import fit_keeping_best

ACC = (0.9, 0.5, 0.1)  # best at epoch 0
F1 = (0.1, 0.2, 0.9)  # best at epoch 2


class EpochStamp(pl.LightningModule):
    """Its one weight holds the epoch it was trained in; validation logs made-up scores."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        with torch.no_grad():
            self.w.fill_(float(self.current_epoch))
        return (self.w * 0).sum() + batch.sum() * 0

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        self.log("val/acc", ACC[self.current_epoch])
        self.log("val/f1", F1[self.current_epoch])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.0)


@pytest.mark.parametrize(("monitor", "epoch"), [("val/acc", 0), ("val/f1", 2)])
def test_the_kept_epoch_is_the_best_of_the_monitored_score(monitor: str, epoch: int) -> None:
    system = EpochStamp()
    data = DataLoader(torch.zeros(4, 1), batch_size=2)
    metrics = fit_keeping_best(
        system, epochs=3, select=True, accelerator="cpu", monitor=monitor,
        train_dataloaders=data, val_dataloaders=data,
    )  # fmt: skip
    assert float(system.w) == epoch and metrics["epoch"] == epoch
    assert metrics[monitor] == pytest.approx(max(ACC if monitor == "val/acc" else F1))
