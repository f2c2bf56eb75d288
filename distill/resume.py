"""Resuming a killed fit: the same command picks up from ``<checkpoint dir>/last.ckpt``.

Lightning restores the weights, the optimizer, the loops and the callbacks' states from a
checkpoint (``trainer.fit(..., ckpt_path=...)``). Two things it does not keep are added here, so a
resumed run ends with the same numbers as one that was never stopped (on the same machine, CPU):

- the random generators (``torch``, ``numpy``, ``random``: dropout masks, sampling), saved and
  restored by the :class:`ResumeState` callback;
- the training data order, kept by :class:`~distill.data.datamodule.DistillDataModule`'s
  ``state_dict``.

A checkpoint written under another configuration is refused, rather than silently continued:
:func:`run_fingerprint` hashes what decides the training (not the run folder, the loggers, the
progress bar or the number of epochs, which may be raised to train on).

Checkpoints are written at the end of each epoch (``ModelCheckpoint(save_last=True)``): a kill
mid-epoch redoes that epoch from its start.
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf

from distill.errors import DistillError
from distill.utils.hashing import text_sha256

log = logging.getLogger(__name__)

LAST = "last.ckpt"
# Config keys that may change between a killed run and its rerun without changing what is trained.
VOLATILE = (
    "stage",
    "paths",
    "logger",
    "objective",
    "export_student",
    "variant",
    "eval",
    "baselines",
    "resume",
    "checkpoint",
    "experiment_name",
    # The task registry and the data source's class: the fingerprint keeps the task and data names.
    "tasks",
    "data.source",
    "trainer.max_epochs",
    "trainer.enable_progress_bar",
    "trainer.log_every_n_steps",
    "trainer.default_root_dir",
    # Where and how the teacher labels (the cache entry is the same), and so absent from older runs'
    # configs.
    "teacher.label_devices",
    "teacher.label_strategy",
    "teacher.label_batch_size",
    "teacher.label_shard_rows",
)


def run_fingerprint(cfg: DictConfig) -> str:
    """16 hex digits of the resolved config without the :data:`VOLATILE` keys."""
    data = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(data, dict)
    for dotted in VOLATILE:
        *parents, leaf = dotted.split(".")
        node: Any = data
        for p in parents:
            node = node.get(p) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(leaf, None)
    for callback in (data.get("callbacks") or {}).values():
        if isinstance(callback, dict):
            callback.pop("dirpath", None)
    return text_sha256(json.dumps(data, sort_keys=True, default=str))[:16]


def rng_states() -> dict[str, Any]:
    """The generators' states, as types ``torch.load(weights_only=True)`` reads back."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()  # type: ignore[misc]
    return {
        "torch": torch.get_rng_state(),
        "numpy": [
            kind,
            torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            int(pos),
            int(has_gauss),
            float(gauss),
        ],
        "python": random.getstate(),
    }


def set_rng_states(states: dict[str, Any]) -> None:
    """Restore what :func:`rng_states` returned."""
    torch.set_rng_state(states["torch"])
    kind, keys, pos, has_gauss, gauss = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = states["python"]
    random.setstate((version, tuple(internal), gauss_next))


class ResumeState(pl.Callback):
    """Saves the random generators and the run fingerprint in every checkpoint; restores them.

    Args:
        fingerprint: :func:`run_fingerprint` of the run's config.
    """

    def __init__(self, fingerprint: str) -> None:
        self.fingerprint = fingerprint
        self._restored: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "rng": rng_states()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._restored = state_dict["rng"]

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Set when the first resumed epoch starts, so that whatever Lightning runs while restoring
        # does not move the generators on.
        if self._restored is not None:
            set_rng_states(self._restored)
            self._restored = None
            log.info("resume: random generators restored from the checkpoint")


def resume_checkpoint(dirpath: str | Path | None, fingerprint: str) -> Path | None:
    """``<dirpath>/last.ckpt`` if a run with this fingerprint left one; None to start afresh.

    Raises:
        DistillError: The checkpoint is unreadable or was written under another configuration.
    """
    if not dirpath:
        return None
    last = Path(dirpath) / LAST
    if not last.is_file():
        return None
    try:
        ckpt = torch.load(last, map_location="cpu", weights_only=True, mmap=True)
    except Exception as e:  # torch raises RuntimeError/UnpicklingError/EOFError for damaged files
        raise DistillError(
            f"{last} cannot be read to resume from ({type(e).__name__}: {e})",
            fix=f"delete {last} to start this fit afresh, or set resume=false",
        ) from e
    states = ckpt.get("callbacks", {}) if isinstance(ckpt, dict) else {}
    saved = next((s.get("fingerprint") for k, s in states.items() if k.startswith("ResumeState")), None)
    if saved != fingerprint:
        raise DistillError(
            f"{last} was written by a run with another configuration (fingerprint {saved}, this run "
            f"{fingerprint}); resuming would mix the two",
            fix="rerun with the same overrides, pick a new hydra.run.dir, or set resume=false to start over",
        )
    log.info("resume: continuing from %s (epoch %s)", last, ckpt.get("epoch"))
    return last
