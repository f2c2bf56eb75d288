"""ONNX export of a classifier student (``distill-export format=onnx``), int8 quantization, parity.

``export_onnx(folder)`` writes ``<folder>/onnx/model.onnx`` (inputs ``input_ids``,
``attention_mask`` and ``token_type_ids`` when the tokenizer makes them; output ``logits``; batch
and sequence axes dynamic) and, with ``quantize``, ``model_int8.onnx`` (ONNX Runtime's dynamic
quantization: int8 weights of the MatMuls, activations quantized on the fly). It uses torch's
TorchScript-based exporter (``dynamo=False``, opset 17): on torch 2.13 it exports the BERT-family
encoders our students use with logits equal to torch's to ~1e-8, while the ``torch.export`` path
needs per-model dynamic-shape specifications. :func:`parity` compares the ONNX model with torch on
texts (agreement of the argmax, largest logit difference, accuracy on gold labels) and
``onnx/onnx_export.json`` records it.

Example::

    export_onnx(Path("runs/it/student"), quantize=True)
    classifier = OnnxClassifier(Path("runs/it/student/onnx/model_int8.onnx"), tokenizer)
    logits = classifier.logits(["Ciao!"])          # (1, C) numpy
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from distill.errors import DistillError

OPSET = 17
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
RECORD = "onnx_export.json"


def _check_folder(folder: Path) -> None:
    if (folder / "xlt_distill_adapters.json").is_file():
        raise DistillError(
            f"{folder} is a per-language adapter export; ONNX exports one plain classifier",
            fix=f"export {folder}/merged/<lang>/ instead (student.lora.export_merged=true writes it)",
        )
    if not (folder / "config.json").is_file():
        raise DistillError(
            f"{folder} is not an exported student (no config.json)", fix="run the export stage first"
        )


def _atomic_target(final: Path) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".tmp-{final.name}-", dir=final.parent)
    os.close(fd)
    return Path(name)


def _load(folder: Path) -> tuple[Any, Any]:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    # Eager attention traces to plain MatMul/Softmax nodes that every ONNX Runtime build runs.
    model = AutoModelForSequenceClassification.from_pretrained(str(folder), attn_implementation="eager")
    return model.eval(), AutoTokenizer.from_pretrained(str(folder))


def export_onnx(folder: Path, *, quantize: bool = False, out: Path | None = None) -> Path:
    """Write ``model.onnx`` (and ``model_int8.onnx``) for the classifier export ``folder``.

    Returns:
        The folder the files are in (``out``, default ``folder / "onnx"``).

    Raises:
        DistillError: ``folder`` is not a plain classifier export.
    """
    import torch

    folder = Path(folder)
    _check_folder(folder)
    out = Path(out) if out is not None else folder / "onnx"
    out.mkdir(parents=True, exist_ok=True)
    model, tokenizer = _load(folder)
    sample = tokenizer(
        ["a short text", "a longer text to give two lengths"], padding=True, return_tensors="pt"
    )
    names = [n for n in INPUTS if n in sample]

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *args: Any) -> Any:
            return self.model(**dict(zip(names, args, strict=True))).logits

    tmp = _atomic_target(out / "model.onnx")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's deprecation and tracer notes
            torch.onnx.export(
                Logits().eval(),
                tuple(sample[n] for n in names),
                str(tmp),
                input_names=names,
                output_names=["logits"],
                dynamic_axes={**{n: {0: "batch", 1: "sequence"} for n in names}, "logits": {0: "batch"}},
                opset_version=OPSET,
                dynamo=False,
            )
        os.replace(tmp, out / "model.onnx")
    finally:
        tmp.unlink(missing_ok=True)
    files = ["model.onnx"]
    if quantize:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        tmp = _atomic_target(out / "model_int8.onnx")
        try:
            quantize_dynamic(str(out / "model.onnx"), str(tmp), weight_type=QuantType.QInt8)
            os.replace(tmp, out / "model_int8.onnx")
        finally:
            tmp.unlink(missing_ok=True)
        files.append("model_int8.onnx")
    write_record(out, {"files": files, "opset": OPSET, "inputs": names, "quantized": quantize})
    return out


def write_record(out: Path, fields: dict[str, Any]) -> None:
    """Merge ``fields`` into ``onnx/onnx_export.json`` (written atomically)."""
    from distill.utils.atomic import write_text_atomic

    path = out / RECORD
    record = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    write_text_atomic(path, json.dumps({**record, **fields}, indent=2) + "\n")


class OnnxClassifier:
    """An ONNX Runtime session over an exported classifier: texts in, logits out."""

    def __init__(self, onnx_file: Path, tokenizer: Any):
        import onnxruntime as ort

        self.session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.tokenizer = tokenizer

    def logits(self, texts: Sequence[str], max_length: int = 128) -> np.ndarray:
        enc = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="np"
        )
        feed = {name: np.asarray(enc[name], dtype=np.int64) for name in self.inputs}
        return np.asarray(self.session.run(["logits"], feed)[0])  # (B, C)


def _torch_logits(
    model: Any, tokenizer: Any, texts: Sequence[str], max_length: int, batch_size: int
) -> np.ndarray:
    import torch

    rows = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            enc = tokenizer(
                list(texts[start : start + batch_size]),
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            rows.append(model(**enc).logits.float().numpy())
    return np.concatenate(rows)


def parity(
    folder: Path,
    onnx_file: Path,
    texts: Sequence[str],
    labels: Sequence[int] | None = None,
    max_length: int = 128,
    batch_size: int = 32,
) -> dict[str, Any]:
    """How the ONNX model compares with the torch export on ``texts`` (and gold ``labels``)."""
    model, tokenizer = _load(Path(folder))
    reference = _torch_logits(model, tokenizer, texts, max_length, batch_size)
    session = OnnxClassifier(onnx_file, tokenizer)
    onnx = np.concatenate(
        [session.logits(texts[s : s + batch_size], max_length) for s in range(0, len(texts), batch_size)]
    )
    record: dict[str, Any] = {
        "file": Path(onnx_file).name,
        "n": len(texts),
        "agreement": float(np.mean(reference.argmax(1) == onnx.argmax(1))),
        "max_abs_logit_diff": float(np.abs(reference - onnx).max()),
    }
    if labels is not None:
        gold = np.asarray(labels)
        record["torch_accuracy"] = float(np.mean(reference.argmax(1) == gold))
        record["onnx_accuracy"] = float(np.mean(onnx.argmax(1) == gold))
        record["accuracy_delta_points"] = round(100 * (record["onnx_accuracy"] - record["torch_accuracy"]), 4)
    return record


def passes(
    record: dict[str, Any], min_agreement: float = 0.99, max_accuracy_drop_points: float = 0.5
) -> bool:
    """Whether a :func:`parity` record meets the bar (agreement, and accuracy when measured)."""
    drop = -float(record.get("accuracy_delta_points", 0.0))
    return float(record["agreement"]) >= min_agreement and drop <= max_accuracy_drop_points
