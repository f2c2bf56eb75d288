"""The export stage: the student as a Hugging Face folder with its model card (``distill-export``)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from datasets import DatasetDict
from omegaconf import DictConfig

from distill.adapters import (
    AdapterSpec,
    is_adapter_student,
    languages,
)
from distill.errors import DistillError
from distill.export import export_adapters, export_student, log_artifact
from distill.onnx_export import MIN_COSINE, export_onnx, parity, passes, write_record
from distill.provenance import write_provenance
from distill.records import data_hashes
from distill.report import MetricsReport, load_metrics
from distill.report.profile import PROFILE_FILE, build_profile
from distill.settings import checkpoint_ref
from distill.stages.prepare import prepare_data
from distill.student import load_student_checkpoint
from distill.teacher import classifier_labels, train_teacher
from distill.utils.atomic import write_text_atomic

log = logging.getLogger(__name__)


def export_run(
    cfg: DictConfig,
    model: Any,
    tokenizer: Any,
    data: Mapping[str, DatasetDict],
    report: MetricsReport | None,
    hashes: dict[str, str] | None = None,
) -> Path:
    """Write ``<run dir>/student`` and log it as a W&B model artifact when a run is active
    (``hashes``: the :func:`data_hashes` of ``data``, when the caller has them)."""

    # provenance.json first: the card repeats it, and write_run keeps its pair hashes.
    hashes = data_hashes(data) if hashes is None else hashes
    prov = write_provenance(cfg, hashes)
    base: dict[str, Any] = next((m for m in prov["models"] if m["role"] == "student_base"), {})
    card = {
        "base_model": cfg.student.model,
        "teacher": cfg.teacher.get("path") or cfg.teacher.model,
        # An adapter student continued from an export also serves the export's languages.
        "languages": [cfg.data.source_lang, *(languages(model) if is_adapter_student(model) else data)],
        "metrics": report,
        "data": {"name": cfg.data.name, **hashes},
        "command": prov["reproducibility"]["command"],  # secrets masked
        "input_prefix": cfg.student.prefix,
        "license": base.get("license") or "unknown",
        "provenance": prov,
        "vocab_trim": getattr(getattr(model, "config", None), "xlt_distill_vocab_trim", None),
    }
    out = Path(cfg.paths.output_dir) / "student"
    if is_adapter_student(model):
        folder = export_adapters(model, tokenizer, out, AdapterSpec.from_cfg(cfg.student), **card)
    else:
        folder = export_student(model, tokenizer, out, **card)
    metadata = {"experiment": cfg.experiment_name, "seed": int(cfg.seed)}
    if report is not None:
        metadata["results"] = report.results
    write_drift_profile(folder, report, data, _labels_of(model))
    if cfg.get("format", "hf") == "onnx":
        int8 = bool(cfg.get("onnx_int8", False))
        if not is_adapter_student(model):
            export_onnx_with_parity(folder, data, _labels_of(model), int8=int8)
        for lang in languages(model) if is_adapter_student(model) else []:
            merged = folder / "merged" / lang
            if not merged.is_dir():
                raise DistillError(
                    "format=onnx exports an adapter student's merged/<lang>/ folders; this export has none",
                    fix="set student.lora.export_merged=true",
                )
            export_onnx_with_parity(
                merged, {lang: data[lang]} if lang in data else {}, _labels_of(model), int8=int8
            )
    elif cfg.get("format", "hf") != "hf":
        raise DistillError(
            f"format must be hf or onnx, got {cfg.format!r}", fix="set format=hf or format=onnx"
        )
    log_artifact(folder, name=f"student-{cfg.experiment_name}", metadata=metadata)
    return folder


def _parity_lines(records: list[dict[str, Any]]) -> list[str]:
    lines = [
        "",
        "## ONNX",
        "",
        "`onnx/model.onnx` (and `onnx/model_int8.onnx` when quantized) runs with ONNX Runtime",
        "(`distill-serve <folder> --backend onnx`). Checked against the torch model on the run's test sets:",
        "",
    ]
    if records and all(r.get("kind") == "embedding" for r in records):
        lines += [
            "| file | lang | texts | min cosine | mean cosine | max abs diff | passes |",
            "|---|---|---:|---:|---:|---:|---|",
        ]
        for r in records:
            lines.append(
                f"| {r['file']} | {r['lang']} | {r['n']} | {r['min_cosine']:.5f} | {r['mean_cosine']:.5f} "
                f"| {r['max_abs_diff']:.2e} | {'yes' if r['passes'] else 'no'} |"
            )
        return [*lines, "", f"Passes: every vector's cosine with torch's vector >= {MIN_COSINE}."]
    lines += [
        "| file | lang | texts | agreement | max logit diff | accuracy torch | accuracy ONNX | passes |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in records:
        acc_t = f"{100 * r['torch_accuracy']:.2f}" if "torch_accuracy" in r else "-"
        acc_o = f"{100 * r['onnx_accuracy']:.2f}" if "onnx_accuracy" in r else "-"
        lines.append(
            f"| {r['file']} | {r['lang']} | {r['n']} | {100 * r['agreement']:.2f} "
            f"| {r['max_abs_logit_diff']:.2e} | {acc_t} | {acc_o} | {'yes' if r['passes'] else 'no'} |"
        )
    lines += ["", "Passes: agreement >= 99% and accuracy at most 0.5 point under torch."]
    return lines


def export_onnx_with_parity(
    folder: Path, data: Mapping[str, DatasetDict], labels: list[str], *, int8: bool
) -> list[dict[str, Any]]:
    """``format=onnx``: the ONNX files, their parity with torch per test set, a card section."""
    out = export_onnx(folder, quantize=int8)
    files = [out / "model.onnx", *([out / "model_int8.onnx"] if int8 else [])]
    label2id = {name: i for i, name in enumerate(labels)}
    records = []
    for lang, dd in data.items():
        if "test" not in dd:
            continue
        test = dd["test"]
        gold = [label2id.get(str(x), -1) for x in test["label"]] if "label" in test.column_names else None
        for file in files:
            record = {"lang": lang, **parity(folder, file, list(test["tgt"]), gold)}
            record["passes"] = passes(record)
            records.append(record)
            if not record["passes"]:
                log.warning("export: %s on %s misses the parity bar: %s", file.name, lang, record)
    write_record(out, {"parity": records})
    readme = folder / "README.md"
    write_text_atomic(
        readme,
        readme.read_text(encoding="utf-8").rstrip("\n") + "\n" + "\n".join(_parity_lines(records)) + "\n",
    )
    log.info("export: ONNX files in %s (%d parity checks)", out, len(records))
    return records


def _labels_of(model: Any) -> list[str]:
    id2label = getattr(getattr(model, "config", None), "id2label", None) or {}
    return [str(id2label[i]) for i in sorted(id2label, key=int)]


def write_drift_profile(
    folder: Path, report: MetricsReport | None, data: Mapping[str, DatasetDict], labels: list[str]
) -> Path | None:
    """``<export>/drift_profile.json``: the student's test-set profile per target language
    (:mod:`distill.report.profile`), the reference ``distill-serve`` and ``distill-drift`` compare with."""
    rows: dict[str, dict[str, list[Any]]] = {}
    for lang, dd in data.items():
        found = report.predictions.get(("student", lang, "test")) if report is not None else None
        if found is None or "test" not in dd:
            continue
        texts = dd["test"]["tgt"]
        rows[lang] = {
            "length": [len(t) for t in texts],
            "confidence": np.asarray(found["confidence"]).tolist(),
            "pred": np.asarray(found["pred"]).tolist(),
        }
    if not rows or not labels:
        log.info("export: no test predictions of the student in this process; no drift profile written")
        return None
    profile = build_profile(rows, labels, source="the run's test sets: the student's predictions")
    path = folder / PROFILE_FILE
    write_text_atomic(path, json.dumps(profile, indent=1) + "\n")
    return path


def _metrics_near(ckpt: Path) -> MetricsReport | None:
    """The ``metrics.json`` of the run that wrote ``ckpt`` (its run dir), if there is one."""
    run_dir = ckpt.parent.parent if ckpt.is_file() else ckpt.parent
    for path in (ckpt / "metrics.json", run_dir / "metrics.json"):
        if path.is_file():
            log.info("export: model card metrics from %s", path)
            return load_metrics(path)
    return None


def export(cfg: DictConfig) -> Path:
    """Export the student at ``checkpoint`` as a Hugging Face folder (``distill-export``).

    The model card takes its metrics from the ``metrics.json`` of the run that wrote the checkpoint
    (run ``distill-eval`` first for a run that has none).
    """

    ckpt = checkpoint_ref(cfg, "export")
    teacher = train_teacher(cfg) if not cfg.teacher.get("path") else None
    labels = teacher.labels if teacher is not None else classifier_labels(str(cfg.teacher.path))
    model, tokenizer = load_student_checkpoint(ckpt, cfg.student.model, labels)
    report = _metrics_near(ckpt)
    if report is None:
        log.warning("export: no metrics.json next to %s; the model card has no metrics table", ckpt)
    folder = export_run(cfg, model, tokenizer, prepare_data(cfg), report)
    print(f"exported the student to {folder}")
    return folder
