"""The whole pipeline on tiny random models: every stage runs and writes the promised files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from omegaconf import DictConfig

from distill.pipeline import STAGES, run
from distill.stages.evaluate import evaluate
from distill.targets import mix_soft_labels
from tests.integration.helpers import compose_cfg

CONTRACT_ROW = {"system", "lang", "split", "accuracy", "macro_f1", "ece", "n"}


def _cfg(out: Path, *overrides: str) -> DictConfig:
    return compose_cfg(
        out,
        "debug=tiny",
        "logger=wandb",
        "trainer.max_epochs=1",
        "trainer.log_every_n_steps=1",
        "trainer.enable_progress_bar=false",
        "data.target_langs=[it,ja]",
        *overrides,
    )


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("run")
    os.environ["WANDB_MODE"] = "offline"
    metrics, _ = run(_cfg(out))
    return out, metrics


def test_metrics_json_follows_the_contract(tiny_run: tuple[Path, dict]) -> None:
    out, metrics = tiny_run
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["task"] == "classification"
    assert saved["source_lang"] == "en"
    assert saved["target_langs"] == ["it", "ja"]
    got = {(r["system"], r["lang"]) for r in saved["results"]}
    for lang in ("it", "ja"):
        assert {("student", lang), ("teacher_zero_shot", lang), ("teacher_translate_test", lang)} <= got
    assert {("teacher", "en"), ("student", "en")} <= got
    for row in saved["results"]:
        assert set(row) >= CONTRACT_ROW
        assert 0.0 <= row["accuracy"] <= 1.0
    assert "stage_seconds" not in saved  # durations live in timings.json: metrics.json is reproducible
    assert set(json.loads((out / "timings.json").read_text())["stage_seconds"]) == set(STAGES)
    assert saved["run"] == {
        "experiment": "default",
        "variant": "kd+back+cycle",
        "seed": 42,
        "mode": "parallel",
        "teacher": "tiny",
        "student": "tiny",
        "data": "chatterbot",
    }
    results_md = (out / "results.md").read_text()
    assert "teacher_translate_test" in results_md
    assert metrics["target_langs"] == ["it", "ja"]
    # Per-language calibration, fitted on the validation pairs without labels, and the language gap.
    for lang in ("it", "ja"):
        cal = saved["calibration"][lang]
        assert cal["fit_on"] == "teacher_agreement" and cal["n_fit"] > 0 and cal["temperature"] > 0
        assert 0.0 <= cal["ece_calibrated"] <= 1.0
        assert cal["ece"] == next(
            r["ece"] for r in saved["results"] if (r["system"], r["lang"]) == ("student", lang)
        )
    gap = saved["language_gap"]["student"]
    accuracy = {r["lang"]: r["accuracy"] for r in saved["results"] if r["system"] == "student"}
    assert gap["gap"] == pytest.approx(abs(accuracy["it"] - accuracy["ja"]), abs=1e-6)
    assert gap["low"] <= gap["high"]
    assert saved["max_length"]["max_length"] == 32 and saved["max_length"]["rule"] == "fixed"  # debug=tiny
    assert set(saved["max_length"]["truncated"]) == {"train", "it/test", "ja/test"}
    assert "## Calibration" in results_md and "## Worst-language gap" in results_md


def test_export_is_student_only_and_loads_without_distill(tiny_run: tuple[Path, dict]) -> None:
    out, _ = tiny_run
    student = out / "student"
    assert (student / "model.safetensors").is_file()
    assert not list(student.glob("*.bin"))
    code = (
        "import sys, json; from transformers import AutoModelForSequenceClassification as A; "
        f"m = A.from_pretrained({str(student)!r}); "
        "print(json.dumps([len(m.config.id2label), 'distill' in sys.modules]))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=student.parent)
    assert proc.returncode == 0, proc.stderr
    n_labels, imported = json.loads(proc.stdout.strip().splitlines()[-1])
    assert n_labels > 1
    assert imported is False


def test_export_carries_the_drift_profile_of_its_test_predictions(tiny_run: tuple[Path, dict]) -> None:
    import numpy as np
    import pyarrow.parquet as pq

    out, _ = tiny_run
    profile = json.loads((out / "student" / "drift_profile.json").read_text())
    config = json.loads((out / "student" / "config.json").read_text())
    assert config["xlt_distill_input_prefix"] == ""  # the tiny student reads texts as they are
    rows = [r for r in pq.read_table(out / "predictions.parquet").to_pylist() if r["system"] == "student"]
    for lang, entry in profile["languages"].items():
        preds = [r["pred"] for r in rows if r["lang"] == lang and r["split"] == "test"]
        assert entry["n"] == len(preds) > 0
        assert entry["class"]["shares"][int(np.bincount(preds).argmax())] == max(entry["class"]["shares"])
        assert abs(sum(entry["length"]["shares"]) - 1) < 1e-9
    assert set(profile["languages"]) == set(profile["language_mix"]) and "en" not in profile["languages"]


def test_checkpoints_hold_no_teacher(tiny_run: tuple[Path, dict]) -> None:
    import torch

    out, _ = tiny_run
    ckpts = list((out / "checkpoints").glob("*.ckpt"))
    assert ckpts
    for ckpt in ckpts:
        state = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
        assert not [k for k in state if "teacher" in k]


def test_offline_wandb_run_holds_the_logged_metrics(tiny_run: tuple[Path, dict]) -> None:
    out, _ = tiny_run
    runs = list((out / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    blob = b"".join(p.read_bytes() for p in runs[0].glob("*.wandb"))
    for key in (b"train/kd", b"train/back", b"train/cycle", b"val/agreement_it", b"val/agreement_ja"):
        assert key in blob, key
    # Tags, the resolved config and the exported student as a model artifact.
    for key in (b"mode:parallel", b"langs:it+ja", b"loss:kd+back+cycle", b"seed:42", b"max_pairs"):
        assert key in blob, key
    assert b"student-default" in blob and b"model.safetensors" in blob


def test_distill_eval_of_the_export_reproduces_the_run_metrics(
    tiny_run: tuple[Path, dict], tmp_path: Path
) -> None:
    out, metrics = tiny_run
    report = evaluate(_cfg(tmp_path, f"checkpoint={out / 'student'}", "logger=none"))
    from distill.stages.baselines import RUN_ONLY

    again = {(r["system"], r["lang"]): r for r in report.results}
    assert not {r["system"] for r in report.results} & set(RUN_ONLY)  # trained by distill-run only
    for row in (r for r in metrics["results"] if r["system"] not in RUN_ONLY):
        got = again[(row["system"], row["lang"])]
        assert got["accuracy"] == pytest.approx(row["accuracy"], abs=1e-6), row
        assert got["ece"] == pytest.approx(row["ece"], abs=1e-5), row


def test_load_student_convenience_matches_the_model_in_memory(tiny_run: tuple[Path, dict]) -> None:
    import torch

    import distill

    out, _ = tiny_run
    model, tokenizer = distill.load_student(out / "student")
    enc = tokenizer(["ciao, come stai?", "che tempo fa"], padding=True, return_tensors="pt")
    with torch.inference_mode():
        logits = model(**enc).logits
    assert logits.shape == (2, len(model.config.id2label))
    assert not model.training


def test_mix_soft_labels_is_the_mixture_of_tempered_distributions() -> None:
    import numpy as np

    t = np.array([[2.0, 0.0, -1.0]])
    s = np.array([[0.0, 1.0, 0.0]])
    tau = 2.0

    def p(z: np.ndarray) -> np.ndarray:
        e = np.exp(z / tau)
        return e / e.sum()

    mixed = mix_soft_labels(t, s, 0.25, tau)
    assert np.allclose(p(mixed), 0.25 * p(t) + 0.75 * p(s), atol=1e-6)


def test_cyclic_round_relabels_target_and_source_side(tmp_path: Path) -> None:
    """R=2: the second round's kd and back targets are mixed with the student's own predictions."""
    import numpy as np

    from distill.data.datamodule import logit_array
    from distill.stages.distill import _relabel, build_student
    from distill.stages.label import label

    cfg = _cfg(tmp_path, "data.target_langs=[it]", "cycle.rounds=2", "cycle.mix=0.25", "logger=none")
    labelled = label(cfg)
    system, tokenizer = build_student(cfg, labelled.teacher.labels, ["it"])
    teacher = labelled.targets()
    targets = _relabel(cfg, system, tokenizer, labelled.data, teacher)
    on_tgt = targets["it"]["train"]["teacher_logits"]
    on_src = targets["it"]["train"]["teacher_src_logits"]
    # The teacher's targets arrive as the cache entries (read batch by batch), the mixed ones as arrays.
    original = logit_array(teacher["it"]["train"]["teacher_logits"])
    np.testing.assert_array_equal(original, labelled.soft["it"]["train"].logits())
    assert on_tgt.shape == on_src.shape == original.shape
    assert not np.allclose(on_tgt, on_src)  # the student reads different text on each side
    assert not np.allclose(on_tgt, original)
    assert targets["it"]["validation"]["teacher_logits"] is teacher["it"]["validation"]["teacher_logits"]
    assert system.model.training  # back to training mode for the next round


def custom_network(ref: str, labels: list[str]):  # type: ignore[no-untyped-def]
    """A user's own network factory, injected with student.network._target_."""
    from distill.models.classifier import load_classifier

    model, tokenizer = load_classifier(ref, labels)
    model.config.built_by = "custom_network"
    return model, tokenizer


