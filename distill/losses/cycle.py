"""Cycle consistency: the student's predictions on a sentence and its translation must agree."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor, nn

from distill.losses._kl import check_temperature, tempered_kl


class CycleConsistencyLoss(nn.Module):
    """Symmetric, stop-gradient KL between the student on ``x_t`` and the student on ``x_s``.

    .. math::

        L_{cycle} = \\tau^2 \\cdot \\tfrac12 \\Big[
            \\mathrm{KL}\\big(\\mathrm{sg}\\,p(z_t) \\,\\|\\, p(z_s)\\big)
          + \\mathrm{KL}\\big(\\mathrm{sg}\\,p(z_s) \\,\\|\\, p(z_t)\\big) \\Big]

    with ``z_t = S(x_t)``, ``z_s = S(x_s)``, ``p(z) = softmax(z / tau)`` and ``sg`` the
    stop-gradient. Each direction's target is detached, so the gradient reaches ``z_s`` only
    through the first term and ``z_t`` only through the second: each side is pulled towards the
    other, and neither is pushed to make itself an easier target. The value equals the plain
    symmetric KL; only the gradients differ. No teacher is involved, so this term also works on
    pairs whose teacher labels are missing.

    References:
        Symmetric KL consistency between an example and its translation as in Zheng et al.
        (2021), *Consistency Regularization for Cross-Lingual Fine-Tuning*.
        https://arxiv.org/abs/2106.08226

    Args:
        temperature: ``tau`` > 0 (config key ``loss.temperature``).

    Inputs:
        ``student_tgt_logits`` ``(B, C)`` (``z_t``), ``student_src_logits`` ``(B, C)``
        (``z_s``), optional ``mask`` ``(B,)`` bool.

    Raises:
        DistillError: ``temperature`` <= 0 (names ``loss.temperature``), or a shape mismatch.

    Example:
        >>> import torch
        >>> from distill.losses import CycleConsistencyLoss
        >>> loss_fn = CycleConsistencyLoss(temperature=1.0)
        >>> z_t = torch.tensor([[0.5, 1.0, 1.5], [2.0, 0.0, -1.0]], requires_grad=True)
        >>> z_s = torch.tensor([[1.5, 0.0, 0.2], [0.3, 0.3, 1.0]], requires_grad=True)
        >>> loss = loss_fn(z_t, z_s)
        >>> loss.backward()
        >>> round(loss.item(), 4)
        0.7582
    """

    batch_keys: ClassVar[tuple[str, ...]] = ("student_tgt_logits", "student_src_logits")
    mask_key: ClassVar[str | None] = "pair_mask"

    def __init__(self, temperature: float = 1.0) -> None:
        super().__init__()
        self.temperature = check_temperature(temperature)

    def forward(
        self, student_tgt_logits: Tensor, student_src_logits: Tensor, mask: Tensor | None = None
    ) -> Tensor:
        """Return the stop-gradient symmetric KL between the two student predictions, a scalar.

        Args:
            student_tgt_logits: ``(B, C)`` student logits on the target-language text, ``z_t``.
            student_src_logits: ``(B, C)`` student logits on the source-language text, ``z_s``.
            mask: Optional ``(B,)`` bool; ``False`` rows are excluded.
        """
        tau = self.temperature
        # KL(sg p(z_t) || p(z_s)): gradient into z_s only.
        to_src = tempered_kl(student_tgt_logits, student_src_logits, tau, mask, detach_target=True)
        # KL(sg p(z_s) || p(z_t)): gradient into z_t only.
        to_tgt = tempered_kl(student_src_logits, student_tgt_logits, tau, mask, detach_target=True)
        return 0.5 * (to_src + to_tgt)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"
