"""Sentence encoders: a plain ``AutoModel`` (no head), mean pooling, batched encoding of texts, and
cutting an encoder to its first layers."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from distill.errors import DistillError
from distill.models.classifier import length_sorted_batches, mean_pool, new_head_report
from distill.models.resolve import resolve_model


def load_encoder(ref: str, what: str = "sentence encoder") -> tuple[Any, Any]:
    """An encoder (``AutoModel``, no head) and its tokenizer from a folder, hub id or packaged name.

    Sentence encoders never read the pooler (the dense layer over ``[CLS]``); a checkpoint without
    its weights (multilingual-e5-small as converted here) gets a fresh one, as ``AutoModel`` does,
    and one log line (``what`` names the load) instead of transformers' load report table. The fresh
    pooler is saved with an export, so the export loads quietly anywhere.
    """
    from transformers import AutoModel, AutoTokenizer

    location = resolve_model(ref).location
    with new_head_report(ref, what) as report:
        model, report.info = AutoModel.from_pretrained(location, output_loading_info=True)
    return model, AutoTokenizer.from_pretrained(location)


def keep_layers(model: Any, num_layers: int) -> Any:
    """Keep the first ``num_layers`` transformer layers of a BERT-like encoder (``encoder.layer``),
    in place, and say so in its config so that ``save_pretrained`` writes a model that loads as is.

    A shallower student runs in a fraction of the time; its lower layers start from the pretrained
    ones, and distillation teaches them what the cut-off layers did.

    Raises:
        DistillError: The encoder has no ``encoder.layer`` list, or ``num_layers`` is not in 1..its
            layer count.
    """
    layers = getattr(getattr(model, "encoder", None), "layer", None)
    if not isinstance(layers, nn.ModuleList):
        raise DistillError(
            f"student.num_layers needs a BERT-like encoder (a list of layers at encoder.layer); "
            f"{type(model).__name__} has none",
            fix="set student.num_layers=null (every layer), or use a BERT-like student",
        )
    total = len(layers)
    if isinstance(num_layers, bool) or not isinstance(num_layers, int) or not 1 <= num_layers <= total:
        raise DistillError(
            f"student.num_layers={num_layers!r} is not a layer count of this encoder ({total} layers)",
            fix=f"set student.num_layers to a number from 1 to {total}, or null for every layer",
        )
    model.encoder.layer = nn.ModuleList(list(layers)[:num_layers])
    model.config.num_hidden_layers = num_layers
    return model


def layers_in_state(state: Mapping[str, Any]) -> int | None:
    """How many transformer layers (``...encoder.layer.<i>.`` keys) a state dict holds, the layout
    :func:`keep_layers` cuts; ``None`` if it holds none."""
    found = {int(m.group(1)) for k in state if (m := re.search(r"\.encoder\.layer\.(\d+)\.", k))}
    return max(found) + 1 if found else None


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
