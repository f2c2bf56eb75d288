"""Console scripts: each is a Hydra app over ``conf/`` that wraps a plain stage function.

``distill-run`` runs every stage; ``distill-teacher``, ``distill-label``, ``distill-train``,
``distill-eval`` and ``distill-export`` run one. Errors caused by input print one
``error: ...`` line and exit with status 2 (a traceback only with ``HYDRA_FULL_ERROR=1`` or
``DISTILL_DEBUG=1``).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf, open_dict

from distill.errors import DistillError

log = logging.getLogger("distill")

StageFn = Callable[[DictConfig], Any]


def config_dir() -> Path:
    """``conf/`` next to the package (editable install) or inside it (wheel install)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "conf", here.parent / "conf"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise DistillError(f"no conf/config.yaml found next to {here}", fix="reinstall xlt-distill")


def _debug() -> bool:
    return any(os.environ.get(v, "") not in ("", "0") for v in ("HYDRA_FULL_ERROR", "DISTILL_DEBUG"))


def print_config(cfg: DictConfig) -> None:
    """Print the composed config as YAML (Hydra interpolations resolved)."""
    print(OmegaConf.to_yaml(cfg, resolve=True))


def show_stage(cfg: DictConfig) -> None:
    """A stage whose work arrives with the distillation core: print the config it would run with."""
    print(f"# stage: {cfg.stage}")
    print_config(cfg)


def run_stage(cfg: DictConfig) -> Any:
    """``distill-run``: every stage in order (prepare, teacher, label, distill, evaluate, export)."""
    from distill.pipeline import run

    metrics, _ = run(cfg)
    return metrics


def teacher_stage(cfg: DictConfig) -> Any:
    """``distill-teacher``: fine-tune (or reuse from the cache, or load) the teacher."""
    from distill.teacher import train_teacher

    result = train_teacher(cfg)
    print(json.dumps(result.to_dict(), indent=2))
    return result


def _app(stage: str, fn: StageFn) -> Callable[[], None]:
    """Wrap ``fn`` as a Hydra app named ``distill-<stage>``."""

    @hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="config")
    def _main(cfg: DictConfig) -> Any:
        with open_dict(cfg):
            cfg.stage = stage
        # The config decides the shared cache; everything below reads it from the environment.
        os.environ["DISTILL_CACHE"] = str(Path(cfg.paths.cache_dir).expanduser())
        try:
            return fn(cfg)
        except DistillError as e:
            if _debug():
                raise
            log.error("%s", e)
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2)

    def entry() -> None:
        _main()

    entry.__doc__ = f"Console script for the {stage} stage."
    return entry


run_main = _app("run", run_stage)
teacher_main = _app("teacher", teacher_stage)
label_main = _app("label", show_stage)
train_main = _app("train", show_stage)
eval_main = _app("eval", show_stage)
export_main = _app("export", show_stage)
