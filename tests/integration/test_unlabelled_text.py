"""``data.target_unlabelled``: raw target-language text (no pairs, no labels) for the student."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from omegaconf import DictConfig

from distill.data.sources.chatterbot import chatterbot_parallel, load_chatterbot
from distill.errors import DistillError
from distill.models.classifier import predict_logits
from distill.pipeline import run
from distill.stages.label import label
from distill.stages.prepare import prepare_data
from distill.teacher import load_teacher
from tests.integration.helpers import compose_cfg


def _cfg(out: Path, *overrides: str) -> DictConfig:
    return compose_cfg(out, "debug=tiny", "logger=none", "trainer.max_epochs=1", *overrides)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """English labelled data, raw Italian text (one a line, a blank line among them), an Italian test."""
    root = tmp_path_factory.mktemp("raw")
    en = load_chatterbot(["en"])
    train = root / "en_train.jsonl"
    train.write_text(
        "".join(
            json.dumps({"text": t, "label": y}) + "\n"
            for t, y in zip(en["train"]["text"], en["train"]["topic"], strict=True)
        ),
        encoding="utf-8",
    )
    pool = chatterbot_parallel("it", "train")
    raw = root / "it_raw.txt"
    raw.write_text("\n".join([*pool["tgt"][:20], "   ", *pool["tgt"][20:]]) + "\n", encoding="utf-8")
    test = chatterbot_parallel("it", "test")
    labels = set(en["train"]["topic"])
    it_test = root / "it_test.jsonl"
    it_test.write_text(
        "".join(
            json.dumps({"text": t, "label": y}) + "\n"
            for t, y in zip(test["tgt"], test["label"], strict=True)
            if y in labels
        ),
        encoding="utf-8",
    )
    return {"source_train": train, "raw": raw, "it_test": it_test, "n_raw": len(pool["tgt"])}  # type: ignore[dict-item]


def _direct(out: Path, files: dict[str, Path], *overrides: str, test: bool = True) -> DictConfig:
    return _cfg(
        out,
        "data=files",
        "mode=direct",
        "loss=kd",
        f"data.source_train={files['source_train']}",
        f"++data.target_unlabelled.it={files['raw']}",
        *([f"++data.target_test.it={files['it_test']}"] if test else []),
        "data.target_langs=[it]",
        *overrides,
    )


def test_direct_mode_on_raw_text_alone(
    files: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """mode=direct with no pairs: the teacher labels the raw text itself, the student learns it."""
    cfg = _direct(tmp_path, files, "data.max_pairs=null")
    with caplog.at_level("WARNING"):
        labelled = label(cfg)
    assert "skipped 1 blank lines (line 21)" in caplog.text  # reported, never silent
    data = labelled.data["it"]
    assert len(data["train"]) + len(data["validation"]) == files["n_raw"]  # every text, split 90/10
    assert set(data["train"]["id"]).isdisjoint(data["validation"]["id"])
    assert all(i.startswith("raw:it_raw.txt:") for i in data["train"]["id"])
    assert data["train"]["src"] == data["train"]["tgt"]  # direct: the text is both sides
    teacher = load_teacher(labelled.teacher.path)
    on_text = predict_logits(*teacher, data["train"]["tgt"], max_length=int(cfg.teacher.max_length))
    np.testing.assert_allclose(labelled.soft["it"]["train"].logits(), on_text, atol=1e-5)

    metrics, _ = run(cfg)
    rows = {(r["system"], r["lang"]): r for r in metrics["results"]}
    assert ("student", "it") in rows and ("direct_transfer", "it") in rows
    assert rows[("student", "it")]["n"] == len(files["it_test"].read_text().splitlines())
    assert metrics["selection"] == "teacher_agreement"


def test_raw_text_joins_the_pairs_labelled_through_mt(tmp_path: Path) -> None:
    """mode=parallel: raw text joins the pairs' rows, its source side translated by mode.translator."""
    texts = ["Che tempo fa oggi?", "Mi piace la musica classica", "Dove si trova la stazione?"] * 4
    texts = [f"{t} ({i})" for i, t in enumerate(texts)]
    raw = tmp_path / "raw.jsonl"
    raw.write_text("".join(json.dumps({"sentence": t}) + "\n" for t in texts), encoding="utf-8")
    table = tmp_path / "it_en.tsv"
    table.write_text("src\ttgt\n" + "".join(f"{t}\tEnglish of {t}\n" for t in texts), encoding="utf-8")
    base = ("data.target_langs=[it]", f"++data.target_unlabelled.it={raw}", "++data.columns.text=sentence")
    plain = prepare_data(_cfg(tmp_path / "a", "data.target_langs=[it]"))["it"]

    with pytest.raises(DistillError, match="raw target text has none") as err:
        prepare_data(_cfg(tmp_path / "b", *base))
    assert "mode.translator" in err.value.fix

    data = prepare_data(
        _cfg(
            tmp_path / "c",
            *base,
            "++mode.translator.backend=file",
            f"++mode.translator.path={table}",
        )
    )["it"]
    for split in ("train", "validation"):
        assert data[split]["id"][: len(plain[split])] == plain[split]["id"]  # the pairs come first
        extra = data[split].select(range(len(plain[split]), len(data[split])))
        assert all(i.startswith("raw:raw.jsonl:") for i in extra["id"])
        assert extra["src"] == [f"English of {t}" for t in extra["tgt"]]
        assert set(extra["label"]) == {None}  # raw text has no label
    assert len(data["train"]) + len(data["validation"]) == len(plain["train"]) + len(plain["validation"]) + 12
    assert data["test"]["id"] == plain["test"]["id"]


