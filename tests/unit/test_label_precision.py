"""teacher.precision: the label stage's fast paths, their parity check against fp32, the cache key."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from distill.cache import cache_key, soft_labels
from distill.cache import precision as prec
from distill.errors import DistillError
from distill.models.classifier import load_frozen
from distill.settings import check_teacher_precision
from tests.unit.test_label import MAX_LENGTH, TEXTS, teacher  # noqa: F401 (fixture)


def test_parity_of_equal_logits_passes_and_of_flipped_ones_fails() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(200, 4)).astype(np.float32)
    same = prec.parity(logits, logits.copy(), "bf16")
    assert same["agreement"] == 1.0 and same["mean_kl"] == pytest.approx(0.0, abs=1e-12)
    assert same["passed"] and same["rows"] == 200
    flipped = logits.copy()
    flipped[:2] = flipped[:2, ::-1]  # 2 of 200 rows (1%) change their argmax (almost surely)
    bad = prec.parity(logits, flipped, "onnx-int8")
    assert bad["agreement"] < prec.MIN_AGREEMENT and not bad["passed"]
    small = prec.parity(logits, logits + rng.normal(scale=1e-3, size=logits.shape), "bf16")
    assert small["passed"] and 0 < small["mean_kl"] < 1e-5


def test_kl_is_of_the_softmax_not_of_the_logits() -> None:
    """Shifting every logit of a row by a constant changes nothing the student learns."""
    logits = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
    record = prec.parity(logits, logits + 5.0, "onnx")
    assert record["mean_kl"] == pytest.approx(0.0, abs=1e-12) and record["passed"]


@pytest.mark.parametrize("precision", ["onnx", "bf16"])
def test_a_fast_path_labels_the_cache_with_its_parity_record(
    teacher: Path,  # noqa: F811
    isolated_cache: Path,
    precision: str,
) -> None:
    reference = soft_labels(teacher, TEXTS, mode="parallel", max_length=MAX_LENGTH, progress=False)
    fast = soft_labels(
        teacher, TEXTS, mode="parallel", max_length=MAX_LENGTH, progress=False, precision=precision
    )
    assert fast.key != reference.key
    assert fast.key == cache_key(teacher, TEXTS, mode="parallel", max_length=MAX_LENGTH, precision=precision)
    record = fast.manifest["parity"]
    assert fast.manifest["precision"] == precision
    assert record["rows"] == len(TEXTS) and record["passed"]
    np.testing.assert_array_equal(fast.logits().argmax(1), reference.logits().argmax(1))
    if precision == "onnx":  # the same float32 graph: equal to rounding
        np.testing.assert_allclose(fast.logits(), reference.logits(), atol=1e-4)
        assert list((isolated_cache / "onnx_teachers").glob("*/model.onnx"))
    again = soft_labels(teacher, TEXTS, mode="parallel", max_length=MAX_LENGTH, precision=precision)
    assert again.hit and again.manifest["parity"] == record


def test_the_check_compares_the_labels_the_cache_keeps(
    teacher: Path,  # noqa: F811
    isolated_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fast path labels each text once; the parity record is of those very labels against an
    fp32 forward of the first texts (here made to differ on purpose, and the record sees it)."""
    fast_calls: list[int] = []
    real_call = prec.TeacherForward.__call__

    def counted(self: prec.TeacherForward, texts: list[str], **kw: object) -> tuple[np.ndarray, None]:
        fast_calls.append(len(texts))
        logits, emb = real_call(self, texts, **kw)
        return logits + 1e-3, emb  # what the cache keeps differs from a plain bf16 forward

    monkeypatch.setattr(prec.TeacherForward, "__call__", counted)
    entry = soft_labels(
        teacher, TEXTS, mode="parallel", max_length=MAX_LENGTH, progress=False, precision="bf16"
    )
    assert fast_calls == [len(TEXTS)]  # once, the shard itself: no second forward of the sample
    record = entry.manifest["parity"]
    reference = prec.TeacherForward("fp32", *load_frozen(teacher)).reference(
        list(TEXTS), batch_size=64, max_length=MAX_LENGTH
    )
    expected = prec.parity(reference, entry.logits(), "bf16")
    assert record["max_abs_logit_diff"] == pytest.approx(expected["max_abs_logit_diff"], abs=1e-5)
    assert record["mean_kl"] == pytest.approx(expected["mean_kl"], rel=1e-3, abs=1e-9)


def test_fp32_keeps_its_key_and_manifest(teacher: Path, isolated_cache: Path) -> None:  # noqa: F811
    """Entries cached before precisions existed are still found: fp32 adds nothing to the key."""
    entry = soft_labels(teacher, TEXTS, mode="parallel", max_length=MAX_LENGTH, progress=False)
    assert entry.key == cache_key(teacher, TEXTS, mode="parallel", max_length=MAX_LENGTH)
    assert "precision" not in entry.manifest and "parity" not in entry.manifest


def test_a_path_that_misses_the_bar_stops_with_its_figures(
    teacher: Path,  # noqa: F811
    isolated_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(prec, "MAX_MEAN_KL", -1.0)  # nothing can pass
    with pytest.raises(DistillError, match=r"onnx fails its parity check on 5 texts.*mean KL") as info:
        soft_labels(teacher, TEXTS, mode="parallel", max_length=MAX_LENGTH, progress=False, precision="onnx")
    assert "teacher.precision=fp32" in str(info.value)
    assert not list((isolated_cache / "soft_labels").glob("*/manifest.json"))  # nothing cached


def _cfg(**settings: object) -> dict[str, object]:
    return {"task": "classification", "teacher": {"precision": "fp32", "live": False, **settings}}


@pytest.mark.parametrize(
    ("cfg", "match"),
    [
        (_cfg(precision="fp16"), "is not one of fp32, bf16, onnx, onnx-int8"),
        (_cfg(precision="bf16", live=True), "teacher.live=true"),
        ({"task": "embedding", "teacher": {"precision": "onnx"}}, "task=embedding runs its teacher in fp32"),
    ],
)
def test_settings_refuse_what_cannot_run(cfg: object, match: str) -> None:
    with pytest.raises(DistillError, match=match):
        check_teacher_precision(OmegaConf.create(cfg))


def test_onnx_cannot_cache_embeddings() -> None:
    with pytest.raises(DistillError, match="logits only"):
        prec.check_precision("onnx-int8", with_embeddings=True)
    prec.check_precision("bf16", with_embeddings=True)
