"""The installed versions of the libraries that decide a run's numbers (recorded in caches and runs)."""

from __future__ import annotations

import importlib.metadata
import platform

#: The libraries whose versions decide a run's numbers (distribution names).
LIBRARIES = (
    "torch",
    "pytorch-lightning",
    "transformers",
    "datasets",
    "hydra-core",
    "torchmetrics",
    "numpy",
    "tokenizers",
    "xlt-distill",
)


def package_version(name: str) -> str | None:
    """The installed version of a distribution, or None."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def library_versions() -> dict[str, str | None]:
    """Python and :data:`LIBRARIES` versions."""
    return {"python": platform.python_version(), **{name: package_version(name) for name in LIBRARIES}}
