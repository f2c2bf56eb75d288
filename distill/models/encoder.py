"""Sentence encoders: a plain ``AutoModel`` (no head), mean pooling, batched encoding of texts, and
cutting an encoder to its first layers."""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from distill.errors import DistillError
from distill.models.classifier import length_sorted_batches, mean_pool
from distill.models.resolve import resolve_model


def load_encoder(ref: str) -> tuple[Any, Any]:
    """An encoder (``AutoModel``, no head) and its tokenizer from a folder, hub id or packaged name.

    Sentence encoders never read the pooler (the dense layer over ``[CLS]``): a checkpoint without
    pooler weights (multilingual-e5-small as converted here, the tiny test model) loads without the
    layer, where the model class takes ``add_pooling_layer``, instead of with a freshly initialised
    one and transformers' load report about it. A checkpoint with pooler weights loads as it is.
    """
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    location = resolve_model(ref).location
    config = AutoConfig.from_pretrained(location)
    kw: dict[str, Any] = (
        {"add_pooling_layer": False} if _takes_pooling_flag(config) and not _has_pooler(location) else {}
    )
    return AutoModel.from_pretrained(location, config=config, **kw), AutoTokenizer.from_pretrained(location)


def _takes_pooling_flag(config: Any) -> bool:
    from transformers.models.auto.modeling_auto import MODEL_MAPPING

    try:
        model_class: Any = MODEL_MAPPING[type(config)]
    except KeyError:  # a model class AutoModel does not know by its config (remote code)
        return False
    return "add_pooling_layer" in inspect.signature(model_class).parameters


def _has_pooler(location: str) -> bool:
    """Whether the checkpoint's safetensors weights hold a pooler (``pooler.*``, any prefix); true
    when it cannot tell (``.bin`` weights only), so that such a model loads as before."""
    from safetensors import safe_open
    from transformers.utils import cached_file

    def find(name: str) -> str | None:
        return cached_file(
            location,
            name,
            _raise_exceptions_for_missing_entries=False,
            _raise_exceptions_for_connection_errors=False,
        )

    if index := find("model.safetensors.index.json"):
        names = set(json.loads(Path(index).read_text(encoding="utf-8"))["weight_map"])
    elif single := find("model.safetensors"):
        with safe_open(single, "pt") as f:
            names = set(f.keys())
    else:
        return True
    return any(".pooler." in f".{name}" for name in names)


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
