"""The ONNX Runtime backend of ``distill-serve`` (``--backend onnx`` / ``onnx-int8``).

It serves a fully shared export (a classifier, or an embedding export's encoder) through the
``onnx/model.onnx`` (or
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
from distill.onnx_export import is_classifier
from distill.serve.microbatch import micro_batches, tokenize
from distill.serve.model import MICRO_BATCH, PREFIX_KEY
from distill.utils.sentence import pool, sentence_layout

log = logging.getLogger(__name__)

BACKENDS = ("torch", "onnx", "onnx-int8")


class OnnxServedModel:
    """The :class:`~distill.serve.model.ServedModel` interface over an ONNX Runtime session."""

    def __init__(self, folder: Path, classifier: Any, labels: list[str], prefix: str, onnx_file: Path):
        self.kind = "classification" if is_classifier(folder) else "embedding"
        self.layout = sentence_layout(folder)  # (pooling, normalize) of an embedding export
        self.folder = folder
        self.classifier = classifier
        self.labels = labels
        self.prefix = prefix
        self.onnx_file = onnx_file
        self.languages: list[str] = []
        self.adapters: set[str] = set()

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        quantized: bool = False,
        max_length: int = 128,
        micro_batch: int = MICRO_BATCH,
    ) -> OnnxServedModel:
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
        id2label = (getattr(config, "id2label", None) or {}) if is_classifier(folder) else {}
        labels = [str(id2label[i]) for i in sorted(id2label, key=int)]
        prefix = str(getattr(config, PREFIX_KEY, "") or "")
        model = cls(folder, OnnxClassifier(onnx_file, tokenizer), labels, prefix, onnx_file)
        model.max_length = max_length
        model.micro_batch = micro_batch
        return model

    max_length = 128
    micro_batch = MICRO_BATCH

    def load_adapter(self, lang: str, version: str, path: Any) -> str:
        raise DistillError(
            "the ONNX backend has no adapters", fix="serve adapter exports with --backend torch"
        )

    def classify(self, texts: Sequence[str], names: Sequence[str] | None = None) -> np.ndarray:
        tokenizer = self.classifier.tokenizer
        enc = tokenize(tokenizer, [self.prefix + t for t in texts], self.max_length)
        logits = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        for rows, arrays in micro_batches(enc, tokenizer, self.micro_batch):
            logits[rows] = self.classifier.run(arrays)
        logits = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    def embed(self, texts: Sequence[str], names: Sequence[str] | None = None) -> np.ndarray:
        tokenizer = self.classifier.tokenizer
        enc = tokenize(tokenizer, [self.prefix + t for t in texts], self.max_length)
        vectors: np.ndarray | None = None
        for rows, arrays in micro_batches(enc, tokenizer, self.micro_batch):
            pooled = pool(self.classifier.run(arrays), arrays["attention_mask"], *self.layout)
            if vectors is None:
                vectors = np.zeros((len(texts), pooled.shape[-1]), dtype=np.float32)
            vectors[rows] = pooled
        assert vectors is not None, "embed() needs at least one text"
        return vectors
