"""Bad input to the pipeline: a clear error before anything is trained, and nothing written.

Each case runs the real stage function on the tiny debug config with ``pl.Trainer.fit`` forbidden,
so an error that came only after training had started would fail the test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig

from distill.errors import DistillError
from distill.models.classifier import load_classifier
from distill.pipeline import run
from distill.stages.evaluate import evaluate
from distill.stages.export import export
from distill.teacher import train_teacher
from tests.integration.helpers import compose_cfg

TINY = "xlt-distill/tiny-random-bert"


def _cfg(out: Path, *overrides: str) -> DictConfig:
    return compose_cfg(out, "debug=tiny", "logger=none", "trainer.max_epochs=1", *overrides)


@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("training started although the input was bad")

    monkeypatch.setattr(pl.Trainer, "fit", fail)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("loss.temperature=0", r"loss\.temperature must be > 0"),
        ("loss.temperature=-1.5", r"loss\.temperature must be > 0"),
        ("loss.weights.back=-0.5", r"loss\.weights\.back must be a finite number >= 0, got -0\.5"),
        ("loss.weights.kd=fast", r"loss\.weights\.kd must be a number, got 'fast'"),
        ("cycle.rounds=0", r"cycle\.rounds must be an integer >= 1, got 0"),
        ("cycle.mix=1.5", r"cycle\.mix must be a number in \[0, 1\], got 1\.5"),
        ("data.target_langs=[]", r"data\.target_langs is empty"),
        ("data.target_langs=[en]", r"contains the source language 'en'"),
        ("data.target_langs=[xx]", r"data\.target_langs: 'xx' is not an ISO 639 language code"),
        ("data.source_lang=english", r"data\.source_lang: 'english' is not an ISO 639 language code"),
    ],
)
def test_bad_settings_fail_before_the_teacher_trains(
    override: str, message: str, tmp_path: Path, isolated_cache: Path, no_training: None
) -> None:
    with pytest.raises(DistillError, match=message) as info:
        run(_cfg(tmp_path / "run", override))
    assert info.value.fix  # every error says how to fix it
    assert not (isolated_cache / "teachers").exists()
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_target_language_without_test_pairs_is_an_error_listing_the_usable_ones(
    tmp_path: Path, isolated_cache: Path, no_training: None
) -> None:
    with pytest.raises(DistillError, match=r"no aligned en-es pairs.*\(.*it, ja, ko.*\)"):
        run(_cfg(tmp_path, "data.target_langs=[it,es]"))
    assert not (isolated_cache / "teachers").exists()


def test_unknown_language_code_lists_the_codes_present(tmp_path: Path, no_training: None) -> None:
    with pytest.raises(DistillError, match=r"no language 'fi'; available codes: bn, de, en"):
        run(_cfg(tmp_path, "data.target_langs=[fi]"))  # Finnish: a language, absent from the data


def test_parallel_set_empty_after_filtering(tmp_path: Path, tmp_path_factory: Any, no_training: None) -> None:
    teacher = _classifier(tmp_path_factory.mktemp("t") / "ready", ["negative", "positive"])
    with pytest.raises(
        DistillError, match=r"no Django translation pairs for 'it' pass the filters \(min_words=100000"
    ):
        run(_cfg(tmp_path, "data=django", "data.min_words=100000", f"teacher.path={teacher}"))


def test_teacher_with_other_labels_is_refused(
    tmp_path: Path, isolated_cache: Path, no_training: None
) -> None:
    teacher = _classifier(tmp_path / "sentiment", ["negative", "positive"])
    with pytest.raises(DistillError, match=r"has labels \['negative', 'positive'\], but data=chatterbot"):
        run(_cfg(tmp_path / "run", f"teacher.path={teacher}"))


def _classifier(folder: Path, labels: list[str]) -> Path:
    model, tokenizer = load_classifier(TINY, labels)
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def _fake_checkpoint(path: Path, state: dict[str, torch.Tensor], labels: list[str]) -> Path:
    torch.save({"state_dict": state, "hyper_parameters": {"labels": labels, "base_model": TINY}}, path)
    return path


@pytest.mark.parametrize("stage", [evaluate, export])
def test_checkpoint_with_teacher_weights_is_refused(stage: Any, tmp_path: Path) -> None:
    labels = train_teacher(_cfg(tmp_path)).labels
    ckpt = _fake_checkpoint(tmp_path / "t.ckpt", {"teacher.bert.weight": torch.zeros(2)}, labels)
    with pytest.raises(DistillError, match=r"contains teacher weights \(teacher\.bert\.weight"):
        stage(_cfg(tmp_path / "run", f"checkpoint={ckpt}"))
    assert not (tmp_path / "run" / "metrics.json").exists()
    assert not (tmp_path / "run" / "student").exists()


@pytest.mark.parametrize("stage", [evaluate, export])
def test_checkpoint_with_other_labels_is_refused(stage: Any, tmp_path: Path) -> None:
    ckpt = _fake_checkpoint(tmp_path / "s.ckpt", {"model.classifier.bias": torch.zeros(2)}, ["neg", "pos"])
    with pytest.raises(DistillError, match=r"was trained on labels \['neg', 'pos'\], this run has \["):
        stage(_cfg(tmp_path / "run", f"checkpoint={ckpt}"))


def test_exported_student_with_other_labels_is_refused(tmp_path: Path) -> None:
    folder = _classifier(tmp_path / "other", ["neg", "pos"])
    with pytest.raises(DistillError, match=r"student .*other has labels \['neg', 'pos'\]"):
        evaluate(_cfg(tmp_path / "run", f"checkpoint={folder}"))


def test_a_file_that_is_no_checkpoint_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(DistillError, match=r"junk\.ckpt is not a readable checkpoint"):
        evaluate(_cfg(tmp_path / "run", f"checkpoint={junk}"))
