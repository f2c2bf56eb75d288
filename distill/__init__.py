"""xlt-distill: teacher-student distillation for cross-lingual transfer.

``distill.load_student(path)`` loads an exported student (``(model, tokenizer)``); the heavy
libraries are imported only when it is first used.
"""

from __future__ import annotations

from typing import Any

from distill.errors import DistillError
from distill.utils.resolvers import register_resolvers

__version__ = "0.1.0"
__all__ = ["DistillError", "__version__", "load_student"]

register_resolvers()


def __getattr__(name: str) -> Any:
    if name == "load_student":
        from distill.export import load_student

        return load_student
    raise AttributeError(f"module 'distill' has no attribute {name!r}")
