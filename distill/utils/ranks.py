"""Which process of a data-parallel job this is (``trainer=ddp``, ``teacher.label_devices``).

Lightning's ``ddp`` strategy starts the other ranks by running the same command again
(``distill-run ...`` with ``LOCAL_RANK`` set), so every rank goes through the same stages. Only rank
0 writes the run folder's records (metrics, reports, exports, W&B); Lightning sets the rank below
from the environment at import and again when a strategy sets up.
"""

from __future__ import annotations

from lightning_fabric.utilities.rank_zero import rank_zero_only


def global_rank() -> int:
    """This process's rank among all processes of the job (0 when alone)."""
    return int(getattr(rank_zero_only, "rank", 0) or 0)


def is_rank_zero() -> bool:
    """Whether this process writes the run's records (the only process, or rank 0 of many)."""
    return global_rank() == 0
