"""The teacher stage: fine-tune once into the cache, reuse, take a ready classifier, load frozen."""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig
from transformers import AutoModelForSequenceClassification

import distill.cli
from distill.data.collate import LengthBucketBatchSampler, TextLabelCollate
from distill.data.sources.chatterbot import chatterbot_labels
from distill.errors import DistillError
from distill.models.classifier import load_classifier
from distill.models.tiny import packaged_tiny_path
from distill.systems.classifier import ClassifierSystem, linear_warmup_decay, parameter_groups
from distill.teacher import (
    STAMP,
    TeacherData,
    TeacherRecipe,
    cap_examples,
    load_teacher,
    teacher_key,
    teacher_training_data,
    train_teacher,
)

TINY = "xlt-distill/tiny-random-bert"


def _cfg(*overrides: str) -> DictConfig:
    # paths.output_dir interpolates ${hydra:...}, unavailable in compose; the teacher never reads it.
    with initialize_config_dir(config_dir=str(distill.cli.config_dir()), version_base="1.3"):
        return compose("config", overrides=["debug=tiny", *overrides])


def _forbid_training(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the teacher was fine-tuned although it should not have been")

    monkeypatch.setattr(pl.Trainer, "fit", fail)


def _ready_classifier(folder: Path, labels: list[str]) -> Path:
    """A classifier folder as a user would bring it (random head: only its labels matter here)."""
    model, tokenizer = load_classifier(TINY, labels)
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def test_fine_tuned_teacher_is_a_plain_hf_classifier(isolated_cache: Path) -> None:
    result = train_teacher(_cfg())
    labels = chatterbot_labels()

    assert result.source == "trained"
    assert Path(result.path).parent == isolated_cache / "teachers"
    assert result.labels == labels
    assert result.val_acc is not None and 0.0 <= result.val_acc <= 1.0
    assert result.train_seconds is not None and result.train_seconds > 0
    files = {p.name for p in Path(result.path).iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", STAMP} <= files
    assert not any(name.endswith(".bin") or name.endswith(".ckpt") for name in files)
    # No half-written temporary folders are left next to it.
    assert [p.name for p in (isolated_cache / "teachers").iterdir()] == [Path(result.path).name]

    model = AutoModelForSequenceClassification.from_pretrained(result.path)
    assert model.config.id2label == dict(enumerate(labels))
    stamp = json.loads((Path(result.path) / STAMP).read_text())
    assert stamp["key"] == result.key
    assert stamp["data"]["train"] == 128  # debug=tiny caps teacher.max_train_examples


def test_teacher_head_reads_mean_pooled_states_and_reloads_as_such(isolated_cache: Path) -> None:
    result = train_teacher(_cfg())
    config = json.loads((Path(result.path) / "config.json").read_text())
    assert config["classifier_pooling"] == "mean"
    model, tokenizer = load_teacher(result.path)
    assert type(model).__name__ == "MeanPoolingBertForSequenceClassification"
    assert model.bert.pooler is None

    enc = tokenizer(["hello there", "what is your favourite food today"], padding=True, return_tensors="pt")
    with torch.inference_mode():
        logits = model(**enc).logits
        hidden = model.bert(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).float()
        by_hand = model.classifier((hidden * mask).sum(1) / mask.sum(1))
        alone = model(**tokenizer(["hello there"], return_tensors="pt")).logits
    torch.testing.assert_close(logits, by_hand)
    torch.testing.assert_close(logits[:1], alone, atol=1e-5, rtol=1e-5)  # padding does not count


def test_cls_pooling_stays_a_plain_transformers_classifier(isolated_cache: Path) -> None:
    result = train_teacher(_cfg("teacher.pooling=cls"))
    model, _ = load_teacher(result.path)
    assert type(model).__name__ == "BertForSequenceClassification"
    assert result.key != train_teacher(_cfg()).key  # pooling is part of the recipe, hence the key


def test_mean_pooling_needs_a_bert_encoder() -> None:
    from transformers import RobertaConfig

    from distill.models.classifier import classifier_class

    with pytest.raises(
        DistillError, match=r"mean pooling is implemented for BERT encoders; this one is 'roberta'"
    ):
        classifier_class(RobertaConfig(), "mean")
    with pytest.raises(DistillError, match="unknown classifier pooling 'max'"):
        classifier_class(RobertaConfig(), "max")


def test_same_config_reuses_the_cached_teacher(
    isolated_cache: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    first = train_teacher(_cfg())
    _forbid_training(monkeypatch)
    with caplog.at_level(logging.INFO, logger="distill.teacher"):
        second = train_teacher(_cfg())

    assert second.source == "cache"
    assert (second.path, second.key, second.val_acc) == (first.path, first.key, first.val_acc)
    assert any(m.startswith("teacher: reusing") for m in caplog.messages)


def test_key_follows_recipe_data_and_weights(isolated_cache: Path, tmp_path: Path) -> None:
    cfg = _cfg()
    data = teacher_training_data(cfg)
    recipe = TeacherRecipe.from_cfg(cfg)
    key = teacher_key(recipe, data)

    assert teacher_key(TeacherRecipe.from_cfg(_cfg()), teacher_training_data(_cfg())) == key
    assert key.startswith("tiny-random-bert-")
    changed = [
        teacher_key(dataclasses.replace(recipe, epochs=recipe.epochs + 1), data),
        teacher_key(dataclasses.replace(recipe, lr=recipe.lr / 2), data),
        teacher_key(dataclasses.replace(recipe, seed=recipe.seed + 1), data),
        teacher_key(recipe, dataclasses.replace(data, train_labels=data.train_labels[::-1])),
        teacher_key(TeacherRecipe.from_cfg(_cfg("teacher.batch_size=8")), data),
    ]
    assert len({key, *changed}) == len(changed) + 1
    # The same weights under another name or folder give the same key (the content is hashed) ...
    copy = shutil.copytree(packaged_tiny_path(), tmp_path / "tiny-random-bert")
    assert teacher_key(dataclasses.replace(recipe, model=str(copy)), data) == key
    # ... and other weights a different one.
    (copy / "model.safetensors").write_bytes((copy / "model.safetensors").read_bytes() + b" ")
    assert teacher_key(dataclasses.replace(recipe, model=str(copy)), data) != key


def test_given_classifier_is_used_as_is(
    isolated_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Same label set in another order: accepted, and the teacher's own order is kept.
    labels = chatterbot_labels()[::-1]
    folder = _ready_classifier(tmp_path / "ready", labels)
    _forbid_training(monkeypatch)

    result = train_teacher(_cfg(f"teacher.path={folder}"))

    assert (result.source, result.path, result.labels, result.key) == ("given", str(folder), labels, None)
    assert result.val_acc is not None
    assert not (isolated_cache / "teachers").exists()


def test_given_classifier_with_other_labels_is_refused(isolated_cache: Path, tmp_path: Path) -> None:
    folder = _ready_classifier(tmp_path / "sentiment", ["negative", "positive"])
    with pytest.raises(DistillError, match=r"has labels \['negative', 'positive'\].*missing in the teacher"):
        train_teacher(_cfg(f"teacher.path={folder}"))


def test_given_encoder_without_head_is_refused(isolated_cache: Path) -> None:
    with pytest.raises(DistillError, match="not a sequence classifier"):
        train_teacher(_cfg(f"teacher.path={packaged_tiny_path()}"))


def test_unlabelled_data_needs_a_given_teacher(
    isolated_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(DistillError, match=r"data=django has no labels.*teacher\.path"):
        train_teacher(_cfg("data=django"))

    # With a ready classifier, any label set goes: the data has none to compare with.
    folder = _ready_classifier(tmp_path / "ready", ["negative", "positive"])
    _forbid_training(monkeypatch)
    result = train_teacher(_cfg("data=django", f"teacher.path={folder}"))
    assert (result.source, result.labels, result.val_acc) == ("given", ["negative", "positive"], None)


def test_load_teacher_is_frozen(tmp_path: Path) -> None:
    folder = _ready_classifier(tmp_path / "ready", ["a", "b", "c"])
    model, tokenizer = load_teacher(folder)

    assert model.training is False
    assert not any(p.requires_grad for p in model.parameters())
    assert model.config.id2label == {0: "a", 1: "b", 2: "c"}
    assert tokenizer("hello")["input_ids"][0] == tokenizer.cls_token_id
    with pytest.raises(DistillError, match="has labels"):
        load_teacher(folder, ["a", "b"])


def test_cap_keeps_every_label_and_the_order() -> None:
    labels = ["x"] * 50 + ["y"] * 5 + ["z"]
    data = TeacherData([str(i) for i in range(56)], labels, [], [], ["x", "y", "z"])

    capped = cap_examples(data, 6, seed=0)

    assert set(capped.train_labels) == {"x", "y", "z"}
    assert len(capped.train_texts) == 6
    assert [int(t) for t in capped.train_texts] == sorted(int(t) for t in capped.train_texts)
    assert cap_examples(data, 6, seed=0) == capped
    assert cap_examples(data, None, seed=0) is data


def test_collate_pads_per_batch_and_keeps_labels(tmp_path: Path) -> None:
    _, tokenizer = load_classifier(TINY, ["a", "b"])
    batch = TextLabelCollate(tokenizer, max_length=8)(
        [("hello", 1), ("tell me a good joke about the robot", 0)]
    )

    assert batch["labels"].tolist() == [1, 0]
    assert batch["input_ids"].shape == batch["attention_mask"].shape
    assert batch["input_ids"].shape[1] == 8  # truncated to max_length, padded to the longest
    assert batch["attention_mask"][0].sum() < batch["attention_mask"][1].sum()


def test_linear_warmup_decay_schedule() -> None:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = linear_warmup_decay(opt, total_steps=10, warmup_ratio=0.2)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()

    assert lrs == pytest.approx([1 / 3, 2 / 3, 1.0, 7 / 8, 6 / 8, 5 / 8, 4 / 8, 3 / 8, 2 / 8, 1 / 8])


def test_classifier_system_groups_and_train_mode() -> None:
    model, _ = load_classifier(TINY, ["a", "b"])
    model.eval()  # as from_pretrained returns it
    system = ClassifierSystem(model, functools.partial(torch.optim.AdamW, lr=1e-3, weight_decay=0.1))

    decay, no_decay = parameter_groups(model)
    names = {id(p): n for n, p in model.named_parameters()}
    assert all(names[id(p)].endswith(("bias", "LayerNorm.weight")) for p in no_decay["params"])
    assert no_decay["weight_decay"] == 0.0 and "weight_decay" not in decay
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))
    system.on_fit_start()
    assert model.training  # dropout on while fine-tuning
    assert system.hparams == {"num_labels": None, "label_smoothing": 0.0}


def test_tiny_overrides_apply() -> None:
    cfg = _cfg()
    assert cfg.teacher.path is None
    assert (cfg.teacher.epochs, cfg.teacher.max_train_examples) == (1, 128)


def test_length_buckets_cover_every_index_once_and_pad_little() -> None:
    lengths = [3] * 40 + [120] * 8 + [10] * 30
    sampler = LengthBucketBatchSampler(lengths, batch_size=8, seed=1, pool_batches=4)

    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert len(batches) == len(sampler)
    # Sorted pools: far fewer long-padded rows than random batches would give.
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches)
    assert padded < 0.6 * 120 * len(lengths)
    assert list(sampler) == batches  # same epoch, same order
    sampler.set_epoch(1)
    assert list(sampler) != batches
    evaluation = list(LengthBucketBatchSampler(lengths, batch_size=8, shuffle=False))
    assert [lengths[b[0]] for b in evaluation] == sorted(lengths[b[0]] for b in evaluation)


def test_the_teacher_keeps_its_best_epoch_on_the_source_validation_split(isolated_cache: Path) -> None:
    """teacher.select=source_val (the default): the kept weights are those of the epoch with the best
    English validation accuracy, never worse than the last epoch's; select=last keeps the last."""
    from distill.teacher import _accuracy

    best = train_teacher(_cfg("teacher.epochs=4"))
    last = train_teacher(_cfg("teacher.epochs=4", "teacher.select=last"))
    assert best.key != last.key  # the rule is part of the recipe, hence the key
    assert best.val_acc is not None and last.val_acc is not None and best.val_acc >= last.val_acc
    stamp = json.loads((Path(best.path) / STAMP).read_text())
    assert stamp["recipe"]["select"] == "source_val" and 0 <= stamp["selected_epoch"] <= 3
    data = teacher_training_data(_cfg())
    model, tokenizer = load_teacher(best.path, best.labels)
    max_length = TeacherRecipe.from_cfg(_cfg()).max_length
    kept = _accuracy(model, tokenizer, data.val_texts, data.val_labels, max_length=max_length)
    assert kept == pytest.approx(best.val_acc, abs=1e-6)  # what was selected is what was kept


def test_an_unknown_teacher_selection_is_refused() -> None:
    with pytest.raises(DistillError, match=r"teacher\.select must be one of"):
        TeacherRecipe.from_cfg(_cfg("teacher.select=target_dev"))
