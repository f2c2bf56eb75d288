"""OmegaConf resolvers the configs use (registered when ``distill`` is imported).

* ``${distill.join:${data.target_langs}}`` -> ``"it+ja"``
* ``${distill.terms:${loss.weights}}`` -> ``"kd+back+cycle"`` (the terms with a weight > 0)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from omegaconf import OmegaConf


def join(items: Iterable[Any], sep: str = "+") -> str:
    """Join a list config into one string (W&B tags, run names)."""
    return sep.join(str(x) for x in items)


def active_terms(weights: Mapping[str, Any], sep: str = "+") -> str:
    """The loss terms with a positive weight, in config order."""
    return sep.join(str(k) for k, v in weights.items() if isinstance(v, int | float) and v > 0)


def register_resolvers() -> None:
    """Register the resolvers once (a second call is a no-op)."""
    for name, fn in (("distill.join", join), ("distill.terms", active_terms)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)
