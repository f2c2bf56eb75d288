"""Sentence encoders: loaded with one line instead of transformers' load report for the unused pooler,
and cut to their first layers (``student.num_layers``)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from distill.errors import DistillError
from distill.models.encoder import keep_layers, load_encoder
from distill.models.resolve import resolve_model
from distill.settings import check_num_layers

TINY = "xlt-distill/tiny-random-bert"  # 2 layers; its checkpoint has no pooler, like converted e5


def test_a_checkpoint_without_pooler_loads_with_one_line_instead_of_the_load_report(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from transformers import AutoModel

    def reported() -> bool:
        found = any("LOAD REPORT" in r.getMessage() for r in caplog.records)
        caplog.clear()
        return found

    AutoModel.from_pretrained(resolve_model(TINY).location)
    assert reported()  # what plain loading logs: the pooler is missing from the checkpoint
    with caplog.at_level(logging.INFO, logger="distill"):
        model, _ = load_encoder(TINY)
        lines = [r.getMessage() for r in caplog.records if r.name.startswith("distill")]
    assert not reported() and model.pooler is not None  # saved with an export: loads quietly there
    assert any("sentence encoder (initialised: pooler.dense.bias" in line for line in lines)
    model, _ = load_encoder("sentence-transformers/all-MiniLM-L6-v2")  # has pooler weights
    assert not reported()


def test_keep_layers_cuts_the_encoder_and_its_config() -> None:
    model, tokenizer = load_encoder(TINY)
    batch = tokenizer(["the robot likes music"], return_tensors="pt")
    with torch.inference_mode():
        first = model(**batch, output_hidden_states=True).hidden_states[1]
        keep_layers(model, 1)
        out = model(**batch)
    assert len(model.encoder.layer) == 1 and model.config.num_hidden_layers == 1
    torch.testing.assert_close(out.last_hidden_state, first)  # the first layer's output, as before
    with pytest.raises(DistillError, match="1 to 1"):
        keep_layers(model, 2)
    with pytest.raises(DistillError, match="BERT-like"):
        keep_layers(nn.Linear(2, 2), 1)


def test_num_layers_is_a_count_for_a_fresh_embedding_or_classification_student() -> None:
    def cfg(task: str, num_layers: object, init_from: object = None) -> object:
        return OmegaConf.create({"task": task, "student": {"num_layers": num_layers, "init_from": init_from}})

    check_num_layers(cfg("embedding", 4))
    check_num_layers(cfg("classification", 2))
    check_num_layers(cfg("token_classification", None))
    for bad in (0, "4", True):
        with pytest.raises(DistillError, match="layer count"):
            check_num_layers(cfg("embedding", bad))
    with pytest.raises(DistillError, match="task=embedding or task=classification"):
        check_num_layers(cfg("token_classification", 2))
    with pytest.raises(DistillError, match="fresh student"):
        check_num_layers(cfg("classification", 2, "runs/a/student"))


def test_a_classification_student_cut_to_its_first_layer_exports_and_loads_as_cut(tmp_path: Path) -> None:
    from transformers import AutoModelForSequenceClassification

    from distill.stages.distill import build_student
    from tests.integration.helpers import compose_cfg

    cfg = compose_cfg(tmp_path / "run", "debug=tiny", "student.num_layers=1")
    labels = ["greetings", "music"]
    full, _ = build_student(compose_cfg(tmp_path / "full", "debug=tiny"), labels, ["it"])
    system, tokenizer = build_student(cfg, labels, ["it"])
    model = system.model.eval()
    assert len(full.model.base_model.encoder.layer) == 2 and len(model.base_model.encoder.layer) == 1
    assert model.config.num_hidden_layers == 1
    # Its one layer is the pretrained first layer, unchanged.
    torch.testing.assert_close(
        model.base_model.encoder.layer[0].state_dict(), full.model.base_model.encoder.layer[0].state_dict()
    )
    model.save_pretrained(tmp_path / "export")
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "export").eval()
    batch = tokenizer(["the robot likes music", "hello"], return_tensors="pt", padding=True)
    with torch.inference_mode():
        torch.testing.assert_close(loaded(**batch).logits, model(**batch).logits)
    assert len(loaded.base_model.encoder.layer) == 1


def test_a_checkpoint_of_a_cut_classification_student_loads_cut(tmp_path: Path) -> None:
    from distill.stages.distill import build_student
    from distill.student import load_student_checkpoint
    from tests.integration.helpers import compose_cfg

    labels = ["greetings", "music"]
    system, tokenizer = build_student(
        compose_cfg(tmp_path / "run", "debug=tiny", "student.num_layers=1"), labels, ["it"]
    )
    # What the distill stage's checkpoints hold: the system's state dict and its hyperparameters.
    ckpt = tmp_path / "epoch00.ckpt"
    torch.save({"state_dict": system.state_dict(), "hyper_parameters": dict(system.hparams)}, ckpt)
    model, _ = load_student_checkpoint(ckpt, labels=labels)
    assert len(model.base_model.encoder.layer) == 1 and model.config.num_hidden_layers == 1
    batch = tokenizer(["the robot likes music"], return_tensors="pt")
    with torch.inference_mode():
        torch.testing.assert_close(model(**batch).logits, system.model.eval()(**batch).logits)
