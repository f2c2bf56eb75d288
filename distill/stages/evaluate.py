"""The evaluate stage: the student and the baselines on every language's test split (``distill-eval``)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
from datasets import DatasetDict
from omegaconf import DictConfig, OmegaConf

from distill.adapters import (
    AdapterSpec,
    encoder_of,
    is_adapter_student,
    parameter_counts,
    use_language,
)
from distill.cache import TEACHER_COLUMNS
from distill.continual import forgetting
from distill.data.datamodule import label_ids
from distill.models.classifier import predict_logits
from distill.models.encoder import encode
from distill.multi_source import primary_cfg
from distill.records import StageTimer, data_hashes, in_run_dir, write_run
from distill.report import MetricsReport, format_table
from distill.report.calibration import calibration_entry, fit_temperature, language_gap
from distill.settings import check_config, checkpoint_ref
from distill.sources import source_test_data
from distill.stages.baselines import Baseline, baseline_systems
from distill.stages.label import Labelled
from distill.stages.prepare import prepare
from distill.student import load_student_checkpoint
from distill.teacher import TeacherResult, load_teacher, train_teacher
from distill.training import BestCheckpoint
from distill.utils.paths import portable

log = logging.getLogger(__name__)


def evaluate_run(
    cfg: DictConfig,
    teacher: tuple[Any, Any],
    student: tuple[Any, Any],
    data: Mapping[str, DatasetDict],
    labels: list[str],
    baselines: Mapping[str, Baseline] | None = None,
    validation_logits: Mapping[str, np.ndarray] | None = None,
) -> MetricsReport:
    """Student and baselines on every language's test split (DESIGN.md sections 6 and 8).

    Args:
        baselines: Further systems scored on the target text, ``{system name: Baseline}``
            (``direct_transfer``, ``supervised``; see :mod:`distill.baselines`).
        validation_logits: The teacher's logits on each language's validation rows, when the
            label stage has them cached (``distill-run``); the calibration then reuses them
            instead of running the teacher again. Missing languages are recomputed.
    """
    label2id = {name: i for i, name in enumerate(labels)}
    kw = {"batch_size": cfg.eval.batch_size}
    t_kw = {**kw, "max_length": cfg.teacher.max_length}
    s_kw = {**kw, "max_length": cfg.student.max_length, "prefix": cfg.student.prefix}
    report = MetricsReport(source_lang=cfg.data.source_lang, target_langs=list(data))
    report.embeddings = student_embeddings(cfg, student, data)
    fit = cfg.student.get("max_length_fit")
    if fit is not None:  # the student's input length and the share of texts it cuts off
        report.extras["max_length"] = OmegaConf.to_container(fit)
    for lang, dd in data.items():
        test = dd["test"]
        parallel = "src" in test.column_names
        t_src = (
            predict_logits(*teacher, test["src"], desc=f"teacher {cfg.data.source_lang} side", **t_kw)
            if parallel
            else None
        )
        use_language(student[0], lang)
        s_tgt = predict_logits(*student, test["tgt"], desc=f"student {lang}", **s_kw)
        if "label" not in test.column_names:
            # Unlabelled pairs: no accuracy, but how often the student agrees with the teacher.
            assert t_src is not None
            agree = float(np.mean(s_tgt.argmax(1) == t_src.argmax(1)))
            report.extras.setdefault("unlabelled_agreement", {})[lang] = {
                "agreement": round(agree, 6),
                "n": len(test),
            }
            log.warning("evaluate: the %s test pairs carry no labels; reporting teacher agreement only", lang)
            continue
        gold = np.asarray(label_ids(test["label"], label2id, f"{lang}/test"))
        report.add_predictions("student", lang, "test", s_tgt, gold, teacher_logits=t_src)
        cached = (validation_logits or {}).get(lang)
        calibration = calibrate(cfg, teacher, student, dd, s_tgt, gold, lang, cached)
        if calibration is not None:
            report.extras.setdefault("calibration", {})[lang] = calibration
        # A multilingual teacher (mode=direct) on target text is the direct-transfer baseline;
        # a source-language teacher on target text is the zero-shot one.
        on_target = "direct_transfer" if cfg.mode.name == "direct" else "teacher_zero_shot"
        report.add_predictions(on_target, lang, "test", predict_logits(*teacher, test["tgt"], **t_kw), gold)
        if t_src is not None:
            report.add_predictions("teacher_translate_test", lang, "test", t_src, gold)
        for name, base in (baselines or {}).items():
            logits = base.logits(test["tgt"], desc=f"{name} {lang}", **kw)
            report.add_predictions(name, lang, "test", logits, gold)
    source = source_test_data(cfg)
    if source is not None:
        texts, names = source
        gold = np.asarray(label_ids(names, label2id, f"{cfg.data.source_lang}/test"))
        t_src = predict_logits(*teacher, texts, desc="teacher source test", **t_kw)
        report.add_predictions("teacher", cfg.data.source_lang, "test", t_src, gold)
        use_language(student[0], next(iter(data), ""))  # an adapter student: the first target's
        s_src = predict_logits(*student, texts, desc="student source test", **s_kw)
        report.add_predictions("student", cfg.data.source_lang, "test", s_src, gold, teacher_logits=t_src)
    gaps = language_gaps(report)
    if gaps:
        report.extras["language_gap"] = gaps
    return report


#: At most this many validation pairs per language fit the student's temperature.
CALIBRATION_ROWS = 2000


def calibrate(
    cfg: DictConfig,
    teacher: tuple[Any, Any],
    student: tuple[Any, Any],
    dd: DatasetDict,
    test_logits: np.ndarray,
    gold: np.ndarray,
    lang: str,
    teacher_logits: np.ndarray | None = None,
) -> dict[str, Any] | None:
    """The student's temperature for ``lang``, fitted to the teacher on the validation pairs (no
    labels; :mod:`distill.report.calibration`), with the test ECE before and after; ``None``
    without validation pairs. The adapter student must already be set to ``lang``.

    Args:
        teacher_logits: The teacher's logits on every validation row, row-aligned (the label
            stage's cache); ``None``: the teacher is run on the rows used.
    """
    if "validation" not in dd or len(dd["validation"]) == 0:
        return None
    rows = min(len(dd["validation"]), CALIBRATION_ROWS)
    val = dd["validation"].select(range(rows))
    kw = {"batch_size": cfg.eval.batch_size}
    if teacher_logits is not None and len(teacher_logits) == len(dd["validation"]):
        on_teacher = np.asarray(teacher_logits[:rows], dtype=np.float32)
    else:
        on_teacher = predict_logits(
            *teacher,
            val[TEACHER_COLUMNS[str(cfg.mode.name)]],
            desc=f"teacher {lang} validation",
            max_length=cfg.teacher.max_length,
            **kw,
        )
    on_student = predict_logits(
        *student,
        val["tgt"],
        desc=f"student {lang} validation",
        max_length=cfg.student.max_length,
        prefix=cfg.student.prefix,
        **kw,
    )
    return calibration_entry(fit_temperature(on_student, on_teacher), len(val), test_logits, gold)


def language_gaps(report: MetricsReport) -> dict[str, Any]:
    """Per system scored on two or more target languages: best minus worst language accuracy."""
    out: dict[str, Any] = {}
    for system in report.systems:
        correct = {
            lang: found["gold"] == found["pred"]
            for lang in report.target_langs
            if (found := report.predictions.get((system, lang, "test"))) is not None
        }
        gap = language_gap(correct)
        if gap is not None:
            out[system] = gap
    return out


#: Parallel test pairs per language whose student embeddings go to ``embeddings.parquet``.
EMBEDDING_PAIRS = 200


def student_embeddings(
    cfg: DictConfig, student: tuple[Any, Any], data: Mapping[str, DatasetDict]
) -> dict[str, Any]:
    """Mean-pooled student sentence embeddings of both sides of the parallel test pairs.

    The ``distill-report`` projection plot: a student that maps translations close together shows
    the languages mixed, one that does not shows them apart.
    """
    model, tokenizer = student
    encoder = encoder_of(model)
    kw = {
        "max_length": int(cfg.student.max_length),
        "prefix": cfg.student.prefix,
        "normalize": True,
    }
    out: dict[str, Any] = {"lang": [], "pair": [], "vector": []}
    for lang, dd in data.items():
        test = dd["test"]
        if "src" not in test.column_names or "tgt" not in test.column_names:
            continue
        n = min(len(test), EMBEDDING_PAIRS)
        use_language(model, lang)
        for side, code in (("src", cfg.data.source_lang), ("tgt", lang)):
            vectors = encode(encoder, tokenizer, test[side][:n], desc=f"embed {lang} {side}", **kw)
            out["lang"] += [code] * n
            out["pair"] += [f"{lang}:{i}" for i in range(n)]
            out["vector"] += list(vectors)
    return out if out["lang"] else {}


def _prepared(cfg: DictConfig, timer: StageTimer) -> tuple[dict[str, DatasetDict], TeacherResult]:

    with timer("prepare"):
        _, objects = prepare(cfg)
    with timer("teacher"):
        teacher = train_teacher(primary_cfg(cfg))
    return objects["data"], teacher


def evaluate(cfg: DictConfig, timer: StageTimer | None = None) -> MetricsReport:
    """Score the student at ``checkpoint`` and the baselines; write ``metrics.json`` (``distill-eval``)."""
    check_config(cfg)
    timer = timer or StageTimer()
    ckpt = checkpoint_ref(cfg, "eval")
    data, teacher = _prepared(cfg, timer)
    with timer("evaluate"):
        student = load_student_checkpoint(ckpt, cfg.student.model, teacher.labels)
        extra = baseline_systems(cfg, None, teacher.labels)
        report = evaluate_run(cfg, load_teacher(teacher.path), student, data, teacher.labels, extra)
    report.extras["student_checkpoint"] = portable(ckpt)
    write_run(cfg, report, timer, data_hashes(data))
    print(format_table(report))
    print(timer.line())
    return report


def record_run_extras(
    cfg: DictConfig, report: MetricsReport, system: Any, labelled: Labelled, best: BestCheckpoint
) -> None:
    """What ``metrics.json`` keeps of a full run beside the scores: the checkpoint, the continual
    forgetting, the adapters' parameter counts, the best validation score and the teachers."""
    report.extras["student_checkpoint"] = in_run_dir(cfg, best.path)
    continual = forgetting(cfg, report.results)
    if continual is not None:
        report.extras["continual"] = continual
    if is_adapter_student(system.model):  # what each language trains and stores
        spec = AdapterSpec.from_cfg(cfg.student)
        report.extras["adapters"] = parameter_counts(system.model, spec, system.frozen_langs)
    report.extras["best_val"] = best.to_dict()  # what `objective=val` returns to a sweep
    if labelled.sources is not None:
        report.extras["sources"] = labelled.sources
