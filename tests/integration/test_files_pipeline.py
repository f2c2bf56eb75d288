"""``data=files``: a user's own files through every stage (tiny models, real chatterbot text)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import DictConfig

from distill.data.sources.chatterbot import chatterbot_parallel, load_chatterbot
from distill.pipeline import run
from tests.integration.helpers import compose_cfg

BIN = Path(sys.executable).parent


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def user_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The files a user would bring: English labelled data, en-ja pairs (TSV), a labelled ja test."""
    root = tmp_path_factory.mktemp("files")
    en = load_chatterbot(["en"])
    train = [{"text": t, "label": y} for t, y in zip(en["train"]["text"], en["train"]["topic"], strict=True)]
    pairs = chatterbot_parallel("ja", "train")
    test = chatterbot_parallel("ja", "test")
    tsv = root / "en_ja.tsv"
    tsv.write_text(
        "src\ttgt\n" + "".join(f"{s}\t{t}\n" for s, t in zip(pairs["src"], pairs["tgt"], strict=True)),
        encoding="utf-8",
    )
    labels = set(en["train"]["topic"])
    ja_test = [
        {"text": t, "label": y} for t, y in zip(test["tgt"], test["label"], strict=True) if y in labels
    ]
    return {
        "source_train": _jsonl(root / "en_train.jsonl", train),
        "parallel": tsv,
        "ja_test": _jsonl(root / "ja_test.jsonl", ja_test),
    }


def _cfg(out: Path, *overrides: str) -> DictConfig:
    return compose_cfg(out, "debug=tiny", "logger=none", "trainer.max_epochs=1", "data=files", *overrides)


def test_the_readme_command_runs_every_stage_on_files(user_files: dict[str, Path], tmp_path: Path) -> None:
    """The command of the README, as a user types it."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    args = [
        "debug=tiny",
        "logger=none",
        "trainer.max_epochs=1",
        "data=files",
        f"data.source_train={user_files['source_train']}",
        f"data.parallel={user_files['parallel']}",
        f"data.target_test.ja={user_files['ja_test']}",
        "data.source_lang=en",
        "data.target_langs=[ja]",
        f"hydra.run.dir={tmp_path / 'run'}",
    ]
    proc = subprocess.run(
        [str(BIN / "distill-run"), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    systems = {(r["system"], r["lang"]) for r in metrics["results"]}
    assert {("student", "ja"), ("teacher_zero_shot", "ja")} <= systems
    # A monolingual target test has no source side: no translate-test reference, said plainly.
    assert ("teacher_translate_test", "ja") not in systems
    (row,) = [r for r in metrics["results"] if r["system"] == "student"]
    assert row["n"] == min(64, len(user_files["ja_test"].read_text().splitlines()))  # debug=tiny caps at 64
    assert (tmp_path / "run" / "student" / "model.safetensors").is_file()


def test_unlabelled_pairs_without_target_test_report_agreement(
    user_files: dict[str, Path], tmp_path: Path
) -> None:
    metrics, _ = run(
        _cfg(
            tmp_path,
            f"data.source_train={user_files['source_train']}",
            f"data.parallel={user_files['parallel']}",
            "data.target_langs=[ja]",
        )
    )
    assert metrics["results"] == []  # no gold labels anywhere: no accuracy is claimed
    agreement = metrics["unlabelled_agreement"]["ja"]
    assert 0.0 <= agreement["agreement"] <= 1.0 and agreement["n"] > 0
    results = (tmp_path / "results.md").read_text()
    assert (
        "Languages without labelled test data" in results
        and f"| ja | {agreement['agreement']:.3f} |" in results
    )


def test_target_test_with_labels_the_teacher_lacks_fails_before_distilling(
    user_files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pytorch_lightning as pl

    from distill.errors import DistillError

    bad = _jsonl(tmp_path / "ja_bad.jsonl", [{"text": "こんにちは", "label": "weather"}])
    real_fit = pl.Trainer.fit
    calls: list[str] = []

    def fit(self: pl.Trainer, model: object, *a: object, **kw: object) -> object:
        calls.append(type(model).__name__)
        return real_fit(self, model, *a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(pl.Trainer, "fit", fit)
    with pytest.raises(DistillError, match=r"ja/test has labels the teacher does not know: \['weather'\]"):
        run(
            _cfg(
                tmp_path,
                f"data.source_train={user_files['source_train']}",
                f"data.parallel={user_files['parallel']}",
                f"++data.target_test.ja={bad}",
                "data.target_langs=[ja]",
            )
        )
    assert "DistillationSystem" not in calls  # the student never started training


@pytest.mark.parametrize("kind", ["csv", "parquet", "txt"])
def test_every_parallel_format_runs_end_to_end(
    kind: str, user_files: dict[str, Path], tmp_path: Path
) -> None:
    """The same pairs as CSV, Parquet or two aligned text files give a complete run."""
    import csv

    import pyarrow as pa
    import pyarrow.parquet as pq

    lines = user_files["parallel"].read_text(encoding="utf-8").splitlines()[1:]
    pairs = [dict(zip(("src", "tgt"), line.split("\t"), strict=True)) for line in lines]
    if kind == "csv":
        path = tmp_path / "en_ja.csv"
        with path.open("w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["src", "tgt"])
            writer.writeheader()
            writer.writerows(pairs)
        spec = str(path)
    elif kind == "parquet":
        path = tmp_path / "en_ja.parquet"
        pq.write_table(pa.Table.from_pylist(pairs), path)
        spec = str(path)
    else:
        (tmp_path / "en.txt").write_text("".join(p["src"] + "\n" for p in pairs), encoding="utf-8")
        (tmp_path / "ja.txt").write_text("".join(p["tgt"] + "\n" for p in pairs), encoding="utf-8")
        spec = f"[{tmp_path / 'en.txt'},{tmp_path / 'ja.txt'}]"
    metrics, _ = run(
        _cfg(
            tmp_path / "run",
            f"data.source_train={user_files['source_train']}",
            f"data.parallel={spec}",
            f"++data.target_test.ja={user_files['ja_test']}",
            "data.target_langs=[ja]",
        )
    )
    assert {("student", "ja"), ("teacher_zero_shot", "ja")} <= {
        (r["system"], r["lang"]) for r in metrics["results"]
    }
