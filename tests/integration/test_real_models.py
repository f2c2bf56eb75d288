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

import pytest
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
    "baselines.direct_transfer.max_train_examples=128",
    "baselines.direct_transfer.epochs=1",
]


def test_real_models_end_to_end_on_a_slice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The demo's configuration (experiment=demo_it), shrunk: its final table, and English on the
    topics the pairs cover."""
    import pyarrow.parquet as pq

    from distill.data.sources.chatterbot import chatterbot_parallel_labels

    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("config", overrides=OVERRIDES)
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path)
    metrics, objects = run(cfg)

    rows = {(r["system"], r["lang"]): r for r in metrics["results"]}
    systems = ("student", "teacher_zero_shot", "direct_transfer", "tfidf_student", "teacher_translate_test")
    assert set(rows) == {*((s, "it") for s in systems), ("teacher", "en"), ("student", "en")}
    assert metrics["selection"] == "teacher_agreement"  # no Italian label read before evaluation
    # English is scored on the topics the en-it training pairs cover, and only on those.
    covered = set(chatterbot_parallel_labels("it", "train"))
    assert set(objects["teacher"].labels) == covered
    predictions = pq.read_table(tmp_path / "predictions.parquet").to_pandas()
    english = predictions[(predictions["lang"] == "en") & (predictions["system"] == "student")]
    labels = objects["teacher"].labels
    assert len(english) == rows[("student", "en")]["n"]
    assert {labels[i] for i in english["gold"]} <= covered
    # The final table names every system, and a sentence says what the student gained over each.
    out = capsys.readouterr().out
    table = out[out.index("[test] system") :]
    for system in (*systems, "teacher"):
        assert any(line.startswith(system + " ") for line in table.splitlines()), system
    (gains,) = [line for line in table.splitlines() if line.startswith("it: the student's accuracy ")]
    for name in ("teacher_zero_shot", "direct_transfer", "tfidf_student", "% of teacher_translate_test"):
        assert name in gains
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
