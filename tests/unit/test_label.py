"""The soft-label cache: its key, hits without the teacher, atomic writes, damage, memory mapping."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from datasets import Dataset, DatasetDict

import distill.cache.fingerprint as fingerprint_module
from distill.cache import SoftLabels, cache_key, label_stage, soft_labels
from distill.errors import DistillError
from distill.models.classifier import _batch_bounds, load_classifier, predict_logits
from distill.models.tiny import build_tiny_encoder

LABELS = ["a", "b", "c"]
TEXTS = [
    "hello there",
    "what is your favourite movie",
    "i like robots",
    "how are you",
    "the history of science is a long story about computers and books",
]
MAX_LENGTH = 32


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random 3-class classifier and its tokenizer, saved like a fine-tuned teacher."""
    root = tmp_path_factory.mktemp("teacher")
    model, tokenizer = load_classifier(str(build_tiny_encoder(root / "encoder")), LABELS)
    out = root / "teacher"
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return out


class CountingLoader:
    """A ``model_loader`` that counts teacher loads and forward passes."""

    def __init__(self, fail_after_batches: int | None = None) -> None:
        self.loads = 0
        self.batches = 0
        self.fail_after_batches = fail_after_batches

    def _forward_hook(self, _module: Any, _args: Any, _out: Any) -> None:
        self.batches += 1
        if self.fail_after_batches is not None and self.batches > self.fail_after_batches:
            raise RuntimeError("teacher crashed")

    def __call__(self, path: Path) -> tuple[Any, Any]:
        self.loads += 1
        model, tokenizer = load_classifier(str(path))
        model.register_forward_hook(self._forward_hook)
        return model, tokenizer


def label(teacher_dir: Path, texts: list[str] = TEXTS, **kwargs: Any) -> SoftLabels:
    kwargs = {"mode": "parallel", "max_length": MAX_LENGTH, "progress": False, "batch_size": 2, **kwargs}
    return soft_labels(teacher_dir, texts, **kwargs)


def key(teacher_dir: Path, texts: list[str] = TEXTS, **kwargs: Any) -> str:
    return cache_key(teacher_dir, texts, **{"mode": "parallel", "max_length": MAX_LENGTH, **kwargs})


def entries(cache: Path) -> list[str]:
    """Everything in the soft-label cache folder, temporary folders included."""
    folder = cache / "soft_labels"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def copy_teacher(teacher: Path, dest: Path, edit: Callable[[Any, Any], None] | None = None) -> Path:
    """Copy the teacher folder; with ``edit``, load it, apply ``edit(model, tokenizer)`` and re-save."""
    shutil.copytree(teacher, dest)
    if edit is not None:
        model, tokenizer = load_classifier(str(dest))
        edit(model, tokenizer)
        model.save_pretrained(str(dest))
        tokenizer.save_pretrained(str(dest))
    return dest


# --- the key ---------------------------------------------------------------------------------------


def test_key_is_stable_for_a_copied_teacher(teacher: Path, tmp_path: Path, isolated_cache: Path) -> None:
    assert key(teacher) == key(teacher)
    assert key(copy_teacher(teacher, tmp_path / "copy")) == key(teacher)


@pytest.mark.parametrize(
    ("texts", "kwargs"),
    [
        pytest.param([*TEXTS[:2], "i like robots!", *TEXTS[3:]], {}, id="one-text-edited"),
        pytest.param([TEXTS[1], TEXTS[0], *TEXTS[2:]], {}, id="order-swapped"),
        pytest.param(TEXTS[:-1], {}, id="one-text-fewer"),
        pytest.param(TEXTS, {"max_length": 16}, id="max-length"),
        pytest.param(TEXTS, {"prefix": "query: "}, id="prefix"),
        pytest.param(TEXTS, {"mode": "direct"}, id="mode"),
        pytest.param(TEXTS, {"with_embeddings": True}, id="embeddings"),
    ],
)
def test_key_changes_with_texts_and_settings(
    teacher: Path, isolated_cache: Path, texts: list[str], kwargs: dict[str, Any]
) -> None:
    assert key(teacher, texts, **kwargs) != key(teacher)


def _perturb_weights(model: Any, _tokenizer: Any) -> None:
    with torch.no_grad():
        model.classifier.weight[0, 0] += 0.5


