"""task=token_classification on the token data configs: data=wikiann, data=conll2003, data=token_files.

Nothing is downloaded: WikiANN is a ``save_to_disk`` folder per language (``{lang}`` in the path),
CoNLL-2003 a folder of Parquet files that ``datasets.load_dataset`` reads (``ClassLabel`` features
kept in the files, ``-DOCSTART-`` rows included), and the user's files are CoNLL column files and a
words-only file. Their sentences are the synthetic English -> Italian NER of data=token_toy. One
tiny run each (one epoch: these tests are about reading the data into a run, not about learning).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, Sequence, Value
from omegaconf import DictConfig

from distill.pipeline import run
from distill.tasks.token_classification.data import TokenData, toy_data
from tests.integration.helpers import compose_cfg

WIKIANN = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
CONLL = [*WIKIANN, "B-MISC", "I-MISC"]
SPLITS = ("train", "validation", "test")


@pytest.fixture(scope="module")
def toy() -> TokenData:
    return toy_data(n_train=40, n_validation=10, n_test=16)


@pytest.fixture(scope="module", autouse=True)
def cache(module_cache: Path) -> Path:
    return module_cache


def _tagged(ds: Dataset, names: list[str], docstart: bool = False) -> Dataset:
    """``tokens``/``ner_tags`` as the hub has them (ids of a ``ClassLabel``); sentences without
    gold tags (the target training split) get all-``O`` tags, which the run must not read."""
    words = [list(w) for w in ds["tokens"]]
    tags = ds["tags"] if "tags" in ds.column_names else [["O"] * len(w) for w in words]
    ids = [[names.index(t) for t in g] for g in tags]
    if docstart:  # CoNLL-2003 rows: a document break before the sentences
        words, ids = [["-DOCSTART-"], *words], [[0], *ids]
    features = Features({"tokens": Sequence(Value("string")), "ner_tags": Sequence(ClassLabel(names=names))})
    return Dataset.from_dict({"tokens": words, "ner_tags": ids}, features=features)


@pytest.fixture(scope="module")
def wikiann(tmp_path_factory: pytest.TempPathFactory, toy: TokenData) -> Path:
    root = tmp_path_factory.mktemp("wikiann")
    for lang, dd in (("en", toy.source), ("it", toy.data["it"])):
        DatasetDict({s: _tagged(dd[s], WIKIANN) for s in SPLITS}).save_to_disk(str(root / lang))
    return root


@pytest.fixture(scope="module")
def conll2003(tmp_path_factory: pytest.TempPathFactory, toy: TokenData) -> Path:
    root = tmp_path_factory.mktemp("conll2003")
    for split in SPLITS:
        _tagged(toy.source[split], CONLL, docstart=True).to_parquet(str(root / f"{split}.parquet"))
    return root


def _columns(path: Path, ds: Dataset, tagged: bool = True) -> Path:
    lines = []
    for i, words in enumerate(ds["tokens"]):
        tags = ds["tags"][i] if tagged else None
        lines += [f"{w}\t{tags[j]}" if tags else w for j, w in enumerate(words)] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _cfg(out: Path, *overrides: str) -> DictConfig:
    return compose_cfg(
        out,
        "task=token_classification",
        "debug=tiny",
        "loss=kd",
        "mode=direct",
        "logger=csv",
        "trainer.enable_progress_bar=false",
        "teacher.epochs=1",
        "trainer.max_epochs=1",
        *overrides,
    )


def _check_rows(out: Path, metrics: dict, n_it: int) -> dict[tuple[str, str], dict]:
    rows = {(r["system"], r["lang"]): r for r in json.loads((out / "metrics.json").read_text())["results"]}
    systems = {("student", "en"), ("student", "it"), ("teacher", "en"), ("teacher_zero_shot", "it")}
    assert rows.keys() == systems
    for row in rows.values():
        assert 0 <= row["f1"] <= 1 and 0 <= row["token_accuracy"] <= 1
    assert rows[("student", "it")]["n"] == n_it and metrics["task"] == "token_classification"
    return rows


def test_wikiann_config_on_saved_copies_per_language(tmp_path: Path, wikiann: Path, toy: TokenData) -> None:
    cfg = _cfg(tmp_path, "data=wikiann", "data.target_langs=[it]", f"data.corpus.path='{wikiann}/{{lang}}'")
    metrics, _ = run(cfg)
    _check_rows(tmp_path, metrics, n_it=16)
    refs = json.loads((tmp_path / "provenance.json").read_text())["data"]
    assert {(r["role"], r.get("config")) for r in refs} == {("data.corpus", "en"), ("data.corpus", "it")}


def test_conll2003_config_reads_parquet_files_with_load_dataset(
    tmp_path: Path, conll2003: Path, wikiann: Path
) -> None:
    cfg = _cfg(
        tmp_path,
        "data=conll2003",
        "data.target_langs=[it]",
        f"data.corpus.source_path={conll2003}",
        f"data.corpus.path='{wikiann}/{{lang}}'",
    )
    metrics, _ = run(cfg)
    rows = _check_rows(tmp_path, metrics, n_it=16)
    assert rows[("teacher", "en")]["n"] == 16  # the -DOCSTART- row is not a sentence
    student = json.loads((tmp_path / "student" / "config.json").read_text())
    assert list(student["id2label"].values()) == CONLL  # the source dataset's ClassLabel order


def test_token_files_config_on_column_files(tmp_path: Path, toy: TokenData) -> None:
    it = toy.data["it"]
    files = {
        "source_train": _columns(tmp_path / "en_train.conll", toy.source["train"]),
        "source_test": _columns(tmp_path / "en_test.conll", toy.source["test"]),
        "target_train.it": _columns(tmp_path / "it_words.txt", it["train"], tagged=False),
        "target_test.it": _columns(tmp_path / "it_test.conll", it["test"]),
    }
    cfg = _cfg(
        tmp_path / "run",
        "data=token_files",
        "data.target_langs=[it]",
        *(f"++data.{key}={path}" for key, path in files.items()),
    )
    metrics, _ = run(cfg)
    _check_rows(tmp_path / "run", metrics, n_it=16)
    hashed = {r["role"] for r in json.loads((tmp_path / "run" / "provenance.json").read_text())["data"]}
    assert hashed == {"data.source_train", "data.source_test", "data.target_train", "data.target_test"}
