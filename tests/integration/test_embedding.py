"""task=embedding end to end on tiny models and Django pairs; the export loads as a SentenceTransformer.

The shared run cuts the 2-layer tiny student to its first layer (``student.num_layers=1``)."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import weakref
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import DictConfig

from distill.models.encoder import encode
from distill.pipeline import run
from distill.records import StageTimer
from distill.report import load_metrics
from distill.tasks.embedding import EmbeddingTask, teacher_embeddings
from tests.integration.helpers import compose_cfg

HIT_COLUMNS = ("hit_tgt2src", "hit_src2tgt", "rr_tgt2src", "rr_src2tgt")
SCORES = ("retrieval_tgt2src", "retrieval_src2tgt", "mrr_tgt2src", "mrr_src2tgt")


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
    metrics, objects = run(_cfg(out, "format=onnx", "student.num_layers=1"))
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
    for system in ("student", "student_untrained"):  # the guard's rows, and the English geometry's
        for lang in ("it", "sw"):
            assert rows[(system, lang)]["n"] > 0 and metrics["results"].count(rows[(system, lang)]) == 1
        assert {r["split"] for r in metrics["results"] if r["system"] == system} == {"test", "validation"}
        english = rows[(system, "en")]
        assert -1.0 <= english["teacher_spearman"] <= 1.0 and english["n"] >= 3 and english["split"] == "test"
    assert ("teacher_zero_shot", "en") not in rows
    guard = metrics["guard"]
    assert guard["split"] == "validation" and guard["langs"] == ["it", "sw"]
    assert guard["worse"] == (guard["student"] < guard["student_untrained"])
    logged = "".join(p.read_text() for p in out.rglob("metrics.csv"))
    assert "train/emb" in logged and "val/loss" in logged


def test_retrieval_hits_average_to_the_metrics(embed_run: tuple[Path, dict, dict]) -> None:
    out, metrics, _ = embed_run
    hits = pd.read_parquet(out / "retrieval_hits.parquet")
    assert list(hits.columns) == ["system", "lang", "split", "id", *HIT_COLUMNS]
    scored = [r for r in metrics["results"] if "retrieval_tgt2src" in r]
    assert len(hits.groupby(["system", "lang", "split"])) == len(scored)
    for row in scored:
        mine = hits[
            (hits.system == row["system"]) & (hits.lang == row["lang"]) & (hits.split == row["split"])
        ]
        assert mine["id"].tolist() == list(range(row["n"]))
        for column, score in zip(HIT_COLUMNS, SCORES, strict=True):
            assert mine[column].mean() == pytest.approx(row[score], abs=1e-6)


def test_export_loads_as_sentence_transformer_without_distill(embed_run: tuple[Path, dict, dict]) -> None:
    out, _, objects = embed_run
    student = out / "student"
    assert (student / "model.safetensors").is_file() and (student / "modules.json").is_file()
    texts = ["Salva le modifiche", "Save changes"]
    code = (
        "import json, sys; from sentence_transformers import SentenceTransformer; "
        "from transformers import AutoModel; "
        f"m = SentenceTransformer({str(student)!r}, device='cpu'); "
        f"e = m.encode({texts!r}); a = AutoModel.from_pretrained({str(student)!r}); "
        "print(json.dumps([e.tolist(), 'distill' in sys.modules, len(a.encoder.layer)]))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=out, timeout=300)
    assert proc.returncode == 0, proc.stderr
    vectors, imported, layers = json.loads(proc.stdout.strip().splitlines()[-1])
    assert imported is False
    assert layers == 1 and json.loads((student / "config.json").read_text())["num_hidden_layers"] == 1
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


def test_the_teacher_model_is_let_go_after_the_baselines(tmp_path: Path) -> None:
    """Nothing after the baselines reads the teacher model (its rows are cached): it is not held
    in memory through training."""
    cfg = _cfg(tmp_path)
    task = EmbeddingTask()
    labelled = task.label(cfg, StageTimer())
    teacher = weakref.ref(labelled.teacher_encoder()[0])
    task.baselines(cfg, labelled)
    gc.collect()
    assert teacher() is None
    assert labelled.teacher_encoder()[0] is not None  # asked again, it loads again


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
