"""Translators per direction and the translation cache (content key, atomic, reused, rebuilt)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from distill.cache import TABLE_MANIFEST as MANIFEST
from distill.cache import cached_translate
from distill.data.mt import apertium_pair, make_translator
from distill.data.translate import ApertiumTranslator, Translator
from distill.errors import DistillError


class Upper(Translator):
    """A deterministic fake backend that counts its calls."""

    name = "upper"

    def __init__(self, tag: str = "v1") -> None:
        self.tag = tag
        self.calls = 0

    def describe(self) -> str:
        return f"upper:{self.tag}"

    def _translate(self, texts: list[str]) -> list[str]:
        self.calls += 1
        return [t.upper() for t in texts]


def test_apertium_pair_from_iso_codes() -> None:
    assert apertium_pair("es", "en") == "spa-eng"
    assert apertium_pair("en", "ca") == "eng-cat"
    assert apertium_pair("is", "en") == "isl-eng"


def test_make_translator_picks_the_pair_and_per_direction_options() -> None:
    t = make_translator({"backend": "apertium", "pair": None}, "es", "en")
    assert isinstance(t, ApertiumTranslator) and t.pair == "spa-eng"
    t = make_translator({"backend": "apertium", "pair": {"en-es": "eng-spa"}}, "en", "es")
    assert t.pair == "eng-spa"
    with pytest.raises(DistillError, match=r"mode.translator.pair has no entry for es-en; it has en-es"):
        make_translator({"backend": "apertium", "pair": {"en-es": "eng-spa"}}, "es", "en")
    with pytest.raises(DistillError, match="needs a translator"):
        make_translator(None, "es", "en")
    with pytest.raises(DistillError, match="unknown translator backend 'babel'"):
        make_translator({"backend": "babel"}, "es", "en")


def test_cache_hits_misses_and_keys(isolated_cache: Path, caplog: pytest.LogCaptureFixture) -> None:
    mt = Upper()
    with caplog.at_level(logging.INFO):
        assert cached_translate(mt, ["hola", "adiós"]) == ["HOLA", "ADIÓS"]
        assert cached_translate(mt, ["hola", "adiós"]) == ["HOLA", "ADIÓS"]
    assert mt.calls == 1  # the second call was a hit
    assert "cache miss" in caplog.text and "cache hit" in caplog.text
    cached_translate(mt, ["hola"])  # other texts: another entry
    cached_translate(Upper("v2"), ["hola", "adiós"])  # another translator: another entry
    entries = list((isolated_cache / "translations").iterdir())
    assert len(entries) == 3 and not [p for p in entries if p.name.startswith(".tmp")]


def test_damaged_entry_is_rebuilt(isolated_cache: Path) -> None:
    mt = Upper()
    cached_translate(mt, ["uno", "dos"])
    (entry,) = (isolated_cache / "translations").iterdir()
    manifest = json.loads((entry / MANIFEST).read_text())
    manifest["n_rows"] = 5
    (entry / MANIFEST).write_text(json.dumps(manifest))
    assert cached_translate(mt, ["uno", "dos"]) == ["UNO", "DOS"]
    assert mt.calls == 2
    assert json.loads((entry / MANIFEST).read_text())["n_rows"] == 2


def test_a_failing_backend_leaves_no_entry(isolated_cache: Path) -> None:
    class Broken(Upper):
        def _translate(self, texts: list[str]) -> list[str]:
            raise DistillError("backend exploded")

    with pytest.raises(DistillError, match="backend exploded"):
        cached_translate(Broken(), ["uno"])
    assert not (isolated_cache / "translations").exists() or not any(
        (isolated_cache / "translations").iterdir()
    )


def test_a_backend_returning_fewer_lines_is_a_clear_error(isolated_cache: Path) -> None:
    class Lossy(Upper):
        def _translate(self, texts: list[str]) -> list[str]:
            return [t.upper() for t in texts[:-1]]

    with pytest.raises(DistillError, match=r"translator upper:v1 returned 2 translations for 3 sentences"):
        cached_translate(Lossy(), ["uno", "dos", "tres"])
    assert not (isolated_cache / "translations").exists() or not any(
        (isolated_cache / "translations").iterdir()
    )
