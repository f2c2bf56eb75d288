from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import AutoModel, AutoTokenizer

from distill.models.tiny import build_tiny_encoder


def test_tiny_encoder_loads_and_is_deterministic(tmp_path: Path) -> None:
    a = build_tiny_encoder(tmp_path / "a", seed=3)
    b = build_tiny_encoder(tmp_path / "b", seed=3)
    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)

    tok = AutoTokenizer.from_pretrained(str(a))
    model = AutoModel.from_pretrained(str(a), add_pooling_layer=False)
    batch = tok(["Ciao, il film è bello!", "日本語 text"], padding=True, return_tensors="pt")
    assert batch["input_ids"][0, 0].item() == tok.cls_token_id
    with torch.inference_mode():
        out = model(**batch).last_hidden_state  # (B, T, H)
    assert out.shape[0] == 2 and out.shape[2] == 32
    assert torch.isfinite(out).all()
