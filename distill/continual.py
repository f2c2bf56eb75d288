"""Adding a language to a fully shared student: start from its export, rehearse the earlier languages.

``distill-run student.init_from=<export> data.target_langs=[ko] continual.rehearsal=0.5`` starts the
student from an earlier export (``<run dir>/student``) and trains it on the new language. The
earlier languages (read from the export's model card) come along: their pairs are prepared and
labelled as before (the teacher's soft labels are cache hits), they are evaluated beside the new
one, and ``continual.rehearsal`` times as many of their training rows as the new languages have
are mixed into training (0: none, plain fine-tuning on the new language). The ``back`` loss term
anchors the student on the source side as well.

``metrics.json`` gets ``continual``: the earlier languages' test accuracy before (from the export's
run) and after, and the difference (forgetting, negative when accuracy was lost).

Per-language adapters (``student.adapters=lora``) add a language without touching the others at
all; see :mod:`distill.adapters`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from datasets import Dataset
from omegaconf import DictConfig, open_dict

from distill.errors import DistillError
from distill.report import load_metrics

log = logging.getLogger(__name__)


def export_languages(path: str | Path) -> list[str]:
    """The languages in an export's model card (``language:`` of the README's YAML header).

    Raises:
        DistillError: The folder has no model card with a language list.
    """
    readme = Path(path) / "README.md"
    try:
        text = readme.read_text(encoding="utf-8")
        header = yaml.safe_load(text.split("---", 2)[1]) if text.startswith("---") else None
    except (OSError, yaml.YAMLError, IndexError) as e:
        raise DistillError(
            f"{readme} cannot be read for the export's languages ({e})",
            fix="point student.init_from at a folder exported by distill-run or distill-export",
        ) from e
    langs = header.get("language") if isinstance(header, dict) else None
    if not isinstance(langs, list) or not langs:
        raise DistillError(
            f"{readme} names no languages (no language: list in its YAML header)",
            fix="point student.init_from at a folder exported by distill-run or distill-export",
        )
    return [str(x) for x in langs]


def rehearsal_ratio(cfg: DictConfig) -> float:
    """``continual.rehearsal``, checked: a number >= 0."""
    value = cfg.continual.rehearsal
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise DistillError(
            f"continual.rehearsal must be a number >= 0 (earlier-language rows per new row), got {value!r}",
            fix="e.g. continual.rehearsal=0.5, or 0 for none",
        )
    return float(value)


def is_continual(cfg: DictConfig) -> bool:
    """A fully shared student continued from an export (not the adapter variant)."""
    return bool(cfg.student.get("init_from")) and not cfg.student.get("adapters")


def extend_languages(cfg: DictConfig) -> None:
    """Add the export's earlier languages to ``data.target_langs`` (once); remember which are new."""
    if not is_continual(cfg) or (cfg.get("continual") or {}).get("new_langs"):
        return
    rehearsal_ratio(cfg)
    new = [str(x) for x in cfg.data.target_langs or []]
    known = export_languages(cfg.student.init_from)
    earlier = [x for x in known if x != cfg.data.source_lang and x not in new]
    with open_dict(cfg):
        cfg.continual = {**(cfg.get("continual") or {}), "new_langs": new, "earlier_langs": earlier}
        cfg.data.target_langs = [*new, *earlier]
    log.info("continual: new %s, earlier %s (rehearsal %.2f)", new, earlier, rehearsal_ratio(cfg))


def rehearsed(cfg: DictConfig, rows: Mapping[str, Mapping[str, Dataset]]) -> dict[str, dict[str, Dataset]]:
    """The training rows with the earlier languages cut to ``rehearsal`` x the new languages' rows."""
    if not is_continual(cfg):
        return {lang: dict(splits) for lang, splits in rows.items()}
    new = set(cfg.continual.new_langs)
    n_new = sum(len(rows[lang]["train"]) for lang in rows if lang in new)
    earlier = [lang for lang in rows if lang not in new]
    keep = round(rehearsal_ratio(cfg) * n_new / max(len(earlier), 1))
    out = {lang: dict(splits) for lang, splits in rows.items()}
    for lang in earlier:
        train = rows[lang]["train"]
        out[lang]["train"] = train.shuffle(seed=int(cfg.seed)).select(range(min(keep, len(train))))
    log.info("continual: %d rehearsal rows per earlier language beside %d new rows", keep, n_new)
    return out


def forgetting(cfg: DictConfig, results: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Earlier languages' (and the source's) test accuracy before (the export's run) and after."""
    if not is_continual(cfg):
        return None

    run_dir = Path(cfg.student.init_from).parent
    before: dict[str, float] = {}
    if (run_dir / "metrics.json").is_file():
        for row in load_metrics(run_dir / "metrics.json").results:
            if row["system"] == "student" and row["split"] == "test":
                before[row["lang"]] = row["accuracy"]
    # The earlier targets and the source language: what the earlier student could already do.
    kept = {*cfg.continual.earlier_langs, str(cfg.data.source_lang)}
    before = {lang: acc for lang, acc in before.items() if lang in kept}
    after = {
        r["lang"]: r["accuracy"]
        for r in results
        if r["system"] == "student" and r["split"] == "test" and r["lang"] in kept
    }
    return {
        "init_from": str(cfg.student.init_from),
        "new_langs": list(cfg.continual.new_langs),
        "earlier_langs": list(cfg.continual.earlier_langs),
        "rehearsal": rehearsal_ratio(cfg),
        "before": before,
        "after": after,
        "change": {lang: round(after[lang] - before[lang], 6) for lang in after if lang in before},
    }
