from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from datasets import Dataset

from distill.data.datamodule import DistillCollator, DistillDataModule, distill_rows
from distill.errors import DistillError
from distill.losses import WeightedDistillationLoss
from distill.models.classifier import load_classifier
from distill.models.tiny import build_tiny_encoder
from distill.student import DistillationSystem, freeze_word_embeddings

LABELS = ["ai", "emotion", "money"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_encoder(tmp_path_factory.mktemp("tiny") / "enc")


def _pairs(n: int, labels: list[str | None] | None = None) -> Dataset:
    golds = labels or [LABELS[i % 3] for i in range(n)]
    return Dataset.from_dict(
        {
            "src": [f"the robot {i} likes money" for i in range(n)],
            "tgt": [f"il robot {i} ama libro" for i in range(n)],
            "label": golds,
        }
    )


def _system(tiny: Path, weights: dict[str, float]) -> tuple[DistillationSystem, DistillDataModule]:
    torch.manual_seed(0)
    model, tok = load_classifier(str(tiny), LABELS)
    rng = np.random.default_rng(0)
    per_lang = {
        lang: {
            split: distill_rows(
                _pairs(n),
                rng.normal(size=(n, 3)),
                lang_id=i,
                label2id={x: j for j, x in enumerate(LABELS)},
                where=lang,
            )
            for split, n in (("train", 24), ("validation", 8))
        }
        for i, lang in enumerate(["it", "ja"])
    }
    loss = WeightedDistillationLoss.from_config(2.0, weights)
    system = DistillationSystem(
        model, loss, functools.partial(torch.optim.AdamW, lr=1e-3), langs=["it", "ja"], labels=LABELS
    )
    collator = DistillCollator(tok, max_length=16, with_source=system.needs_source)
    dm = DistillDataModule.from_languages(per_lang, collator=collator, batch_size=8)
    return system, dm


def _trainer(tmp_path: Path, **kw: object) -> pl.Trainer:
    return pl.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=pl.loggers.CSVLogger(str(tmp_path)),
        default_root_dir=str(tmp_path),
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        **kw,  # type: ignore[arg-type]
    )


def test_fit_logs_every_term_and_per_language_metrics(tiny: Path, tmp_path: Path) -> None:
    system, dm = _system(tiny, {"kd": 1.0, "back": 0.5, "cycle": 0.5})
    assert system.needs_source
    trainer = _trainer(tmp_path)
    trainer.fit(system, datamodule=dm)
    logged = trainer.logged_metrics
    for key in (
        "train/kd",
        "train/back",
        "train/cycle",
        "train/loss",
        "val/acc_it",
        "val/acc_ja",
        "val/agreement_it",
        "val/acc",
    ):
        assert key in logged, key
    assert torch.isfinite(logged["train/loss"])


def test_kd_only_never_reads_the_source_side(tiny: Path) -> None:
    system, dm = _system(tiny, {"kd": 1.0})
    assert not system.needs_source
    batch = next(iter(dm.train_dataloader()))
    assert "src_input_ids" not in batch
    assert batch["teacher_logits"].shape == (8, 3)


def test_checkpoint_holds_the_student_only_and_is_checked_on_load(tiny: Path, tmp_path: Path) -> None:
    system, dm = _system(tiny, {"kd": 1.0})
    trainer = _trainer(tmp_path, max_steps=1, limit_val_batches=0)
    trainer.fit(system, datamodule=dm)
    ckpt = tmp_path / "s.ckpt"
    trainer.save_checkpoint(ckpt)
    state = torch.load(ckpt, weights_only=True, map_location="cpu")
    assert all(k.startswith(("model.", "val_", "loss.")) for k in state["state_dict"])
    assert state["hyper_parameters"]["labels"] == LABELS

    state["state_dict"]["teacher.encoder.weight"] = torch.zeros(1)
    with pytest.raises(DistillError, match="teacher weights"):
        system.on_load_checkpoint(state)
    del state["state_dict"]["teacher.encoder.weight"]
    state["hyper_parameters"]["labels"] = ["x", "y", "z"]
    with pytest.raises(DistillError, match="trained on labels"):
        system.on_load_checkpoint(state)


def test_unknown_gold_label_is_a_clear_error() -> None:
    with pytest.raises(DistillError, match=r"it/test has labels the teacher does not know: \['sports'\]"):
        distill_rows(
            _pairs(2, ["ai", "sports"]), np.zeros((2, 3)), lang_id=0, label2id={"ai": 0}, where="it/test"
        )


def test_freeze_word_embeddings(tiny: Path) -> None:
    model, _ = load_classifier(str(tiny), LABELS)
    n = freeze_word_embeddings(model)
    assert n == model.get_input_embeddings().weight.numel()
    assert not model.get_input_embeddings().weight.requires_grad
