"""Offline language identification for requests without ``lang``: py3langid.

py3langid (a maintained fork of langid.py, Lui & Baldwin 2012) ships its 97-language model inside
the wheel, needs no download, classifies a short text in tens of microseconds and loads in about a
second. ``experiments/serve/langid_accuracy.py`` measures it on our corpora's languages.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Detected:
    lang: str
    confidence: float


class LanguageDetector:
    """``detect(text) -> Detected`` over py3langid's languages (loaded on first use)."""

    def __init__(self) -> None:
        self._identifier: Any = None
        self._lock = threading.Lock()

    def _get(self) -> Any:
        with self._lock:
            if self._identifier is None:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                self._identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
            return self._identifier

    def detect(self, text: str) -> Detected:
        lang, prob = self._get().classify(text)
        return Detected(str(lang), float(prob))
