"""What the server does, without HTTP: route each text to its adapter, batch, cache, count.

:class:`Service` owns the loaded model, the adapter registry, the response cache, the language
detector and the metrics. Every model change (loading an adapter version) runs on the batcher's
inference thread between two forwards; the routing table (language -> adapter name) is replaced as a
whole after the new version is loaded, so a request in flight finishes on the version it started
with and the next one reads the new version. The old version stays loaded, which makes a rollback
a table swap.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from distill.serve.batcher import Batcher
from distill.serve.cache import ResponseCache
from distill.serve.drift import DriftMonitor, load_profile
from distill.serve.langid import LanguageDetector
from distill.serve.metrics import ServeMetrics
from distill.serve.model import MICRO_BATCH, ServedModel, adapter_name
from distill.serve.onnx_model import OnnxServedModel
from distill.serve.registry import AdapterRegistry, Change

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Item:
    """One text to answer, with the language the client gave (``None``: detect it)."""

    text: str
    lang: str | None = None


@dataclass(frozen=True)
class Settings:
    max_batch: int = 32
    batch_timeout_ms: float = 5.0
    # Rows per forward inside a batch, grouped by length (0: the whole batch padded as one).
    micro_batch: int = MICRO_BATCH
    cache_size: int = 10_000
    max_length: int = 128
    drift_window: int = 500
    # Language detection among the export's languages ("served") or all py3langid's ("all").
    detect_among: str = "served"
    # torch (adapters per row in one forward; every kind of export), onnx or onnx-int8 (adapter
    # versions merged, one session each; classifiers and encoders; distill.serve.onnx_model).
    backend: str = "torch"


def tagged(text: str, probs: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """The answer for a tagged text: its words (white-space split) with their tags and tag
    probabilities and, for BIO tags, the entities (type, text, character span, mean probability)."""
    import re

    from seqeval.metrics.sequence_labeling import get_entities

    spans = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    top = probs.argmax(1) if len(probs) else np.zeros(0, dtype=int)
    tags = [labels[i] for i in top]
    words = [
        {"word": text[a:b], "start": a, "end": b, "tag": t, "score": round(float(probs[k, top[k]]), 6)}
        for k, ((a, b), t) in enumerate(zip(spans, tags, strict=True))
    ]
    answer: dict[str, Any] = {"words": words}
    if all(label == "O" or label[:2] in ("B-", "I-") for label in labels):
        answer["entities"] = [
            {
                "type": kind,
                "text": text[spans[first][0] : spans[last][1]],
                "start": spans[first][0],
                "end": spans[last][1],
                "score": round(float(np.mean([probs[k, top[k]] for k in range(first, last + 1)])), 6),
            }
            for kind, first, last in get_entities(tags)
        ]
    return answer


class Service:
    """The serving logic behind the HTTP app (:mod:`distill.serve.app`)."""

    def __init__(
        self,
        model: ServedModel | OnnxServedModel,
        registry: AdapterRegistry | None = None,
        settings: Settings | None = None,
        detector: LanguageDetector | None = None,
        drift: DriftMonitor | None = None,
    ):
        self.model = model
        self.registry = registry
        self.settings = settings or Settings()
        self.detector = detector or LanguageDetector()
        self.metrics = ServeMetrics()
        self.cache = ResponseCache(self.settings.cache_size)
        self.batcher = Batcher(
            self._run, max_batch=self.settings.max_batch, timeout_ms=self.settings.batch_timeout_ms
        )
        self.batcher.on_batch = self.metrics.batch_size.observe
        self.routes: dict[str, str] = {}
        self.drift = drift

    @classmethod
    def from_export(
        cls, folder: str | Path, settings: Settings | None = None, registry_dir: Path | None = None
    ) -> Service:
        settings = settings or Settings()
        model: ServedModel | OnnxServedModel
        if settings.backend == "torch":
            model = ServedModel.load(folder, max_length=settings.max_length, micro_batch=settings.micro_batch)
        else:
            quantized = settings.backend == "onnx-int8"
            model = OnnxServedModel.load(
                folder, quantized=quantized, max_length=settings.max_length, micro_batch=settings.micro_batch
            )
        registry = AdapterRegistry.for_export(Path(folder), registry_dir) if model.languages else None
        detector = LanguageDetector(export_languages(model) if settings.detect_among == "served" else None)
        profile = load_profile(Path(folder))
        drift = DriftMonitor(profile, window=settings.drift_window) if profile else None
        if drift is None:
            log.warning("serve: %s has no drift profile; /metrics reports no drift", folder)
        return cls(model, registry, settings, detector=detector, drift=drift)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await self.batcher.start()
        if self.registry is not None:
            routes = {}
            for lang, version in self.registry.active().items():
                path = self.registry.path(lang, version)
                routes[lang] = await self.batcher.call(self.model.load_adapter, lang, version, path)
            self.routes = routes
            self._publish_adapters()

    async def stop(self) -> None:
        await self.batcher.stop()

    def _publish_adapters(self) -> None:
        if self.registry is not None:
            langs = self.registry.languages()
            self.metrics.set_active(
                self.registry.active(), {lang: self.registry.versions(lang) for lang in langs}
            )

    # ------------------------------------------------------------------ predict

    def _run(self, rows: list[tuple[str, str | None]]) -> list[np.ndarray]:
        texts = [t for t, _ in rows]
        names = [n or "" for _, n in rows]
        if self.model.kind == "token_classification":
            return self.model.tag(texts, names)  # type: ignore[union-attr]
        out = (
            self.model.classify(texts, names)
            if self.model.kind == "classification"
            else self.model.embed(texts, names)
        )
        return list(out)

    def _route(self, item: Item) -> dict[str, Any]:
        routed: dict[str, Any] = {"lang": item.lang, "lang_source": "given"}
        if item.lang is None:
            found = self.detector.detect(item.text)
            routed.update(lang=found.lang, lang_source="detected", lang_confidence=round(found.confidence, 4))
            self.metrics.detected.labels(lang=found.lang).inc()
        name = self.routes.get(routed["lang"]) if self.model.languages else None
        routed["adapter"] = name
        if self.model.languages and name is None:
            routed["note"] = f"no adapter for {routed['lang']!r}; the shared base answered"
        return routed

    def _answer(self, text: str, routed: dict[str, Any], out: np.ndarray) -> dict[str, Any]:
        route = "adapter" if routed["adapter"] else ("base" if self.model.languages else "shared")
        answer = {**routed, "route": route}
        lang = str(routed["lang"])
        self.metrics.texts.labels(lang=lang, route=route).inc()
        if self.model.kind == "embedding":
            return {**answer, "embedding": [round(float(x), 6) for x in out]}
        if self.model.kind == "token_classification":
            return {**answer, **tagged(text, out, self.model.labels)}
        top = int(np.argmax(out))
        self.metrics.confidence.labels(lang=lang).observe(float(out[top]))
        if self.drift is not None:
            self.drift.observe(lang, len(text), float(out[top]), top)
        probs = {label: round(float(p), 6) for label, p in zip(self.model.labels, out, strict=True)}
        return {
            **answer,
            "label": self.model.labels[top],
            "confidence": round(float(out[top]), 6),
            "probabilities": probs,
        }

    async def predict(self, items: Sequence[Item]) -> list[dict[str, Any]]:
        """One answer per item, in order; cached answers skip the model."""
        routed = [self._route(item) for item in items]
        keys = [(item.text, r["lang"], r["adapter"]) for item, r in zip(items, routed, strict=True)]
        outs: list[np.ndarray | None] = []
        for key in keys:
            hit = self.cache.get(key)
            self.metrics.cache.labels(result="hit" if hit is not None else "miss").inc()
            outs.append(hit)
        todo = [i for i, o in enumerate(outs) if o is None]
        if todo:
            fresh = await self.batcher.submit([(items[i].text, routed[i]["adapter"]) for i in todo])
            for i, out in zip(todo, fresh, strict=True):
                outs[i] = out
                self.cache.put(keys[i], out)
        return [
            self._answer(i.text, r, o) for i, r, o in zip(items, routed, outs, strict=True) if o is not None
        ]

    def refresh_drift(self) -> dict[str, dict[str, Any]]:
        """The drift scores now, also set into the Prometheus gauges."""
        if self.drift is None:
            return {}
        scores = self.drift.scores()
        for lang, s in scores.items():
            for feature in ("length", "confidence", "class", "score"):
                if s.get(feature) is not None:
                    self.metrics.drift.labels(lang=lang, feature=feature).set(s[feature])
            self.metrics.drift_flag.labels(lang=lang).set(1.0 if s["drift"] else 0.0)
        return scores

    # ------------------------------------------------------------------ admin

    def _need_registry(self) -> AdapterRegistry:
        if self.registry is None:
            from distill.errors import DistillError

            raise DistillError(
                "this export has no per-language adapters to manage",
                fix="serve an export made with student.adapters=lora",
            )
        return self.registry

    async def _switch(self, change: Change) -> Change:
        registry = self._need_registry()
        path = registry.path(change.lang, change.active)
        name = await self.batcher.call(self.model.load_adapter, change.lang, change.active, path)
        self.routes = {**self.routes, change.lang: name}
        self.cache.invalidate(change.lang)
        self._publish_adapters()
        log.info("serve: %s %s -> %s", change.action, change.lang, change.active)
        return change

    async def add(self, lang: str, path: str | Path, *, promote: bool = False) -> dict[str, Any]:
        registry = self._need_registry()
        version = registry.add(lang, path)
        # Loaded now, so a later promote is only a table swap.
        await self.batcher.call(self.model.load_adapter, lang, version, registry.path(lang, version))
        result: dict[str, Any] = {"lang": lang, "version": version, "active": self.routes.get(lang)}
        if promote:
            change = await self.promote(lang, version)
            result["active"] = adapter_name(lang, change.active)
        self._publish_adapters()
        return result

    async def promote(self, lang: str, version: str) -> Change:
        registry = self._need_registry()
        registry.path(lang, version)  # refuses an unknown version before anything changes
        await self.batcher.call(self.model.load_adapter, lang, version, registry.path(lang, version))
        return await self._switch(registry.promote(lang, version))

    async def rollback(self, lang: str) -> Change:
        return await self._switch(self._need_registry().rollback(lang))

    # ------------------------------------------------------------------ info

    def info(self) -> dict[str, Any]:
        return {
            "kind": self.model.kind,
            "labels": self.model.labels,
            "languages": self.model.languages,
            "input_prefix": self.model.prefix,
            "adapters": self.registry.describe() if self.registry else {},
            "routes": dict(self.routes),
            "card": card_summary(self.model.folder),
            "settings": self.settings.__dict__,
            "backend": self.settings.backend,
            "drift": self.refresh_drift() if self.drift is not None else None,
            "cache": {
                "size": len(self.cache),
                "max": self.cache.size,
                "hits": self.cache.hits,
                "misses": self.cache.misses,
            },
        }


def export_languages(model: ServedModel | OnnxServedModel) -> list[str]:
    """The card's languages (source first) and every adapter's: what the detector chooses among."""
    langs = [str(lang) for lang in card_summary(model.folder).get("language") or []]
    return list(dict.fromkeys([*langs, *model.languages]))


def card_summary(folder: Path) -> dict[str, Any]:
    """The model card's YAML header (base model, languages, license, tags), or ``{}``."""
    for readme in (folder / "README.md", folder / "base" / "README.md"):
        if readme.is_file():
            text = readme.read_text(encoding="utf-8")
            if text.startswith("---\n"):
                meta = yaml.safe_load(text.split("---\n", 2)[1]) or {}
                return meta if isinstance(meta, dict) else {}
    return {}
