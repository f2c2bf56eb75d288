"""Sequence classifiers (teacher and student) as plain ``transformers`` models, and batched inference.

The student is a plain ``AutoModelForSequenceClassification`` (the head reads the ``[CLS]`` pooler),
so the export loads anywhere with plain ``transformers``. The teacher a sentence encoder becomes
(all-MiniLM-L6-v2 was trained with mean pooling) reads the *mean* of the last hidden states instead,
as in sentence-transformers: :class:`MeanPoolingBertForSequenceClassification`, marked in its
``config.json`` with ``"classifier_pooling": "mean"`` so that :func:`load_classifier` rebuilds it.
A ready classifier is loaded as is and its label set is checked against the data's.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from distill.data.collate import PADDED_INPUTS, count_tokens, pad_rows
from distill.errors import DistillError
from distill.models.resolve import resolve_model
from distill.utils.architectures import head_kind
from distill.utils.console import FILE_ONLY

log = logging.getLogger(__name__)


def label_maps(labels: Sequence[str]) -> tuple[dict[int, str], dict[str, int]]:
    """``id2label`` / ``label2id`` for label names in a fixed order."""
    return dict(enumerate(labels)), {name: i for i, name in enumerate(labels)}


POOLING_KEY = "classifier_pooling"
POOLINGS = ("cls", "mean")


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``hidden`` ``(B, T, H)`` over the tokens where ``mask`` ``(B, T)`` is 1: ``(B, H)``."""
    if mask is None:
        return hidden.mean(1)
    weights = mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


def _mean_pooling_class() -> type:
    """Built on first use, so importing this module does not import the BERT modelling code."""
    from torch.nn import functional as F
    from transformers import BertForSequenceClassification
    from transformers.modeling_outputs import SequenceClassifierOutput

    class MeanPoolingBertForSequenceClassification(BertForSequenceClassification):  # type: ignore[misc]
        """A BERT classifier whose linear head reads the mean-pooled last hidden states.

        The ``[CLS]`` pooler of :class:`BertForSequenceClassification` is dropped; the head is
        ``classifier(dropout(mean_pool(last_hidden_state, attention_mask)))``.
        """

        def __init__(self, config: Any) -> None:
            super().__init__(config)
            self.bert.pooler = None
            self.post_init()

        def forward(  # type: ignore[override]
            self,
            input_ids: torch.Tensor | None = None,
            attention_mask: torch.Tensor | None = None,
            token_type_ids: torch.Tensor | None = None,
            position_ids: torch.Tensor | None = None,
            inputs_embeds: torch.Tensor | None = None,
            labels: torch.Tensor | None = None,
            **kwargs: Any,
        ) -> Any:
            out = self.bert(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=token_type_ids,
                position_ids=position_ids,
                inputs_embeds=inputs_embeds,
                **kwargs,
            )
            logits = self.classifier(self.dropout(mean_pool(out[0], attention_mask)))  # (B, C)
            loss = None if labels is None else F.cross_entropy(logits, labels)
            return SequenceClassifierOutput(
                loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions
            )

    return MeanPoolingBertForSequenceClassification


_CLASSES: dict[str, type] = {}


def classifier_class(config: Any, pooling: str | None) -> Any:
    """The model class for ``config`` and ``pooling`` (``None``: what the config says, else ``cls``).

    Raises:
        DistillError: An unknown pooling, or mean pooling for an encoder that is not BERT-like.
    """
    from transformers import AutoModelForSequenceClassification

    pooling = pooling or getattr(config, POOLING_KEY, None) or "cls"
    if pooling not in POOLINGS:
        raise DistillError(f"unknown classifier pooling {pooling!r}", fix=f"use one of {', '.join(POOLINGS)}")
    if pooling == "cls":
        return AutoModelForSequenceClassification
    model_type = getattr(config, "model_type", None)
    if model_type != "bert":
        raise DistillError(
            f"mean pooling is implemented for BERT encoders; this one is {model_type!r}",
            fix="set teacher.pooling=cls for this encoder",
        )
    if "mean" not in _CLASSES:
        _CLASSES["mean"] = _mean_pooling_class()
    return _CLASSES["mean"]


def _existing_labels(config: Any) -> list[str] | None:
    """The label names of a config that is already a classifier, else ``None``."""
    if head_kind(config) != "classification":
        return None
    id2label = getattr(config, "id2label", None) or {}
    return [id2label[i] for i in sorted(id2label)]


def classifier_labels(ref: str) -> list[str]:
    """The ``id2label`` names (in id order) of a ready classifier, read from its config only.

    Raises:
        DistillError: ``ref`` is not a sequence classifier (e.g. a bare encoder).
    """
    from transformers import AutoConfig

    with loading_errors(ref, "config"):
        config = AutoConfig.from_pretrained(resolve_model(ref).location)
    labels = _existing_labels(config)
    if labels is None:
        archs = getattr(config, "architectures", None) or []
        raise DistillError(
            f"{ref} is not a sequence classifier (architectures: {archs or 'none'})",
            fix="give a fine-tuned classifier as teacher.path, or set teacher.model to fine-tune an encoder",
        )
    return labels


