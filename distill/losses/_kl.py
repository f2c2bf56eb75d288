"""Shared helpers of the loss terms: the tempered KL divergence and input validation.

The four KL terms (:mod:`~distill.losses.kd`, :mod:`~distill.losses.back`,
:mod:`~distill.losses.cycle`, :mod:`~distill.losses.roundtrip`) differ only in which logits play
the target and which the input, so the arithmetic lives here once.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from distill.errors import DistillError


def check_temperature(temperature: float) -> float:
    """Return ``temperature`` as a float, or raise if it is not a finite number > 0.

    Args:
        temperature: The softmax temperature ``tau`` (config key ``loss.temperature``).

    Raises:
        DistillError: ``temperature`` is not a number, not finite, or <= 0.
    """
    fix = "set loss.temperature to a positive number, e.g. loss.temperature=2.0"
    # bool is an int subclass; `temperature: true` in a YAML file is a typo, not tau=1.
    if isinstance(temperature, bool) or not isinstance(temperature, int | float):
        raise DistillError(f"loss.temperature must be a number, got {temperature!r}", fix=fix)
    if not math.isfinite(temperature) or temperature <= 0:
        raise DistillError(f"loss.temperature must be > 0, got {temperature!r}", fix=fix)
    return float(temperature)


def check_logits(name_a: str, a: Tensor, name_b: str, b: Tensor) -> None:
    """Raise unless ``a`` and ``b`` are both ``(B, C)`` logits of the same shape.

    A shape mismatch almost always means the teacher and the student were built with different
    label sets, which is a configuration problem, hence :class:`DistillError`.
    """
    if a.dim() != 2 or b.dim() != 2:
        raise DistillError(
            f"{name_a} and {name_b} must be (batch, classes) logits, "
            f"got shapes {tuple(a.shape)} and {tuple(b.shape)}",
            fix="pass one row of class logits per example",
        )
    if a.shape != b.shape:
        raise DistillError(
            f"{name_a} {tuple(a.shape)} and {name_b} {tuple(b.shape)} differ in shape",
            fix="the teacher and the student must share the label set (same num_labels, same order)",
        )


def check_mask(mask: Tensor | None, batch_size: int) -> Tensor | None:
    """Validate a per-example keep-mask: a bool tensor of shape ``(B,)``, True = keep the row.

    Raises:
        ValueError: ``mask`` is not bool or not of shape ``(batch_size,)``.
    """
    if mask is None:
        return None
    # A float mask would silently be read as weights by other code; insist on bool.
    if mask.dtype != torch.bool:
        raise ValueError(f"mask must be a bool tensor (True = keep the row), got dtype {mask.dtype}")
    if mask.shape != (batch_size,):
        raise ValueError(f"mask must have shape ({batch_size},), got {tuple(mask.shape)}")
    return mask


def compute_dtype(*tensors: Tensor) -> torch.dtype:
    """The dtype to do softmax/KL arithmetic in: the inputs' common dtype, at least float32.

    Under bf16/fp16 autocast or with a half-precision teacher cache, exp/log in half precision lose
    most of the small probabilities that soft labels are about.
    """
    dtype = torch.float32
    for t in tensors:
        dtype = torch.promote_types(dtype, t.dtype)
    return dtype


def check_weight(weight: Tensor | None, batch_size: int) -> Tensor | None:
    """Validate per-row weights: a floating tensor of shape ``(B,)`` (values >= 0 are the caller's
    promise: checking them would wait for the device on every step).

    Raises:
        ValueError: ``weight`` is not floating or not of shape ``(batch_size,)``.
    """
    if weight is None:
        return None
    if not weight.is_floating_point() or weight.shape != (batch_size,):
        shape = tuple(weight.shape)
        raise ValueError(
            f"weight must be a float tensor of shape ({batch_size},), got {weight.dtype} {shape}"
        )
    return weight


def tempered_kl(
    target_logits: Tensor,
    input_logits: Tensor,
    tau: float,
    mask: Tensor | None = None,
    detach_target: bool = True,
    weight: Tensor | None = None,
) -> Tensor:
    """``tau^2 * mean_b w_b KL(p(target_b / tau) || p(input_b / tau))``, a scalar (``w_b = 1``
    without ``weight``).

    ``p = softmax`` over the last dimension. The mean is over the rows kept by ``mask``
    ("batchmean" when there is no mask); with no row kept the result is a zero that still has a
    ``grad_fn`` (so ``backward()`` works) and no NaN.

    Masked rows are removed *before* any arithmetic, so they can hold anything (NaN placeholders
    for missing teacher labels included) without touching the value or the gradients.

    Args:
        target_logits: ``(B, C)`` logits of the target distribution (the first KL argument).
        input_logits: ``(B, C)`` logits of the distribution being fitted (the second argument).
        tau: Softmax temperature, > 0.
        mask: Optional ``(B,)`` bool tensor; ``False`` rows are excluded.
        detach_target: Stop the gradient through ``target_logits`` (``sg`` in the formulas): the
            target is a fixed label, only ``input_logits`` is pulled towards it.
        weight: Optional ``(B,)`` weights >= 0 of the rows (e.g. how sure a projected label is).
            The weighted sum is divided by the number of kept rows, not by the sum of the
            weights, so rows of low weight pull less in absolute terms; all ones give the
            unweighted value.

    Returns:
        A scalar tensor in float32 (or the inputs' dtype if that is wider).
    """
    check_logits("target_logits", target_logits, "input_logits", input_logits)
    keep = check_mask(mask, target_logits.shape[0])
    weight = check_weight(weight, target_logits.shape[0])
    if detach_target:
        target_logits = target_logits.detach()
    dtype = compute_dtype(target_logits, input_logits)
    target = target_logits.to(dtype)  # (B, C)
    inputs = input_logits.to(dtype)  # (B, C)
    if keep is not None:
        target, inputs = target[keep], inputs[keep]  # (N, C), N = kept rows
    log_p = F.log_softmax(target / tau, dim=-1)  # (N, C)
    log_q = F.log_softmax(inputs / tau, dim=-1)  # (N, C)
    # sum_c p_c (log p_c - log q_c); log_target avoids exp/log round trips on tiny probabilities.
    kl_rows = F.kl_div(log_q, log_p, reduction="none", log_target=True).sum(dim=-1)  # (N,)
    n_rows = kl_rows.shape[0]
    if weight is not None:
        rows_weight = weight.detach().to(dtype)
        kl_rows = kl_rows * (rows_weight[keep] if keep is not None else rows_weight)  # (N,)
    # tau^2 undoes the 1/tau^2 that the softened softmax puts on the gradients (Hinton et al.).
    # Dividing an empty sum (0, with grad_fn) by 1 gives the all-masked zero without 0/0 = NaN.
    return (tau * tau) * kl_rows.sum() / max(n_rows, 1)
