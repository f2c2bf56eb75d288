"""One short fit that keeps its best epoch: the fine-tunes whose only artefact is a cached folder.

The teacher of the classification task and the taggers of the token task (teacher,
``direct_transfer``, ``supervised``) are fine-tuned the same way: no logger, one device (a small job
whose single process writes the cache folder), and with ``select`` the epoch of the best validation
score (``val/acc``; the taggers: ``val/f1``), kept through weights-only checkpoints in a temporary
folder that is gone afterwards.

Example::

    metrics = fit_keeping_best(system, epochs=3, select=True, train_dataloaders=train, val_dataloaders=val)
"""

from __future__ import annotations

import tempfile
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint


def fit_keeping_best(
    system: pl.LightningModule,
    *,
    epochs: int,
    select: bool,
    accelerator: str = "auto",
    progress_bar: bool = False,
    monitor: str = "val/acc",
    **fit_kwargs: Any,
) -> dict[str, float]:
    """Fit ``system`` for ``epochs`` (``fit_kwargs`` go to ``Trainer.fit``); with ``select``, load the
    weights of the epoch with the best ``monitor`` (a validation score, higher is better) back into it.

    Returns:
        The trainer's last callback metrics; with ``select``, ``monitor`` and ``epoch`` of the kept one.
    """
    with tempfile.TemporaryDirectory(prefix="fit-") as root:
        best = ModelCheckpoint(
            dirpath=root, monitor=monitor, mode="max", save_top_k=1, save_weights_only=True
        )
        trainer = pl.Trainer(
            max_epochs=epochs,
            accelerator=accelerator,
            devices=1,
            logger=False,
            callbacks=[best] if select else [],
            enable_checkpointing=select,
            enable_progress_bar=progress_bar,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            default_root_dir=root,
        )
        trainer.fit(system, **fit_kwargs)
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        if select and best.best_model_path:
            state = torch.load(best.best_model_path, map_location="cpu", weights_only=True)
            system.load_state_dict(state["state_dict"])
            metrics[monitor] = float(best.best_model_score)  # type: ignore[arg-type]
            metrics["epoch"] = float(state["epoch"])
    return metrics
