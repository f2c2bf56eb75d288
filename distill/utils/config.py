"""The ``conf/`` folder, its group options composed by Hydra, and objects built from config nodes
with errors that name the config key."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from distill.errors import DistillError

T = TypeVar("T")


def config_dir() -> Path:
    """``conf/`` next to the package (editable install) or inside it (wheel install)."""
    here = Path(__file__).resolve().parent.parent  # the distill package
    for candidate in (here / "conf", here.parent / "conf"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise DistillError(f"no conf/config.yaml found next to {here}", fix="reinstall xlt-distill")


def config_options(group: str) -> list[str]:
    """The option names of a ``conf/`` config group (``teacher`` -> ``["me5_en", "minilm_en", "tiny"]``)."""
    return sorted(p.stem for p in (config_dir() / group).glob("*.yaml"))


def compose_option(group: str, name: str) -> DictConfig | None:
    """The config group option ``group=name`` as Hydra composes it (``None`` when there is no such option).

    Inside a Hydra app (``@hydra.main``, or an ``initialize*`` block) the running app's config search
    path is used; elsewhere ``conf/`` (:func:`config_dir`).
    """
    if not (config_dir() / group / f"{name}.yaml").is_file():
        return None
    overrides = [f"+{group}={name}"]
    if GlobalHydra.instance().is_initialized():
        composed = compose(overrides=overrides)
    else:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            composed = compose(overrides=overrides)
    # Detached from the composed root (no parent, no struct flag), as the option's file reads alone.
    node = OmegaConf.create(OmegaConf.to_container(composed[group], resolve=False))
    assert isinstance(node, DictConfig)
    return node


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


def dataclass_from(cls: type[T], values: Mapping[str, Any], **given: Any) -> T:
    """``cls(**given, ...)`` with every other field that has a plain default read from ``values``
    (a config node), cast to the type of its default; a key absent from ``values`` takes the default.
    """
    kwargs = dict(given)
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name not in kwargs and f.default is not dataclasses.MISSING:
            kwargs[f.name] = type(f.default)(values.get(f.name, f.default))
    return cls(**kwargs)
