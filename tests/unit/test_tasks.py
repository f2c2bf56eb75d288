"""The Task seam: a task defined here, in test code, runs through every stage once the config names it.

``WordCountTask`` is a real, if small, transfer task: the teacher counts the words of the English
side of each pair; the student, a bag of characters read from the Italian side, learns to predict
that count; the teacher applied to the Italian text as is is the zero-shot baseline. It registers
with ``+tasks.word_count._target_=...`` and ``task=word_count``; nothing in ``distill/`` knows it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from datasets import DatasetDict
from omegaconf import DictConfig
from safetensors.torch import load_file, save_file
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from distill.errors import DistillError
from distill.records import StageTimer
from distill.report import MetricsReport, load_metrics, register_task
from distill.stages.prepare import prepare
from distill.tasks import Task, Trained, task_of
from distill.training import fit_and_load_best
from distill.utils.atomic import atomic_dir
from tests.unit.test_sources import _cfg as source_cfg

TARGET = f"{__name__}.WordCountTask"
register_task("word_count", ("mae",), unbounded=("mae",))
BUCKETS = 32


def features(texts: list[str]) -> Tensor:
    """A bag of characters, hashed into :data:`BUCKETS` counts."""
    out = torch.zeros(len(texts), BUCKETS)
    for i, text in enumerate(texts):
        for ch in text:
            out[i, ord(ch) % BUCKETS] += 1.0
    return out


def words(texts: list[str]) -> np.ndarray:
    """The teacher: how many words each text has."""
    return np.asarray([len(t.split()) for t in texts], dtype=np.float32)


class Regressor(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(BUCKETS, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(x).squeeze(-1)  # type: ignore[no-any-return]

    def _loss(self, batch: list[Tensor], stage: str) -> Tensor:
        x, y = batch
        loss = nn.functional.mse_loss(self(x), y)
        self.log(f"{stage}/loss", loss, prog_bar=False)
        return loss

    def training_step(self, batch: list[Tensor], batch_idx: int) -> Tensor:
        return self._loss(batch, "train")

    def validation_step(self, batch: list[Tensor], batch_idx: int) -> None:
        self._loss(batch, "val")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=0.05)


class Rows(pl.LightningDataModule):
    def __init__(self, train: TensorDataset, val: TensorDataset) -> None:
        super().__init__()
        self.train_rows, self.val_rows = train, val

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_rows, batch_size=8, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_rows, batch_size=64)


class Counts:
    """The label stage's result: the pairs and the teacher's counts of their source side."""

    def __init__(self, data: dict[str, DatasetDict]) -> None:
        self.data, self.teacher = data, "word-count"
        self.rows = {lang: {s: words(dd[s]["src"]) for s in dd} for lang, dd in data.items()}


class WordCountTask:
    name = "word_count"
    direction: Literal["maximize", "minimize"] = "minimize"
    distributed = False
    fine_tunes_teacher = False

    def __init__(self, calls: list[str] | None = None) -> None:
        self.calls = calls if calls is not None else []

    def check(self, cfg: DictConfig) -> None:
        if list(cfg.data.target_langs) != ["it"]:
            raise DistillError("word_count reads Italian only", fix="set data.target_langs=[it]")

    def label(self, cfg: DictConfig, timer: StageTimer) -> Counts:
        with timer("prepare"):
            _, objects = prepare(cfg)
        with timer("label"):
            return Counts(objects["data"])

    def _mae(self, pred: np.ndarray, gold: np.ndarray) -> dict[str, Any]:
        return {"mae": round(float(np.mean(np.abs(pred - gold))), 6), "n": len(gold)}

    def baselines(self, cfg: DictConfig, labelled: Counts) -> MetricsReport:
        report = MetricsReport(source_lang="en", target_langs=list(labelled.data), task=self.name)
        for lang, dd in labelled.data.items():
            test = dd["test"]
            report.add(
                "teacher_zero_shot", lang, "test", self._mae(words(test["tgt"]), labelled.rows[lang]["test"])
            )
        return report

    def distill(self, cfg: DictConfig, labelled: Counts) -> Trained:
        pl.seed_everything(int(cfg.seed), workers=True, verbose=False)
        dd, rows = labelled.data["it"], labelled.rows["it"]
        split = {
            s: TensorDataset(features(dd[s]["tgt"]), torch.as_tensor(rows[s]))
            for s in ("train", "validation")
        }
        system = Regressor()
        best = fit_and_load_best(
            cfg, system, Rows(split["train"], split["validation"]), monitor=("val/loss", "min")
        )
        return Trained(system, None, best)

    @torch.inference_mode()
    def evaluate(
        self, cfg: DictConfig, labelled: Counts, trained: Trained, baselines: MetricsReport
    ) -> MetricsReport:
        test = labelled.data["it"]["test"]
        pred = trained.system(features(test["tgt"])).numpy()
        baselines.add("student", "it", "test", self._mae(pred, labelled.rows["it"]["test"]))
        baselines.extras["best_val"] = trained.best.to_dict()
        return baselines

    def export(
        self,
        cfg: DictConfig,
        labelled: Counts,
        trained: Trained,
        report: MetricsReport,
        hashes: dict[str, str],
    ) -> Path:
        out = Path(cfg.paths.output_dir) / "student"
        with atomic_dir(out) as tmp:
            save_file(trained.system.state_dict(), str(tmp / "model.safetensors"))
        return out


def _cfg(out: Path, *overrides: str) -> DictConfig:
    return source_cfg(out, f"+tasks.word_count._target_={TARGET}", "task=word_count", *overrides)


def test_the_config_registers_the_task(tmp_path: Path) -> None:
    task = task_of(_cfg(tmp_path))
    assert isinstance(task, WordCountTask) and isinstance(task, Task)
    assert type(task_of(source_cfg(tmp_path))).__name__ == "ClassificationTask"
    assert type(task_of(source_cfg(tmp_path, "task=embedding"))).__name__ == "EmbeddingTask"


def test_an_unknown_task_or_a_class_that_is_no_task_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DistillError, match="task='nope' names no registered task") as err:
        task_of(source_cfg(tmp_path, "task=nope"))
    assert "classification" in str(err.value) and "+tasks.nope._target_=" in str(err.value)
    with pytest.raises(DistillError, match=r"tasks\.bad\._target_ built a Regressor, not a Task"):
        task_of(source_cfg(tmp_path, f"+tasks.bad._target_={__name__}.Regressor", "task=bad"))


def test_the_task_runs_through_every_stage(tmp_path: Path) -> None:
    from distill.pipeline import run

    out = tmp_path / "run"
    metrics, objects = run(_cfg(out))
    assert metrics["task"] == "word_count" and objects["teacher"] == "word-count"
    rows = {(r["system"], r["lang"]): r for r in metrics["results"]}
    assert set(rows) == {("student", "it"), ("teacher_zero_shot", "it")}
    assert rows[("student", "it")]["n"] == rows[("teacher_zero_shot", "it")]["n"] == 24  # the test pairs
    report = load_metrics(out / "metrics.json")  # the written file passes the contract
    assert report.task == "word_count" and report.metrics == ("mae",)
    # Italian words per phrase differ from English ones ("good morning" -> "buongiorno"): the
    # teacher read as is is off; the student has learnt the English count from Italian characters.
    zero_shot, student = rows[("teacher_zero_shot", "it")]["mae"], rows[("student", "it")]["mae"]
    assert zero_shot > 0 and student < zero_shot
    assert metrics["best_val"]["metric"] == "val/loss" and metrics["best_val"]["mode"] == "min"
    weights = load_file(str(out / "student" / "model.safetensors"))
    assert set(weights) == {"head.weight", "head.bias"}
    timings = (out / "timings.json").read_text()
    assert all(f'"{stage}"' in timings for stage in ("prepare", "label", "baselines", "distill", "evaluate"))


def test_the_task_checks_its_config_before_anything_runs(tmp_path: Path) -> None:
    from distill.pipeline import run

    with pytest.raises(DistillError, match="word_count reads Italian only"):
        run(_cfg(tmp_path / "run", "data.target_langs=[it,ja]"))
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_a_task_that_runs_in_one_process_refuses_ddp(tmp_path: Path) -> None:
    from distill.pipeline import run

    with pytest.raises(DistillError, match="task=word_count runs in one process"):
        run(_cfg(tmp_path / "run", "trainer=ddp"))


def test_the_sweep_direction_comes_from_the_task(tmp_path: Path) -> None:
    assert task_of(_cfg(tmp_path)).direction == "minimize"
    assert task_of(source_cfg(tmp_path)).direction == "maximize"
    assert task_of(source_cfg(tmp_path, "task=embedding")).direction == "minimize"


def test_the_contract_refuses_a_task_registered_twice_with_other_scores() -> None:
    register_task("word_count", ("mae",), unbounded=("mae",))  # the same again: fine
    with pytest.raises(DistillError, match="registered with the scores"):
        register_task("word_count", ("rmse",))
    with pytest.raises(DistillError, match="registered with the scores"):
        register_task("classification", ("mae",))
