"""Back transfer: the student must keep reproducing the teacher on the source language too."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor, nn

from distill.losses._kl import check_temperature, tempered_kl


class BackTransferLoss(nn.Module):
    """Source-side anchor: the student on ``x_s`` fits the teacher on ``x_s``.

    .. math::

        L_{back} = \\tau^2 \\cdot \\mathrm{KL}\\big(p(z_T) \\,\\|\\, p(z_s)\\big),
        \\qquad p(z) = \\mathrm{softmax}(z / \\tau)

    where ``z_T = T(x_s)`` (teacher, cached) and ``z_s = S(x_s)`` (the student on the *source*
    sentence). It keeps the student from drifting on the source language while it learns the
    target one. Batch-mean KL; the teacher logits are detached.

    References:
        The logit analogue of the source-side term ``MSE(S(x_s), T(x_s))`` in Reimers & Gurevych
        (2020), *Making Monolingual Sentence Embeddings Multilingual using Knowledge
        Distillation*. https://arxiv.org/abs/2004.09813

    Args:
        temperature: ``tau`` > 0 (config key ``loss.temperature``).

    Inputs:
        ``student_logits`` ``(B, C)`` (``z_s``), ``teacher_logits`` ``(B, C)``, optional ``mask``
        ``(B,)`` bool.

    Raises:
        DistillError: ``temperature`` <= 0 (names ``loss.temperature``), or a shape mismatch.

    Example:
        >>> import torch
        >>> from distill.losses import BackTransferLoss
        >>> loss_fn = BackTransferLoss(temperature=1.0)
        >>> student_src = torch.tensor([[1.5, 0.0, 0.2], [0.3, 0.3, 1.0]], requires_grad=True)
        >>> teacher = torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
        >>> loss = loss_fn(student_src, teacher)
        >>> loss.backward()
        >>> round(loss.item(), 4)
        0.5409
    """

    # ``teacher_src_logits`` is T(x_s); after a cyclic round it is the mixed source-side target.
    batch_keys: ClassVar[tuple[str, ...]] = ("student_src_logits", "teacher_src_logits")
    mask_key: ClassVar[str | None] = "teacher_mask"

    def __init__(self, temperature: float = 1.0) -> None:
        super().__init__()
        self.temperature = check_temperature(temperature)

    def forward(
        self, student_src_logits: Tensor, teacher_logits: Tensor, mask: Tensor | None = None
    ) -> Tensor:
        """Return ``tau^2 * KL(p(teacher_logits) || p(student_src_logits))``, a scalar.

        Args:
            student_src_logits: ``(B, C)`` student logits on the source-language text, ``z_s``.
            teacher_logits: ``(B, C)`` teacher logits on the same source text, ``z_T``.
            mask: Optional ``(B,)`` bool; ``False`` rows are excluded.
        """
        return tempered_kl(teacher_logits, student_src_logits, self.temperature, mask, detach_target=True)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"
