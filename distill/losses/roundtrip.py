"""Round trip: the student on ``x_t`` fits the teacher on the back-translation of ``x_t``."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor, nn

from distill.losses._kl import check_temperature, tempered_kl


class RoundTripLoss(nn.Module):
    """KD against the teacher's labels for the back-translation ``x_s' = MT(x_t)``.

    .. math::

        L_{rt} = \\tau^2 \\cdot \\mathrm{KL}\\big(p(T(x_s')) \\,\\|\\, p(z_t)\\big),
        \\qquad x_s' = \\mathrm{MT}(x_t)

    The teacher reads what the target sentence *says* (translated back into the source
    language) rather than the original source sentence, so a translation that changed the
    meaning is labeled by what it actually means. Batch-mean KL; the teacher logits are detached.

    References:
        Back-translation: Sennrich, Haddow, Birch (2016). *Improving Neural Machine Translation
        Models with Monolingual Data*. https://arxiv.org/abs/1511.06709

    Args:
        temperature: ``tau`` > 0 (config key ``loss.temperature``).

    Inputs:
        ``student_logits`` ``(B, C)`` (``z_t``), ``teacher_roundtrip_logits`` ``(B, C)``
        (``T(x_s')``), optional ``mask`` ``(B,)`` bool (e.g. rows without a back-translation).

    Raises:
        DistillError: ``temperature`` <= 0 (names ``loss.temperature``), or a shape mismatch.

    Example:
        >>> import torch
        >>> from distill.losses import RoundTripLoss
        >>> loss_fn = RoundTripLoss(temperature=2.0)
        >>> student = torch.tensor([[0.5, 1.0, 1.5], [2.0, 0.0, -1.0]], requires_grad=True)
        >>> teacher_rt = torch.tensor([[0.8, 1.5, 1.0], [1.0, 0.5, 0.0]])
        >>> keep = torch.tensor([True, False])  # no back-translation for row 2
        >>> loss = loss_fn(student, teacher_rt, mask=keep)
        >>> loss.backward()
        >>> round(loss.item(), 4)
        0.098
    """

    batch_keys: ClassVar[tuple[str, ...]] = ("student_tgt_logits", "teacher_roundtrip_logits")
    mask_key: ClassVar[str | None] = "roundtrip_mask"

    def __init__(self, temperature: float = 1.0) -> None:
        super().__init__()
        self.temperature = check_temperature(temperature)

    def forward(
        self, student_logits: Tensor, teacher_roundtrip_logits: Tensor, mask: Tensor | None = None
    ) -> Tensor:
        """Return ``tau^2 * KL(p(teacher_roundtrip_logits) || p(student_logits))``, a scalar.

        Args:
            student_logits: ``(B, C)`` student logits on the target-language text, ``z_t``.
            teacher_roundtrip_logits: ``(B, C)`` teacher logits on the back-translation of it.
            mask: Optional ``(B,)`` bool; ``False`` rows are excluded.
        """
        return tempered_kl(
            teacher_roundtrip_logits, student_logits, self.temperature, mask, detach_target=True
        )

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"
