"""Lightning callbacks of the student's fit: the best checkpoint and early stopping with a tie-break.

- :class:`TieBreakModelCheckpoint`: ``ModelCheckpoint``, ties in the monitored metric broken by a
  second one (``val/loss``).
- :class:`TieBreakEarlyStopping`: ``EarlyStopping``, a tie with a better second metric resets the
  patience.
- :class:`TieBreak`: the rule both apply.
"""

from distill.callbacks.checkpoint import TieBreakModelCheckpoint
from distill.callbacks.early_stopping import TieBreakEarlyStopping
from distill.callbacks.tie_break import TieBreak

__all__ = ["TieBreak", "TieBreakEarlyStopping", "TieBreakModelCheckpoint"]
