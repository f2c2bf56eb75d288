"""Sequence classifiers (teacher and student) as plain ``transformers`` models, and batched inference.

Both the teacher and the student are ``AutoModelForSequenceClassification`` models, so whatever this
project trains loads anywhere with plain ``transformers``. A sentence encoder (all-MiniLM-L6-v2,
multilingual-e5-small) gets a new classification head; a ready classifier is loaded as is and its
label set is checked against the data's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from distill.errors import DistillError
from distill.models.resolve import resolve_model

log = logging.getLogger(__name__)


def label_maps(labels: Sequence[str]) -> tuple[dict[int, str], dict[str, int]]:
    """``id2label`` / ``label2id`` for label names in a fixed order."""
    return dict(enumerate(labels)), {name: i for i, name in enumerate(labels)}


def _existing_labels(config: Any) -> list[str] | None:
    """The label names of a config that is already a classifier, else ``None``."""
    archs = getattr(config, "architectures", None) or []
    if not any(a.endswith("ForSequenceClassification") for a in archs):
        return None
    id2label = getattr(config, "id2label", None) or {}
    return [id2label[i] for i in sorted(id2label)]


def load_classifier(ref: str, labels: Sequence[str] | None = None) -> tuple[Any, Any]:
    """Load a classifier and its tokenizer from a folder, hub id or packaged name.

    Args:
        ref: Model reference (see :func:`distill.models.resolve.resolve_model`).
        labels: The label names, in id order. An encoder gets a new head with these labels; a
            model that is already a classifier must have exactly these labels.

    Returns:
        ``(model, tokenizer)``.

    Raises:
        DistillError: When a ready classifier's labels differ from ``labels``, or an encoder is
            given without labels.
    """
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    location = resolve_model(ref).location
    config = AutoConfig.from_pretrained(location)
    existing = _existing_labels(config)
    if existing is not None:
        if labels is not None and list(labels) != existing:
            raise DistillError(
                f"classifier {ref} has labels {existing}, but the data has {list(labels)}",
                fix="use a classifier trained on the same label set, or fine-tune a new teacher",
            )
        model = AutoModelForSequenceClassification.from_pretrained(location)
    else:
        if not labels:
            raise DistillError(f"{ref} is an encoder without a classification head and no labels were given")
        id2label, label2id = label_maps(labels)
        model = AutoModelForSequenceClassification.from_pretrained(
            location, num_labels=len(labels), id2label=id2label, label2id=label2id
        )
    tokenizer = AutoTokenizer.from_pretrained(location)
    return model, tokenizer


def _length_order(tokenizer: Any, texts: Sequence[str], max_length: int) -> np.ndarray:
    lengths = [
        len(ids) for ids in tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    ]
    # Longest first: the first batch shows the peak memory at once, and padding stays minimal.
    return np.argsort(-np.asarray(lengths), kind="stable")


def length_sorted_batches(
    tokenizer: Any,
    texts: Sequence[str],
    *,
    batch_size: int,
    max_length: int,
    device: torch.device,
    prefix: str = "",
    progress: bool = False,
    desc: str = "predict",
) -> Iterator[tuple[np.ndarray, Any]]:
    """Yield ``(row indices, tokenised batch)``, longest texts first, each batch padded to its longest.

    Writing each batch's outputs to ``out[idx]`` restores the original order. A progress bar with
    sentences per second is shown when ``progress`` is set.
    """
    inputs = [prefix + t for t in texts]
    order = _length_order(tokenizer, inputs, max_length)
    with tqdm(total=len(inputs), desc=desc, unit="sent", disable=not progress) as bar:
        for lo in range(0, len(inputs), batch_size):
            idx = order[lo : lo + batch_size]
            batch = tokenizer(
                [inputs[i] for i in idx],
                truncation=True,
                max_length=max_length,
                padding=True,
                return_tensors="pt",
            ).to(device)
            yield idx, batch
            bar.update(len(idx))


@torch.inference_mode()
def predict_logits(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    batch_size: int = 64,
    max_length: int = 128,
    prefix: str = "",
    progress: bool = False,
    desc: str = "predict",
) -> np.ndarray:
    """Raw logits for ``texts``: length-sorted batches with dynamic padding, original order kept.

    Args:
        model: A sequence classifier; put in eval mode here.
        tokenizer: Its tokenizer.
        texts: Input texts.
        batch_size: Texts per forward pass.
        max_length: Truncation length in tokens.
        prefix: Prepended to every text (e.g. ``"query: "`` for E5 models).
        progress: Show a progress bar with sentences per second.
        desc: Progress bar label.

    Returns:
        float32 array of shape ``(len(texts), num_labels)``.
    """
    model.eval()
    out = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
    start = time.perf_counter()
    batches = length_sorted_batches(
        tokenizer,
        texts,
        batch_size=batch_size,
        max_length=max_length,
        device=next(model.parameters()).device,
        prefix=prefix,
        progress=progress,
        desc=desc,
    )
    for idx, batch in batches:
        out[idx] = model(**batch).logits.float().cpu().numpy()  # (b, C)
    if len(texts):
        seconds = time.perf_counter() - start
        log.info("%s: %d texts in %.1f s (%.0f sentences/s)", desc, len(texts), seconds, len(texts) / seconds)
    return out
