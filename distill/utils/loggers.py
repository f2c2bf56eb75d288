"""Lightning loggers as our configs build them (``conf/logger``)."""

from __future__ import annotations

from typing import Any

from pytorch_lightning.loggers import WandbLogger as _LightningWandbLogger


class WandbLogger(_LightningWandbLogger):
    """Lightning's :class:`~pytorch_lightning.loggers.WandbLogger`, without the ``anonymous`` key it
    always hands to ``wandb.init`` (as ``None``), for which wandb prints a warning that the setting
    "has no effect" on every run. Everything else is Lightning's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self._wandb_init.get("anonymous") is None:
            self._wandb_init.pop("anonymous", None)
