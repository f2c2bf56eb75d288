"""Tasks: one class each, registered by name in the config's ``tasks`` mapping (``task=<name>``)."""

from __future__ import annotations

from omegaconf import DictConfig

from distill.errors import DistillError
from distill.tasks.base import Labels, Task, Trained
from distill.utils.config import build

__all__ = ["Labels", "Task", "Trained", "task_of"]


def task_of(cfg: DictConfig) -> Task:
    """The run's task: ``tasks[task]`` built from its ``_target_``.

    Raises:
        DistillError: ``task`` names no registered task, or its class is not a :class:`Task`.
    """
    name = str(cfg.get("task") or "")
    registry = cfg.get("tasks") or {}
    if name not in registry:
        raise DistillError(
            f"task={name!r} names no registered task",
            fix=f"use one of {sorted(registry)}, or register one: "
            f"+tasks.{name or '<name>'}._target_=<module.Class>",
        )
    task = build(registry[name], f"tasks.{name}")
    if not isinstance(task, Task):
        raise DistillError(
            f"tasks.{name}._target_ built a {type(task).__name__}, not a Task",
            fix="point it at a class with the methods of distill.tasks.base.Task",
        )
    return task
