"""A tiny run with student.trim_vocab=true: the export is smaller and loads with plain transformers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from distill.models.classifier import predict_logits
from distill.pipeline import run
from tests.integration.helpers import compose_cfg


def test_trimmed_student_exports_and_predicts_the_same(tmp_path: Path) -> None:
    cfg = compose_cfg(
        tmp_path,
        "debug=tiny",
        "logger=none",
        "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false",
        "data.target_langs=[it]",
        "student.trim_vocab=true",
        "student.trim_vocab_extra=[xylophone]",
    )
    metrics, objects = run(cfg)
    folder = tmp_path / "student"
    config = json.loads((folder / "config.json").read_text())
    trim = config["xlt_distill_vocab_trim"]
    assert trim["pieces_after"] < trim["pieces_before"] and trim["params_after"] < trim["params_before"]
    assert config["vocab_size"] == trim["pieces_after"]
    assert "## Vocabulary" in (folder / "README.md").read_text()

    model = AutoModelForSequenceClassification.from_pretrained(str(folder)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    assert len(tokenizer) == trim["pieces_after"]
    assert "xylophone" in tokenizer.get_vocab() or tokenizer.tokenize("xylophone") != [tokenizer.unk_token]
    test = objects["system"]  # the trained system in memory; the export must predict the same
    texts = ["ciao, il film è bello", "the movie is good", "zzz qqq"]
    kw = {"max_length": int(cfg.student.max_length)}
    mine = predict_logits(test.model, objects["tokenizer"], texts, **kw)
    theirs = predict_logits(model, tokenizer, texts, **kw)
    np.testing.assert_allclose(theirs, mine, atol=1e-5)
    assert any(r["system"] == "student" for r in metrics["results"])
    assert torch.is_tensor(model.get_input_embeddings().weight)


def test_trimming_an_adapter_student_is_refused_before_training(tmp_path: Path) -> None:
    import pytest

    from distill.errors import DistillError

    cfg = compose_cfg(
        tmp_path, "debug=tiny", "logger=none", "student.trim_vocab=true", "student.adapters=lora"
    )
    with pytest.raises(DistillError, match=r"student.trim_vocab trims a fresh student") as err:
        run(cfg)
    assert err.value.fix == "set student.trim_vocab=false"
    assert not (tmp_path / "labels.json").exists()  # refused before the teacher and the label stage
