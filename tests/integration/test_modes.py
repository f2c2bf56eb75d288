"""The transfer modes end to end on tiny models: translate (test and train direction) and direct."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from omegaconf import DictConfig

from distill.models.classifier import predict_logits
from distill.pipeline import run
from distill.stages.distill import build_student, student_datamodule
from distill.stages.label import label
from distill.stages.prepare import prepare_data
from distill.teacher import load_teacher
from tests.integration.helpers import compose_cfg


def _cfg(out: Path, *overrides: str) -> DictConfig:
    return compose_cfg(out, "debug=tiny", "logger=none", "trainer.max_epochs=1", *overrides)


def _systems(metrics: dict) -> set[tuple[str, str]]:
    return {(r["system"], r["lang"]) for r in metrics["results"]}


@pytest.mark.apertium
def test_translate_test_labels_the_mt_of_target_text(tmp_path: Path, isolated_cache: Path) -> None:
    cfg = _cfg(tmp_path / "a", "mode=translate", "mode.direction=test", "data.target_langs=[es]")
    data = prepare_data(cfg)["es"]
    # Spanish chatterbot text has no English pairs: the source side is Apertium's English.
    assert all(s in data for s in ("train", "validation", "test"))
    row = data["train"][0]
    assert row["tgt"] != row["src"] and row["src"].strip()
    assert "origen" not in set(data["test"]["label"])  # a topic the English teacher cannot know
    metrics, _ = run(cfg)
    assert {("student", "es"), ("teacher_zero_shot", "es"), ("teacher_translate_test", "es")} <= _systems(
        metrics
    )
    entries = sorted(p.name for p in (isolated_cache / "translations").iterdir())
    assert len(entries) == 3  # train, validation, test

    # A second run translates nothing and runs no teacher: every cache hits.
    run(_cfg(tmp_path / "b", "mode=translate", "mode.direction=test", "data.target_langs=[es]"))
    assert sorted(p.name for p in (isolated_cache / "translations").iterdir()) == entries
    labels = json.loads((tmp_path / "b" / "labels.json").read_text())
    assert {e["hit"] for e in labels["es"].values()} == {True}


@pytest.mark.apertium
def test_translate_train_student_reads_the_mt_of_source_text(tmp_path: Path, isolated_cache: Path) -> None:
    cfg = _cfg(tmp_path, "mode=translate", "mode.direction=train", "data.target_langs=[es]")
    data = prepare_data(cfg)["es"]
    train = data["train"]
    # The source side is the labelled English training text; the target side its Spanish MT.
    assert set(train["label"]) and all(t.strip() for t in train["tgt"])
    assert sum(s != t for s, t in zip(train["src"], train["tgt"], strict=True)) > len(train) // 2
    # The test split stays human Spanish (with an MT English side for the translate-test baseline).
    from distill.data.sources.chatterbot import load_chatterbot

    human = set(load_chatterbot(["es"])["test"]["text"])
    assert set(data["test"]["tgt"]) <= human
    metrics, _ = run(cfg)
    assert {("student", "es"), ("teacher_translate_test", "es"), ("teacher", "en")} <= _systems(metrics)


def test_direct_mode_teacher_reads_the_target_text(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, "mode=direct", "loss=kd", "data.target_langs=[it]")
    labelled = label(cfg)
    teacher = load_teacher(labelled.teacher.path)
    pairs = labelled.data["it"]["train"]
    cached = labelled.soft["it"]["train"].logits()
    on_tgt = predict_logits(*teacher, pairs["tgt"], max_length=int(cfg.teacher.max_length))
    on_src = predict_logits(*teacher, pairs["src"], max_length=int(cfg.teacher.max_length))
    np.testing.assert_allclose(cached, on_tgt, atol=1e-5)
    assert not np.allclose(cached, on_src, atol=1e-3)

    metrics, _ = run(cfg)
    systems = _systems(metrics)
    assert ("direct_transfer", "it") in systems and ("teacher_zero_shot", "it") not in systems
    assert ("student", "it") in systems


def test_translate_train_takes_unlabelled_source_text(tmp_path: Path, isolated_cache: Path) -> None:
    """Unlabelled English text, translated by a file backend (no Apertium needed)."""
    english = [f"Sentence number {i} about the weather" for i in range(40)]
    (tmp_path / "en.jsonl").write_text(
        "".join(json.dumps({"text": t}) + "\n" for t in english), encoding="utf-8"
    )
    table = tmp_path / "en_es.tsv"
    rows = "".join(f"{t}\tFrase {i} sobre el tiempo\n" for i, t in enumerate(english))
    table.write_text("src\ttgt\n" + rows + "Hace sol\tIt is sunny\n")  # both directions in one table
    (tmp_path / "es_test.jsonl").write_text(json.dumps({"text": "Hace sol", "label": "weather"}) + "\n")
    cfg = _cfg(
        tmp_path / "run",
        "data=files",
        f"data.source_train={tmp_path / 'en.jsonl'}",
        "data.parallel=null",
        f"++data.target_test.es={tmp_path / 'es_test.jsonl'}",
        "data.target_langs=[es]",
        "mode=translate",
        "mode.direction=train",
        "mode.translator.backend=file",
        f"++mode.translator.path={table}",
    )
    data = prepare_data(cfg)["es"]
    assert "label" not in data["train"].column_names
    assert all(t.startswith("Frase ") for t in data["train"]["tgt"])
    assert len(data["train"]) + len(data["validation"]) == 40


def test_bucket_by_length_gives_the_student_length_bucketed_batches(tmp_path: Path) -> None:
    def batches(bucket: bool) -> tuple[list[list[int]], list[int]]:
        cfg = _cfg(tmp_path, "loss=kd", "data.target_langs=[it]", f"student.bucket_by_length={bucket}")
        labelled = label(cfg)
        labels = labelled.teacher.labels
        _, tokenizer = build_student(cfg, labels, ["it"])
        dm = student_datamodule(cfg, tokenizer, labelled.data, labelled.targets(), labels, with_source=False)
        # What the student reads of each row: its target text only (kd), truncated.
        ids = tokenizer(list(dm.train_rows["tgt"]), truncation=True, max_length=int(cfg.student.max_length))[
            "input_ids"
        ]
        return list(dm.train_dataloader().batch_sampler), [len(x) for x in ids]

    def padding(found: list[list[int]], lengths: list[int]) -> int:
        return sum(len(b) * max(lengths[i] for i in b) - sum(lengths[i] for i in b) for b in found)

    plain, lengths = batches(False)
    bucketed, same = batches(True)
    assert same == lengths and sorted(i for b in bucketed for i in b) == list(range(len(lengths)))
    assert padding(bucketed, lengths) < 0.5 * padding(plain, lengths)
