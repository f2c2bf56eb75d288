"""Per-language adapters: training routed by language, the export (shared base, PEFT adapters,
merged models) loaded without distill, and adding a language later without touching the others."""

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

from distill.errors import DistillError

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]
TEXTS = ["ciao, come stai?", "qual è il tuo film preferito", "mi piacciono i robot"]
TINY = ("debug=tiny", "logger=none", "trainer.max_epochs=2", "trainer.enable_progress_bar=false")

# Runs in a fresh interpreter: plain transformers + peft, no distill.
LOAD_PLAIN = """
import json, sys
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer
folder, kind, lang, texts = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
if kind == "adapter":
    from peft import PeftModel
    base = AutoModelForSequenceClassification.from_pretrained(f"{folder}/base")
    model = PeftModel.from_pretrained(base, f"{folder}/adapters/{lang}")
    tokenizer = AutoTokenizer.from_pretrained(f"{folder}/base")
else:
    model = AutoModelForSequenceClassification.from_pretrained(f"{folder}/merged/{lang}")
    tokenizer = AutoTokenizer.from_pretrained(f"{folder}/merged/{lang}")
assert not any(m == "distill" or m.startswith("distill.") for m in sys.modules)
with torch.inference_mode():
    logits = model.eval()(**tokenizer(texts, padding=True, return_tensors="pt")).logits
print(json.dumps(logits.tolist()))
"""


