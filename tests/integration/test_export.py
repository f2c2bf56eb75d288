from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from distill.errors import DistillError
from distill.export import ModelCard, export_student, load_student, log_artifact, render_card
from distill.models.classifier import load_classifier
from distill.models.tiny import build_tiny_encoder
from distill.report import MetricsReport

LABELS = ["a", "b", "c"]
TEXTS = ["ciao, il film è bello!", "the movie was bad", "gracias", "日本語 text"]
EXPECTED_FILES = {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "README.md"}

# Runs in a fresh interpreter that never imports distill: what a user without the package gets.
LOADER = """
import json, sys
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

folder, texts = sys.argv[1], json.loads(sys.argv[2])
tokenizer = AutoTokenizer.from_pretrained(folder)
model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
with torch.inference_mode():
    logits = [model(**tokenizer([t], return_tensors="pt")).logits[0].tolist() for t in texts]
classifier = pipeline("text-classification", model=folder, top_k=None)
scores = [{d["label"]: d["score"] for d in per_text} for per_text in classifier(texts, batch_size=1)]
out = {"distill_imported": "distill" in sys.modules, "logits": logits, "pipeline": scores,
       "id2label": {int(k): v for k, v in model.config.id2label.items()}}
print("RESULT " + json.dumps(out))
"""


def make_student(root: Path) -> tuple[Any, Any]:
    torch.manual_seed(0)
    encoder = build_tiny_encoder(root / "encoder")
    return load_classifier(str(encoder), LABELS)


def make_report() -> MetricsReport:
    report = MetricsReport(source_lang="en", target_langs=["it"])
    m = {"macro_f1": 0.6, "ece": 0.1, "n": 40}
    report.add("student", "it", "test", {**m, "accuracy": 0.71}, agreement=0.8)
    report.add("teacher", "en", "test", {**m, "accuracy": 0.8})
    report.add("teacher_zero_shot", "it", "test", {**m, "accuracy": 0.35})
    return report


def make_card(**overrides: Any) -> ModelCard:
    fields: dict[str, Any] = {
        "base_model": "sentence-transformers/all-MiniLM-L6-v2",
        "teacher": "teacher-en-intent",
        "languages": ["en", "it"],
        "command": "distill-run experiment=demo_it seed=1",
        "metrics": make_report(),
        "data": {"description": "chatterbot corpus, en/it", "hashes": {"train.jsonl": "ab12cd34"}},
        "license": "apache-2.0",
    }
    return ModelCard(**{**fields, **overrides})


def reference_logits(model: Any, tokenizer: Any) -> np.ndarray:
    model.eval()
    with torch.inference_mode():
        rows = [model(**tokenizer([t], return_tensors="pt")).logits[0] for t in TEXTS]
    return torch.stack(rows).numpy()  # (N, C)


def read_header(folder: Path) -> dict[str, Any]:
    text = (folder / "README.md").read_text(encoding="utf-8")
    assert text.startswith("---\n")
    header, _ = text[4:].split("\n---\n", 1)
    return yaml.safe_load(header)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    root = tmp_path_factory.mktemp("export")
    model, tokenizer = make_student(root)
    folder = export_student(model, tokenizer, root / "student", card=make_card())
    return folder, reference_logits(model, tokenizer)


def test_export_loads_with_plain_transformers_without_distill(exported: tuple[Path, np.ndarray]) -> None:
    folder, expected = exported
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, "-c", LOADER, str(folder), json.dumps(TEXTS)],
        cwd=folder.parent,  # not the checkout, so nothing of the repository is on sys.path
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    out = json.loads(line.removeprefix("RESULT "))
    assert out["distill_imported"] is False
    assert out["id2label"] == {"0": "a", "1": "b", "2": "c"}  # JSON keys come back as strings
    np.testing.assert_allclose(np.array(out["logits"]), expected, atol=1e-5)
    probs = torch.from_numpy(expected).softmax(-1).numpy()
    for row, scores in zip(probs, out["pipeline"], strict=True):
        assert set(scores) == set(LABELS)
        np.testing.assert_allclose([scores[label] for label in LABELS], row, atol=1e-5)
        assert max(scores, key=scores.__getitem__) == LABELS[int(row.argmax())]


