"""The student system: a LightningModule holding only the student and the loss.

The network (an ``AutoModelForSequenceClassification``), the weighted loss and a partial optimizer
are injected; this module only runs steps, logs every loss term and per-language validation
metrics. The teacher never lives here: its logits arrive in the batch from the soft-label cache,
so checkpoints hold the student alone. The fallback, a live teacher (``teacher.live``), labels each
batch in the step but is held outside the module, so checkpoints still hold the student alone.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor, nn
from torchmetrics.classification import MulticlassAccuracy

from distill.adapters import is_adapter_student, trainable_parameters, use_language
from distill.errors import DistillError
from distill.export import load_student
from distill.live_teacher import LiveTeacher
from distill.losses import WeightedDistillationLoss
from distill.models.classifier import load_classifier
from distill.models.encoder import keep_layers, layers_in_state
from distill.models.fast_dropout import use_fast_dropout

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
TEACHER_PREFIXES = ("teacher.", "teacher_model.", "model.teacher")


def freeze_word_embeddings(model: nn.Module) -> int:
    """Freeze the input word embeddings; returns how many parameters were frozen.

    The 250k-row matrix of a multilingual encoder dominates the optimizer step (measured 0.4-0.9 s
    a step trained vs 0.03 s frozen, batch 32 on 2 cores) and matters little for distillation.
    """
    emb = model.get_input_embeddings()  # type: ignore[operator]
    emb.weight.requires_grad_(False)
    return int(emb.weight.numel())


class DistillationSystem(pl.LightningModule):
    """Distil soft labels into a student classifier.

    Args:
        model: The student, an ``AutoModelForSequenceClassification``.
        loss: The weighted loss; reads ``student_tgt_logits``, ``student_src_logits``,
            ``teacher_logits``, ``labels`` from the batch.
        optimizer: A partial optimizer taking the trainable parameters.
        langs: Target language codes, in the id order of the batch's ``lang`` column.
        labels: Label names, in id order (checked against a checkpoint on resume).
        base_model: The encoder the student started from (saved in checkpoints, so that
            :func:`load_student_checkpoint` can rebuild the network from a ``.ckpt`` alone).
        frozen_langs: Languages of an adapter student whose adapters stay as they are (added
            earlier, ``student.init_from``).
        live_teacher: Label each batch with this teacher in the step (``teacher.live``) instead
            of reading cached ``teacher_logits`` from it.
        fast_dropout: Draw the dropout masks with :mod:`distill.models.fast_dropout` on CPU
            (``student.fast_dropout``): the same dropout, cheaper random numbers.
    """

    live_teacher: LiveTeacher | None

    def __init__(
        self,
        model: nn.Module,
        loss: WeightedDistillationLoss,
        optimizer: OptimizerFactory,
        langs: Sequence[str],
        labels: Sequence[str],
        base_model: str | None = None,
        frozen_langs: Sequence[str] = (),
        live_teacher: LiveTeacher | None = None,
        fast_dropout: bool = True,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["model", "loss", "optimizer", "live_teacher"])
        # A plain attribute, not a submodule: not in state_dict, checkpoints or the optimizer.
        self.__dict__["live_teacher"] = live_teacher
        self.frozen_langs = list(frozen_langs)
        # from_pretrained returns eval mode and Lightning keeps submodules' modes: dropout on.
        self.model = model.train()
        if fast_dropout:
            use_fast_dropout(self.model)
        self.loss = loss
        self.optimizer_factory = optimizer
        self.langs = list(langs)
        self.labels = list(labels)
        self.needs_source = bool({"student_src_logits"} & loss.required_keys)
        n = len(self.labels)
        # Per target language: accuracy on gold labels, and agreement with the teacher's argmax.
        self.val_acc: list[MulticlassAccuracy] = nn.ModuleList(  # type: ignore[assignment]
            MulticlassAccuracy(n, average="micro") for _ in self.langs
        )
        self.val_agree: list[MulticlassAccuracy] = nn.ModuleList(  # type: ignore[assignment]
            MulticlassAccuracy(n, average="micro") for _ in self.langs
        )

    def forward(self, input_ids: Tensor, attention_mask: Tensor, **kw: Tensor) -> Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask, **kw).logits  # (B, C)

    def _side(self, batch: dict[str, Tensor], side: str) -> Tensor:
        inputs = {k.removeprefix(f"{side}_"): v for k, v in batch.items() if k.startswith(f"{side}_")}
        return self(**inputs)

    def _student_outputs(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        if is_adapter_student(self.model):  # batches hold one language: route to its adapter
            ids = batch["lang"].unique()
            assert len(ids) == 1, "an adapter student needs batches of one language"
            use_language(self.model, self.langs[int(ids[0])])
        out = dict(batch)
        if self.live_teacher is not None:  # the same targets the label stage would have cached
            out["teacher_logits"] = out["teacher_src_logits"] = self.live_teacher(batch)
        out["student_tgt_logits"] = self._side(batch, "tgt")
        if self.needs_source:
            out["student_src_logits"] = self._side(batch, "src")
        return out

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        result = self.loss(self._student_outputs(batch))
        self.log_dict(result.to_log("train"), batch_size=len(batch["labels"]), prog_bar=False)
        return result.total

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        out = self._student_outputs(batch)
        result = self.loss(out)
        self.log_dict(result.to_log("val"), batch_size=len(batch["labels"]))
        pred = out["student_tgt_logits"].argmax(-1)  # (B,)
        # Absent in a supervised baseline next to a live teacher: no agreement to report.
        teacher = out.get("teacher_logits")
        for i, _ in enumerate(self.langs):
            rows = batch["lang"] == i
            gold = rows & (batch["labels"] >= 0)
            if gold.any():
                self.val_acc[i].update(pred[gold], batch["labels"][gold])
            if rows.any() and teacher is not None:
                self.val_agree[i].update(pred[rows], teacher.argmax(-1)[rows])

    def on_validation_epoch_end(self) -> None:
        accs, agrees = [], []
        for i, lang in enumerate(self.langs):
            if self.val_acc[i].update_count:
                acc = self.val_acc[i].compute()
                self.log(f"val/acc_{lang}", acc)
                accs.append(acc)
            if self.val_agree[i].update_count:
                agree = self.val_agree[i].compute()
                self.log(f"val/agreement_{lang}", agree)
                agrees.append(agree)
            self.val_acc[i].reset()
            self.val_agree[i].reset()
        if accs:
            self.log("val/acc", torch.stack(accs).mean(), prog_bar=True)
        if agrees:
            # What checkpoints are selected on when the validation pairs carry no gold labels.
            self.log("val/agreement", torch.stack(agrees).mean(), prog_bar=not accs)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        if is_adapter_student(self.model):  # every adapter, not only the active one
            return self.optimizer_factory(trainable_parameters(self.model, self.frozen_langs))
        return self.optimizer_factory([p for p in self.parameters() if p.requires_grad])

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Refuse checkpoints that hold a teacher or were trained on another label set."""
        check_checkpoint(checkpoint, self.labels, where="checkpoint")


