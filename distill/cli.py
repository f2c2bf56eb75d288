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
from distill.utils.config import config_dir

log = logging.getLogger("distill")

StageFn = Callable[[DictConfig], Any]


def _debug() -> bool:
    return any(os.environ.get(v, "") not in ("", "0") for v in ("HYDRA_FULL_ERROR", "DISTILL_DEBUG"))


def print_config(cfg: DictConfig) -> None:
    """Print the composed config as YAML (Hydra interpolations resolved, secrets masked)."""
    from distill.utils.redact import redacted_yaml

    print(redacted_yaml(cfg, resolve=True))


def guard_secrets(cfg: DictConfig) -> set[str]:
    """Keep this run's secrets out of its files and logs; returns them (see :mod:`distill.utils.redact`).

    Collects the secret environment values and secret-looking config values, puts a
    :class:`~distill.utils.redact.SecretFilter` on every logging handler, masks them in
    ``sys.argv`` (W&B and the model card record the command line) and rewrites the config files
    Hydra saved under ``<run dir>/.hydra`` before the task started.
    """
    from distill.utils.redact import install_secret_filter, known_secrets, redact_argv, redact_hydra_output

    secrets = known_secrets(cfg)
    install_secret_filter(secrets)
    sys.argv[:] = redact_argv(sys.argv, secrets)
    for path in redact_hydra_output(secrets):
        log.info("masked secrets in %s", path)
    return secrets


def warn_trust_remote_code(cfg: DictConfig) -> list[str]:
    """Warn for every ``trust_remote_code`` key set true (it runs code from the model's repository)."""
    keys: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                key = f"{path}.{k}" if path else str(k)
                if str(k) == "trust_remote_code" and v is True:
                    keys.append(key)
                walk(v, key)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")

    walk(OmegaConf.to_container(cfg, resolve=False), "")
    for key in keys:
        log.warning("%s=true: models loaded with it may run code from their repository", key)
    return keys


OBJECTIVES = (None, "val")


def sweep_direction() -> str | None:
    """The direction of the running Optuna sweep (``maximize`` / ``minimize``); None without one."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    direction = HydraConfig.get().sweeper.get("direction")
    return None if direction is None else str(getattr(direction, "name", direction))


def check_objective(cfg: DictConfig) -> None:
    """Fail before training on an unknown ``objective`` or a sweep that optimises it the wrong way.

    The classification student is selected on ``val/agreement`` (``val/acc`` with
    ``selection=target_dev``), higher is better;
    the embedding student on ``val/loss``, lower is better.
    """
    objective = cfg.get("objective")
    if objective not in OBJECTIVES:
        raise DistillError(f"objective must be null or val, got {objective!r}", fix="set objective=val")
    from distill.tasks import task_of

    want = task_of(cfg).direction
    got = sweep_direction()
    if objective == "val" and got is not None and got != want:
        metric = "val/loss, lower" if want == "minimize" else "val/agreement (or val/acc), higher"
        raise DistillError(
            f"task={cfg.get('task')} selects the student on {metric} is better, "
            f"but this sweep would {got} it",
            fix=f"set hydra.sweeper.direction={want}",
        )


def objective_value(metrics: dict[str, Any]) -> float:
    """The student's best validation score in a run's metrics (``best_val``), printed."""
    best = metrics.get("best_val") or {}
    if best.get("score") is None:
        raise DistillError(
            "objective=val, but the run has no best validation score",
            fix="keep callbacks=default (its ModelCheckpoint monitors the validation metric)",
        )
    print(f"objective: best {best['metric']} = {best['score']:.6g}")
    return float(best["score"])


def run_stage(cfg: DictConfig) -> Any:
    """``distill-run``: every stage in order (prepare, teacher, label, distill, evaluate, export).

    Returns:
        The metrics; with ``objective=val`` the student's best validation score, a float (the
        value an Optuna sweep, ``hparams_search=...``, optimises).
    """
    from distill.pipeline import run

    check_objective(cfg)
    metrics, _ = run(cfg)
    return metrics if cfg.get("objective") is None else objective_value(metrics)


def teacher_stage(cfg: DictConfig) -> Any:
    """``distill-teacher``: fine-tune (or reuse from the cache, or load) the teacher."""
    from distill.teacher import train_teacher

    result = train_teacher(cfg)
    print(json.dumps(result.to_dict(), indent=2))
    return result


def label_stage(cfg: DictConfig) -> Any:
    """``distill-label``: the teacher's soft labels into the shared cache (a hit costs nothing)."""
    from distill.stages.label import label
    from distill.utils.ranks import is_rank_zero

    labelled = label(cfg)
    if not is_rank_zero():  # a further process of teacher.label_devices > 1: rank 0 reports
        return labelled
    print(f"teacher: {labelled.teacher.path} ({labelled.teacher.source})")
    print(f"{'lang':6} {'split':11} {'rows':>6}  {'cache':5} key")
    for lang, splits in labelled.soft.items():
        for split, entry in splits.items():
            print(f"{lang:6} {split:11} {len(entry):>6}  {'hit' if entry.hit else 'miss':5} {entry.key}")
    return labelled


