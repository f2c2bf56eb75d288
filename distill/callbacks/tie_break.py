"""The tie-break rule shared by the best checkpoint and early stopping.

Agreement with the teacher over a small validation set moves in steps of ``1 / n`` (11 pairs: 9
points a step), so it can stay exactly level for several epochs while the student is still learning
(its validation kd loss falling). With a strict "better than the best" rule, early stopping then
ends the fit and the checkpoint keeps the first of the level epochs, a student that has learnt
little. :class:`TieBreak` says when a level epoch counts as an improvement all the same: its
monitored value equals the best one (within ``atol``) and a second metric, by default ``val/loss``
(label-free under ``selection=teacher_agreement``), is strictly better than it was at the best one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from distill.errors import DistillError

MODES = ("min", "max")


@dataclass(frozen=True)
class TieBreak:
    """When an epoch that ties the best monitored value wins: ``metric`` strictly better.

    Attributes:
        metric: The second metric (``val/loss``); None turns tie-breaking off.
        mode: ``min`` (lower is better) or ``max``.
        atol: How close two monitored values must be to tie (agreement is a fraction of the
            validation pairs: equal fractions are equal floats).
    """

    metric: str | None = "val/loss"
    mode: str = "min"
    atol: float = 1e-6

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise DistillError(
                f"tie_breaker_mode must be 'min' or 'max', got {self.mode!r}",
                fix="set callbacks.<name>.tie_breaker_mode=min (a loss) or max (a score)",
            )
        if not self.atol >= 0:
            raise DistillError(
                f"tie_atol must be >= 0, got {self.atol!r}", fix="set callbacks.<name>.tie_atol=1e-6"
            )

    def active(self, monitor: str | None) -> bool:
        """Whether ties are broken at all (not when the second metric is the monitored one)."""
        return self.metric is not None and self.metric != monitor

    def value(self, metrics: Mapping[str, Any]) -> float | None:
        """The second metric in the trainer's callback metrics, None when absent or not finite."""
        if self.metric is None or self.metric not in metrics:
            return None
        value = float(metrics[self.metric])
        return value if math.isfinite(value) else None

    def ties(self, current: float, best: float) -> bool:
        """Whether two monitored values are level."""
        return math.isfinite(current) and math.isfinite(best) and abs(current - best) <= self.atol

    def better(self, now: float | None, before: float | None) -> bool:
        """Whether the second metric now is strictly better than at the best epoch (absent: no)."""
        if now is None:
            return False
        if before is None:
            return True  # the best epoch had none to compare with
        return now < before if self.mode == "min" else now > before

    def rank(self, score: float, tie: float | None, mode: str) -> tuple[float, float]:
        """A sort key, larger is better: the monitored ``score`` (in ``mode``), then the second metric."""
        first = score if mode == "max" else -score
        if tie is None:
            return first, -math.inf
        return first, (-tie if self.mode == "min" else tie)


class TieBreakArgs:
    """Mixin for a Lightning callback: takes ``tie_breaker``, ``tie_breaker_mode`` and ``tie_atol``
    (see :class:`TieBreak`) as keywords, passes the rest on, and keeps the rule as ``self.tie``."""

    def __init__(
        self,
        *args: Any,
        tie_breaker: str | None = "val/loss",
        tie_breaker_mode: str = "min",
        tie_atol: float = 1e-6,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.tie = TieBreak(tie_breaker, tie_breaker_mode, tie_atol)
