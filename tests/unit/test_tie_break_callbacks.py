"""The best checkpoint and early stopping break ties in ``val/agreement`` with ``val/loss``.

A scripted LightningModule logs given validation values per epoch, so each test states a history
(the agreement level for some epochs, the loss falling or rising) and checks which epoch Lightning's
own callbacks and ours keep, and when they stop.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint
from torch.utils.data import DataLoader, TensorDataset

from distill.callbacks import TieBreak, TieBreakEarlyStopping, TieBreakModelCheckpoint
from distill.errors import DistillError


class Scripted(pl.LightningModule):
    """Logs ``val/agreement`` and ``val/loss`` from the given lists, one value per epoch."""

    def __init__(self, agreement: list[float], loss: list[float]) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(1, 1)
        self.agreement, self.loss = agreement, loss

    def training_step(self, batch, batch_idx):
        return self.layer(batch[0]).sum()

    def validation_step(self, batch, batch_idx):
        epoch = self.current_epoch
        self.log("val/agreement", self.agreement[epoch])
        self.log("val/loss", self.loss[epoch])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)

    def train_dataloader(self):
        return DataLoader(TensorDataset(torch.ones(2, 1)), batch_size=2)

    def val_dataloader(self):
        return DataLoader(TensorDataset(torch.ones(2, 1)), batch_size=2)


def _fit(tmp_path: Path, agreement, loss, *, tie: bool = True, patience: int = 3, top_k: int = 1):
    """Fit the scripted history; return (epochs run, epochs of the kept checkpoints, best, callbacks)."""
    common = {"monitor": "val/agreement", "mode": "max"}
    if tie:
        ckpt = TieBreakModelCheckpoint(dirpath=tmp_path, filename="e{epoch}", save_top_k=top_k, **common)
        stop = TieBreakEarlyStopping(patience=patience, **common)
    else:  # Lightning's own rule, for comparison
        ckpt = ModelCheckpoint(dirpath=tmp_path, filename="e{epoch}", save_top_k=top_k, **common)
        stop = EarlyStopping(patience=patience, **common)
    trainer = pl.Trainer(
        max_epochs=len(agreement),
        callbacks=[ckpt, stop],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(Scripted(agreement, loss))
    kept = sorted(int(Path(p).stem.split("=")[-1]) for p in ckpt.best_k_models)
    best = int(Path(ckpt.best_model_path).stem.split("=")[-1])
    return trainer.current_epoch, kept, best, (ckpt, stop)


FLAT_THEN_UP = [0.5, 0.5, 0.5, 0.5, 0.6, 0.6]
FALLING = [2.0, 1.9, 1.8, 1.7, 1.6, 1.5]


def test_lightning_alone_stops_on_a_level_agreement_and_keeps_its_first_epoch(tmp_path: Path) -> None:
    epochs, _, best, _ = _fit(tmp_path, FLAT_THEN_UP, FALLING, tie=False)
    assert epochs == 4 and best == 0  # stopped after 3 level epochs: the rise at epoch 4 never seen


def test_a_level_agreement_with_a_falling_loss_keeps_training(tmp_path: Path) -> None:
    epochs, kept, best, (ckpt, stop) = _fit(tmp_path, FLAT_THEN_UP, FALLING)
    assert epochs == 6  # the cap: each level epoch had a lower loss, then the agreement rose
    assert best == kept[0] == 5  # 0.6 twice: the lower loss wins
    assert float(ckpt.best_model_score) == pytest.approx(0.6)
    assert ckpt.tie_scores[ckpt.best_model_path] == pytest.approx(1.5)
    assert stop.best_tie == pytest.approx(1.5) and stop.wait_count == 0


def test_a_level_agreement_with_a_rising_loss_stops_as_before(tmp_path: Path) -> None:
    rising = [1.0, 1.1, 1.2, 1.3, 1.4, 1.5]
    assert _fit(tmp_path / "ours", FLAT_THEN_UP, rising)[:3] == (4, [0], 0)
    assert _fit(tmp_path / "lightning", FLAT_THEN_UP, rising, tie=False)[:3] == (4, [0], 0)


def test_a_lower_agreement_never_wins_on_its_loss(tmp_path: Path) -> None:
    epochs, _, best, _ = _fit(tmp_path, [0.6, 0.5, 0.5, 0.5, 0.9], [2.0, 0.1, 0.05, 0.01, 3.0])
    assert epochs == 4 and best == 0  # the loss fell, but the agreement stayed under the best


def test_only_a_strictly_lower_loss_breaks_a_tie(tmp_path: Path) -> None:
    epochs, _, best, _ = _fit(tmp_path, [0.5, 0.5, 0.5], [1.0, 1.0, 0.9], patience=1)
    assert epochs == 2 and best == 0  # epoch 1 tied on both: no reset, patience 1 ends the fit


def test_ties_among_the_top_k_keep_the_lower_losses(tmp_path: Path) -> None:
    _, kept, best, (ckpt, _) = _fit(tmp_path, [0.5, 0.5, 0.5, 0.5], [2.0, 1.0, 3.0, 0.5], top_k=2)
    assert kept == [1, 3] and best == 3
    assert ckpt.kth_best_model_path.endswith("=1.ckpt")


def test_tie_breaker_null_is_lightnings_rule(tmp_path: Path) -> None:
    ckpt = TieBreakModelCheckpoint(dirpath=tmp_path, monitor="val/agreement", mode="max", tie_breaker=None)
    stop = TieBreakEarlyStopping(monitor="val/agreement", mode="max", patience=3, tie_breaker=None)
    trainer = pl.Trainer(max_epochs=6, callbacks=[ckpt, stop], logger=False, enable_progress_bar=False)
    trainer.fit(Scripted(FLAT_THEN_UP, FALLING))
    assert trainer.current_epoch == 4 and float(ckpt.best_model_score) == pytest.approx(0.5)


def test_the_tie_state_survives_a_resume(tmp_path: Path) -> None:
    _, _, _, (ckpt, stop) = _fit(tmp_path, FLAT_THEN_UP[:3], FALLING[:3])
    again = TieBreakModelCheckpoint(dirpath=tmp_path, monitor="val/agreement", mode="max")
    again.load_state_dict(ckpt.state_dict())
    assert again.tie_scores == ckpt.tie_scores and again.best_model_path == ckpt.best_model_path
    stopped = TieBreakEarlyStopping(monitor="val/agreement", mode="max")
    stopped.load_state_dict(stop.state_dict())
    assert stopped.best_tie == pytest.approx(1.8)


def test_the_rule() -> None:
    tie = TieBreak("val/loss", "min")
    assert tie.ties(0.5, 0.5) and not tie.ties(0.5, 0.5 + 1e-3) and not tie.ties(float("nan"), 0.5)
    assert tie.better(1.0, 2.0) and not tie.better(2.0, 2.0) and not tie.better(None, 2.0)
    assert tie.better(1.0, None)
    assert tie.value({"val/loss": torch.tensor(0.25)}) == 0.25 and tie.value({}) is None
    assert tie.value({"val/loss": torch.tensor(float("nan"))}) is None
    assert not tie.active("val/loss") and tie.active("val/agreement") and not TieBreak(None).active("x")
    assert tie.rank(0.5, 1.0, "max") > tie.rank(0.5, 2.0, "max") > tie.rank(0.4, 0.0, "max")
    assert TieBreak("val/acc", "max").better(0.9, 0.8)


@pytest.mark.parametrize(
    ("mode", "atol", "message"), [("lower", 1e-6, "tie_breaker_mode"), ("min", -1, "tie_atol")]
)
def test_a_bad_setting_is_refused(mode: str, atol: float, message: str) -> None:
    with pytest.raises(DistillError, match=message):
        TieBreakEarlyStopping(monitor="val/agreement", tie_breaker_mode=mode, tie_atol=atol)
