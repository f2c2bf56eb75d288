"""A callback that SIGKILLs its own process at a chosen step (the kill-and-resume tests inject it).

It does nothing unless ``DISTILL_TEST_KILL_AT`` is set to ``<checkpoint folder name>:<global step>``
(e.g. ``checkpoints:7`` for the first round, ``round2:4`` for the second), so the killed command and
its rerun have the same configuration.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

ENV = "DISTILL_TEST_KILL_AT"


class KillAtStep(pl.Callback):
    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        target = os.environ.get(ENV)
        if not target:
            return
        folder, step = target.split(":")
        ckpt = trainer.checkpoint_callback
        here = Path(str(getattr(ckpt, "dirpath", ""))).name
        if here == folder and trainer.global_step == int(step):
            os.kill(os.getpid(), signal.SIGKILL)
