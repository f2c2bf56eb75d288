"""ONNX export of a classifier student: logits equal torch's, int8 agrees, parity records, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from distill.errors import DistillError
from distill.onnx_export import OnnxClassifier, export_onnx, parity, passes

TEXTS = ["ciao come stai bene grazie mille", "a", "the movie is good", "日本語 text", "money food sports"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from distill.export import export_student
    from distill.models.tiny import build_tiny_encoder

    root = tmp_path_factory.mktemp("onnx")
    enc = build_tiny_encoder(root / "encoder")
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(str(enc), num_labels=3)
    with torch.no_grad():  # logits of a useful size, so that a wrong graph shows
        model.classifier.weight.mul_(50)
    return export_student(
        model,
        AutoTokenizer.from_pretrained(str(enc)),
        root / "student",
        base_model="tiny",
        teacher="tiny",
        languages=["en", "it"],
        command="test",
    )


def test_onnx_logits_equal_torch_on_a_padded_batch_and_int8_agrees(folder: Path) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    out = export_onnx(folder, quantize=True)
    assert (out / "model.onnx").is_file() and (out / "model_int8.onnx").is_file()
    assert not list(out.glob(".tmp-*"))
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForSequenceClassification.from_pretrained(str(folder)).eval()
    with torch.inference_mode():
        reference = model(**tokenizer(TEXTS, padding=True, return_tensors="pt")).logits.numpy()
    assert np.abs(reference).max() > 0.1
    np.testing.assert_allclose(
        OnnxClassifier(out / "model.onnx", tokenizer).logits(TEXTS), reference, atol=1e-4
    )
    record = json.loads((out / "onnx_export.json").read_text())
    assert record["files"] == ["model.onnx", "model_int8.onnx"] and record["quantized"] is True

    fp32 = parity(folder, out / "model.onnx", TEXTS * 4)
    int8 = parity(folder, out / "model_int8.onnx", TEXTS * 4)
    assert fp32["agreement"] == 1.0 and fp32["max_abs_logit_diff"] < 1e-4 and passes(fp32)
    assert int8["agreement"] >= 0.8 and int8["max_abs_logit_diff"] > fp32["max_abs_logit_diff"]


def test_parity_accuracy_fields_against_hand_made_labels(folder: Path) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    out = export_onnx(folder)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForSequenceClassification.from_pretrained(str(folder)).eval()
    with torch.inference_mode():
        preds = model(**tokenizer(TEXTS, padding=True, return_tensors="pt")).logits.argmax(1).tolist()
    labels = [preds[0], preds[1], (preds[2] + 1) % 3, (preds[3] + 1) % 3, preds[4]]  # 3 of 5 right
    record = parity(folder, out / "model.onnx", TEXTS, labels)
    assert record["torch_accuracy"] == pytest.approx(0.6) and record["onnx_accuracy"] == pytest.approx(0.6)
    assert record["accuracy_delta_points"] == 0.0
    assert not passes({"agreement": 0.985}) and not passes({"agreement": 1.0, "accuracy_delta_points": -0.6})


def test_a_folder_that_is_not_a_plain_classifier_export_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DistillError, match=r"no config\.json"):
        export_onnx(tmp_path)
    (tmp_path / "xlt_distill_adapters.json").write_text("{}")
    with pytest.raises(DistillError, match="merged/<lang>/"):
        export_onnx(tmp_path)


def test_an_embedding_export_gets_its_hidden_states_and_a_cosine_parity(tmp_path: Path) -> None:
    from tests.serve_helpers import make_embedding_export

    folder = make_embedding_export(tmp_path, normalize=False, prefix="")
    out = export_onnx(folder, quantize=True)
    record = json.loads((out / "onnx_export.json").read_text())
    assert record["output"] == "last_hidden_state" and record["files"] == ["model.onnx", "model_int8.onnx"]
    fp32 = parity(folder, out / "model.onnx", TEXTS)
    assert fp32["kind"] == "embedding" and fp32["n"] == len(TEXTS) and "agreement" not in fp32
    assert fp32["min_cosine"] > 0.99999 and passes(fp32)
    int8 = parity(folder, out / "model_int8.onnx", TEXTS)
    assert int8["min_cosine"] < fp32["min_cosine"]  # quantization moves the vectors a little
    assert not passes({**fp32, "min_cosine": 0.5})
