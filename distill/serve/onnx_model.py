"""The ONNX Runtime backend of ``distill-serve`` (``--backend onnx`` / ``onnx-int8``).

A fully shared export (a classifier, or an embedding export's encoder) is served through the
``onnx/model.onnx`` (or ``onnx/model_int8.onnx``) that ``distill-export format=onnx`` writes into
it; the file is made on the spot when it is missing. A per-language adapter export is served
through its ``base/`` model and, for each adapter version the registry makes active, the adapter
merged into the base and exported once (``registry/<lang>/<version>.onnx/``): the same registry,
promotions and rollbacks as the torch backend. ONNX has no per-row LoRA, so a mixed-language batch
runs one forward per language in it (the torch backend runs it in one forward with PEFT's
``adapter_names``), and adding a version pauses the batches while it is merged and exported.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from distill.adapters import MANIFEST, is_adapter_export
from distill.errors import DistillError
from distill.serve.microbatch import micro_batches, tokenize
from distill.serve.model import BASE, MICRO_BATCH, PREFIX_KEY, adapter_name
from distill.utils.architectures import folder_kind, head_kind
from distill.utils.sentence import pool, sentence_layout

log = logging.getLogger(__name__)

BACKENDS = ("torch", "onnx", "onnx-int8")


class OnnxServedModel:
    """The :class:`~distill.serve.model.ServedModel` interface over ONNX Runtime sessions: one for
    the export (or its shared ``base/``), and one per loaded adapter version of an adapter export."""

    def __init__(
        self,
        folder: Path,
        session: Any,
        labels: list[str],
        prefix: str,
        onnx_file: Path,
        *,
        languages: Sequence[str] = (),
        quantized: bool = False,
    ):
        weights = folder / "base" if languages else folder
        self.kind = folder_kind(weights)  # classification or embedding (load refuses taggers)
        self.layout = sentence_layout(weights)  # (pooling, normalize) of an embedding export
        self.folder = folder
        self.sessions: dict[str, Any] = {BASE: session}
        self.tokenizer = session.tokenizer
        self.labels = labels
        self.prefix = prefix
        self.onnx_file = onnx_file
        self.languages = list(languages)
        self.quantized = quantized
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

        from distill.onnx_export import OnnxClassifier

        folder = Path(path)
        langs: list[str] = []
        weights = folder
        if is_adapter_export(folder):
            langs = list(json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["languages"])
            weights = folder / "base"
        if (weights / "config.json").is_file() and folder_kind(weights) == "token_classification":
            raise DistillError(
                f"{folder} is a token tagger; the ONNX backend serves classifiers and encoders",
                fix="serve it with --backend torch",
            )
        onnx_file = _onnx_file(weights, quantized)
        config = AutoConfig.from_pretrained(str(weights))
        tokenizer = AutoTokenizer.from_pretrained(str(weights))
        id2label = (getattr(config, "id2label", None) or {}) if head_kind(config) == "classification" else {}
        labels = [str(id2label[i]) for i in sorted(id2label, key=int)]
        prefix = str(getattr(config, PREFIX_KEY, "") or "")
        session = OnnxClassifier(onnx_file, tokenizer)
        model = cls(folder, session, labels, prefix, onnx_file, languages=langs, quantized=quantized)
        model.max_length = max_length
        model.micro_batch = micro_batch
        return model

    max_length = 128
    micro_batch = MICRO_BATCH

    def load_adapter(self, lang: str, version: str, path: str | os.PathLike[str]) -> str:
        """A session for ``lang``'s ``version``: the adapter folder ``path`` merged into the base
        and exported to ONNX once, into ``<path>.onnx/`` beside it (reused on the next start)."""
        from distill.adapters import merge_adapter_folder
        from distill.onnx_export import OnnxClassifier

        name = adapter_name(lang, version)
        if name in self.sessions:
            return name
        if not self.languages:
            raise DistillError(f"{self.folder} has no adapters", fix="serve an adapter export for adapters")
        if not (Path(path) / "adapter_config.json").is_file():
            raise DistillError(
                f"{path} is not an adapter folder (no adapter_config.json)",
                fix="pass an adapters/<lang>/ folder of an adapter export",
            )
        merged = Path(path).parent / f"{Path(path).name}.onnx"
        if not (merged / "config.json").is_file():
            log.info("serve: merging %s into the base for ONNX (%s)", path, merged)
            merge_adapter_folder(self.folder / "base", path, merged)
        self.sessions[name] = OnnxClassifier(_onnx_file(merged, self.quantized), self.tokenizer)
        self.adapters.add(name)
        log.info("serve: loaded adapter %s (ONNX, merged) from %s", name, path)
        return name

    def _outputs(self, texts: Sequence[str], names: Sequence[str] | None, fn: Any) -> np.ndarray:
        """``fn(session output, padded arrays)`` per group, in the rows' order: the rows of one
        adapter version share a session (a merged model), and run as length-sorted micro-batches."""
        enc = tokenize(self.tokenizer, [self.prefix + t for t in texts], self.max_length)
        routed = [n if n in self.sessions else BASE for n in (names or [BASE] * len(texts))]
        out: np.ndarray | None = None
        for name in dict.fromkeys(routed):
            idx = np.asarray([i for i, n in enumerate(routed) if n == name])
            sub = {k: [v[i] for i in idx] for k, v in enc.items()}
            for rows, arrays in micro_batches(sub, self.tokenizer, self.micro_batch):
                values = fn(self.sessions[name].run(arrays), arrays)
                if out is None:
                    out = np.zeros((len(texts), values.shape[-1]), dtype=np.float32)
                out[idx[rows]] = values
        assert out is not None, "at least one text is needed"
        return out

    def classify(self, texts: Sequence[str], names: Sequence[str] | None = None) -> np.ndarray:
        logits = self._outputs(texts, names, lambda out, arrays: out)
        logits = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]

    def embed(self, texts: Sequence[str], names: Sequence[str] | None = None) -> np.ndarray:
        return self._outputs(
            texts, names, lambda out, arrays: pool(out, arrays["attention_mask"], *self.layout)
        )


def _onnx_file(folder: Path, quantized: bool) -> Path:
    """``folder/onnx/model(_int8).onnx``, exported on the spot when missing."""
    from distill.onnx_export import export_onnx

    onnx_file = folder / "onnx" / ("model_int8.onnx" if quantized else "model.onnx")
    if not onnx_file.is_file():
        log.info("serve: %s is missing; exporting it now", onnx_file)
        export_onnx(folder, quantize=quantized)
    return onnx_file
