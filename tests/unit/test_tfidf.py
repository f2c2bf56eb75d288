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
