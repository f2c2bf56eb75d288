"""The Task seam: what a task does at each stage of a run (``task=<name>``, ``conf/config.yaml`` ``tasks``).

:func:`distill.pipeline.run` runs the same stage list for every task (prepare and label, baselines,
distill, evaluate, export, run records) and asks the run's :class:`Task` what each stage means:
which teacher labels the pairs and what its cached rows are (soft labels (N, C), embeddings
(N, H), ...), which baselines stand beside the student, how the student is built, batched and
trained, how its predictions become metrics, and what the exported folder is. A task is one class;
``tasks.<name>._target_`` in the config registers it (docs/architecture.md, "Add a task").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from datasets import DatasetDict
from omegaconf import DictConfig

from distill.records import StageTimer
from distill.report import MetricsReport
from distill.training import BestCheckpoint


@dataclass
class Trained:
    """What the distill stage leaves: the student (a LightningModule), its tokenizer and the
    checkpoint selected on validation."""

    system: Any
    tokenizer: Any
    best: BestCheckpoint


@runtime_checkable
class Labels(Protocol):
    """What a task's label stage leaves: at least every target language's pairs and the teacher."""

    data: dict[str, DatasetDict]
    teacher: Any


@runtime_checkable
class Task(Protocol):
    """One task's part in each stage of a run.

    Attributes:
        name: The task's name (``task=<name>``; ``metrics.json`` ``task``).
        direction: How a sweep optimises the student's selection score ``best_val``
            (``objective=val``): ``maximize`` (an accuracy) or ``minimize`` (a loss).
        distributed: Whether the stages run under ``trainer=ddp`` / ``fsdp``.
        fine_tunes_teacher: Whether the teacher is fine-tuned on the source labels (classification)
            or ``teacher.model`` is used as it is (embedding); ``provenance.json`` says which.
    """

    name: str
    direction: Literal["maximize", "minimize"]
    distributed: bool
    fine_tunes_teacher: bool

    def check(self, cfg: DictConfig) -> None:
        """Refuse a bad configuration before anything is loaded or trained."""

    def label(self, cfg: DictConfig, timer: StageTimer) -> Labels:
        """Prepare the data, get the teacher and its cached rows (timing ``prepare``, ``teacher``,
        ``label``)."""

    def baselines(self, cfg: DictConfig, labelled: Any) -> Any:
        """The systems scored beside the student (whatever :meth:`evaluate` needs of them)."""

    def distill(self, cfg: DictConfig, labelled: Any) -> Trained:
        """Build and train the student on the teacher's rows; load its best checkpoint."""

    def evaluate(self, cfg: DictConfig, labelled: Any, trained: Trained, baselines: Any) -> MetricsReport:
        """Score the student and the baselines on every language's test split."""

    def export(
        self,
        cfg: DictConfig,
        labelled: Any,
        trained: Trained,
        report: MetricsReport,
        hashes: dict[str, str],
    ) -> Path:
        """Write ``<run dir>/student`` (a folder plain ``transformers`` loads) with its model card."""