def _run(run_dir: Path, cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline"}
    env.pop("HYDRA_FULL_ERROR", None)
    cmd = [str(BIN / "distill-run"), *TINY, f"paths.cache_dir={cache}", f"hydra.run.dir={run_dir}", *args]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def _logits(folder: Path, lang: str) -> torch.Tensor:
    from distill import load_student

    model, tokenizer = load_student(folder, lang=lang)
    with torch.inference_mode():
        return model(**tokenizer(TEXTS, padding=True, return_tensors="pt")).logits


def _plain(folder: Path, kind: str, lang: str) -> np.ndarray:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    proc = subprocess.run(
        [sys.executable, "-c", LOAD_PLAIN, str(folder), kind, lang, json.dumps(TEXTS)],
        cwd="/",
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return np.asarray(json.loads(proc.stdout.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def adapter_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("adapters")
    run_dir, cache = base / "run", base / "cache"
    proc = _run(run_dir, cache, "student.adapters=lora", "data.target_langs=[it,ja]")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run_dir, cache


def test_each_language_trains_its_own_adapter_and_reports_its_parameters(
    adapter_run: tuple[Path, Path],
) -> None:
    run_dir, _ = adapter_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    counts = metrics["adapters"]
    assert set(counts["per_language"]) == {"it", "ja"} and counts["head"] == "shared"
    assert counts["per_language"]["it"] == counts["per_language"]["ja"] > 0
    assert 0 < counts["fraction_trained_per_language"]["it"] < 1
    assert {(r["system"], r["lang"]) for r in metrics["results"]} >= {("student", "it"), ("student", "ja")}
    # The two adapters were trained apart: they differ, and from their (zero-initialised) start.
    from safetensors.torch import load_file

    it, ja = (
        load_file(run_dir / "student" / "adapters" / lang / "adapter_model.safetensors")
        for lang in ("it", "ja")
    )
    b_keys = [k for k in it if "lora_B" in k]
    assert b_keys and all(it[k].abs().sum() > 0 for k in b_keys)
    assert any(not torch.equal(it[k], ja[k]) for k in b_keys)


def test_the_export_loads_per_language_without_distill(adapter_run: tuple[Path, Path]) -> None:
    folder = adapter_run[0] / "student"
    manifest = json.loads((folder / "xlt_distill_adapters.json").read_text())
    assert manifest["languages"] == ["it", "ja"]
    assert "PeftModel.from_pretrained" in (folder / "README.md").read_text()
    for lang in ("it", "ja"):
        ours = _logits(folder, lang).numpy()
        np.testing.assert_allclose(_plain(folder, "adapter", lang), ours, rtol=0, atol=1e-5)
        np.testing.assert_allclose(_plain(folder, "merged", lang), ours, rtol=0, atol=1e-4)
    assert not np.allclose(_logits(folder, "it").numpy(), _logits(folder, "ja").numpy())
    with pytest.raises(DistillError, match="no adapter for 'ko'"):
        _logits(folder, "ko")


def test_adding_a_language_leaves_the_earlier_ones_bit_for_bit(
    adapter_run: tuple[Path, Path], tmp_path: Path
) -> None:
    run_dir, cache = adapter_run
    old = run_dir / "student"
    proc = _run(
        tmp_path / "run", cache, "student.adapters=lora", "data.target_langs=[ko]", f"student.init_from={old}"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    new = tmp_path / "run" / "student"
    assert json.loads((new / "xlt_distill_adapters.json").read_text())["languages"] == ["it", "ja", "ko"]
    for rel in (
        "base/model.safetensors",
        "adapters/it/adapter_model.safetensors",
        "adapters/ja/adapter_model.safetensors",
    ):
        assert (new / rel).read_bytes() == (old / rel).read_bytes(), rel
    for lang in ("it", "ja"):
        assert torch.equal(_logits(new, lang), _logits(old, lang))
    counts = json.loads((tmp_path / "run" / "metrics.json").read_text())["adapters"]
    assert counts["frozen_languages"] == ["it", "ja"] and counts["shared_head"] > 0

    again = _run(
        tmp_path / "again",
        cache,
        "student.adapters=lora",
        "data.target_langs=[ja]",
        f"student.init_from={old}",
    )
    assert again.returncode == 2 and "already has adapters for ['ja']" in again.stderr


def test_per_language_heads(tmp_path: Path, adapter_run: tuple[Path, Path]) -> None:
    _, cache = adapter_run
    proc = _run(
        tmp_path / "run",
        cache,
        "student.adapters=lora",
        "student.lora.head=per_language",
        "student.lora.export_merged=false",
        "data.target_langs=[it,ja]",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    folder = tmp_path / "run" / "student"
    assert not (folder / "merged").exists()
    counts = json.loads((tmp_path / "run" / "metrics.json").read_text())["adapters"]
    assert counts["shared_head"] == 0 and counts["head"] == "per_language"
    for lang in ("it", "ja"):
        np.testing.assert_allclose(_plain(folder, "adapter", lang), _logits(folder, lang).numpy(), atol=1e-5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("student.adapters=bottleneck",), "student.adapters must be null or one of ['lora']"),
        (("student.adapters=lora", "student.lora.head=both"), "student.lora.head must be one of"),
        (("student.adapters=lora", "data.rehearsal=8"), "data.rehearsal adds source-language rows"),
    ],
    ids=["kind", "head", "rehearsal"],
)
def test_bad_adapter_settings(
    tmp_path: Path, adapter_run: tuple[Path, Path], args: Any, message: str
) -> None:
    proc = _run(tmp_path / "run", adapter_run[1], *args)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert message in proc.stderr


@pytest.mark.parametrize("ratio", [0.0, 1.0])
def test_a_fully_shared_student_continued_with_and_without_rehearsal(
    adapter_run: tuple[Path, Path], tmp_path: Path, ratio: float
) -> None:
    _, cache = adapter_run
    first = _run(tmp_path / "first", cache, "data.target_langs=[it]")
    assert first.returncode == 0, first.stderr[-3000:]
    proc = _run(
        tmp_path / "next",
        cache,
        "data.target_langs=[ja]",
        f"student.init_from={tmp_path / 'first' / 'student'}",
        f"continual.rehearsal={ratio}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (
        f"{round(ratio * 64)} rehearsal rows per earlier language beside 64 new rows"
        in proc.stdout + proc.stderr
    )
    metrics = json.loads((tmp_path / "next" / "metrics.json").read_text())
    continual = metrics["continual"]
    assert continual["new_langs"] == ["ja"] and continual["earlier_langs"] == ["it"]
    assert set(continual["before"]) == set(continual["after"]) == {"it", "en"}
    assert continual["change"]["it"] == pytest.approx(continual["after"]["it"] - continual["before"]["it"])
    assert {r["lang"] for r in metrics["results"] if r["system"] == "student"} == {"ja", "it", "en"}
