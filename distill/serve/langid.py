"""Offline language identification for requests without ``lang``: py3langid.

py3langid (a maintained fork of langid.py, Lui & Baldwin 2012) ships its 97-language model inside
the wheel, needs no download, classifies a short text in tens of microseconds and loads in about a
second. ``experiments/serve/langid_accuracy.py`` measures it on the chatterbot test utterances: over
all its languages it names Italian right 87.6% of the time and English 83.1%; restricted to an
export's languages (en, it, ja, ko, uk, zh) 95.7% and 96.6%. So the server detects among the
export's own languages by default (``--detect-among all`` for the full set, which routes a text in
an unserved language to the shared base instead of to the nearest served language).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Detected:
    lang: str
    confidence: float


class LanguageDetector:
    """``detect(text) -> Detected`` over py3langid's languages (loaded on first use)."""

    def __init__(self, languages: Sequence[str] | None = None) -> None:
        self._identifier: Any = None
        self._lock = threading.Lock()
        self.languages = list(languages) if languages else None

    def _get(self) -> Any:
        with self._lock:
            if self._identifier is None:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
                if self.languages:
                    known = [lang for lang in self.languages if lang in identifier.labels]
                    identifier.set_languages(known or None)
                self._identifier = identifier
            return self._identifier

    def detect(self, text: str) -> Detected:
        lang, prob = self._get().classify(text)
        return Detected(str(lang), float(prob))
