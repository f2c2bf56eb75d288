"""Facts about a model folder without loading it: parameter count and size on disk."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from distill.errors import DistillError
from distill.models.resolve import ResolvedModel


@dataclass(frozen=True)
class ModelInfo:
    """Size of a resolved model; ``None`` where the weights are not on this machine (hub ids)."""

    resolved: ResolvedModel
    params: int | None
    disk_bytes: int | None


def count_safetensors_params(folder: Path) -> int:
    """Sum the element counts of every tensor in the folder's ``*.safetensors`` files (headers only)."""
    from safetensors import SafetensorError, safe_open

    total = 0
    for file in sorted(folder.glob("*.safetensors")):
        try:
            with safe_open(str(file), framework="np") as fh:
                for name in fh.keys():  # noqa: SIM118 - safe_open is not a mapping
                    total += math.prod(fh.get_slice(name).get_shape())
        except (SafetensorError, OSError) as exc:
            raise unreadable_weights(file, exc) from None
    return total


def unreadable_weights(file: Path, exc: BaseException) -> DistillError:
    """The error for a weights file that cannot be read (truncated download or copy, other bytes)."""
    detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    return DistillError(
        f"model weights {file} are damaged or not a safetensors file ({detail})",
        fix="copy or download the model again (a partial copy leaves a truncated file), "
        "or re-save it with save_pretrained",
    )


def folder_bytes(folder: Path) -> int:
    """Bytes of all regular files below ``folder``."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def model_info(resolved: ResolvedModel) -> ModelInfo:
    """Parameter count and disk size of a resolved model (unknown for a hub id not yet downloaded)."""
    if not resolved.is_local:
        return ModelInfo(resolved, None, None)
    folder = Path(resolved.location)
    return ModelInfo(resolved, count_safetensors_params(folder), folder_bytes(folder))
