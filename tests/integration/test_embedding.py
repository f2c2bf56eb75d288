"""task=embedding end to end on tiny models and Django pairs; the export loads as a SentenceTransformer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from omegaconf import DictConfig

from distill.models.encoder import encode
from distill.pipeline import run
from distill.report import load_metrics, retrieval_metrics
from distill.tasks.embedding import teacher_embeddings
from tests.integration.helpers import compose_cfg


def _cfg(out: Path, *overrides: str) -> DictConfig:
    return compose_cfg(
        out,
        "experiment=embed_django",
        "debug=tiny",
        "logger=csv",
        "trainer.max_epochs=1",
        "trainer.log_every_n_steps=1",
        "trainer.enable_progress_bar=false",
        "data.target_langs=[it,sw]",
        *overrides,
    )


@pytest.fixture(scope="module")
def embed_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict]:
    out = tmp_path_factory.mktemp("embed")
    metrics, objects = run(_cfg(out, "format=onnx"))
    return out, metrics, objects


def test_format_onnx_writes_the_encoder_checked_by_cosine_on_every_test_set(
    embed_run: tuple[Path, dict, dict],
) -> None:
    student = embed_run[0] / "student"
    record = json.loads((student / "onnx" / "onnx_export.json").read_text())
    assert record["output"] == "last_hidden_state"
    assert {r["lang"] for r in record["parity"]} == {"it", "sw"}
    for r in record["parity"]:
        assert r["kind"] == "embedding" and r["n"] > 0 and r["min_cosine"] > 0.9999 and r["passes"]
    assert "| min cosine |" in (student / "README.md").read_text()


def test_metrics_rows_for_every_language_and_baseline(embed_run: tuple[Path, dict, dict]) -> None:
    out, metrics, _ = embed_run
    assert metrics["task"] == "embedding" and metrics["target_langs"] == ["it", "sw"]
    rows = {(r["system"], r["lang"]): r for r in metrics["results"]}
    for lang in ("it", "sw"):
        for system in ("student", "student_untrained", "teacher_zero_shot"):
            row = rows[(system, lang)]
            assert 0.0 <= row["retrieval_tgt2src"] <= 1.0 and 0.0 <= row["retrieval_src2tgt"] <= 1.0
            assert row["mse"] >= 0.0 and row["n"] > 0
    assert load_metrics(out / "metrics.json").task == "embedding"
    assert "retrieval accuracy target->source" in (out / "results.md").read_text()
    logged = "".join(p.read_text() for p in out.rglob("metrics.csv"))
    assert "train/emb" in logged and "val/loss" in logged


def test_export_loads_as_sentence_transformer_without_distill(embed_run: tuple[Path, dict, dict]) -> None:
    out, _, objects = embed_run
    student = out / "student"
    assert (student / "model.safetensors").is_file() and (student / "modules.json").is_file()
    texts = ["Salva le modifiche", "Save changes"]
    code = (
        "import json, sys; from sentence_transformers import SentenceTransformer; "
        "from transformers import AutoModel; "
        f"m = SentenceTransformer({str(student)!r}, device='cpu'); "
        f"e = m.encode({texts!r}); AutoModel.from_pretrained({str(student)!r}); "
        "print(json.dumps([e.tolist(), 'distill' in sys.modules]))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=out, timeout=300)
    assert proc.returncode == 0, proc.stderr
    vectors, imported = json.loads(proc.stdout.strip().splitlines()[-1])
    assert imported is False
    system, tokenizer = objects["system"], objects["tokenizer"]
    mine = encode(system.encoder, tokenizer, texts, normalize=True, max_length=32)
    np.testing.assert_allclose(np.asarray(vectors), mine, atol=1e-5)


def test_teacher_embeddings_are_cached(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    texts = ["Delete", "Save and continue editing", "Log out"]
    first, _ = teacher_embeddings(cfg, texts, "t")  # computed, or already cached by an earlier run
    again, hit = teacher_embeddings(cfg, texts, "t")
    assert hit and first.shape[0] == 3
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)  # normalised like ST


def test_retrieval_metrics_by_hand() -> None:
    src = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    tgt = np.array([[0.9, 0.1], [1.0, 0.2], [0.7, 0.8]])  # row 1 is nearer to source 0 than to 1
    m = retrieval_metrics(src, tgt)
    assert m["retrieval_tgt2src"] == pytest.approx(2 / 3, abs=1e-6)
    assert m["n"] == 3
    assert m["mse"] == pytest.approx(float(np.mean((tgt - src) ** 2)), abs=1e-6)


def test_the_student_is_the_same_whether_the_cache_was_cold_or_warm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cold cache builds the tiny models and computes the teacher's embeddings; neither may move
    the student's random start (its projection, dropout, batch order)."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("DISTILL_CACHE", str(cache))
    cold, _ = run(_cfg(tmp_path / "cold", f"paths.cache_dir={cache}"))
    warm, _ = run(_cfg(tmp_path / "warm", f"paths.cache_dir={cache}"))
    assert cold["results"] == warm["results"]
    assert cold["best_val"] == warm["best_val"]
