"""Cross-entropy on gold labels, for the pairs that have one."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from distill.errors import DistillError
from distill.losses._kl import check_mask, compute_dtype


class CrossEntropyLoss(nn.Module):
    """Mean cross-entropy of the student's prediction against the gold label, missing labels skipped.

    .. math::

        L_{ce} = \\frac{1}{|V|} \\sum_{b \\in V} -\\log \\mathrm{softmax}(z_b)_{y_b},
        \\qquad V = \\{ b : y_b \\neq \\text{ignore\\_index} \\text{ and } \\text{mask}_b \\}

    Gold labels are optional in a distillation batch: rows whose label is ``ignore_index``
    (``-100``, the Hugging Face convention) or whose ``mask`` is ``False`` are left out of both
    the sum and the count. Unlike :func:`torch.nn.functional.cross_entropy`, which returns NaN
    (0/0) when every label is ignored, a batch without any gold label gives a zero that still has a
    ``grad_fn`` (so a ``backward()`` on a total that includes it works) and lies on the logits'
    device. No temperature: the gold label is a hard target.

    References:
        The hard-label term of Hinton, Vinyals, Dean (2015). *Distilling the Knowledge in a
        Neural Network*. https://arxiv.org/abs/1503.02531

    Args:
        ignore_index: The label value that marks "no gold label".

    Inputs:
        ``logits`` ``(B, C)`` float, ``labels`` ``(B,)`` integer, optional ``mask`` ``(B,)`` bool.

    Raises:
        DistillError: A kept label lies outside ``[0, C)`` (wrong label mapping in the data).

    Example:
        >>> import torch
        >>> from distill.losses import CrossEntropyLoss
        >>> loss_fn = CrossEntropyLoss()
        >>> logits = torch.tensor([[0.5, 1.0, 1.5], [2.0, 0.0, -1.0]], requires_grad=True)
        >>> loss = loss_fn(logits, torch.tensor([2, -100]))  # row 2 has no gold label
        >>> loss.backward()
        >>> round(loss.item(), 4)
        0.6803
        >>> loss_fn(logits, torch.tensor([-100, -100]))
        tensor(0., grad_fn=<DivBackward0>)
    """

    batch_keys: ClassVar[tuple[str, ...]] = ("student_tgt_logits", "labels")
    # Missing gold labels are already marked with ignore_index in ``labels``.
    mask_key: ClassVar[str | None] = None

    def __init__(self, ignore_index: int = -100) -> None:
        super().__init__()
        self.ignore_index = ignore_index

    def forward(self, logits: Tensor, labels: Tensor, mask: Tensor | None = None) -> Tensor:
        """Return the mean cross-entropy over the rows with a gold label (0 if there are none).

        Args:
            logits: ``(B, C)`` student logits.
            labels: ``(B,)`` integer class ids; ``ignore_index`` marks a missing label.
            mask: Optional ``(B,)`` bool; ``False`` rows are excluded as well.
        """
        if logits.dim() != 2 or labels.shape != logits.shape[:1]:
            raise DistillError(
                f"cross-entropy needs (batch, classes) logits and (batch,) labels, "
                f"got {tuple(logits.shape)} and {tuple(labels.shape)}",
                fix="pass one class id per example, ignore_index for a missing one",
            )
        if labels.dtype.is_floating_point or labels.dtype == torch.bool:
            raise ValueError(f"labels must be an integer tensor, got dtype {labels.dtype}")
        keep = labels != self.ignore_index  # (B,)
        mask = check_mask(mask, labels.shape[0])
        if mask is not None:
            keep = keep & mask
        kept_logits = logits.to(compute_dtype(logits))[keep]  # (N, C)
        kept_labels = labels[keep].long()  # (N,)
        n_rows = kept_labels.shape[0]
        n_classes = logits.shape[1]
        # Checked here because an out-of-range id is an opaque device-side assert on CUDA.
        if n_rows and (int(kept_labels.min()) < 0 or int(kept_labels.max()) >= n_classes):
            bad = kept_labels[(kept_labels < 0) | (kept_labels >= n_classes)]
            raise DistillError(
                f"gold label {int(bad[0])} is outside [0, {n_classes}) for a {n_classes}-class student",
                fix=f"map labels to 0..{n_classes - 1}, and mark a missing label with {self.ignore_index}",
            )
        # Empty selection: cross_entropy(sum) is 0 with a grad_fn, and max(0, 1) avoids 0/0.
        return F.cross_entropy(kept_logits, kept_labels, reduction="sum") / max(n_rows, 1)

    def extra_repr(self) -> str:
        return f"ignore_index={self.ignore_index}"
