"""``distill-drift``: a file of texts through the export, compared with its reference profile."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from distill.errors import DistillError
from distill.serve.drift import load_profile, score_rows
from distill.serve.langid import LanguageDetector
from distill.serve.model import BASE, ServedModel
from distill.serve.registry import INDEX, AdapterRegistry
from distill.serve.service import Item, export_languages


def read_items(path: Path, lang: str | None) -> list[Item]:
    """Texts from ``.txt`` (one a line) or ``.jsonl`` (``{"text": ..., "lang": ...}`` a line)."""
    if not path.is_file():
        raise DistillError(f"{path}: no such file", fix="pass a .txt (a text a line) or .jsonl file")
    items: list[Item] = []
    jsonl = path.suffix == ".jsonl"
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        if not jsonl:
            items.append(Item(line, lang))
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DistillError(
                f"{path}:{n}: not JSON ({exc.msg})", fix='write one {"text": ...} object a line'
            ) from None
        if not isinstance(row, dict) or not isinstance(row.get("text"), str) or not row["text"].strip():
            raise DistillError(
                f'{path}:{n}: no "text" string', fix='write one {"text": ..., "lang": ...} a line'
            )
        items.append(Item(row["text"], row.get("lang") or lang))
    if not items:
        raise DistillError(f"{path}: no texts", fix="write at least one text")
    return items


def _adapter_paths(model: ServedModel) -> dict[str, Path]:
    """The adapter that serves each language: the registry's active version, else the export's own."""
    folder = model.folder
    if (folder / "registry" / INDEX).is_file():
        registry = AdapterRegistry(folder / "registry")
        return {lang: registry.path(lang, v) for lang, v in registry.active().items()}
    return {lang: folder / "adapters" / lang for lang in model.languages}


def drift_report(folder: Path, items: Sequence[Item], *, batch_size: int = 32) -> dict[str, Any]:
    """Per language: the PSIs of the file's texts against the export's profile, and the flag."""
    profile = load_profile(folder)
    if profile is None:
        raise DistillError(
            f"{folder} has no drift_profile.json",
            fix="export the student with distill-run (the export stage writes it from the test predictions)",
        )
    model = ServedModel.load(folder)
    if model.kind != "classification":
        raise DistillError(
            "distill-drift compares classifiers' confidences; this export is an embedding model"
        )
    routes = {lang: model.load_adapter(lang, "active", path) for lang, path in _adapter_paths(model).items()}
    detector = LanguageDetector(export_languages(model))
    langs = [item.lang or detector.detect(item.text).lang for item in items]
    rows: dict[str, list[tuple[int, float, int]]] = {}
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        chunk_langs = langs[start : start + batch_size]
        probs = model.classify([i.text for i in chunk], [routes.get(lang, BASE) for lang in chunk_langs])
        for item, lang, p in zip(chunk, chunk_langs, probs, strict=True):
            rows.setdefault(lang, []).append((len(item.text), float(p.max()), int(p.argmax())))
    threshold = float(profile.get("threshold", 0.25))
    return {
        "threshold": threshold,
        "languages": {lang: score_rows(profile, lang, r, threshold) for lang, r in sorted(rows.items())},
    }


def _cell(scores: dict[str, Any], key: str) -> str:
    return f"{scores[key]:8.3f}" if scores.get(key) is not None else f"{'-':>8}"


def render(report: dict[str, Any]) -> str:
    """The scores as a terminal table, a row a language."""
    head = f"{'lang':6} {'n':>6} {'length':>8} {'confid.':>8} {'class':>8} {'score':>8}"
    lines = [f"{head}  drift (PSI > {report['threshold']})"]
    for lang, s in report["languages"].items():
        cells = " ".join(_cell(s, k) for k in ("length", "confidence", "class", "score"))
        note = f"  ({s['note']})" if s.get("note") else ""
        lines.append(f"{lang:6} {s['n']:>6} {cells}  {'YES' if s['drift'] else 'no'}{note}")
    return "\n".join(lines)
