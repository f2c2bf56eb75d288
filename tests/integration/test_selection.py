"""No target labels unless asked (DESIGN.md section 10): the student never reads the target gold labels
of its training and validation pairs by default; ``selection=target_dev`` asks for them.

``PoisonedSource`` is the tiny in-memory source of ``test_sources`` with the target-language gold
labels of the training and validation pairs permuted (the label set and the test split unchanged):
a run that reads none of them trains the very same student.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import DatasetDict

from distill.errors import DistillError
from distill.pipeline import run
from distill.settings import reads_target_labels
from distill.stages.distill import training_rows
from distill.stages.label import TRAIN_SPLITS
from tests.unit.test_sources import TinySource, _cfg

POISONED = f"{__name__}.PoisonedSource"


class PoisonedSource(TinySource):
    def parallel(self, lang: str) -> DatasetDict:
        out = super().parallel(lang)
        for split in ("train", "validation"):
            labels = list(out[split]["label"])
            random.Random(split).shuffle(labels)
            out[split] = out[split].remove_columns("label").add_column("label", labels)
        return out


def _weights(objects: dict) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in objects["system"].model.state_dict().items()}


def _run(out: Path, *overrides: str) -> tuple[dict, dict[str, torch.Tensor]]:
    metrics, objects = run(_cfg(out, "trainer.max_epochs=2", "export_student=false", *overrides))
    return metrics, _weights(objects)


def test_poisoned_target_labels_give_the_same_student(tmp_path: Path) -> None:
    clean, w_clean = _run(tmp_path / "clean")
    poisoned, w_poisoned = _run(tmp_path / "poisoned", f"data.source._target_={POISONED}")
    assert w_clean.keys() == w_poisoned.keys()
    assert all(torch.equal(w_clean[k], w_poisoned[k]) for k in w_clean)
    assert clean["selection"] == poisoned["selection"] == "teacher_agreement"
    assert clean["best_val"]["metric"] == "val/agreement"
    assert "no target-language gold label read" in (tmp_path / "clean" / "results.md").read_text()
    # The test split is scored on its gold labels as always: the same student, the same scores.
    for system in ("student", "tfidf_student"):  # the reference reads only the soft labels too
        rows = [r for r in clean["results"] if r["system"] == system]
        assert rows and rows == [r for r in poisoned["results"] if r["system"] == system]


def test_selection_target_dev_reads_them_and_says_so(tmp_path: Path) -> None:
    clean, _ = _run(tmp_path / "clean", "selection=target_dev")
    assert clean["selection"] == "target_dev" and clean["best_val"]["metric"] == "val/acc"
    assert "these results used target labels" in (tmp_path / "clean" / "results.md").read_text()
    # The rows keep their gold labels (what val/acc is computed on) only when asked.
    data = {"it": TinySource({"name": "tiny"}).parallel("it")}
    targets = {
        "it": {s: {"teacher_logits": np.zeros((len(data["it"][s]), 2), "float32")} for s in TRAIN_SPLITS}
    }
    kept = training_rows(data, targets, ["bye", "greet"], gold=True)["it"]["validation"]["labels"]
    dropped = training_rows(data, targets, ["bye", "greet"], gold=False)["it"]["validation"]["labels"]
    assert set(kept) == {0, 1} and set(dropped) == {-100}
    assert reads_target_labels(_cfg(tmp_path, "selection=target_dev"))
    assert reads_target_labels(_cfg(tmp_path, "loss.weights.ce=1.0"))  # the supervised baseline
    assert not reads_target_labels(_cfg(tmp_path))


def test_an_unknown_selection_rule_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DistillError, match="selection must be one of"):
        run(_cfg(tmp_path / "run", "selection=test_labels"))


def _epochs(run_dir: Path) -> int:
    """Epochs trained, from the CSV logger's validation rows."""
    import csv

    (path,) = run_dir.rglob("metrics.csv")
    rows = [r for r in csv.DictReader(path.open()) if r.get("val/agreement")]
    return len(rows)


