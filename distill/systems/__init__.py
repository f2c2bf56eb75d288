"""LightningModules ("systems"): training steps, metrics and optimizers around injected networks."""

from __future__ import annotations

from distill.systems.classifier import ClassifierSystem, linear_warmup_decay

__all__ = ["ClassifierSystem", "linear_warmup_decay"]
