"""The ONNX Runtime backend of ``distill-serve`` (``--backend onnx`` / ``onnx-int8``).

It serves a fully shared classifier export through the ``onnx/model.onnx`` (or
``onnx/model_int8.onnx``) that ``distill-export format=onnx`` writes into it; the file is made on
the spot when it is missing. A per-language adapter export is served by the torch backend (PEFT
adapters per row, live versions); for ONNX, export each ``merged/<lang>/`` folder and serve it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from distill.adapters import is_adapter_export
from distill.errors import DistillError
from distill.serve.model import PREFIX_KEY

log = logging.getLogger(__name__)

BACKENDS = ("torch", "onnx", "onnx-int8")


class OnnxServedModel:
    """The :class:`~distill.serve.model.ServedModel` interface over an ONNX Runtime session."""

    kind = "classification"

    def __init__(self, folder: Path, classifier: Any, labels: list[str], prefix: str, onnx_file: Path):
        self.folder = folder
        self.classifier = classifier
        self.labels = labels
        self.prefix = prefix
        self.onnx_file = onnx_file
        self.languages: list[str] = []
        self.adapters: set[str] = set()

    @classmethod
    def load(cls, path: str | Path, *, quantized: bool = False, max_length: int = 128) -> OnnxServedModel:
        from transformers import AutoConfig, AutoTokenizer

        from distill.onnx_export import OnnxClassifier, export_onnx

        folder = Path(path)
        if is_adapter_export(folder):
            raise DistillError(
                f"{folder} is a per-language adapter export; the ONNX backend serves one plain classifier",
                fix="serve it with --backend torch, or serve a merged/<lang>/ folder with ONNX",
            )
        onnx_file = folder / "onnx" / ("model_int8.onnx" if quantized else "model.onnx")
        if not onnx_file.is_file():
            log.info("serve: %s is missing; exporting it now", onnx_file)
            export_onnx(folder, quantize=quantized)
        config = AutoConfig.from_pretrained(str(folder))
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        id2label = getattr(config, "id2label", None) or {}
        labels = [str(id2label[i]) for i in sorted(id2label, key=int)]
        prefix = str(getattr(config, PREFIX_KEY, "") or "")
        model = cls(folder, OnnxClassifier(onnx_file, tokenizer), labels, prefix, onnx_file)
        model.max_length = max_length
        return model

    max_length = 128

    def load_adapter(self, lang: str, version: str, path: Any) -> str:
        raise DistillError(
            "the ONNX backend has no adapters", fix="serve adapter exports with --backend torch"
        )

    def classify(self, texts: Sequence[str], names: Sequence[str] | None = None) -> np.ndarray:
        logits = np.asarray(
            self.classifier.logits([self.prefix + t for t in texts], max_length=self.max_length)
        )
        logits = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    def embed(self, texts: Sequence[str], names: Sequence[str] | None = None) -> np.ndarray:
        raise DistillError("the ONNX backend serves classifiers only")
