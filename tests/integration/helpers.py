"""Shared helpers of the integration tests."""

from __future__ import annotations

import json
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


def sweep_jobs(sweep: Path) -> list[Path]:
    """The job folders of a Hydra multirun (``0``, ``1``, ...), in job order."""
    return sorted((p for p in sweep.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))


def labels_hit(run_dir: Path) -> set[bool]:
    """The soft-label cache outcomes (hit or miss) a run recorded in its ``labels.json``."""
    labels = json.loads((run_dir / "labels.json").read_text())
    return {entry["hit"] for splits in labels.values() for entry in splits.values()}
