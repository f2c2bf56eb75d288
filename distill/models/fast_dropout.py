"""Dropout with cheap random numbers on CPU: the same regularisation, a fraction of the time.

On CPU, torch draws a dropout mask with ``bernoulli_``: one 32-bit draw from the Mersenne Twister
per element, then a float compare, a division and a multiplication. In a training step of
multilingual-e5-small that was 10-14% of the time (experiments/bench, benchmarks 2 and 5), more than
anything but the matrix products. :func:`drop_mask` takes 16 random bits per element instead: one
full-range 64-bit draw gives the bits of four elements, and an element is dropped when its 16 bits
fall under ``round(p * 65536)``, so it is dropped with probability ``p`` to within ``2**-17``. The
kept elements are scaled by ``1 / (1 - p)`` as in :func:`torch.nn.functional.dropout`. The draws come
from torch's default CPU generator, so ``torch.manual_seed`` / Lightning's ``seed_everything`` make
them reproducible; the masks differ from ``bernoulli_``'s (another way of drawing them), not their
distribution.

:func:`use_fast_dropout` puts it into a transformers encoder for training: every ``nn.Dropout``
becomes a :class:`FastDropout` of the same ``p``, and the attention probabilities' dropout runs
through :func:`attention` (the encoder's ``scaled_dot_product_attention``, which with dropout on
CPU computes the attention matrix anyway, written out with :func:`drop_mask`). Neither holds
parameters: state dicts, checkpoints and exports are those of the plain model, and off the CPU, in
evaluation mode or at ``p = 0`` everything runs torch's own code.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

#: The attention implementation name :func:`use_fast_dropout` registers with transformers.
ATTENTION = "distill_sdpa_fast_dropout"
_BITS = 16
_LOW = -(2 ** (_BITS - 1))


def drop_mask(shape: torch.Size | tuple[int, ...], p: float, device: torch.device | str = "cpu") -> Tensor:
    """A bool tensor of ``shape``: ``True`` where an element is dropped (probability ``p``)."""
    n = math.prod(shape)
    words = torch.empty((n + 3) // 4, dtype=torch.int64, device=device).random_(-(2**63), None)
    bits = words.view(torch.int16)[:n].view(shape)
    return bits < _LOW + round(p * 2**_BITS)


class _Dropout(torch.autograd.Function):
    """``x`` with the ``drop`` positions zeroed and the rest scaled; the mask is saved as bools."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, drop: Tensor, scale: float) -> Tensor:
        ctx.save_for_backward(drop)
        ctx.scale = scale
        return x.masked_fill(drop, 0.0).mul_(scale)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        (drop,) = ctx.saved_tensors
        return grad.masked_fill(drop, 0.0).mul_(ctx.scale), None, None


def fast_dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    """:func:`torch.nn.functional.dropout` with :func:`drop_mask`'s random numbers on CPU."""
    if not training or p == 0.0 or x.device.type != "cpu":
        return nn.functional.dropout(x, p, training)
    if p == 1.0:
        return x * 0.0
    return _Dropout.apply(x, drop_mask(x.shape, p, x.device), 1.0 / (1.0 - p))


class FastDropout(nn.Dropout):
    """``nn.Dropout`` whose mask comes from :func:`drop_mask` on CPU (same ``p``, no parameters)."""

    def forward(self, x: Tensor) -> Tensor:
        if self.inplace:  # nobody asks for it in the encoders we train; keep torch's semantics
            return super().forward(x)
        return fast_dropout(x, self.p, self.training)


def attention(
    module: nn.Module,
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attention_mask: Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[Tensor, None]:
    """transformers' SDPA attention, with the probabilities' dropout drawn by :func:`drop_mask`.

    Without dropout (evaluation, ``p = 0``), off the CPU, or for a causal or cached call it is
    transformers' own ``sdpa_attention_forward``. With dropout on CPU, torch's SDPA takes its
    "math" path (the fused kernels have no dropout there): the same products, softmax and dropout,
    written out here so that the mask is cheap. ``(B, H, T, d)`` in, ``(B, T, H, d)`` out.
    """
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    plain = (
        not module.training
        or dropout == 0.0
        or query.device.type != "cpu"
        or getattr(module, "is_causal", False)
        or kwargs.get("is_causal")
        or key.shape[1] != query.shape[1]  # grouped keys: leave them to transformers
    )
    if plain:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    if scaling is None:
        scaling = query.size(-1) ** -0.5
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling  # (B, H, T, S)
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:  # True = attend, as SDPA reads it
            scores = scores.masked_fill(~attention_mask, torch.finfo(scores.dtype).min)
        else:
            scores = scores + attention_mask
    probs = fast_dropout(torch.softmax(scores, dim=-1), dropout, True)
    out = torch.matmul(probs, value).transpose(1, 2).contiguous()  # (B, T, H, d)
    return out, None


def _register() -> None:
    """Name :func:`attention` to transformers, with SDPA's masks (without a mask function of its
    own, transformers would build no padding mask at all for the name)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(ATTENTION, attention)
    AttentionMaskInterface.register(ATTENTION, sdpa_mask)


def use_fast_dropout(model: nn.Module) -> int:
    """Make ``model`` (a transformers model, in place) draw its dropout masks with :func:`drop_mask`.

    Every ``nn.Dropout`` becomes a :class:`FastDropout` of the same ``p``, and an encoder that runs
    SDPA attention runs :func:`attention`. Returns how many dropout modules were swapped. The
    attention implementation is set on the model's config only, and transformers does not write it
    into ``config.json``, so exports load with plain transformers as they are.
    """
    swapped = 0
    for module in model.modules():
        if type(module) is nn.Dropout:
            module.__class__ = FastDropout
            swapped += 1
    config = getattr(model, "config", None)
    if config is not None and getattr(config, "_attn_implementation", None) == "sdpa":
        _register()
        _set_attention(model, ATTENTION)
    return swapped


def _set_attention(model: nn.Module, name: str) -> None:
    for module in model.modules():  # every sub-config the layers read (a model can nest configs)
        config = getattr(module, "config", None)
        if config is not None and hasattr(config, "_attn_implementation"):
            config._attn_implementation = name
