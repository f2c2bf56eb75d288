"""tfidf_student: character TF-IDF + logistic regression on the teacher's soft labels."""

from __future__ import annotations

import numpy as np
import pytest

from distill.errors import DistillError
from distill.stages.tfidf import TfidfStudent

GREET = ["ciao amico", "buongiorno a te", "ciao ciao", "buongiorno signora", "ciao bella gente"]
BYE = ["arrivederci", "a presto amici", "arrivederci a domani", "buonanotte", "a presto"]


def _logits(rows: list[list[float]]) -> np.ndarray:
    return np.log(np.asarray(rows, dtype=np.float32))


def test_it_learns_the_teachers_labels_from_characters() -> None:
    texts = GREET + BYE
    z = _logits([[0.9, 0.1, 0.0001]] * 5 + [[0.2, 0.8, 0.0001]] * 5)
    model = TfidfStudent(3, seed=1).fit(texts * 3, np.concatenate([z] * 3))
    out = model.logits(["ciao ragazzi", "arrivederci roma"])
    assert out.shape == (2, 3) and out.dtype == np.float32
    assert list(out.argmax(1)) == [0, 1]
    # A label the teacher never gives a probability of 1e-3 to is never predicted.
    assert np.all(out[:, 2] == pytest.approx(np.log(1e-12)))


def test_soft_labels_weigh_the_rows() -> None:
    """The same texts: a confident teacher yields a more confident reference than a hesitant one."""
    texts = (GREET + BYE) * 3
    sure = _logits(([[0.95, 0.05]] * 5 + [[0.05, 0.95]] * 5) * 3)
    unsure = _logits(([[0.6, 0.4]] * 5 + [[0.4, 0.6]] * 5) * 3)
    p_sure = np.exp(TfidfStudent(2).fit(texts, sure).logits(["ciao amico"]))[0, 0]
    p_unsure = np.exp(TfidfStudent(2).fit(texts, unsure).logits(["ciao amico"]))[0, 0]
    assert p_sure > p_unsure > 0.5


def test_rows_and_texts_must_match() -> None:
    with pytest.raises(DistillError, match="3 texts but teacher rows"):
        TfidfStudent(2).fit(["a", "b", "c"], np.zeros((2, 2), dtype=np.float32))


def test_at_most_max_texts_are_kept_by_a_seeded_sample() -> None:
    from distill.stages.tfidf import sample_rows

    assert list(sample_rows(5, 10, seed=0)) == [0, 1, 2, 3, 4]
    a, b = sample_rows(1000, 30, seed=7), sample_rows(1000, 30, seed=7)
    assert len(a) == 30 and len(set(a)) == 30 and list(a) == sorted(a) and list(a) == list(b)
    assert list(sample_rows(1000, 30, seed=8)) != list(a)
    with pytest.raises(DistillError, match="tfidf_max_texts must be >= 1"):
        sample_rows(10, 0, seed=0)


def test_the_run_samples_its_texts_across_languages_with_their_teacher_rows(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``baselines.tfidf_max_texts`` caps the texts (and their teacher rows, kept aligned) over every
    target language; each kept text's row is the one the teacher gave that very text."""
    from types import SimpleNamespace

    from datasets import Dataset
    from omegaconf import OmegaConf

    from distill.stages import baselines

    texts = {"it": GREET * 4, "es": BYE * 4}
    logits = {
        "it": {"train": _logits([[0.9, 0.1]] * 20)},
        "es": {"train": _logits([[0.1, 0.9]] * 20)},
    }
    labelled = SimpleNamespace(
        data={lang: {"train": Dataset.from_dict({"tgt": t})} for lang, t in texts.items()},
        logits=lambda: logits,
        teacher=SimpleNamespace(labels=["greet", "bye"]),
        live=False,
    )
    seen: dict[str, object] = {}
    fit = TfidfStudent.fit

    def spy(self: TfidfStudent, x: list[str], z: np.ndarray) -> TfidfStudent:
        seen.update(texts=x, logits=z)
        return fit(self, x, z)

    cfg = OmegaConf.create({"seed": 3, "baselines": {"tfidf_student": True, "tfidf_max_texts": 16}})
    with caplog.at_level("INFO"), pytest.MonkeyPatch.context() as mp:
        mp.setattr(TfidfStudent, "fit", spy)
        model = baselines.tfidf_student(cfg, labelled)  # type: ignore[arg-type]
    assert model is not None
    kept, rows = seen["texts"], seen["logits"]
    assert len(kept) == len(rows) == 16  # type: ignore[arg-type]
    for text, row in zip(kept, rows, strict=True):  # type: ignore[call-overload]
        assert (row.argmax() == 0) == (text in GREET)
    assert any(t in BYE for t in kept) and any(t in GREET for t in kept)  # type: ignore[union-attr]
    assert "tfidf_student on 16 of 40 target training texts" in caplog.text
