"""OmegaConf resolvers the configs use (registered when ``distill`` is imported).

* ``${distill.join:${data.target_langs}}`` -> ``"it+ja"``
* ``${distill.terms:${loss.weights}}`` -> ``"kd+back+cycle"`` (the terms with a weight > 0)
* ``${distill.group:${experiment_name}}`` -> the W&B group: the experiment name, plus the sweep in
  a multirun (``"default-2026-01-31_12-00-00"``), so that the jobs of one sweep share a group
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf


def join(items: Iterable[Any], sep: str = "+") -> str:
    """Join a list config into one string (W&B tags, run names)."""
    return sep.join(str(x) for x in items)


def active_terms(weights: Mapping[str, Any], sep: str = "+") -> str:
    """The loss terms with a positive weight, in config order."""
    return sep.join(str(k) for k, v in weights.items() if isinstance(v, int | float) and v > 0)


def sweep_group(experiment: str, sweep_dir: str | None) -> str:
    """``<experiment>-<sweep>``, the sweep named by the last two parts of its folder.

    Two parts because the default sweep folder is ``multirun/<date>/<time>``: the time alone would
    put sweeps of different days in one group. Without a sweep (a single run), the experiment name.
    """
    if not sweep_dir:
        return str(experiment)
    return f"{experiment}-{'_'.join(Path(sweep_dir).parts[-2:])}"


def group(experiment: str) -> str:
    """The W&B group of this run: :func:`sweep_group` of the running Hydra multirun, if any.

    Configs composed outside a Hydra app (tests, notebooks) have no Hydra config: the experiment name.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return str(experiment)
    hydra_cfg = HydraConfig.get()
    return sweep_group(experiment, str(hydra_cfg.sweep.dir) if hydra_cfg.mode == RunMode.MULTIRUN else None)


def register_resolvers() -> None:
    """Register the resolvers once (a second call is a no-op)."""
    for name, fn in (("distill.join", join), ("distill.terms", active_terms), ("distill.group", group)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)
