"""``ModelCheckpoint`` that breaks ties in the monitored metric with a second one (``val/loss``)."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint
from torch import Tensor

from distill.callbacks.tie_break import TieBreakArgs


class TieBreakModelCheckpoint(TieBreakArgs, ModelCheckpoint):
    """Lightning's ``ModelCheckpoint``; an epoch that ties the kept one's monitored value replaces it
    when its ``tie_breaker`` metric is strictly better (see :mod:`distill.callbacks.tie_break`).

    Args:
        tie_breaker: The second metric, e.g. ``val/loss``; None: Lightning's rule unchanged.
        tie_breaker_mode: ``min`` or ``max`` for the second metric.
        tie_atol: How close two monitored values must be to tie.
        **kwargs: ``ModelCheckpoint``'s arguments.

    Example:
        >>> cb = TieBreakModelCheckpoint(monitor="val/agreement", mode="max", tie_breaker="val/loss")
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: The second metric's value of each kept checkpoint (path -> value).
        self.tie_scores: dict[str, float | None] = {}

    def _rank(self, path: str) -> tuple[float, float]:
        return self.tie.rank(float(self.best_k_models[path]), self.tie_scores.get(path), self.mode)

    def check_monitor_top_k(self, trainer: pl.Trainer, current: Tensor | None = None) -> bool:
        if super().check_monitor_top_k(trainer, current):
            return True
        # Lightning has answered yes when fewer than save_top_k are kept (or save_top_k=-1), and never
        # asks when save_top_k=0: here the kept ones are full and the kth exists.
        if current is None or not self.tie.active(self.monitor):
            return False
        worst = self.kth_best_model_path
        wins = self.tie.ties(float(current), float(self.best_k_models[worst])) and self.tie.better(
            self.tie.value(trainer.callback_metrics), self.tie_scores.get(worst)
        )
        return trainer.strategy.reduce_boolean_decision(bool(wins))

    def _update_best_and_save(
        self, current: Tensor, trainer: pl.Trainer, monitor_candidates: dict[str, Tensor]
    ) -> None:
        if self.tie.active(self.monitor) and self.best_k_models:  # replace the worst, ties included
            self.kth_best_model_path = min(self.best_k_models, key=self._rank)
        before = set(self.best_k_models)
        super()._update_best_and_save(current, trainer, monitor_candidates)
        for path in set(self.best_k_models) - before:
            self.tie_scores[path] = self.tie.value(trainer.callback_metrics)
        self.tie_scores = {p: v for p, v in self.tie_scores.items() if p in self.best_k_models}
        if self.tie.active(self.monitor):
            self.best_model_path = max(self.best_k_models, key=self._rank)
            self.best_model_score = self.best_k_models[self.best_model_path]
            if len(self.best_k_models) == self.save_top_k:
                self.kth_best_model_path = min(self.best_k_models, key=self._rank)
                self.kth_value = self.best_k_models[self.kth_best_model_path]

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "tie_scores": dict(self.tie_scores)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        if state_dict.get("dirpath", self.dirpath) == self.dirpath:
            self.tie_scores = dict(state_dict.get("tie_scores", {}))
