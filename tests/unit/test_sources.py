"""The Source seam: a data source defined here, in test code, is what a run reads once the config names it.

``TinySource`` holds a few in-memory pairs and labelled examples. The composed config points
``data.source._target_`` at it; nothing in ``distill/`` knows it exists.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from datasets import Dataset, DatasetDict
from omegaconf import DictConfig

from distill.errors import DistillError
from distill.provenance import data_entries
from distill.sources import load_parallel, packaged, source_of, source_test_data
from distill.sources.base import DataRef, Source, TeacherData
from distill.teacher import teacher_training_data
from tests.integration.helpers import compose_cfg

TARGET = f"{__name__}.TinySource"
PHRASES = {
    "greet": [("hello", "ciao"), ("good morning", "buongiorno"), ("good evening", "buonasera")],
    "bye": [("goodbye", "arrivederci"), ("see you", "a presto"), ("good night", "buonanotte")],
}


class TinySource(Source):
    """Two labels, three phrases each, repeated ``copies`` times with a number (in memory)."""

    def __init__(self, data: Mapping[str, Any], copies: int = 4) -> None:
        super().__init__(data)
        self.copies = copies

    def _rows(self, split: str) -> list[tuple[str, str, str]]:
        offset = {"train": 0, "validation": 100, "test": 200}[split]
        return [
            (f"{src} {offset + i}", f"{tgt} {offset + i}", label)
            for i, (label, phrases) in itertools.product(range(self.copies), PHRASES.items())
            for src, tgt in phrases
        ]

    def parallel(self, lang: str) -> DatasetDict:
        out = DatasetDict()
        for split in ("train", "validation", "test"):
            rows = self._rows(split)
            out[split] = Dataset.from_dict(
                {
                    "id": [f"{lang}/{split}/{i}" for i in range(len(rows))],
                    "src": [s for s, _, _ in rows],
                    "tgt": [t for _, t, _ in rows],
                    "label": [y for _, _, y in rows],
                }
            )
        return out

    def teacher_data(self) -> TeacherData:
        train, val = self._rows("train"), self._rows("validation")
        return TeacherData(
            train_texts=[s for s, _, _ in train],
            train_labels=[y for _, _, y in train],
            val_texts=[s for s, _, _ in val],
            val_labels=[y for _, _, y in val],
            labels=sorted(PHRASES),
        )

    def source_test(self) -> tuple[list[str], list[str]]:
        test = self._rows("test")
        return [s for s, _, _ in test], [y for _, _, y in test]

    def known_labels(self) -> set[str]:
        return set(PHRASES)

    def data_refs(self) -> list[DataRef]:
        return [DataRef("parallel", "tiny-in-memory-pairs")]


def _cfg(out: Path, *overrides: str) -> DictConfig:
    """Any packaged data config, renamed and pointed at :class:`TinySource`."""
    return compose_cfg(
        out,
        "debug=tiny",
        "logger=none",
        "trainer.max_epochs=1",
        "data=django",
        "data.name=tiny",
        f"data.source._target_={TARGET}",
        "data.target_langs=[it]",
        *overrides,
    )


def test_the_config_chooses_the_source_class(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, "+data.source.copies=2")
    source = source_of(cfg.data)
    assert isinstance(source, TinySource) and source.copies == 2 and source.name == "tiny"
    # Every packaged config names its class the same way.
    for name in ("chatterbot", "django", "files", "opus100", "tatoeba", "xnli"):
        data = compose_cfg(tmp_path, f"data={name}").data
        assert type(source_of(data)) is packaged()[str(data.name)]


def test_the_run_reads_pairs_teacher_data_and_provenance_from_it(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, "data.max_pairs=10")
    pairs = load_parallel(cfg.data, "it")
    assert set(pairs) == {"train", "validation", "test"}
    assert all(len(ds) == 10 for ds in pairs.values())  # the generic cap still applies
    assert set(pairs["train"]["tgt"]) <= {t for s, t, _ in TinySource(cfg.data)._rows("train")}
    data = teacher_training_data(cfg)
    assert data.labels == ["bye", "greet"] and len(data.train_texts) == 24
    texts, labels = source_test_data(cfg)  # type: ignore[misc]
    assert len(texts) == len(labels) == 24
    assert data_entries(cfg) == [
        {"role": "data.parallel", "hub_id": "tiny-in-memory-pairs", "license": None, "sha256": None}
    ]


def test_the_base_class_says_what_a_source_lacks(tmp_path: Path) -> None:
    class PairsOnly(Source):
        def parallel(self, lang: str) -> DatasetDict:
            return TinySource(self.data).parallel(lang)

    source = PairsOnly({"name": "pairs_only"})
    assert source.teacher_data() is None and source.source_test() is None and source.known_labels() is None
    with pytest.raises(DistillError, match="mode=translate does not handle data=pairs_only") as err:
        source.target_text("it")
    assert "use data= one of chatterbot, files" in str(err.value)


def test_a_data_config_without_source_takes_the_packaged_one_of_its_name() -> None:
    assert type(source_of({"name": "files"})).__name__ == "FilesSource"
    with pytest.raises(DistillError, match="unknown data source 'nope'") as err:
        source_of({"name": "nope"})
    assert "chatterbot, django, files, hub" in str(err.value)
    with pytest.raises(DistillError, match=r"data\.source\._target_=no\.such\.Thing"):
        source_of({"name": "x", "source": {"_target_": "no.such.Thing"}})


def test_a_tiny_run_end_to_end(tmp_path: Path) -> None:
    from distill.pipeline import run

    metrics, _ = run(_cfg(tmp_path))
    assert metrics["run"]["data"] == "tiny"
    assert {("student", "it"), ("teacher", "en")} <= {(r["system"], r["lang"]) for r in metrics["results"]}
