"""Multi-source distillation end to end on the tiny models: two teachers (en, it) label the ko pairs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distill.pipeline import run

from .helpers import compose_cfg

TINY = (
    "debug=tiny",
    "logger=none",
    "trainer.max_epochs=1",
    "export_student=false",
    "data.target_langs=[ko]",
    "data.max_pairs=32",
    "teachers={en:{lang:en},it:{lang:it,weight:0.5}}",
)


def test_two_teachers_combined_logged_and_cached(tmp_path: Path) -> None:
    run(compose_cfg(tmp_path / "fixed", *TINY))
    sources = json.loads((tmp_path / "fixed" / "sources.json").read_text())
    assert [t["lang"] for t in sources["teachers"]] == ["en", "it"] and sources["space"] == "probability"
    train = sources["languages"]["ko"]["train"]
    assert sources["languages"]["ko"]["prior"] == {"en": 2 / 3, "it": 1 / 3}
    assert train["en"]["rows_read"] == 32 and 0 < train["it"]["rows_read"] <= 32  # it lacks some pairs
    assert 0.0 <= train["it"]["agreement"] <= 1.0
    metrics = json.loads((tmp_path / "fixed" / "metrics.json").read_text())
    assert metrics["sources"]["combine"] == "fixed" and "sources=en+it:fixed" in metrics["run"]["variant"]

    # Another combination reuses both teachers and their raw logits (each pass is paid once).
    run(compose_cfg(tmp_path / "sim", *TINY, "combine=similarity"))
    labels = json.loads((tmp_path / "sim" / "labels.json").read_text())
    assert labels["ko"]["train_it"]["hit"] and labels["ko"]["validation_en"]["hit"]
    sim = json.loads((tmp_path / "sim" / "sources.json").read_text())["languages"]["ko"]
    assert set(sim["similarity"]) == {"en", "it"}
    assert sum(sim["prior"].values()) == pytest.approx(1.0)
