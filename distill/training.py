"""One Lightning fit with the configured loggers and callbacks, and the checkpoint policy.

Shared by the student, the cyclic rounds and the supervised baseline: ``fit_and_load_best`` fits,
resumes a killed fit from ``last.ckpt`` and loads the checkpoint selected on validation.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig

from distill.resume import ResumeState, resume_checkpoint, run_fingerprint
from distill.utils.config import build
from distill.utils.paths import portable_paths
from distill.utils.redact import redacted_container

log = logging.getLogger(__name__)
#: What ``conf/callbacks`` selects and stops on: agreement with the teacher (no target labels).
SELECTION_METRIC = "val/agreement"


@dataclass(frozen=True)
class BestCheckpoint:
    """The checkpoint a fit selected on validation (``path`` is "" when no checkpoint was kept).

    Attributes:
        path: The best checkpoint file.
        metric: The validation metric it was selected on (``val/acc``, ``val/loss``, ...).
        mode: ``max`` or ``min``.
        score: Its value of ``metric`` (None when nothing was monitored).
    """

    path: str = ""
    metric: str | None = None
    mode: str | None = None
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``best_val`` entry of ``metrics.json`` (what ``objective=val`` returns)."""
        return {"metric": self.metric, "mode": self.mode, "score": self.score}


def fit_and_load_best(
    cfg: DictConfig,
    system: pl.LightningModule,
    dm: pl.LightningDataModule,
    *,
    monitor: tuple[str, str] | None = None,
    log_config: bool = True,
    checkpoint_subdir: str | None = None,
) -> BestCheckpoint:
    """``trainer.fit`` with the configured loggers and callbacks; load and return the best checkpoint.

    A fit killed before it ended is resumed from ``<checkpoint dir>/last.ckpt`` when the same
    command runs again (``resume=true``, the default; see :mod:`distill.resume`).

    Args:
        monitor: ``(metric, mode)`` replacing :data:`SELECTION_METRIC` in every callback that
            monitors it (the best checkpoint, early stopping), e.g.
            ``("val/acc", "max")``, ``("val/loss", "min")``.
        log_config: Log the resolved config to the loggers (once per run).
        checkpoint_subdir: Keep this fit's checkpoints in a sub-folder of the configured one (each
            cyclic round has its own, so that each resumes from its own ``last.ckpt``).
    """
    fingerprint = run_fingerprint(cfg)
    loggers = [build(c, f"logger.{k}") for k, c in (cfg.get("logger") or {}).items()]
    callbacks: list[Any] = [ResumeState(fingerprint)]
    checkpoint_dir = None
    for k, c in (cfg.get("callbacks") or {}).items():
        if c is None:  # switched off: callbacks.<name>=null
            continue
        override: dict[str, Any] = {}
        is_checkpoint = str(c.get("_target_", "")).endswith("ModelCheckpoint")
        if monitor and c.get("monitor") == SELECTION_METRIC:  # the best checkpoint, early stopping
            override = {"monitor": monitor[0], "mode": monitor[1]}
            if is_checkpoint:
                log.info("distill: checkpoints selected on %s (%s)", *monitor)
        if is_checkpoint and c.get("dirpath"):
            checkpoint_dir = Path(str(c.dirpath)) / (checkpoint_subdir or "")
            override["dirpath"] = str(checkpoint_dir)
        callbacks.append(build(c, f"callbacks.{k}", **override))
    trainer: pl.Trainer = build(cfg.trainer, "trainer", logger=loggers or False, callbacks=callbacks)
    if log_config:
        config = portable_paths(redacted_container(cfg))  # secrets masked, no machine folders
        for logger in loggers:
            logger.log_hyperparams(config)  # the resolved config, next to the metrics
    last = resume_checkpoint(checkpoint_dir, fingerprint) if cfg.resume else None
    with warnings.catch_warnings():
        # Under ddp every rank validates every row (DistillDataModule), so the epoch-level values
        # Lightning would have us sync with sync_dist=True already agree across ranks.
        warnings.filterwarnings("ignore", message=r".*sync_dist=True.*")
        trainer.fit(system, datamodule=dm, ckpt_path=last)
    ckpt = trainer.checkpoint_callback
    best = str(getattr(ckpt, "best_model_path", "") or "")
    if best:
        # Select on validation: evaluate (and relabel with) the best epoch, not the last one.
        state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
        system.load_state_dict(state)
        log.info("distill: best checkpoint %s", best)
    score = getattr(ckpt, "best_model_score", None)
    value = float(score) if score is not None else None
    return BestCheckpoint(
        path=best,
        metric=getattr(ckpt, "monitor", None),
        mode=getattr(ckpt, "mode", None),
        score=value if value is not None and math.isfinite(value) else None,  # strict JSON
    )