def test_student_network_is_injected_by_hydra(tmp_path: Path) -> None:
    from distill.stages.distill import build_student

    target = f"{__name__}.custom_network"
    cfg = _cfg(tmp_path, f"student.network._target_={target}", "logger=none")
    system, _ = build_student(cfg, ["a", "b", "c"], ["it"])
    assert system.model.config.built_by == "custom_network"
    assert system.model.config.id2label == {0: "a", 1: "b", 2: "c"}
    assert system.hparams["base_model"] == cfg.student.model


def test_roundtrip_term_uses_the_teacher_on_back_translations(tmp_path: Path) -> None:
    """Back-translations from a file (here: the human English side, so the numbers are checkable)."""
    import numpy as np

    from distill.data.datamodule import logit_array
    from distill.data.sources.chatterbot import chatterbot_parallel
    from distill.stages.label import label

    rows = [chatterbot_parallel("it", s) for s in ("train", "validation")]
    table = tmp_path / "it_en.jsonl"
    table.write_text(
        "".join(
            json.dumps({"src": t, "tgt": s}, ensure_ascii=False) + "\n"
            for ds in rows
            for s, t in zip(ds["src"], ds["tgt"], strict=True)
        ),
        encoding="utf-8",
    )
    overrides = [
        "data.target_langs=[it]",
        "loss.weights.roundtrip=0.5",
        "mode.translator={backend: file, path: " + str(table) + "}",
        "logger=none",
    ]
    labelled = label(_cfg(tmp_path / "a", *overrides))
    targets = labelled.targets()["it"]["train"]
    # The back-translation is the human source here, so the roundtrip targets equal the kd targets.
    np.testing.assert_allclose(
        logit_array(targets["teacher_roundtrip_logits"]), logit_array(targets["teacher_logits"]), atol=1e-6
    )
    assert labelled.data["it"]["train"]["src_bt"] == labelled.data["it"]["train"]["src"]

    metrics, _ = run(_cfg(tmp_path / "b", *overrides, "logger=csv"))
    logged = "".join(p.read_text() for p in (tmp_path / "b").rglob("metrics.csv"))
    assert "train/roundtrip" in logged and metrics["results"]