def test_translate_test_takes_raw_text(tmp_path: Path, files: dict[str, Path]) -> None:
    """mode=translate (direction test) with raw text alone: the teacher labels its MT."""
    pool = chatterbot_parallel("it", "train")
    table = tmp_path / "it_en.tsv"
    test = [json.loads(line)["text"] for line in files["it_test"].read_text().splitlines()]
    table.write_text(
        "src\ttgt\n" + "".join(f"{t}\tMT {i}\n" for i, t in enumerate([*pool["tgt"], *test])),
        encoding="utf-8",
    )
    cfg = _cfg(
        tmp_path / "run",
        "data=files",
        f"data.source_train={files['source_train']}",
        f"++data.target_unlabelled.it={files['raw']}",
        f"++data.target_test.it={files['it_test']}",
        "data.target_langs=[it]",
        "mode=translate",
        "mode.direction=test",
        "data.max_pairs=null",
        "mode.translator.backend=file",
        f"++mode.translator.path={table}",
    )
    data = prepare_data(cfg)["it"]
    assert len(data["train"]) + len(data["validation"]) == files["n_raw"]
    assert all(s.startswith("MT ") for s in data["train"]["src"])


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"", "raw.txt", "is empty"),
        (b"  \n\n \n", "raw.txt", "has no line with text"),
        (b"ciao\ncaff\xe8\n", "raw.txt", "line 2: bytes that are not UTF-8"),
        (b'{"other": "ciao"}\n', "raw.jsonl", "has no column 'text'"),
        (b"ciao\n", "raw.docx", "neither text nor a table"),
    ],
)
def test_bad_raw_text_files(
    files: dict[str, Path], tmp_path: Path, content: bytes, name: str, message: str
) -> None:
    bad = tmp_path / name
    bad.write_bytes(content)
    with pytest.raises(DistillError, match=message) as err:
        prepare_data(_direct(tmp_path / "run", files, f"++data.target_unlabelled.it={bad}"))
    assert str(bad) in str(err.value) and err.value.fix


def test_raw_text_setting_mistakes(files: dict[str, Path], tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    with pytest.raises(DistillError, match="does not exist"):
        prepare_data(_direct(tmp_path / "a", files, f"++data.target_unlabelled.it={missing}"))
    with pytest.raises(DistillError, match=r"takes its it test set from data\.target_test") as err:
        prepare_data(_direct(tmp_path / "b", files, test=False))
    assert "data.target_test.it=" in err.value.fix
    with pytest.raises(DistillError, match="names one source for 2 target languages"):
        prepare_data(
            _cfg(
                tmp_path / "c",
                "data.target_langs=[it,es]",
                "mode=direct",
                f"++data.target_unlabelled={files['raw']}",
            )
        )
