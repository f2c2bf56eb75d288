"""Shared helpers of the integration tests."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

from distill.cli import config_dir


def compose_cfg(out: Path, *overrides: str) -> DictConfig:
    """The project's config with ``overrides``, writing its run into ``out``."""
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("config", overrides=list(overrides))
    with open_dict(cfg):
        cfg.paths.output_dir = str(out)
    return cfg