def test_roundtrip_without_a_translator_is_refused_before_training(tmp_path: Path) -> None:
    from distill.errors import DistillError

    with pytest.raises(DistillError, match=r"loss.weights.roundtrip > 0 needs back-translations"):
        run(_cfg(tmp_path, "loss.weights.roundtrip=0.5", "logger=none"))


def test_report_of_a_real_tiny_run(tiny_run: tuple[Path, dict], tmp_path: Path) -> None:
    """distill-report on a real run: table, bootstrap against the baselines, error analysis, the plots."""
    from distill.report import main

    run_dir, metrics = tiny_run
    assert (run_dir / "predictions.parquet").is_file() and (run_dir / "embeddings.parquet").is_file()
    assert main([str(run_dir), "--out", str(tmp_path), "--bootstrap", "200"]) == 0
    text = (tmp_path / "report.md").read_text()
    student = next(r for r in metrics["results"] if r["system"] == "student" and r["lang"] == "it")
    assert f"{100 * student['accuracy']:.1f} ± 0.0 (1)" in text
    for lang in ("it", "ja"):
        assert f"| {lang} | `student` | `teacher_zero_shot` |" in text
    for plot in ("accuracy", "reliability", "embeddings", "confusions"):
        assert (tmp_path / f"{plot}.png").read_bytes()[:4] == b"\x89PNG"
    assert "## Error analysis" in text and "disagreements with the teacher" in text
    assert "## Calibration per language" in text and "## Worst-language gap" in text  # it and ja


def test_baselines_train_beside_the_student(tmp_path: Path) -> None:
    """baselines=tiny: direct_transfer (a cached teacher recipe) and supervised rows per language."""
    import pyarrow.parquet as pq

    cfg = _cfg(
        tmp_path / "run", "baselines=tiny", "logger=csv", "data.topics=aligned", "export_student=false"
    )
    metrics, objects = run(cfg)
    got = {(r["system"], r["lang"]) for r in metrics["results"]}
    for lang in ("it", "ja"):
        assert {("direct_transfer", lang), ("supervised", lang)} <= got
    run_dir = tmp_path / "run"
    assert (run_dir / "checkpoints" / "supervised" / "last.ckpt").is_file()
    assert not (run_dir / "student").exists()  # export_student=false
    predictions = pq.read_table(run_dir / "predictions.parquet").to_pydict()
    assert {"direct_transfer", "supervised"} <= set(predictions["system"])
    # aligned topics: the teacher learns only the topics Italian or Japanese translate.
    assert "trivia" not in objects["teacher"].labels and "emotion" in objects["teacher"].labels


