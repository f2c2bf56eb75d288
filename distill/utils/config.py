"""Building objects from config nodes with errors that name the config key."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig

from distill.errors import DistillError


def build(node: DictConfig, key: str, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate(node, **kwargs)``, with our own errors passed through unwrapped.

    Args:
        node: A config node with ``_target_``.
        key: Where the node lives in the config (``loss``, ``trainer``), for the message.
        **kwargs: Extra arguments for the target.

    Raises:
        DistillError: The target raised one (re-raised as is), or it could not be built (wrong
            argument names or types): the message names ``key`` and the target.
    """
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as exc:
        cause = exc.__cause__
        while isinstance(cause, InstantiationException) and cause.__cause__ is not None:
            cause = cause.__cause__
        if isinstance(cause, DistillError):
            raise cause from None
        target = node.get("_target_", "?") if isinstance(node, DictConfig) else "?"
        detail = f"{type(cause).__name__}: {cause}" if cause is not None else str(exc).splitlines()[0]
        raise DistillError(
            f"cannot build `{key}` ({target}): {detail}",
            fix=f"check the keys and values under `{key}` in the config (print it with --cfg job)",
        ) from None


def loss_weight(cfg: DictConfig, name: str) -> float:
    """``loss.weights.<name>`` as a number (0 when absent or not a number; the loss validates it)."""
    value = (cfg.loss.get("weights") or {}).get(name, 0) or 0
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def leaf_values(value: Any) -> Iterator[Any]:
    """Every scalar inside nested mappings and lists (a plain container, e.g. from ``to_container``)."""
    if isinstance(value, Mapping):
        for v in value.values():
            yield from leaf_values(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from leaf_values(v)
    else:
        yield value
