"""The prepare stage: resolve (and if needed convert) the models, build the parallel data.

``prepare(cfg)`` is a plain function; the console scripts wrap it. It returns a summary (printed
and logged) and the objects later stages use: the resolved models and, per target language, a
``DatasetDict`` of parallel pairs (``src``, ``tgt``, ``label``, ...) with train/validation/test.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from datasets import DatasetDict
from omegaconf import DictConfig

from distill.cache import cached_translate
from distill.data.mt import make_translator
from distill.models.info import ModelInfo, model_info
from distill.models.resolve import resolve_model
from distill.sources import load_parallel, translate_data
from distill.stages.lengths import fit_student_max_length
from distill.utils.config import loss_weight
from distill.utils.mapped_pages import column_released

log = logging.getLogger(__name__)


def prepare_models(cfg: DictConfig) -> dict[str, ModelInfo]:
    """Resolve the teacher and the student; packaged models are converted here, once."""
    out = {}
    for role in ("teacher", "student"):
        start = time.perf_counter()
        info = model_info(resolve_model(cfg[role].model))
        log.info(
            "%s %s -> %s (%.1f s)", role, cfg[role].model, info.resolved.location, time.perf_counter() - start
        )
        out[role] = info
    return out


def student_tokenizer(info: ModelInfo) -> Any:
    """The student's tokenizer, from its resolved location (a local folder after resolving)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(info.resolved.location))


def prepare_data(cfg: DictConfig) -> dict[str, DatasetDict]:
    """Train/validation/test pairs for every target language (``mode=translate``: one side by MT).

    With the ``roundtrip`` loss on, the training splits also get ``src_bt``: the back-translation
    MT(target -> source) of the target text, which the teacher labels for that term.
    """
    if cfg.mode.name == "translate":
        data = {lang: translate_data(cfg.data, cfg.mode, lang) for lang in cfg.data.target_langs}
    else:
        data = {lang: load_parallel(cfg.data, lang, cfg.mode) for lang in cfg.data.target_langs}
    if loss_weight(cfg, "roundtrip") > 0:
        data = {lang: add_back_translations(cfg, lang, dd) for lang, dd in data.items()}
    return data


def add_back_translations(cfg: DictConfig, lang: str, dd: DatasetDict) -> DatasetDict:
    """``src_bt`` = MT(``tgt`` -> source language) on the training splits (cached translations)."""

    source = str(cfg.data.source_lang)
    translator = make_translator(cfg.mode.get("translator"), lang, source)
    out = DatasetDict(dd)
    for split in ("train", "validation"):
        texts = cached_translate(
            translator, dd[split]["tgt"], what=f"back-translation {lang}->{source} {split}"
        )
        out[split] = dd[split].add_column("src_bt", texts)
    return out


def _fmt_int(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _fmt_mb(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:,.1f} MB"


def summary_table(models: dict[str, ModelInfo], data: dict[str, DatasetDict], source_lang: str) -> str:
    """A plain-text table of what was prepared."""
    lines = ["models:", f"  {'role':8} {'source':9} {'params':>13} {'on disk':>11}  reference -> location"]
    for role, info in models.items():
        r = info.resolved
        lines.append(
            f"  {role:8} {r.source:9} {_fmt_int(info.params):>13} {_fmt_mb(info.disk_bytes):>11}  "
            f"{r.ref} -> {r.location}"
        )
    lines.append(f"parallel data ({source_lang} -> target):")
    lines.append(f"  {'pair':8} {'train':>7} {'valid':>7} {'test':>7} {'labels':>7}")
    for lang, dd in data.items():
        labels = {
            x
            for split in dd.values()
            if "label" in split.column_names
            for x in column_released(split, "label")
        }
        n = {k: len(v) for k, v in dd.items()}
        lines.append(
            f"  {source_lang}-{lang:5} {n.get('train', 0):>7} {n.get('validation', 0):>7} "
            f"{n.get('test', 0):>7} {len(labels) or '-':>7}"
        )
    return "\n".join(lines)


def prepare(cfg: DictConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """Resolve models and build data; return ``(summary, objects)``."""
    start = time.perf_counter()
    models = prepare_models(cfg)
    t_models = time.perf_counter() - start
    data = prepare_data(cfg)
    lengths = fit_student_max_length(cfg, data, student_tokenizer(models["student"]))
    t_data = time.perf_counter() - start - t_models
    table = summary_table(models, data, cfg.data.source_lang)
    print(table)
    print(f"prepare: models {t_models:.1f} s, data {t_data:.1f} s")
    summary = {
        "models": {
            role: {
                "ref": i.resolved.ref,
                "source": i.resolved.source,
                "params": i.params,
                "bytes": i.disk_bytes,
            }
            for role, i in models.items()
        },
        "data": {lang: {k: len(v) for k, v in dd.items()} for lang, dd in data.items()},
        "student_max_length": lengths,
        "seconds": {"models": round(t_models, 2), "data": round(t_data, 2)},
    }
    return summary, {"models": models, "data": data}
