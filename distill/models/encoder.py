"""Sentence encoders: a plain ``AutoModel`` (no head), mean pooling, and batched encoding of texts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from distill.models.classifier import length_sorted_batches, mean_pool
from distill.models.resolve import resolve_model


def load_encoder(ref: str) -> tuple[Any, Any]:
    """An encoder (``AutoModel``, no head) and its tokenizer from a folder, hub id or packaged name."""
    from transformers import AutoModel, AutoTokenizer

    location = resolve_model(ref).location
    return AutoModel.from_pretrained(location), AutoTokenizer.from_pretrained(location)


def pooled(model: Any, batch: Mapping[str, Tensor], normalize: bool) -> Tensor:
    """Mean-pooled last hidden states ``(B, H)``, L2-normalised when ``normalize``."""
    hidden = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    emb = mean_pool(hidden, batch["attention_mask"])  # (B, H)
    return nn.functional.normalize(emb, dim=-1) if normalize else emb


@torch.inference_mode()
def encode(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    normalize: bool,
    max_length: int = 128,
    batch_size: int = 64,
    prefix: str = "",
    desc: str = "encode",
) -> np.ndarray:
    """Sentence embeddings ``(N, H)`` in length-sorted batches, original order kept."""
    was_training = model.training
    model.eval()
    out = np.zeros((len(texts), int(model.config.hidden_size)), dtype=np.float32)
    device = next(model.parameters()).device
    batches = length_sorted_batches(
        tokenizer,
        texts,
        batch_size=batch_size,
        max_length=max_length,
        device=device,
        prefix=prefix,
        desc=desc,
    )
    for idx, batch in batches:
        out[idx] = pooled(model, batch, normalize).float().cpu().numpy()
    model.train(was_training)
    return out