def test_early_stopping_on_the_selection_metric(tmp_path: Path) -> None:
    """The tiny student's agreement stops improving at once: patience 1 ends the fit before the cap."""
    stopped, _ = _run(
        tmp_path / "stopped", "trainer.max_epochs=8", "callbacks.early_stopping.patience=1", "logger=csv"
    )
    full, _ = _run(tmp_path / "full", "trainer.max_epochs=8", "callbacks.early_stopping=null", "logger=csv")
    assert _epochs(tmp_path / "full") == 8
    assert 2 <= _epochs(tmp_path / "stopped") < 8
    assert stopped["best_val"]["metric"] == full["best_val"]["metric"] == "val/agreement"


@pytest.mark.parametrize("baselines", ["full", "tiny"])
def test_direct_transfer_gets_the_students_epoch_budget(tmp_path: Path, baselines: str) -> None:
    """An equally fair baseline: as many epochs as the student's cap, best epoch on source validation."""
    from distill.stages.baselines import direct_transfer_config
    from distill.teacher import TeacherRecipe
    from tests.integration.helpers import compose_cfg

    cfg = compose_cfg(tmp_path, f"baselines={baselines}", "trainer.max_epochs=7")
    sub = direct_transfer_config(cfg)
    assert sub is not None
    recipe = TeacherRecipe.from_cfg(sub)
    assert recipe.epochs == 7 and recipe.select == "source_val"


def test_translate_keeps_training_rows_whatever_their_gold_label() -> None:
    """mode=translate: which training rows the student reads never depends on target gold labels."""
    from datasets import Dataset

    from distill.sources.translated import _known_labels

    ds = Dataset.from_dict({"id": ["a", "b", "c"], "tgt": ["x", "y", "z"], "label": ["food", "alien", None]})
    kept = _known_labels(ds, {"food"}, "es/train", evaluate=False)
    assert kept["id"] == ["a", "b", "c"] and kept["label"] == ["food", None, None]
    assert _known_labels(ds, {"food"}, "es/test", evaluate=True)["id"] == [
        "a",
        "c",
    ]  # no system could score b


def test_a_level_agreement_with_a_falling_validation_loss_trains_on_and_keeps_the_later_epoch(
    tmp_path: Path,
) -> None:
    """The default callbacks break ties in ``val/agreement`` with ``val/loss`` (label-free): the tiny
    student agrees with the teacher on every validation pair from the first epoch while its loss
    keeps falling at this learning rate, so even patience 1 trains to the cap and the last epoch is kept
    (Lightning's strict rule would stop after the second epoch and keep the first)."""
    import csv

    out = tmp_path / "run"
    overrides = ("trainer.max_epochs=4", "callbacks.early_stopping.patience=1", "student.optimizer.lr=1e-4")
    metrics, _ = _run(out, *overrides, "logger=csv")
    (path,) = out.rglob("metrics.csv")
    rows = [r for r in csv.DictReader(path.open()) if r.get("val/agreement")]
    history = [(float(r["val/agreement"]), -float(r["val/loss"]), int(r["epoch"])) for r in rows]
    assert len({a for a, _, _ in history}) == 1, history  # level throughout
    assert [-loss for _, loss, _ in history] == sorted((-loss for _, loss, _ in history), reverse=True)
    assert len(history) == 4  # patience 1, yet no stop: each level epoch lowered the loss
    assert Path(metrics["student_checkpoint"]).name == f"epoch{max(history)[2]:02d}.ckpt" == "epoch03.ckpt"
    assert metrics["best_val"] == {"metric": "val/agreement", "mode": "max", "score": history[0][0]}
    # tie_breaker=null: Lightning's rule, the first level epoch kept and the fit stopped after the next.
    strict, _ = _run(
        tmp_path / "strict",
        *overrides,
        "callbacks.model_checkpoint.tie_breaker=null",
        "callbacks.early_stopping.tie_breaker=null",
        "logger=csv",
    )
    assert Path(strict["student_checkpoint"]).name == "epoch00.ckpt"
    assert _epochs(tmp_path / "strict") == 2
