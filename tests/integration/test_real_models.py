"""The pipeline on the real packaged models (all-MiniLM-L6-v2 teacher, multilingual-e5-small student).

A small slice of the chatterbot data keeps it short (about 50 s on 2 cores, so it is not marked
``slow``), but every stage runs on the real weights and the converted tokenizer, and the export is
loaded by plain ``transformers`` in a fresh process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import open_dict

from distill.cli import config_dir
from distill.pipeline import run

OVERRIDES = [
    "experiment=demo_it",
    "logger=none",
    "trainer.max_epochs=1",
    "trainer.enable_progress_bar=false",
    "teacher.max_train_examples=256",
    "teacher.epochs=2",
    "teacher.progress_bar=false",
    "data.max_pairs=64",
]


def test_real_models_end_to_end_on_a_slice(tmp_path: Path) -> None:
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("config", overrides=OVERRIDES)
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path)
    metrics, objects = run(cfg)

    rows = {(r["system"], r["lang"]): r for r in metrics["results"]}
    assert set(rows) >= {
        ("student", "it"),
        ("teacher_zero_shot", "it"),
        ("teacher_translate_test", "it"),
        ("teacher", "en"),
        ("student", "en"),
    }
    n_labels = len(objects["teacher"].labels)
    # Even 2 epochs on 256 examples put the real English teacher far above chance on English.
    assert rows[("teacher", "en")]["accuracy"] > 3.0 / n_labels

    student = tmp_path / "student"
    code = (
        "import json, sys; from transformers import pipeline; "
        f"clf = pipeline('text-classification', model={str(student)!r}); "
        "out = clf(['Qual è il tuo cibo preferito?', 'Ti piace il calcio?']); "
        "print(json.dumps([[o['label'] for o in out], 'distill' in sys.modules]))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    labels, imported = json.loads(proc.stdout.strip().splitlines()[-1])
    assert imported is False
    assert set(labels) <= set(objects["teacher"].labels)
