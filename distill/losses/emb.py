"""Embedding distillation: the student's sentence vectors fit the teacher's (multilingual KD)."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor, nn

from distill.errors import DistillError
from distill.losses._kl import check_mask, compute_dtype


def _check_dim(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise DistillError(
            f"EmbeddingDistillationLoss {name} must be a positive int, got {value!r}",
            fix="pass the hidden size of the student and of the teacher (e.g. 384)",
        )
    return value


class EmbeddingDistillationLoss(nn.Module):
    """MSE between student and teacher sentence embeddings, on both sides of the pair.

    .. math::

        L_{emb} = \\mathrm{MSE}\\big(W h_S(x_t),\\, h_T(x_s)\\big)
                + \\mathrm{MSE}\\big(W h_S(x_s),\\, h_T(x_s)\\big)

    ``h_S`` / ``h_T`` are the student's / teacher's pooled sentence embeddings and ``W`` is a
    learned ``nn.Linear(student_dim, teacher_dim)`` when the two sizes differ, the identity
    otherwise (then the module has no parameters). ``MSE`` is the mean over batch *and*
    embedding dimensions (:class:`torch.nn.MSELoss` default, as in sentence-transformers'
    ``MSELoss``). The teacher embeddings are detached.

    The projection is a parameter of *this* module: register the loss as a submodule of the
    training module (``self.loss = ...``) so the optimizer sees it, and export it with the
    student if the student's space must match the teacher's at inference.

    References:
        Reimers & Gurevych (2020). *Making Monolingual Sentence Embeddings Multilingual using
        Knowledge Distillation*. https://arxiv.org/abs/2004.09813

    Args:
        student_dim: Student embedding size ``D_S``.
        teacher_dim: Teacher embedding size ``D_T``.

    Inputs:
        ``student_tgt_emb`` ``(B, D_S)``, ``student_src_emb`` ``(B, D_S)``, ``teacher_emb``
        ``(B, D_T)``, optional ``mask`` ``(B,)`` bool (masked rows are left out of both means).

    Raises:
        DistillError: A dimension is not a positive int, or an input's last dimension does not
            match it.

    Example:
        >>> import torch
        >>> from distill.losses import EmbeddingDistillationLoss
        >>> loss_fn = EmbeddingDistillationLoss(student_dim=2, teacher_dim=2)  # identity
        >>> h_tgt = torch.tensor([[1.0, 0.0], [0.0, 1.0]], requires_grad=True)
        >>> h_src = torch.tensor([[1.0, 1.0], [0.0, 1.0]], requires_grad=True)
        >>> h_teacher = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
        >>> loss = loss_fn(h_tgt, h_src, h_teacher)
        >>> loss.backward()
        >>> loss.item()  # (1 + 1) / 4 + (0 + 1) / 4
        0.75
        >>> EmbeddingDistillationLoss(student_dim=2, teacher_dim=3).projection
        Linear(in_features=2, out_features=3, bias=True)
    """

    batch_keys: ClassVar[tuple[str, ...]] = ("student_tgt_emb", "student_src_emb", "teacher_emb")
    mask_key: ClassVar[str | None] = "teacher_mask"

    projection: nn.Module

    def __init__(self, student_dim: int, teacher_dim: int) -> None:
        super().__init__()
        self.student_dim = _check_dim(student_dim, "student_dim")
        self.teacher_dim = _check_dim(teacher_dim, "teacher_dim")
        # Equal sizes: no projection at all, so the student's own space is what gets aligned.
        self.projection = nn.Identity() if student_dim == teacher_dim else nn.Linear(student_dim, teacher_dim)

    def _check(self, name: str, emb: Tensor, dim: int, batch: int) -> None:
        if emb.dim() != 2 or emb.shape[1] != dim or emb.shape[0] != batch:
            raise DistillError(
                f"{name} must have shape ({batch}, {dim}), got {tuple(emb.shape)}",
                fix="set student_dim/teacher_dim to the models' embedding sizes",
            )

    def _mse(self, student: Tensor, teacher: Tensor) -> Tensor:
        projected = self.projection(student)  # (N, D_T)
        dtype = compute_dtype(projected, teacher)
        diff = projected.to(dtype) - teacher.to(dtype)  # (N, D_T)
        # sum / max(count, 1): the mean over kept elements, 0 (not NaN) when nothing is kept.
        return diff.pow(2).sum() / max(diff.numel(), 1)

    def forward(
        self,
        student_tgt_emb: Tensor,
        student_src_emb: Tensor,
        teacher_emb: Tensor,
        mask: Tensor | None = None,
    ) -> Tensor:
        """Return ``MSE(W h_S(x_t), h_T(x_s)) + MSE(W h_S(x_s), h_T(x_s))``, a scalar.

        Args:
            student_tgt_emb: ``(B, D_S)`` student embeddings of the target-language text.
            student_src_emb: ``(B, D_S)`` student embeddings of the source-language text.
            teacher_emb: ``(B, D_T)`` teacher embeddings of the source-language text.
            mask: Optional ``(B,)`` bool; ``False`` rows are excluded.
        """
        batch = teacher_emb.shape[0]
        self._check("student_tgt_emb", student_tgt_emb, self.student_dim, batch)
        self._check("student_src_emb", student_src_emb, self.student_dim, batch)
        self._check("teacher_emb", teacher_emb, self.teacher_dim, batch)
        keep = check_mask(mask, batch)
        teacher = teacher_emb.detach()  # (B, D_T)
        if keep is not None:
            # Drop masked rows before any arithmetic, so placeholders there (NaN) cannot leak.
            student_tgt_emb, student_src_emb = student_tgt_emb[keep], student_src_emb[keep]  # (N, D_S)
            teacher = teacher[keep]  # (N, D_T)
        return self._mse(student_tgt_emb, teacher) + self._mse(student_src_emb, teacher)

    def extra_repr(self) -> str:
        return f"student_dim={self.student_dim}, teacher_dim={self.teacher_dim}"
