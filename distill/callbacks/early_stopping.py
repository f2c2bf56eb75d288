"""``EarlyStopping`` that counts a level epoch as an improvement when a second metric improved."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import EarlyStopping
from pytorch_lightning.callbacks.early_stopping import EarlyStoppingReason
from torch import Tensor

from distill.callbacks.tie_break import TieBreakArgs


class TieBreakEarlyStopping(TieBreakArgs, EarlyStopping):
    """Lightning's ``EarlyStopping``; an epoch whose monitored value ties the best one resets the
    patience when its ``tie_breaker`` metric is strictly better than at the best epoch (see
    :mod:`distill.callbacks.tie_break`). A flat validation agreement with a falling kd loss keeps
    training (up to ``trainer.max_epochs``); a flat agreement with a rising loss stops as before.

    Args:
        tie_breaker: The second metric, e.g. ``val/loss``; None: Lightning's rule unchanged.
        tie_breaker_mode: ``min`` or ``max`` for the second metric.
        tie_atol: How close two monitored values must be to tie.
        **kwargs: ``EarlyStopping``'s arguments.

    Example:
        >>> cb = TieBreakEarlyStopping(monitor="val/agreement", mode="max", patience=3)
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: The second metric at the best epoch so far.
        self.best_tie: float | None = None
        self._tie_now: float | None = None

    def _run_early_stopping_check(self, trainer: pl.Trainer) -> None:
        self._tie_now = self.tie.value(trainer.callback_metrics)
        super()._run_early_stopping_check(trainer)

    def _evaluate_stopping_criteria(self, current: Tensor) -> tuple[bool, str | None]:
        best, waited = float(self.best_score), self.wait_count
        should_stop, reason = super()._evaluate_stopping_criteria(current)
        if self.best_score is current:  # improved: remember the second metric of the new best epoch
            self.best_tie = self._tie_now
        elif (
            self.wait_count == waited + 1  # Lightning's "did not improve" branch
            and self.tie.active(self.monitor)
            and self.tie.ties(float(current), best)
            and self.tie.better(self._tie_now, self.best_tie)
        ):
            self.wait_count, self.best_tie = 0, self._tie_now
            self.stopping_reason = EarlyStoppingReason.NOT_STOPPED
            should_stop = False
            reason = (
                f"Metric {self.monitor} level at {best:.4f}; {self.tie.metric} improved to "
                f"{self._tie_now:.4f}: patience reset."
            )
        return should_stop, reason

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "best_tie": self.best_tie}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.best_tie = state_dict.get("best_tie")