def train_stage(cfg: DictConfig) -> Any:
    """``distill-train``: every stage up to the trained student; prints the best checkpoint."""
    from distill.stages.distill import train

    try:
        _, _, _, best = train(cfg)
    finally:
        _finish_wandb()
    print(f"best student checkpoint: {best.path}")
    print(f"next: distill-eval checkpoint={best.path}")
    return best.path


def eval_stage(cfg: DictConfig) -> Any:
    """``distill-eval checkpoint=...``: the student and the baselines on every test split."""
    from distill.stages.evaluate import evaluate

    return evaluate(cfg).to_dict()


def export_stage(cfg: DictConfig) -> Any:
    """``distill-export checkpoint=...``: the student as a plain Hugging Face folder."""
    from distill.stages.export import export

    try:
        return str(export(cfg))
    finally:
        _finish_wandb()


def _finish_wandb() -> None:
    from distill.records import finish_wandb

    finish_wandb()


# Per-language mappings a user fills key by key (`data.target_test.ja=ja_test.jsonl`): Hydra would
# want `+` for a key the config does not declare, so the console scripts add `++` themselves.
OPEN_MAPPINGS = ("data.target_test.", "data.parallel.", "data.target_unlabelled.")


def open_mapping_overrides(args: list[str]) -> list[str]:
    """``data.target_test.ja=x`` -> ``++data.target_test.ja=x`` (other arguments unchanged)."""
    return ["++" + a if a.startswith(OPEN_MAPPINGS) and "=" in a else a for a in args]


MISSING_EXAMPLES = {
    "data.target_langs": "data.target_langs=[it]",
}


def check_no_missing(cfg: DictConfig) -> None:
    """Fail when a mandatory key (``???`` in its config file) was not given a value."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        examples = " ".join(MISSING_EXAMPLES.get(k, f"{k}=<value>") for k in missing)
        raise DistillError(
            f"config key{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"{'have' if len(missing) > 1 else 'has'} no value",
            fix=f"set {'them' if len(missing) > 1 else 'it'} on the command line, e.g. {examples}",
        )


def check_stage_task(cfg: DictConfig, stage: str) -> None:
    """The one-stage apps (``distill-label``, ``-train``, ``-eval``, ...) run the classification
    stages; every other task runs as a whole, with ``distill-run``."""
    from distill.tasks import task_of
    from distill.tasks.classification import ClassificationTask

    task = task_of(cfg)
    if not isinstance(task, ClassificationTask):
        raise DistillError(
            f"distill-{stage} runs one stage of task=classification; task={task.name} runs whole",
            fix=f"use distill-run task={task.name}",
        )


def _app(stage: str, fn: StageFn) -> Callable[[], None]:
    """Wrap ``fn`` as a Hydra app named ``distill-<stage>``."""

    @hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="config")
    def _main(cfg: DictConfig) -> Any:
        from distill.utils.console import route_library_output

        route_library_output()  # library output through logging: cli.log keeps it, the console is ours
        with open_dict(cfg):
            cfg.stage = stage
        secrets = guard_secrets(cfg)
        warn_trust_remote_code(cfg)
        # The config decides the shared cache; everything below reads it from the environment.
        os.environ["DISTILL_CACHE"] = str(Path(cfg.paths.cache_dir).expanduser())
        try:
            if stage != "teacher":  # the teacher needs only the source data
                check_no_missing(cfg)
            if stage != "run":
                check_stage_task(cfg, stage)
            return fn(cfg)
        except DistillError as e:
            if _debug():
                raise
            from distill.utils.redact import redact_text

            log.error("%s", e)
            print(f"error: {redact_text(str(e), secrets)}", file=sys.stderr)
            sys.exit(2)

    def entry() -> None:
        sys.argv[1:] = open_mapping_overrides(sys.argv[1:])
        _main()

    entry.__doc__ = f"Console script for the {stage} stage."
    return entry


run_main = _app("run", run_stage)
teacher_main = _app("teacher", teacher_stage)
label_main = _app("label", label_stage)
train_main = _app("train", train_stage)
eval_main = _app("eval", eval_stage)
export_main = _app("export", export_stage)