def load_classifier(
    ref: str, labels: Sequence[str] | None = None, pooling: str | None = None
) -> tuple[Any, Any]:
    """Load a classifier and its tokenizer from a folder, hub id or packaged name.

    Args:
        ref: Model reference (see :func:`distill.models.resolve.resolve_model`).
        labels: The label names, in id order. An encoder gets a new head with these labels; a
            model that is already a classifier must have exactly these labels.
        pooling: For an encoder's new head: ``cls`` (the ``[CLS]`` pooler, plain ``transformers``)
            or ``mean`` (BERT encoders only). A ready classifier keeps the pooling it was saved
            with (``classifier_pooling`` in its config).

    Returns:
        ``(model, tokenizer)``.

    Raises:
        DistillError: When a ready classifier's labels differ from ``labels``, or an encoder is
            given without labels.
    """
    from transformers import AutoConfig, AutoTokenizer

    location = resolve_model(ref).location
    with loading_errors(ref, "config"):
        config = AutoConfig.from_pretrained(location)
    existing = _existing_labels(config)
    if existing is not None:
        if labels is not None and list(labels) != existing:
            raise DistillError(
                f"classifier {ref} has labels {existing}, but the data has {list(labels)}",
                fix="use a classifier trained on the same label set, or fine-tune a new teacher",
            )
        with loading_errors(ref, "weights"):
            model = classifier_class(config, None).from_pretrained(location)
    else:
        if not labels:
            raise DistillError(f"{ref} is an encoder without a classification head and no labels were given")
        id2label, label2id = label_maps(labels)
        cls = classifier_class(config, pooling)
        config = AutoConfig.from_pretrained(
            location, num_labels=len(labels), id2label=id2label, label2id=label2id
        )
        if pooling == "mean":
            setattr(config, POOLING_KEY, "mean")  # saved in config.json: reloads as mean pooling
        with loading_errors(ref, "weights"), new_head_report(ref) as report:
            model, report.info = cls.from_pretrained(location, config=config, output_loading_info=True)
    with loading_errors(ref, "tokenizer"):
        tokenizer = AutoTokenizer.from_pretrained(location)
    check_tokenizer(model, tokenizer, ref)
    return model, tokenizer


def freeze(model: Any) -> Any:
    """A teacher frozen in place: ``eval()`` mode (no dropout) and no parameter requiring gradients."""
    model.eval()
    model.requires_grad_(False)
    return model


def load_frozen(ref: str | os.PathLike[str], labels: Sequence[str] | None = None) -> tuple[Any, Any]:
    """The one frozen-teacher loader: :func:`load_classifier`, then :func:`freeze`.

    The soft-label cache loads its teacher with it, and :func:`distill.teacher.load_teacher` (which
    first checks that ``ref`` is a ready classifier). Run the model under
    ``torch.inference_mode()`` (as :func:`forward_texts` does): it never trains after this point.

    Args:
        ref: A classifier folder, hub id or packaged name.
        labels: If given, the classifier's labels must be exactly these, in this order.

    Returns:
        ``(model, tokenizer)``.
    """
    model, tokenizer = load_classifier(os.fspath(ref), labels)
    return freeze(model), tokenizer


#: Weights an encoder loaded under a new classification head is expected to lack (the head itself,
#: and a ``[CLS]`` pooler some encoders are saved without) or to leave unused (the pooler, under
#: mean pooling).
NEW_HEAD_KEYS = re.compile(r"(^|\.)(classifier|pooler|score)\.")


@dataclass
class _LoadReport:
    info: dict[str, Any] = field(default_factory=dict)