def check_checkpoint(checkpoint: Mapping[str, Any], labels: Sequence[str] | None, where: str) -> None:
    """Raise unless ``checkpoint`` holds a student only, trained on ``labels`` (when given).

    Raises:
        DistillError: Teacher weights in the state dict, or another label set.
    """
    teacher_keys = [k for k in checkpoint.get("state_dict", {}) if k.startswith(TEACHER_PREFIXES)]
    if teacher_keys:
        raise DistillError(
            f"{where} contains teacher weights ({teacher_keys[0]}, ...)",
            fix="use a student-only checkpoint written by distill-train or distill-run",
        )
    saved = checkpoint.get("hyper_parameters", {}).get("labels")
    if labels is not None and saved is not None and list(saved) != list(labels):
        raise DistillError(
            f"{where} was trained on labels {list(saved)}, this run has {list(labels)}",
            fix="use the same teacher and data as the run that wrote it, or start a new run",
        )


def load_student_checkpoint(
    path: str | os.PathLike[str], base_model: str | None = None, labels: Sequence[str] | None = None
) -> tuple[Any, Any]:
    """Load a student from a Lightning checkpoint or an exported folder: ``(model, tokenizer)``.

    Args:
        path: A ``.ckpt`` written by the distill stage, or a student folder from the export stage.
        base_model: The encoder the student started from; only needed for a checkpoint that does
            not name it.
        labels: If given, the student's labels must be exactly these (the teacher's).

    Returns:
        The student in eval mode and its tokenizer.

    Raises:
        DistillError: A missing path, a checkpoint with teacher weights or other labels, or one
            that does not fit ``base_model``.
    """

    p = Path(path).expanduser()
    if p.is_dir():
        model, tokenizer = load_student(p)
        own = [model.config.id2label[i] for i in sorted(model.config.id2label)]
        if labels is not None and own != list(labels):
            raise DistillError(
                f"student {p} has labels {own}, this run has {list(labels)}",
                fix="evaluate it with the teacher and data it was trained with",
            )
        return model, tokenizer
    if not p.is_file():
        raise DistillError(
            f"no student checkpoint at {p}",
            fix="pass checkpoint=<run dir>/checkpoints/<file>.ckpt or an exported student folder",
        )
    try:
        checkpoint = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unreadable file gets the same message
        raise DistillError(
            f"{p} is not a readable checkpoint ({type(exc).__name__}: {str(exc)[:200]})",
            fix="pass a .ckpt written by distill-train or an exported student folder",
        ) from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise DistillError(f"{p} is not a Lightning checkpoint (no state_dict)")
    check_checkpoint(checkpoint, labels, where=str(p))
    hparams = checkpoint.get("hyper_parameters", {})
    saved_labels, ref = hparams.get("labels") or labels, hparams.get("base_model") or base_model
    if not saved_labels or not ref:
        raise DistillError(
            f"{p} does not name its labels or base model",
            fix="pass student.model=<the encoder it was trained from> and the same teacher and data",
        )
    model, tokenizer = load_classifier(str(ref), list(saved_labels))
    state = {
        k.removeprefix("model."): v for k, v in checkpoint["state_dict"].items() if k.startswith("model.")
    }
    kept = layers_in_state(state)
    if kept is not None and kept < int(getattr(model.config, "num_hidden_layers", kept)):
        keep_layers(model.base_model, kept)  # a student trained with student.num_layers=N
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise DistillError(
            f"{p} does not fit the student {ref}: {str(exc).splitlines()[0][:300]}",
            fix="pass the student= config the checkpoint was trained with",
        ) from None
    return model.eval(), tokenizer