def _add_token(_model: Any, tokenizer: Any) -> None:
    tokenizer.add_tokens(["zebra"])


def _rename_label(model: Any, _tokenizer: Any) -> None:
    model.config.id2label = {0: "a", 1: "b", 2: "z"}
    model.config.label2id = {"a": 0, "b": 1, "z": 2}


@pytest.mark.parametrize(
    "edit", [_perturb_weights, _add_token, _rename_label], ids=["weights", "tokenizer", "labels"]
)
def test_key_changes_with_the_teacher(
    teacher: Path, tmp_path: Path, isolated_cache: Path, edit: Callable[[Any, Any], None]
) -> None:
    assert key(copy_teacher(teacher, tmp_path / "edited", edit)) != key(teacher)


def test_resaving_weights_in_place_changes_the_key(
    teacher: Path, tmp_path: Path, isolated_cache: Path
) -> None:
    copy = copy_teacher(teacher, tmp_path / "copy")
    before = key(copy)  # remembers the weights file's hash by (path, size, mtime)
    model, _ = load_classifier(str(copy))
    _perturb_weights(model, None)
    model.save_pretrained(str(copy))
    assert key(copy) != before
    assert key(copy) != key(teacher)


def test_weight_hashes_are_reused_across_processes(
    teacher: Path, isolated_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sweep job finds the weights' hash in the cache's sidecar instead of hashing them again."""
    monkeypatch.setattr(fingerprint_module, "_FILE_HASHES", {})  # what a fresh process starts with
    first = key(teacher)
    monkeypatch.setattr(fingerprint_module, "_FILE_HASHES", {})  # the next job
    hashed: list[str] = []
    real_sha256 = fingerprint_module.file_sha256

    def counting_sha256(path: Path) -> str:
        hashed.append(Path(path).name)
        return real_sha256(path)

    monkeypatch.setattr(fingerprint_module, "file_sha256", counting_sha256)
    assert key(teacher) == first
    assert "model.safetensors" not in hashed and hashed  # tokenizer files are still read
    assert list((isolated_cache / "file_hashes").iterdir())


def test_teacher_without_weights_is_an_error(tmp_path: Path, isolated_cache: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DistillError, match="no weights"):
        key(tmp_path / "empty")
    with pytest.raises(DistillError, match="does not exist"):
        key(tmp_path / "missing")


def test_a_missing_text_is_an_error(teacher: Path, isolated_cache: Path) -> None:
    with pytest.raises(DistillError, match="not a string"):
        key(teacher, [*TEXTS, None])  # type: ignore[list-item]


# --- hits, misses and what is stored ------------------------------------------------------------------


def test_second_call_hits_without_the_teacher(
    teacher: Path, tmp_path: Path, isolated_cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    loader = CountingLoader()
    caplog.set_level(logging.INFO, logger="distill.cache")
    first = label(teacher, model_loader=loader)
    ran = loader.batches  # how many forwards a miss takes (token-budget batches)
    assert (first.hit, loader.loads) == (False, 1) and ran > 0
    assert "cache miss" in caplog.text

    # Another batch size and a copied teacher folder still hit: neither is part of the key.
    copy = copy_teacher(teacher, tmp_path / "copy")
    second = label(copy, batch_size=4, model_loader=loader)
    assert (second.hit, loader.loads, loader.batches) == (True, 1, ran)
    assert f"cache hit {first.key} ({len(TEXTS)} rows)" in caplog.text
    assert second.key == first.key and second.path == first.path
    np.testing.assert_array_equal(second.logits(), first.logits())

    model, tokenizer = load_classifier(str(teacher))
    live = predict_logits(model, tokenizer, TEXTS, batch_size=8, max_length=MAX_LENGTH)
    np.testing.assert_allclose(first.logits(), live, atol=1e-5, rtol=0)
    assert first.logits().shape == (len(TEXTS), len(LABELS))
    assert first.manifest["id2label"] == {"0": "a", "1": "b", "2": "c"}
    assert first.manifest["n_rows"] == len(TEXTS) and first.num_labels == len(LABELS)
    assert first.embeddings() is None


def test_embeddings_are_mean_pooled_base_model_states(teacher: Path, isolated_cache: Path) -> None:
    stored = label(teacher, with_embeddings=True)
    model, tokenizer = load_classifier(str(teacher))
    model.eval()
    emb = stored.embeddings()
    assert emb is not None and emb.shape == (len(TEXTS), 32) and emb.dtype == np.float32
    assert stored.manifest["embedding_dim"] == 32
    with torch.inference_mode():
        for i, text in enumerate(TEXTS):  # one text at a time: no padding, the mean is over all tokens
            batch = tokenizer([text], truncation=True, max_length=MAX_LENGTH, return_tensors="pt")
            hidden = model.base_model(**batch).last_hidden_state  # (1, T, H)
            np.testing.assert_allclose(emb[i], hidden[0].mean(0).numpy(), atol=1e-5, rtol=0)
    live = predict_logits(model, tokenizer, TEXTS, batch_size=8, max_length=MAX_LENGTH)
    np.testing.assert_allclose(stored.logits(), live, atol=1e-5, rtol=0)


def test_reads_are_memory_mapped_from_the_cache(teacher: Path, isolated_cache: Path) -> None:
    for result in (label(teacher), label(teacher)):  # the miss and the hit
        files = [Path(f["filename"]) for f in result.dataset.cache_files]
        assert files, "an in-memory dataset has no cache files"
        assert all(f.is_relative_to(result.path) and f.suffix == ".arrow" for f in files)
        assert result.path.parent == isolated_cache / "soft_labels"


def test_empty_text_column(teacher: Path, isolated_cache: Path) -> None:
    result = label(teacher, [], with_embeddings=True)
    assert len(result) == 0 and result.logits().shape == (0, len(LABELS))
    assert label(teacher, [], with_embeddings=True).hit


# --- crashes, damage, concurrent writers ------------------------------------------------------------


def _failing_save(self: Dataset, path: str, **kwargs: Any) -> None:
    (Path(path) / "data-00000-of-00001.arrow").write_bytes(b"half a file")
    raise OSError("disk full")


@pytest.mark.parametrize("crash", ["teacher", "save"])
def test_a_crash_leaves_no_entry(
    teacher: Path, isolated_cache: Path, monkeypatch: pytest.MonkeyPatch, crash: str
) -> None:
    with monkeypatch.context() as patch:
        if crash == "save":
            patch.setattr(Dataset, "save_to_disk", _failing_save)
            loader = CountingLoader()
        else:
            loader = CountingLoader(fail_after_batches=1)
        with pytest.raises((RuntimeError, OSError)):
            label(teacher, model_loader=loader)
    assert entries(isolated_cache) == []

    rerun = label(teacher, model_loader=CountingLoader())
    assert not rerun.hit and entries(isolated_cache) == [rerun.key]
    assert label(teacher).hit


def _truncate_rows(entry: SoftLabels) -> None:
    shorter = Dataset.from_dict({"logits": entry.logits()[:-1]}, features=entry.dataset.features)
    shorter.save_to_disk(str(entry.path.with_name("shorter")))
    shutil.rmtree(entry.path)
    shutil.move(entry.path.with_name("shorter"), entry.path)
    (entry.path / "manifest.json").write_text(json.dumps(entry.manifest))


def _wrong_key(entry: SoftLabels) -> None:
    (entry.path / "manifest.json").write_text(json.dumps({**entry.manifest, "key": "0" * 32}))


def _no_manifest(entry: SoftLabels) -> None:
    (entry.path / "manifest.json").unlink()


@pytest.mark.parametrize(
    "damage", [_truncate_rows, _wrong_key, _no_manifest], ids=["rows", "key", "manifest"]
)
def test_a_damaged_entry_is_rebuilt(
    teacher: Path,
    isolated_cache: Path,
    caplog: pytest.LogCaptureFixture,
    damage: Callable[[SoftLabels], None],
) -> None:
    first = label(teacher)
    expected = first.logits()
    damage(first)

    loader = CountingLoader()
    with caplog.at_level(logging.WARNING, logger="distill.cache"):
        rebuilt = label(teacher, model_loader=loader)
    assert "rebuilding" in caplog.text
    assert not rebuilt.hit and loader.loads == 1
    assert len(rebuilt) == len(TEXTS) and rebuilt.manifest["key"] == first.key
    np.testing.assert_array_equal(rebuilt.logits(), expected)
    assert label(teacher).hit
    assert entries(isolated_cache) == [first.key]


def test_concurrent_writer_of_the_same_key_is_kept(teacher: Path, isolated_cache: Path) -> None:
    """Another job finishes the same key while this one computes: its entry stays, nothing breaks."""
    other: list[SoftLabels] = []

    def loader_racing_another_job(path: Path) -> tuple[Any, Any]:
        other.append(label(path))  # the other job: checks, computes and renames first
        return load_classifier(str(path))

    result = label(teacher, model_loader=loader_racing_another_job)
    assert not result.hit and not other[0].hit
    assert result.manifest["created"] == other[0].manifest["created"]
    assert result.path == other[0].path
    assert entries(isolated_cache) == [result.key]  # no temporary folders left behind
    np.testing.assert_array_equal(result.logits(), other[0].logits())


# --- the stage --------------------------------------------------------------------------------------


def _pairs(src: list[str]) -> Dataset:
    return Dataset.from_dict({"src": src, "tgt": [f"tgt {s}" for s in src], "label": ["a"] * len(src)})


def test_label_stage_labels_the_source_side_and_loads_the_teacher_once(
    teacher: Path, isolated_cache: Path
) -> None:
    data = {
        "it": DatasetDict({"train": _pairs(TEXTS), "test": _pairs(TEXTS[:2])}),
        "es": DatasetDict({"train": _pairs(TEXTS), "test": _pairs(TEXTS[2:])}),
    }
    loader = CountingLoader()
    out = label_stage(
        teacher, data, mode="parallel", max_length=MAX_LENGTH, progress=False, model_loader=loader
    )
    assert loader.loads == 1  # three misses, one teacher
    assert {lang: sorted(splits) for lang, splits in out.items()} == {
        "it": ["test", "train"],
        "es": ["test", "train"],
    }
    assert out["es"]["train"].hit and out["es"]["train"].key == out["it"]["train"].key  # shared English side
    assert len(out["es"]["test"]) == 3 and out["es"]["test"].key != out["it"]["test"].key
    np.testing.assert_allclose(out["it"]["test"].logits(), out["it"]["train"].logits()[:2], atol=1e-5, rtol=0)

    again = label_stage(
        teacher, data, mode="parallel", max_length=MAX_LENGTH, progress=False, model_loader=loader
    )
    assert loader.loads == 1 and all(r.hit for splits in again.values() for r in splits.values())


def test_label_stage_rejects_unknown_modes_and_columns(teacher: Path, isolated_cache: Path) -> None:
    data = {"it": DatasetDict({"train": _pairs(TEXTS)})}
    with pytest.raises(DistillError, match="mode='telepathy'"):
        label_stage(teacher, data, mode="telepathy", max_length=MAX_LENGTH)
    no_src = {"it": DatasetDict({"train": Dataset.from_dict({"tgt": TEXTS})})}
    with pytest.raises(DistillError, match="no 'src' column"):
        label_stage(teacher, no_src, mode="parallel", max_length=MAX_LENGTH)


def test_token_budget_batches_grow_for_short_texts_only() -> None:
    lengths = np.array([32, 30, 8, 8, 8, 8, 8, 8, 8, 4, 4])  # sorted longest first
    assert _batch_bounds(lengths, 2, None) == [(0, 2), (2, 4), (4, 6), (6, 8), (8, 10), (10, 11)]
    # 64 padded positions: 2 rows at length 32, 8 rows at length 8, never fewer than batch_size.
    assert _batch_bounds(lengths, 2, 64) == [(0, 2), (2, 10), (10, 11)]
    assert _batch_bounds(lengths[:0], 2, 64) == []


def test_token_budget_batches_give_the_same_logits(teacher: Path) -> None:
    model, tokenizer = load_classifier(str(teacher))
    fixed = predict_logits(model, tokenizer, TEXTS, batch_size=2, max_length=MAX_LENGTH)
    budget = predict_logits(model, tokenizer, TEXTS, batch_size=2, max_length=MAX_LENGTH, max_tokens=64)
    np.testing.assert_allclose(budget, fixed, atol=1e-5, rtol=0)