class _DropLoadReport(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "LOAD REPORT" not in record.getMessage()


@contextlib.contextmanager
def new_head_report(ref: str, what: str = "new classification head") -> Iterator[_LoadReport]:
    """Load an encoder under a head we add on purpose: one line instead of transformers' table.

    transformers logs a LOAD REPORT table (a warning) for every key that is missing or unused;
    under a new head some always are (:data:`NEW_HEAD_KEYS`). That table is dropped for this call,
    and the keys the caller stores in ``report.info`` (``from_pretrained(...,
    output_loading_info=True)``) are logged here instead: at INFO when they are the expected ones,
    as a warning naming them when any other key is missing, unused or mismatched. ``what`` names the
    load in that line.
    """
    hf_logger = logging.getLogger("transformers.modeling_utils")
    drop = _DropLoadReport()
    hf_logger.addFilter(drop)
    report = _LoadReport()
    try:
        yield report
    finally:
        hf_logger.removeFilter(drop)
    missing = list(report.info.get("missing_keys") or [])
    unused = list(report.info.get("unexpected_keys") or [])
    mismatched = [str(k[0] if isinstance(k, tuple) else k) for k in report.info.get("mismatched_keys") or []]
    other = [k for k in missing + unused if not NEW_HEAD_KEYS.search(k)] + mismatched
    if other:
        log.warning(
            "%s: loaded under a new head, but these weights are missing, unused or of another shape: %s",
            ref,
            ", ".join(sorted(other)),
        )
    log.info(
        "%s: %s (initialised: %s; unused: %s)",
        ref,
        what,
        ", ".join(sorted(missing)) or "none",
        ", ".join(sorted(unused)) or "none",
    )


@contextlib.contextmanager
def loading_errors(ref: str, part: str) -> Iterator[None]:
    """Turn the errors ``from_pretrained`` raises on damaged or missing files into a DistillError.

    Only file-level errors are caught (an unreadable or truncated file, a missing one, bytes that
    are not JSON); anything else is a bug and keeps its traceback.
    """
    from safetensors import SafetensorError

    try:
        yield
    except (SafetensorError, OSError, ValueError) as exc:
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise DistillError(
            f"cannot load the {part} of model {ref}: {detail}",
            fix="copy or download the model folder again (a partial copy leaves truncated files), "
            "or re-save it with save_pretrained",
        ) from None


def check_tokenizer(model: Any, tokenizer: Any, ref: str) -> None:
    """Refuse a tokenizer that can produce ids the model has no embedding for.

    Raises:
        DistillError: The tokenizer has more tokens than the model's word embeddings have rows (a
            tokenizer saved from another model).
    """
    embeddings = model.get_input_embeddings()
    rows = getattr(embeddings, "num_embeddings", None)
    if rows is None:
        return
    if len(tokenizer) > rows:
        raise DistillError(
            f"the tokenizer of model {ref} has {len(tokenizer):,} tokens, but the model's word "
            f"embeddings have {rows:,} rows: the tokenizer belongs to another model",
            fix="save the model's own tokenizer next to it (tokenizer.save_pretrained(folder)), "
            "or point to the model this tokenizer came from",
        )


def _length_order(tokenizer: Any, texts: Sequence[str], max_length: int) -> tuple[np.ndarray, np.ndarray]:
    """``(order, lengths)``: row indices longest first, and every text's token count."""
    lengths = count_tokens(tokenizer, texts, max_length)
    return _longest_first(lengths), lengths


def _longest_first(lengths: np.ndarray) -> np.ndarray:
    """Row indices longest first (ties in row order): the first batch shows the peak memory at
    once, and padding stays minimal."""
    return np.argsort(-lengths, kind="stable")


def _batch_bounds(
    sorted_lengths: np.ndarray, batch_size: int, max_tokens: int | None
) -> list[tuple[int, int]]:
    """``[lo, hi)`` of each batch over rows sorted longest first.

    Without ``max_tokens``, ``batch_size`` rows each. With it, a batch takes as many rows as fit
    ``max_tokens`` padded positions at the length of its first (longest) row, and never fewer than
    ``batch_size``: short texts travel in large batches, which saves the fixed cost of every forward.
    """
    n = len(sorted_lengths)
    if max_tokens is None:
        return [(lo, min(lo + batch_size, n)) for lo in range(0, n, batch_size)]
    bounds, lo = [], 0
    while lo < n:
        rows = max(batch_size, max_tokens // max(int(sorted_lengths[lo]), 1))
        bounds.append((lo, min(lo + rows, n)))
        lo += rows
    return bounds


#: Up to this many texts, :func:`length_sorted_batches` tokenises once and keeps the token ids (the
#: label stage's shards hold 8,192); above it, it counts tokens first and tokenises each batch again,
#: so memory does not grow with the texts.
KEEP_IDS_MAX = 65_536


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
    max_tokens: int | None = None,
) -> Iterator[tuple[np.ndarray, Any]]:
    """Yield ``(row indices, tokenised batch)``, longest texts first, each batch padded to its longest.

    Writing each batch's outputs to ``out[idx]`` restores the original order. A progress bar with
    sentences per second is shown when ``progress`` is set. ``max_tokens``: let batches of short
    texts grow beyond ``batch_size`` rows up to this many padded token positions. Up to
    :data:`KEEP_IDS_MAX` texts are tokenised once (the ids that give the order are padded into the
    batches); more are counted first and tokenised again batch by batch.
    """
    from transformers import BatchEncoding

    inputs = [prefix + t for t in texts]
    if not inputs:  # tokenizers reject an empty batch
        return
    enc = None
    if len(inputs) <= KEEP_IDS_MAX and tokenizer.pad_token_id is not None:
        enc = dict(tokenizer(inputs, truncation=True, max_length=max_length))
        if not set(enc) <= set(PADDED_INPUTS):  # outputs pad_rows cannot pad: tokenise per batch
            enc = None
    if enc is not None:
        lengths = np.fromiter((len(x) for x in enc["input_ids"]), dtype=np.int64, count=len(inputs))
        order = _longest_first(lengths)
    else:
        order, lengths = _length_order(tokenizer, inputs, max_length)
    with tqdm(total=len(inputs), desc=desc, unit="sent", disable=not progress) as bar:
        for lo, hi in _batch_bounds(lengths[order], batch_size, max_tokens):
            idx = order[lo:hi]
            if enc is not None:
                padded = pad_rows(enc, idx, tokenizer)
                batch = BatchEncoding({k: torch.from_numpy(v) for k, v in padded.items()}).to(device)
            else:
                batch = tokenizer(
                    [inputs[i] for i in idx],
                    truncation=True,
                    max_length=max_length,
                    padding=True,
                    return_tensors="pt",
                ).to(device)
            yield idx, batch
            bar.update(len(idx))


class _PooledCatcher:
    """Mean-pooled last hidden states of ``model.base_model``, caught with a forward hook.

    The classifier's forward runs the encoder once for both logits and embeddings.
    """

    def __init__(self, model: Any, n: int) -> None:
        self.n = n
        self.pooled: np.ndarray | None = None
        self._caught: list[torch.Tensor] = []
        self._handle = model.base_model.register_forward_hook(lambda _m, _a, out: self._caught.append(out[0]))

    def add(self, idx: np.ndarray, mask: torch.Tensor) -> None:
        emb = mean_pool(self._caught.pop(), mask).float().cpu().numpy()  # (b, H)
        if self.pooled is None:
            self.pooled = np.zeros((self.n, emb.shape[1]), dtype=np.float32)
        self.pooled[idx] = emb

    def remove(self) -> None:
        self._handle.remove()


@torch.inference_mode()
def forward_texts(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    batch_size: int = 64,
    max_length: int = 128,
    prefix: str = "",
    progress: bool = False,
    desc: str = "predict",
    max_tokens: int | None = None,
    with_embeddings: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The one batched classifier forward over texts: raw logits and, if asked, pooled embeddings.

    Length-sorted batches (longest first) with dynamic padding; the original order is restored.
    The embeddings are the mean-pooled last hidden states of ``model.base_model``, from the same
    forward (no second encoder pass).

    Args:
        model: A sequence classifier; put in eval mode here.
        tokenizer: Its tokenizer.
        texts: Input texts.
        batch_size: Texts per forward pass.
        max_length: Truncation length in tokens.
        prefix: Prepended to every text (e.g. ``"query: "`` for E5 models).
        progress: Show a progress bar with sentences per second.
        desc: Progress bar label.
        max_tokens: Token budget of a batch of short texts (see :func:`length_sorted_batches`);
            ``None``: ``batch_size`` texts per batch.
        with_embeddings: Also return the pooled embeddings.

    Returns:
        ``(logits (N, C), embeddings (N, H) or None)``, float32.
    """
    model.eval()
    logits = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
    if not texts:  # tokenizers reject an empty batch; an Arrow schema still needs the widths
        hidden = np.zeros((0, int(model.config.hidden_size)), dtype=np.float32)
        return logits, hidden if with_embeddings else None
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
        max_tokens=max_tokens,
    )
    catcher = _PooledCatcher(model, len(texts)) if with_embeddings else None
    try:
        for idx, batch in batches:
            logits[idx] = model(**batch).logits.float().cpu().numpy()  # (b, C)
            if catcher is not None:
                catcher.add(idx, batch["attention_mask"])
    finally:
        if catcher is not None:
            catcher.remove()
    seconds = time.perf_counter() - start
    log.info(
        "%s: %d texts in %.1f s (%.0f sentences/s)",
        desc,
        len(texts),
        seconds,
        len(texts) / seconds,
        extra=FILE_ONLY,
    )
    return logits, None if catcher is None else catcher.pooled


def predict_logits(model: Any, tokenizer: Any, texts: Sequence[str], **options: Any) -> np.ndarray:
    """Raw logits for ``texts``: :func:`forward_texts` without embeddings, original order kept.

    Args:
        model: A sequence classifier; put in eval mode here.
        tokenizer: Its tokenizer.
        texts: Input texts.
        **options: ``batch_size``, ``max_length``, ``prefix``, ``progress``, ``desc`` and
            ``max_tokens``, as for :func:`forward_texts`.

    Returns:
        float32 array of shape ``(len(texts), num_labels)``.
    """
    return forward_texts(model, tokenizer, texts, **options)[0]
