"""Hub datasets through ``datasets``: the shipped configs on local folders of the hubs' schemas.

Nothing is downloaded: each test writes a local copy in the schema of the hub dataset (OPUS-100's
translation dicts, Tatoeba-MT's columns as plain data files read by ``load_dataset``, XNLI's
index-aligned per-language configs with ``ClassLabel`` labels) and points the config at it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value
from omegaconf import DictConfig

from distill.data.hub import hub_parallel
from distill.data.sources.chatterbot import chatterbot_parallel, load_chatterbot
from distill.errors import DistillError
from distill.pipeline import run
from distill.sources import load_parallel
from distill.teacher import train_teacher
from tests.integration.helpers import compose_cfg


def _cfg(out: Path, *overrides: str) -> DictConfig:
    return compose_cfg(out, "debug=tiny", "logger=none", "trainer.max_epochs=1", *overrides)


def _pairs(split: str) -> Dataset:
    return chatterbot_parallel("it", split)


@pytest.fixture(scope="module")
def opus_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("opus") / "opus-100-en-it"
    DatasetDict(
        {
            split: Dataset.from_dict(
                {
                    "translation": [
                        {"en": s, "it": t}
                        for s, t in zip(_pairs(split)["src"], _pairs(split)["tgt"], strict=True)
                    ]
                }
            )
            for split in ("train", "validation", "test")
        }
    ).save_to_disk(str(folder))
    return folder


def test_opus100_config_on_a_saved_copy(opus_folder: Path, tmp_path: Path) -> None:
    teacher = train_teacher(_cfg(tmp_path / "t")).path  # unlabelled pairs: a ready teacher is given
    cfg = _cfg(
        tmp_path / "run", "data=opus100", f"data.parallel.path={opus_folder}", f"teacher.path={teacher}"
    )
    data = load_parallel(cfg.data, "it")
    assert {k: len(v) for k, v in data.items()} == {
        s: min(len(_pairs(s)), 64) for s in ("train", "validation", "test")
    }
    for split in ("train", "test"):  # the dataset's own splits, pairs kept together
        pairs = set(zip(_pairs(split)["src"], _pairs(split)["tgt"], strict=True))
        assert set(zip(data[split]["src"], data[split]["tgt"], strict=True)) <= pairs
    metrics, _ = run(cfg)
    assert metrics["unlabelled_agreement"]["it"]["n"] == 64  # debug=tiny caps the pairs


def test_tatoeba_config_reads_plain_data_files_with_load_dataset(tmp_path: Path) -> None:
    folder = tmp_path / "tatoeba"
    folder.mkdir()
    for split in ("validation", "test"):
        pairs = _pairs(split)
        Dataset.from_dict(
            {
                "sourceLang": ["eng"] * len(pairs),
                "targetlang": ["ita"] * len(pairs),
                "sourceString": pairs["src"],
                "targetString": pairs["tgt"],
            }
        ).to_json(str(folder / f"{split}.jsonl"), force_ascii=False)
    cfg = _cfg(tmp_path, "data=tatoeba", f"data.parallel.path={folder}", "data.parallel.name=null")
    data = load_parallel(cfg.data, "it")
    assert len(data["test"]) == min(64, len(_pairs("test")))
    assert len(data["train"]) > len(data["validation"]) > 0  # the validation pool cut 90/10
    assert set(data["test"]["tgt"]) <= set(_pairs("test")["tgt"])


@pytest.fixture(scope="module")
def xnli_folders(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Per-language folders in XNLI's schema (premise, hypothesis, ClassLabel label), rows aligned."""
    root = tmp_path_factory.mktemp("xnli")
    en = load_chatterbot(["en"])
    names = sorted(set(en["train"]["topic"]))
    features = Features(
        {"premise": Value("string"), "hypothesis": Value("string"), "label": ClassLabel(names=names)}
    )

    def table(texts: list[str], topics: list[str]) -> Dataset:
        return Dataset.from_dict(
            {
                "premise": texts,
                "hypothesis": ["a topic question"] * len(texts),
                "label": [names.index(t) for t in topics],
            },
            features=features,
        )

    aligned = {s: _pairs(s).filter(lambda r: r["label"] in names) for s in ("validation", "test")}
    DatasetDict(
        {
            "train": table(en["train"]["text"], en["train"]["topic"]),
            **{s: table(ds["src"], ds["label"]) for s, ds in aligned.items()},
        }
    ).save_to_disk(str(root / "xnli_en"))
    DatasetDict({s: table(ds["tgt"], ds["label"]) for s, ds in aligned.items()}).save_to_disk(
        str(root / "xnli_it")
    )
    return root


def test_xnli_config_index_aligned_languages_with_class_labels(xnli_folders: Path, tmp_path: Path) -> None:
    path = str(xnli_folders / "xnli_{lang}")
    source = str(xnli_folders / "xnli_{source}")
    overrides = [
        "data=xnli",
        "data.target_langs=[it]",
        f"data.source_train.path='{source}'",  # quoted: Hydra reads {...} as a dict
        f"data.source_validation.path='{source}'",
        f"data.source_test.path='{source}'",
        f"data.parallel.path='{path}'",
        f"+data.parallel.source_path='{source}'",
    ]
    cfg = _cfg(tmp_path, *overrides)
    data = load_parallel(cfg.data, "it")
    row = data["test"][0]
    assert row["src"].endswith(" / a topic question") and row["tgt"].endswith(" / a topic question")
    assert row["label"] in set(load_chatterbot(["en"])["train"]["topic"])  # ClassLabel ids became names
    metrics, _ = run(cfg)
    systems = {(r["system"], r["lang"]) for r in metrics["results"]}
    assert {
        ("student", "it"),
        ("teacher_zero_shot", "it"),
        ("teacher_translate_test", "it"),
        ("teacher", "en"),
    } <= systems


def test_hub_errors_name_what_is_missing(opus_folder: Path, tmp_path: Path) -> None:
    spec = {"path": str(opus_folder), "translation_field": "translation", "split": "test"}
    with pytest.raises(DistillError, match=r"no 'en'/'ja' pair; languages present: en, it"):
        hub_parallel(spec, "ja", "en")
    with pytest.raises(DistillError, match=r"has no split 'dev'; it has train, validation, test"):
        hub_parallel({**spec, "split": "dev"}, "it", "en")
    with pytest.raises(DistillError, match=r"no column 'translations'"):
        hub_parallel({**spec, "translation_field": "translations"}, "it", "en")
    with pytest.raises(DistillError, match=r"dataset folder .*missing does not exist"):
        hub_parallel({"path": str(tmp_path / "missing"), "split": "test"}, "it", "en")
