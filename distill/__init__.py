"""xlt-distill: teacher-student distillation for cross-lingual transfer."""

from __future__ import annotations

from distill.errors import DistillError

__version__ = "0.1.0"
__all__ = ["DistillError", "__version__"]
