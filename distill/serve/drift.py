"""Drift: a sliding window of what the server answered, compared with the export's reference profile.

Per language the monitor keeps the last ``window`` texts' length, top-class confidence and predicted
class, and scores them against ``drift_profile.json`` with the population stability index
(:mod:`distill.report.profile`); a language's score is the largest of its three PSIs and is flagged
over the profile's threshold (0.25). A language the profile does not know is reported as drifted
once its window fills. ``distill-drift`` runs the same comparison on a file offline.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from pathlib import Path
from typing import Any

from distill.report.profile import PROFILE_FILE, THRESHOLD, compare

MIN_ROWS = 50


def load_profile(folder: Path) -> dict[str, Any] | None:
    path = folder / PROFILE_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


class DriftMonitor:
    """A bounded window per language; :meth:`scores` compares each with the reference."""

    def __init__(self, profile: dict[str, Any], window: int = 500, min_rows: int = MIN_ROWS):
        self.profile = profile
        self.threshold = float(profile.get("threshold", THRESHOLD))
        self.window = window
        self.min_rows = min_rows
        self._rows: dict[str, deque[tuple[int, float, int]]] = {}
        self._lock = threading.Lock()

    def observe(self, lang: str, length: int, confidence: float, pred: int) -> None:
        with self._lock:
            self._rows.setdefault(lang, deque(maxlen=self.window)).append((length, confidence, pred))

    def scores(self) -> dict[str, dict[str, Any]]:
        """``{lang: {"length", "confidence", "class", "score", "drift", "n"}}`` for filled windows."""
        with self._lock:
            windows = {lang: list(rows) for lang, rows in self._rows.items()}
        out: dict[str, dict[str, Any]] = {}
        for lang, rows in windows.items():
            if len(rows) < self.min_rows:
                continue
            out[lang] = score_rows(self.profile, lang, rows, self.threshold)
        return out


def score_rows(
    profile: dict[str, Any], lang: str, rows: list[tuple[int, float, int]], threshold: float
) -> dict[str, Any]:
    reference = profile["languages"].get(lang)
    if reference is None:
        return {
            "n": len(rows),
            "score": None,
            "drift": True,
            "note": f"the profile has no {lang!r} reference",
        }
    lengths, confidences, preds = zip(*rows, strict=True)
    scores: dict[str, Any] = compare(reference, lengths, confidences, preds)
    return {**scores, "n": len(rows), "drift": scores["score"] > threshold}
