"""The loss terms as a registry in config (``loss.terms``): composing, building, adding a term.

``TinyLoss`` below is a term "from the user's own module": the test adds it with the overrides a
user types (``+loss.terms.tiny._target_=...`` and ``+loss.weights.tiny=...``; ``+`` because the
keys are new to the config, as Hydra wants for any new key).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest
import torch
from omegaconf import OmegaConf
from torch import Tensor, nn

from distill.errors import DistillError
from distill.losses import (
    TERM_NAMES,
    CrossEntropyLoss,
    EmbeddingDistillationLoss,
    KDLoss,
    WeightedDistillationLoss,
    standard_terms,
    term_names,
)
from distill.settings import check_config
from distill.stages.baselines import supervised_config, supervised_weights
from distill.utils.config import build
from tests.integration.helpers import compose_cfg

Z_TEACHER = [[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]
Z_TGT = [[0.5, 1.0, 1.5], [2.0, 0.0, -1.0]]


class TinyLoss(nn.Module):
    """Mean squared student logit, times ``scale``: a term with one input and the teacher mask."""

    batch_keys: ClassVar[tuple[str, ...]] = ("student_tgt_logits",)
    mask_key: ClassVar[str | None] = "teacher_mask"

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, logits: Tensor, mask: Tensor | None = None) -> Tensor:
        kept = logits if mask is None else logits[mask]  # (N, C)
        return self.scale * kept.pow(2).mean()


class NotATerm(nn.Module):
    """An ``nn.Module`` without ``batch_keys``: the loss cannot know what to feed it."""


def test_standard_registry_is_the_old_term_list() -> None:
    assert TERM_NAMES == ("kd", "back", "cycle", "roundtrip", "ce", "emb")
    specs = standard_terms(3.0)
    assert specs["kd"] == {"_target_": "distill.losses.KDLoss", "temperature": 3.0}
    assert specs["ce"] == {"_target_": "distill.losses.CrossEntropyLoss", "ignore_index": -100}
    assert specs["emb"]["student_dim"] is None and specs["emb"]["teacher_dim"] is None


@pytest.mark.parametrize("option", ["kd", "kd_back_cycle", "emb"])
def test_every_loss_option_registers_the_standard_terms(tmp_path: Path, option: str) -> None:
    cfg = compose_cfg(tmp_path, "debug=tiny", f"loss={option}", "loss.temperature=3.0")
    assert term_names(cfg.loss) == TERM_NAMES
    assert list(cfg.loss.weights) == list(TERM_NAMES)
    loss = build(cfg.loss, "loss", student_dim=4, teacher_dim=4)
    assert isinstance(loss, WeightedDistillationLoss)
    assert list(loss.terms) == [n for n in TERM_NAMES if cfg.loss.weights[n] > 0]
    for term in loss.terms.values():  # loss.temperature reaches every KL term
        assert getattr(term, "temperature", 3.0) == 3.0


def test_terms_are_those_from_config_by_default() -> None:
    # The Python call without terms builds the same modules as the composed kd_back_cycle config.
    loss = WeightedDistillationLoss.from_config(
        2.0, {"kd": 1.0, "back": 0.5, "ce": 1.0, "emb": 0.1}, student_dim=2, teacher_dim=3
    )
    assert list(loss.terms) == ["kd", "back", "ce", "emb"]
    assert isinstance(loss.terms["kd"], KDLoss) and loss.terms["kd"].temperature == 2.0
    assert isinstance(loss.terms["ce"], CrossEntropyLoss) and loss.terms["ce"].ignore_index == -100
    emb = loss.terms["emb"]
    assert isinstance(emb, EmbeddingDistillationLoss) and (emb.student_dim, emb.teacher_dim) == (2, 3)


def test_a_term_from_the_users_module(tmp_path: Path) -> None:
    args = [
        f"+loss.terms.tiny._target_={__name__}.TinyLoss",
        "+loss.terms.tiny.scale=2.0",
        "+loss.weights.tiny=0.5",
        "loss.weights.back=0",
        "loss.weights.cycle=0",
    ]
    cfg = compose_cfg(tmp_path, "debug=tiny", *args)
    assert term_names(cfg.loss) == (*TERM_NAMES, "tiny")
    check_config(cfg)  # the run's own checks accept it
    loss = build(cfg.loss, "loss")
    assert list(loss.terms) == ["kd", "tiny"]
    assert loss.required_keys == {"student_tgt_logits", "teacher_logits"}
    logits = torch.tensor(Z_TGT, requires_grad=True)
    batch = {
        "student_tgt_logits": logits,
        "teacher_logits": torch.tensor(Z_TEACHER),
        "teacher_mask": torch.tensor([True, False]),
    }
    out = loss(batch)
    tiny = 2.0 * sum(v * v for v in Z_TGT[0]) / 3  # row 0 only (the mask), times scale
    assert out.terms["tiny"].item() == pytest.approx(tiny)
    assert out.total.item() == pytest.approx(out.terms["kd"].item() + 0.5 * tiny)
    assert set(out.to_log("train")) == {"train/loss", "train/kd", "train/tiny"}
    out.total.backward()
    assert logits.grad is not None
    # The supervised baseline's weights come from the same registry: the new term is off there.
    assert supervised_weights(cfg.loss) == {**dict.fromkeys(TERM_NAMES, 0.0), "ce": 1.0, "tiny": 0.0}


def test_supervised_weights_are_the_old_table(tmp_path: Path) -> None:
    old = {"kd": 0.0, "back": 0.0, "cycle": 0.0, "roundtrip": 0.0, "ce": 1.0, "emb": 0.0}
    cfg = compose_cfg(tmp_path, "debug=tiny")
    assert list(supervised_weights(cfg.loss).items()) == list(old.items())
    sub = supervised_config(cfg)
    assert OmegaConf.to_container(sub.loss.weights) == old
    assert list(build(sub.loss, "loss").terms) == ["ce"]


def test_unknown_weight_names_the_registered_terms(tmp_path: Path) -> None:
    cfg = compose_cfg(tmp_path, "debug=tiny", "+loss.weights.kdd=1")
    with pytest.raises(DistillError, match=r"^loss\.weights\.kdd names no loss term") as info:
        build(cfg.loss, "loss")
    assert info.value.fix == f"use one of {list(TERM_NAMES)} (check the spelling)"


def test_bad_term_specs_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(DistillError, match=r"^loss\.terms\.mine must be a mapping with a _target_"):
        WeightedDistillationLoss.from_config(1.0, {"mine": 1.0}, {"mine": {"scale": 1.0}})
    with pytest.raises(DistillError, match=r"^loss\.terms\.mine \(.*NotATerm\) is not a loss term") as info:
        WeightedDistillationLoss.from_config(
            1.0, {"mine": 1.0}, {"mine": {"_target_": f"{__name__}.NotATerm"}}
        )
    assert info.value.fix is not None and "batch_keys" in info.value.fix
    # A wrong constructor argument: the message names the term's key and its target.
    args = [
        f"+loss.terms.tiny._target_={__name__}.TinyLoss",
        "+loss.terms.tiny.scal=2",
        "+loss.weights.tiny=1",
    ]
    cfg = compose_cfg(tmp_path, "debug=tiny", *args)
    with pytest.raises(DistillError, match=r"cannot build `loss\.terms\.tiny` \(.*TinyLoss\)"):
        build(cfg.loss, "loss")


def test_a_term_asking_for_model_sizes_needs_both() -> None:
    terms = {
        "emb2": {
            "_target_": "distill.losses.EmbeddingDistillationLoss",
            "student_dim": None,
            "teacher_dim": 8,
        }
    }
    with pytest.raises(DistillError, match=r"^loss\.weights\.emb2 > 0 needs the student's") as info:
        WeightedDistillationLoss.from_config(1.0, {"emb2": 1.0}, terms)
    assert info.value.fix == "pass student_dim= and teacher_dim=, or set loss.weights.emb2=0"
    loss = WeightedDistillationLoss.from_config(1.0, {"emb2": 1.0}, terms, student_dim=4, teacher_dim=99)
    term = loss.terms["emb2"]
    assert isinstance(term, EmbeddingDistillationLoss)
    assert (term.student_dim, term.teacher_dim) == (4, 8)  # a size given in the spec is kept
