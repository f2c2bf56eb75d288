"""Forward transfer: the student reading the target language fits the teacher's soft labels."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor, nn

from distill.losses._kl import check_temperature, tempered_kl


class KDLoss(nn.Module):
    """Knowledge distillation from the teacher on ``x_s`` to the student on ``x_t``.

    .. math::

        L_{kd} = \\tau^2 \\cdot \\mathrm{KL}\\big(p(z_T) \\,\\|\\, p(z_t)\\big),
        \\qquad p(z) = \\mathrm{softmax}(z / \\tau)

    where ``z_T = T(x_s)`` are the teacher's logits on the source sentence (read from the cache)
    and ``z_t = S(x_t)`` the student's logits on its translation. The KL is averaged over the batch
    ("batchmean"); the teacher logits are detached (the teacher is fixed). The ``tau^2`` factor
    keeps the gradient scale independent of ``tau``.

    References:
        Hinton, Vinyals, Dean (2015). *Distilling the Knowledge in a Neural Network*.
        https://arxiv.org/abs/1503.02531

    Args:
        temperature: ``tau`` > 0 (config key ``loss.temperature``); higher values soften both
            distributions so the teacher's non-argmax classes carry more signal.

    Inputs:
        ``student_logits`` ``(B, C)``, ``teacher_logits`` ``(B, C)``, optional ``mask`` ``(B,)``
        bool (``False`` rows, e.g. pairs without teacher labels, are left out of the mean; an
        all-``False`` mask gives 0) and optional ``weight`` ``(B,)`` floats >= 0 (batch key
        ``teacher_weight``: each kept row's KL is multiplied by its weight before the mean over
        the kept rows, e.g. the alignment confidence of a projected word label).

    Raises:
        DistillError: ``temperature`` <= 0 (names ``loss.temperature``), or the two logit
            tensors differ in shape.

    Example:
        >>> import torch
        >>> from distill.losses import KDLoss
        >>> loss_fn = KDLoss(temperature=2.0)
        >>> student = torch.tensor([[0.5, 1.0, 1.5], [2.0, 0.0, -1.0]], requires_grad=True)
        >>> teacher = torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
        >>> loss = loss_fn(student, teacher)
        >>> loss.backward()
        >>> round(loss.item(), 4)
        2.0071
        >>> loss_fn(teacher, teacher).item()
        0.0
    """

    # Batch keys :class:`~distill.losses.weighted.WeightedDistillationLoss` feeds to ``forward``.
    batch_keys: ClassVar[tuple[str, ...]] = ("student_tgt_logits", "teacher_logits")
    mask_key: ClassVar[str | None] = "teacher_mask"
    #: The batch key of optional per-row weights (absent from the batch: every row weighs 1).
    weight_key: ClassVar[str | None] = "teacher_weight"

    def __init__(self, temperature: float = 1.0) -> None:
        super().__init__()
        self.temperature = check_temperature(temperature)

    def forward(
        self,
        student_logits: Tensor,
        teacher_logits: Tensor,
        mask: Tensor | None = None,
        weight: Tensor | None = None,
    ) -> Tensor:
        """Return ``tau^2 * KL(p(teacher_logits) || p(student_logits))``, a scalar.

        Args:
            student_logits: ``(B, C)`` student logits on the target-language text, ``z_t``.
            teacher_logits: ``(B, C)`` teacher logits on the source-language text, ``z_T``.
            mask: Optional ``(B,)`` bool; ``False`` rows are excluded.
            weight: Optional ``(B,)`` row weights >= 0 (see :func:`~distill.losses._kl.tempered_kl`).
        """
        return tempered_kl(
            teacher_logits, student_logits, self.temperature, mask, detach_target=True, weight=weight
        )

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"
