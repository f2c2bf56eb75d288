"""Multi-source distillation: the combination rules (hand-computed), the config, the ranking weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from distill.errors import DistillError
from distill.multi_source import SourceLabels, TeacherSource, combined_split, side_column, teacher_sources
from distill.rank_sources import read_ranking, similarity_weights
from distill.targets import aligned_probs, combine_probs, confidence, tempered, to_logits

TAU = 2.0


def _cfg(teachers: object, combine: str = "fixed") -> object:
    return OmegaConf.create(
        {
            "teacher": {"name": "tiny", "model": "m", "max_length": 32},
            "data": {"name": "chatterbot", "source_lang": "en", "target_langs": ["ko"]},
            "teachers": teachers,
            "combine": combine,
        }
    )


def test_fixed_weights_average_the_tempered_distributions() -> None:
    p1, p2 = np.array([[0.7, 0.2, 0.1]]), np.array([[0.1, 0.3, 0.6]])
    p, w = combine_probs(np.stack([p1, p2]), np.array([[3.0, 1.0]]))
    np.testing.assert_allclose(w, [[0.75, 0.25]])
    np.testing.assert_allclose(p, [[0.55, 0.225, 0.225]])
    # The loss's softmax(z / tau) of the handed-over logits is exactly the mixture.
    np.testing.assert_allclose(tempered(to_logits(p, TAU).astype(np.float64), TAU), p, rtol=1e-5)


def test_an_abstaining_teacher_leaves_its_row_to_the_others() -> None:
    probs = np.array([[[0.7, 0.3], [0.5, 0.5]], [[0.1, 0.9], [0.0, 0.0]]])  # teacher 2 skips row 2
    p, w = combine_probs(probs, np.ones((2, 2)))
    np.testing.assert_allclose(w, [[0.5, 0.5], [1.0, 0.0]])
    np.testing.assert_allclose(p, [[0.4, 0.6], [0.5, 0.5]])
    with pytest.raises(DistillError, match="no teacher label"):
        combine_probs(np.zeros((2, 1, 2)), np.ones((1, 2)))


def test_labels_are_moved_to_the_primary_label_set() -> None:
    z = np.log(np.array([[0.5, 0.3, 0.2]]))  # own labels b, x, a; x is not the primary's
    p = aligned_probs(z, ["b", "x", "a"], ["a", "b", "c"], tau=1.0)
    np.testing.assert_allclose(p, [[0.2 / 0.7, 0.5 / 0.7, 0.0]])


def test_confidence_weights_favour_the_sure_teacher_per_row() -> None:
    sure, unsure = np.array([[8.0, 0.0, 0.0]]), np.array([[0.1, 0.0, 0.0]])
    assert confidence(sure)[0] > 0.9 > 0.01 > confidence(unsure)[0]
    sources = [TeacherSource(n, n, 1.0, OmegaConf.create({})) for n in ("a", "b")]
    per = [
        SourceLabels(z, np.array([True]), ["x", "y", "z"], n, False) for z, n in ((sure, "a"), (unsure, "b"))
    ]
    _, fixed = combined_split("fixed", sources, per, ["x", "y", "z"], TAU, np.array([0.5, 0.5]))
    _, conf = combined_split("confidence", sources, per, ["x", "y", "z"], TAU, np.array([0.5, 0.5]))
    assert fixed["a"]["mean_weight"] == 0.5
    assert conf["a"]["mean_weight"] > 0.95
    assert conf["a"]["agreement"] == 1.0 and conf["a"]["rows_read"] == 1


def test_similarity_weights_are_a_softmax_over_the_teacher_languages(tmp_path: Path) -> None:
    w = similarity_weights({"en": 0.5, "ja": 0.6, "it": 0.1}, ["en", "ja"], temperature=0.1)
    np.testing.assert_allclose(w, np.exp([5.0, 6.0]) / np.exp([5.0, 6.0]).sum())
    with pytest.raises(DistillError, match="no score for uk"):
        similarity_weights({"en": 0.5}, ["en", "uk"], temperature=0.1)
    path = tmp_path / "r.json"
    path.write_text(
        json.dumps(
            {"target": "ja", "candidates": [], "signals": [], "weights": {}, "student": "s", "data": "d"}
        )
    )
    with pytest.raises(DistillError, match="for target 'ja', not 'ko'"):
        read_ranking(path, "ko")


def test_teacher_config_primary_first_and_overrides() -> None:
    assert teacher_sources(_cfg(None)) == []
    sources = teacher_sources(
        _cfg({"en": {"lang": "en"}, "it": {"lang": "it", "weight": 0.5, "teacher": {"lr": 0.1}}})
    )
    assert [(s.name, s.lang, s.weight) for s in sources] == [("en", "en", 1.0), ("it", "it", 0.5)]
    assert sources[1].cfg.data.source_lang == "it" and sources[1].cfg.teacher.lr == 0.1
    assert sources[1].cfg.teacher.model == "m" and sources[1].cfg.teachers is None
    assert side_column("it", "en") == "src_it" and side_column("en", "en") == "src"


@pytest.mark.parametrize(
    ("teachers", "combine", "message"),
    [
        ({"it": {"lang": "it"}, "en": {"lang": "en"}}, "fixed", "must read the pairs' source side"),
        ({"en": {"lang": "en"}, "ko": {"lang": "ko"}}, "fixed", "is a target language"),
        ({"en": {"lang": "en", "weight": 0}}, "fixed", "weight must be a number > 0"),
        ({"en": {"lang": "en", "wieght": 1}}, "fixed", "unknown keys"),
        ({"en": {"lang": "xx"}}, "fixed", "not an ISO 639"),
        ({"en": {"lang": "en"}}, "average", "not a combination method"),
    ],
)
def test_bad_teacher_configs_are_refused(teachers: object, combine: str, message: str) -> None:
    with pytest.raises(DistillError, match=message):
        teacher_sources(_cfg(teachers, combine))
