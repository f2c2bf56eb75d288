"""Sentence vectors as an embedding export's sentence-transformers files say to make them.

``sentence_layout(folder)`` reads ``modules.json`` and the ``Pooling`` module's ``config.json``:
the pooling (mean, cls or max) and whether an ``Normalize`` module follows; :func:`pool` applies
them to the encoder's last hidden states. The torch and the ONNX backends of ``distill-serve`` and
the ONNX parity check share it, so that a served vector is what
``SentenceTransformer(folder).encode`` gives.

Example::

    mode, normalize = sentence_layout(Path("runs/x/student"))
    vectors = pool(hidden, attention_mask, mode, normalize)     # (B, T, H), (B, T) -> (B, H)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from distill.errors import DistillError

MODES = ("mean", "cls", "max")


def sentence_layout(folder: Path) -> tuple[str, bool]:
    """``(pooling, normalize)`` of ``folder``; mean pooling and unit vectors when it has no
    ``modules.json`` (a plain encoder folder)."""
    modules_file = Path(folder) / "modules.json"
    if not modules_file.is_file():
        return "mean", True
    modules = json.loads(modules_file.read_text(encoding="utf-8"))
    kinds = {str(m.get("type", "")).rsplit(".", 1)[-1]: m for m in modules}
    mode = "mean"
    if "Pooling" in kinds:
        config_file = Path(folder) / str(kinds["Pooling"].get("path", "")) / "config.json"
        config = json.loads(config_file.read_text(encoding="utf-8"))
        keys = {
            "mean": "pooling_mode_mean_tokens",
            "cls": "pooling_mode_cls_token",
            "max": "pooling_mode_max_tokens",
        }
        modes = [m for m in MODES if config.get(keys[m])]
        if len(modes) != 1:
            raise DistillError(
                f"{config_file}: pooling {' + '.join(modes) or 'none'} cannot be served",
                fix="export the student with exactly one of mean, cls or max pooling",
            )
        mode = modes[0]
    return mode, "Normalize" in kinds


def pool(hidden: np.ndarray, mask: np.ndarray, mode: str, normalize: bool) -> np.ndarray:
    """``(B, T, H)`` hidden states and a ``(B, T)`` attention mask -> ``(B, H)`` float32 vectors."""
    hidden = np.asarray(hidden, dtype=np.float32)
    m = np.asarray(mask, dtype=np.float32)[..., None]  # (B, T, 1)
    if mode == "cls":
        vectors = hidden[:, 0]
    elif mode == "max":
        vectors = np.where(m > 0, hidden, -np.inf).max(axis=1)
    else:
        vectors = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1.0, None)
    if normalize:
        vectors = vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
    return vectors.astype(np.float32)