def test_export_folder_contents_and_card(exported: tuple[Path, np.ndarray]) -> None:
    folder, _ = exported
    assert {p.name for p in folder.iterdir()} == EXPECTED_FILES  # student only: no teacher, no pickle
    config = json.loads((folder / "config.json").read_text())
    assert config["id2label"] == {"0": "a", "1": "b", "2": "c"}
    assert config["label2id"] == {"a": 0, "b": 1, "c": 2}
    header = read_header(folder)
    assert header["language"] == ["en", "it"]
    assert header["library_name"] == "transformers"
    assert header["pipeline_tag"] == "text-classification"
    assert header["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert header["license"] == "apache-2.0"
    assert header["tags"] == ["xlt-distill", "distillation", "cross-lingual"]
    body = (folder / "README.md").read_text(encoding="utf-8")
    for needle in (
        "teacher-en-intent",
        "distill-run experiment=demo_it seed=1",
        "ab12cd34",
        "chatterbot corpus, en/it",
        "| `student` |",
        "| `teacher_zero_shot` |",
        "**0.710** / 0.600 / 0.100 (40)",
        'pipeline("text-classification"',
        "Labels: `a`, `b`, `c`.",
    ):
        assert needle in body, needle
    assert not list(folder.parent.glob(".tmp-*"))


def test_crash_during_export_keeps_the_previous_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, tokenizer = make_student(tmp_path)
    folder = export_student(model, tokenizer, tmp_path / "student", card=make_card())
    before = snapshot(folder)

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(model, "save_pretrained", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        export_student(model, tokenizer, folder, card=make_card(command="a different command"))
    assert snapshot(folder) == before
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_reexport_replaces_and_refuses_foreign_folders(tmp_path: Path) -> None:
    model, tokenizer = make_student(tmp_path)
    folder = export_student(model, tokenizer, tmp_path / "student", card=make_card())
    export_student(model, tokenizer, folder, card=make_card(command="second command"))
    assert "second command" in (folder / "README.md").read_text(encoding="utf-8")
    assert {p.name for p in folder.iterdir()} == EXPECTED_FILES

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "metrics.json").write_text("{}")
    with pytest.raises(DistillError, match="refusing to replace"):
        export_student(model, tokenizer, run_dir, card=make_card())
    assert (run_dir / "metrics.json").read_text() == "{}"


def test_card_from_keywords_rows_and_tricky_language_codes(tmp_path: Path) -> None:
    model, tokenizer = make_student(tmp_path)
    rows = make_report().results
    folder = export_student(
        model,
        tokenizer,
        tmp_path / "student",
        base_model="intfloat/multilingual-e5-small",
        teacher="t",
        languages=["en", "no", "it"],
        command="distill-run",
        metrics=rows,
        input_prefix="query: ",
    )
    # `no` (Norwegian) is YAML 1.1's false unless quoted; it must come back as the string.
    assert read_header(folder)["language"] == ["en", "no", "it"]
    body = (folder / "README.md").read_text(encoding="utf-8")
    assert "'query: '" in body and "**0.710**" in body
    with pytest.raises(DistillError, match="bad model card fields"):
        export_student(model, tokenizer, tmp_path / "other", teacher="t")
    with pytest.raises(DistillError, match="either card= or card fields"):
        export_student(model, tokenizer, tmp_path / "other", card=make_card(), teacher="t")


def test_render_card_without_metrics() -> None:
    text = render_card(make_card(metrics=None, data={}), LABELS)
    assert "No evaluation was recorded" in text and "Not recorded." in text


def test_load_student_round_trip(exported: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    folder, expected = exported
    model, tokenizer = load_student(folder)
    assert not model.training
    np.testing.assert_allclose(reference_logits(model, tokenizer), expected, atol=1e-5)
    with pytest.raises(DistillError, match="not an exported student"):
        load_student(tmp_path)


class FakeRun:
    def __init__(self) -> None:
        self.logged: list[tuple[Any, Any]] = []

    def log_artifact(self, artifact: Any, aliases: Any = None) -> None:
        self.logged.append((artifact, aliases))


def test_log_artifact(exported: tuple[Path, np.ndarray], monkeypatch: pytest.MonkeyPatch) -> None:
    folder, _ = exported
    import wandb

    monkeypatch.setattr(wandb, "run", None)
    assert log_artifact(folder) is None  # no active run: nothing happens

    run = FakeRun()
    artifact = log_artifact(folder, run, name="student it/en", aliases=["best"])
    assert run.logged == [(artifact, ["best"])]
    assert artifact.type == "model" and artifact.name == "student-it-en"
    assert set(artifact.manifest.entries) == EXPECTED_FILES
