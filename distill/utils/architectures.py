"""What head a saved model has, from its config's ``architectures``: the one place that reads it.

``head_kind`` gives ``classification`` (``...ForSequenceClassification``), ``token_classification``
(``...ForTokenClassification``) or ``embedding`` (anything else: an encoder, as an embedding export
saves it). ``folder_kind`` reads ``config.json`` of a model folder without loading the model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

_SUFFIXES = (
    ("ForSequenceClassification", "classification"),
    ("ForTokenClassification", "token_classification"),
)


def head_kind(config: Any) -> str:
    """The head of a ``transformers`` config (or a ``config.json`` mapping)."""
    found = (
        config.get("architectures") if isinstance(config, dict) else getattr(config, "architectures", None)
    )
    architectures = [str(a) for a in found or []]
    for suffix, kind in _SUFFIXES:
        if any(a.endswith(suffix) for a in architectures):
            return kind
    return "embedding"


def folder_kind(folder: str | Path) -> str:
    """The head of the model saved in ``folder`` (its ``config.json``)."""
    return head_kind(json.loads((Path(folder) / "config.json").read_text(encoding="utf-8")))