def test_rehearsal_adds_teacher_labelled_source_texts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """data.rehearsal=N: N of the teacher's English training texts join the student's rows."""
    import distill.stages.distill as pipeline

    sizes: list[tuple[int, int]] = []
    real = pipeline.with_rehearsal

    def spy(train, rehearsal, labels, lang_id):  # type: ignore[no-untyped-def]
        out = real(train, rehearsal, labels, lang_id)
        sizes.append((len(train), len(out)))
        extra = out.select(range(len(train), len(out)))
        assert extra["src"] == extra["tgt"] and set(extra["lang"]) == {lang_id}
        assert all(y >= 0 for y in extra["labels"])  # the gold source labels come along
        return out

    monkeypatch.setattr(pipeline, "with_rehearsal", spy)
    run(_cfg(tmp_path / "run", "data.rehearsal=40", "logger=csv", "cycle.rounds=2", "export_student=false"))
    assert [b - a for a, b in sizes] == [40, 40]  # both cyclic rounds rehearse
    labels = json.loads((tmp_path / "run" / "labels.json").read_text())
    assert labels["en_rehearsal"]["train"]["rows"] == 40


@pytest.mark.parametrize("value", ["-1", "some", "true"])
def test_bad_rehearsal_value_is_refused_before_training(value: str, tmp_path: Path) -> None:
    from distill.errors import DistillError
    from distill.settings import check_config

    with pytest.raises(DistillError, match=r"data\.rehearsal must be"):
        check_config(_cfg(tmp_path, f"data.rehearsal={value}"))


def test_distill_eval_scores_the_cached_direct_transfer_but_not_supervised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """distill-eval has no training data in hand: it scores direct_transfer (cached) and says so."""
    from distill.stages.baselines import baseline_systems
    from distill.teacher import train_teacher

    cfg = _cfg(tmp_path, "baselines=tiny")
    labels = train_teacher(cfg).labels
    with caplog.at_level("WARNING"):
        systems = baseline_systems(cfg, None, labels)
    assert set(systems) == {"direct_transfer"}
    assert "supervised is trained by distill-run only" in caplog.text
    direct = compose_cfg(tmp_path, "debug=tiny", "baselines=tiny", "mode=direct")
    assert baseline_systems(direct, None, labels) == {}  # mode=direct: the teacher is that model


def test_format_onnx_exports_onnx_files_checked_against_torch_on_the_test_sets(tmp_path: Path) -> None:
    import httpx

    from distill.serve.app import create_app
    from distill.serve.service import Service, Settings
    from tests.serve_helpers import serving

    out = tmp_path / "run"
    run(_cfg(out, "logger=none", "format=onnx", "onnx_int8=true", "data.target_langs=[it]"))
    student = out / "student"
    record = json.loads((student / "onnx" / "onnx_export.json").read_text())
    assert {r["file"] for r in record["parity"]} == {"model.onnx", "model_int8.onnx"}
    fp32 = next(r for r in record["parity"] if r["file"] == "model.onnx")
    assert fp32["lang"] == "it" and fp32["n"] > 0 and fp32["agreement"] == 1.0 and fp32["passes"] is True
    assert "## ONNX" in (student / "README.md").read_text()

    # The server's ONNX backend answers as the torch backend does.
    text = {"text": "ciao come stai", "lang": "it"}
    answers = {}
    for backend in ("torch", "onnx"):
        with serving(create_app(Service.from_export(student, Settings(backend=backend)))) as url:
            answers[backend] = httpx.post(f"{url}/predict", json=text, timeout=60).json()
            info = httpx.get(f"{url}/info", timeout=60).json()
            assert info["backend"] == backend
    assert answers["onnx"]["label"] == answers["torch"]["label"]
    for label, p in answers["torch"]["probabilities"].items():
        assert abs(answers["onnx"]["probabilities"][label] - p) < 1e-4


def test_teacher_precision_onnx_labels_the_cache_and_records_its_parity(tmp_path: Path) -> None:
    """teacher.precision=onnx: the label stage runs the exported teacher, and labels.json says how
    it agreed with fp32 (each entry, with its own key)."""
    from distill.stages.label import label

    cfg = _cfg(tmp_path / "run", "teacher.precision=onnx")
    labelled = label(cfg)
    labels = json.loads((tmp_path / "run" / "labels.json").read_text())
    entries = [e for splits in labels.values() for e in splits.values()]
    assert entries and all(e["precision"] == "onnx" and e["parity"]["passed"] for e in entries)
    assert all(e["parity"]["agreement"] >= 0.995 and e["parity"]["mean_kl"] <= 1e-3 for e in entries)
    fp32 = label(_cfg(tmp_path / "ref"))
    for lang, splits in labelled.soft.items():
        for split, entry in splits.items():
            reference = fp32.soft[lang][split]
            assert entry.key != reference.key
            np.testing.assert_allclose(entry.logits(), reference.logits(), atol=1e-4)
