"""ONNX export of a student (``distill-export format=onnx``), int8 quantization, parity.

``export_onnx(folder)`` writes ``<folder>/onnx/model.onnx`` (inputs ``input_ids``,
``attention_mask`` and ``token_type_ids`` when the tokenizer makes them; output ``logits`` for a
classifier, ``last_hidden_state`` for an embedding export's encoder; batch and sequence axes
dynamic) and, with ``quantize``, ``model_int8.onnx`` (ONNX Runtime's dynamic quantization: int8
weights of the MatMuls with one scale per output channel, activations quantized on the fly). It
uses torch's TorchScript-based exporter (``dynamo=False``, opset 17): on torch 2.13 it exports the
BERT-family encoders our students use with outputs equal to torch's to ~1e-6, while the
``torch.export`` path needs per-model dynamic-shape specifications. :func:`parity` compares the
ONNX model with torch on texts (a classifier: agreement of the argmax, largest logit difference,
accuracy on gold labels; an encoder: cosine of the sentence vectors) and ``onnx/onnx_export.json``
records it.

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
from distill.utils.architectures import folder_kind
from distill.utils.sentence import pool, sentence_layout

OPSET = 17
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
RECORD = "onnx_export.json"
# The parity bar of an embedding export: every test text's ONNX vector this close to torch's.
MIN_COSINE = 0.99


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


def is_classifier(folder: Path) -> bool:
    """Whether the export ``folder`` is a sequence classifier (else an encoder: an embedding export)."""
    return folder_kind(folder) == "classification"


def _load(folder: Path) -> tuple[Any, Any]:
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    from distill.models.classifier import classifier_class

    # A classifier loads as the class its config names: a mean-pooling head (a fine-tuned teacher,
    # ``classifier_pooling: mean``) is not the [CLS] head AutoModelForSequenceClassification builds.
    config = AutoConfig.from_pretrained(str(folder))
    loader = classifier_class(config, None) if is_classifier(folder) else AutoModel
    # Eager attention traces to plain MatMul/Softmax nodes that every ONNX Runtime build runs.
    model = loader.from_pretrained(str(folder), attn_implementation="eager")
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
    output = "logits" if is_classifier(folder) else "last_hidden_state"
    output_axes = {0: "batch"} if output == "logits" else {0: "batch", 1: "sequence"}

    class Output(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *args: Any) -> Any:
            return getattr(self.model(**dict(zip(names, args, strict=True))), output)

    tmp = _atomic_target(out / "model.onnx")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's deprecation and tracer notes
            torch.onnx.export(
                Output().eval(),
                tuple(sample[n] for n in names),
                str(tmp),
                input_names=names,
                output_names=[output],
                dynamic_axes={**{n: {0: "batch", 1: "sequence"} for n in names}, output: output_axes},
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
            # Per-channel weight scales: on the demo student 94% agreement with fp32 instead of 90%
            # per-tensor, and faster (experiments/bench README, section 8).
            quantize_dynamic(str(out / "model.onnx"), str(tmp), weight_type=QuantType.QInt8, per_channel=True)
            os.replace(tmp, out / "model_int8.onnx")
        finally:
            tmp.unlink(missing_ok=True)
        files.append("model_int8.onnx")
    write_record(
        out, {"files": files, "opset": OPSET, "inputs": names, "output": output, "quantized": quantize}
    )
    return out


def write_record(out: Path, fields: dict[str, Any]) -> None:
    """Merge ``fields`` into ``onnx/onnx_export.json`` (written atomically)."""
    from distill.utils.atomic import write_text_atomic

    path = out / RECORD
    record = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    write_text_atomic(path, json.dumps({**record, **fields}, indent=2) + "\n")


class OnnxClassifier:
    """An ONNX Runtime session over an export: texts in, its output (``logits`` of a classifier,
    ``last_hidden_state`` of an encoder) out."""

    def __init__(self, onnx_file: Path, tokenizer: Any):
        import onnxruntime as ort

        self.session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.output = self.session.get_outputs()[0].name
        self.tokenizer = tokenizer

    def logits(self, texts: Sequence[str], max_length: int = 128) -> np.ndarray:
        enc = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="np"
        )
        return self.run(enc)

    def run(self, arrays: Any) -> np.ndarray:
        """The output (``(B, C)`` logits or ``(B, T, H)`` hidden states) of tokenized, padded inputs
        (name -> ``(B, T)`` array)."""
        feed = {name: np.asarray(arrays[name], dtype=np.int64) for name in self.inputs}
        return np.asarray(self.session.run([self.output], feed)[0])


def _outputs(
    run: Any, tokenizer: Any, texts: Sequence[str], max_length: int, batch_size: int, layout: Any
) -> np.ndarray:
    """``run(encoded batch)`` over ``texts`` in batches: logits, or pooled vectors when ``layout``."""
    rows = []
    for start in range(0, len(texts), batch_size):
        enc = tokenizer(
            list(texts[start : start + batch_size]),
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="np",
        )
        out = run(enc)
        rows.append(pool(out, enc["attention_mask"], *layout) if layout else out)
    return np.concatenate(rows)


def parity(
    folder: Path,
    onnx_file: Path,
    texts: Sequence[str],
    labels: Sequence[int] | None = None,
    max_length: int = 128,
    batch_size: int = 32,
) -> dict[str, Any]:
    """How the ONNX model compares with the torch export on ``texts`` (and gold ``labels``).

    A classifier: agreement of the argmax, largest logit difference, accuracy on ``labels``. An
    encoder (embedding export): cosine of the ONNX and torch sentence vectors (pooled as the
    export's sentence-transformers files say), smallest and mean.
    """
    import torch

    model, tokenizer = _load(Path(folder))
    layout = None if is_classifier(Path(folder)) else sentence_layout(Path(folder))

    def torch_run(enc: Any) -> np.ndarray:
        with torch.inference_mode():
            out = model(**{k: torch.from_numpy(np.asarray(v)) for k, v in enc.items()})
        return (out.logits if layout is None else out.last_hidden_state).float().numpy()  # type: ignore[no-any-return]

    reference = _outputs(torch_run, tokenizer, texts, max_length, batch_size, layout)
    session = OnnxClassifier(onnx_file, tokenizer)
    onnx = _outputs(session.run, tokenizer, texts, max_length, batch_size, layout)
    record: dict[str, Any] = {"file": Path(onnx_file).name, "n": len(texts)}
    if layout is not None:
        cosine = (reference * onnx).sum(1) / (
            np.linalg.norm(reference, axis=1) * np.linalg.norm(onnx, axis=1) + 1e-12
        )
        return {
            **record,
            "kind": "embedding",
            "min_cosine": float(cosine.min()),
            "mean_cosine": float(cosine.mean()),
            "max_abs_diff": float(np.abs(reference - onnx).max()),
        }
    record["agreement"] = float(np.mean(reference.argmax(1) == onnx.argmax(1)))
    record["max_abs_logit_diff"] = float(np.abs(reference - onnx).max())
    if labels is not None:
        gold = np.asarray(labels)
        record["torch_accuracy"] = float(np.mean(reference.argmax(1) == gold))
        record["onnx_accuracy"] = float(np.mean(onnx.argmax(1) == gold))
        record["accuracy_delta_points"] = round(100 * (record["onnx_accuracy"] - record["torch_accuracy"]), 4)
    return record


def passes(
    record: dict[str, Any],
    min_agreement: float = 0.99,
    max_accuracy_drop_points: float = 0.5,
    min_cosine: float = MIN_COSINE,
) -> bool:
    """Whether a :func:`parity` record meets the bar: agreement (and accuracy when measured) for
    a classifier, the smallest cosine for an encoder."""
    if record.get("kind") == "embedding":
        return float(record["min_cosine"]) >= min_cosine
    drop = -float(record.get("accuracy_delta_points", 0.0))
    return float(record["agreement"]) >= min_agreement and drop <= max_accuracy_drop_points
