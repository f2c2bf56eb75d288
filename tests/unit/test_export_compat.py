"""Exports made by an earlier version still load and predict the same (fixtures in tests/fixtures)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from distill import load_student

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "exports"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())


@pytest.mark.parametrize(("name", "lang"), [("plain_v0.1", None), ("adapters_v0.1", "it")])
def test_an_earlier_export_loads_and_predicts_the_same(name: str, lang: str | None) -> None:
    model, tokenizer = load_student(FIXTURES / name, lang=lang)
    with torch.inference_mode():
        logits = model(**tokenizer(EXPECTED["texts"], padding=True, return_tensors="pt")).logits
    # Recorded on another machine: float kernels may differ in the last bits, not more.
    np.testing.assert_allclose(logits.numpy(), np.asarray(EXPECTED["logits"][name]), rtol=0, atol=1e-5)
