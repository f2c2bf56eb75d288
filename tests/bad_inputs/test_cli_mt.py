"""Machine translation that cannot run or answers short, through ``distill-run mode=translate``."""

from __future__ import annotations

from pathlib import Path

import pytest

from distill.data.translate import FileTranslator, Translator
from distill.errors import DistillError
from tests.bad_inputs.conftest import Runner

TRANSLATE = ("mode=translate", "data.target_langs=[es]")  # chatterbot's Spanish, translate-test

# A stand-in for `apertium` that knows the pairs but drops the last sentence of what it is sent.
SHORT_APERTIUM = """#!/bin/sh
if [ "$1" = "-l" ]; then echo spa-eng; echo eng-spa; exit 0; fi
exec {python} -c '{drop_last}'
"""
DROP_LAST = r'import sys; t = sys.stdin.read().rstrip("\n").split("\n\n"); print("\n\n".join(t[:-1]))'


def _bin(tmp_path: Path, script: str | None) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    if script is not None:
        program = folder / "apertium"
        program.write_text(script)
        program.chmod(0o755)
    return folder


def test_translation_file_missing(run_cli: Runner, tmp_path: Path) -> None:
    missing = tmp_path / "es_en.tsv"
    result = run_cli(
        "distill-run", *TRANSLATE, "mode.translator.backend=file", f"+mode.translator.path={missing}"
    )
    result.assert_clean_error(f"translation file {missing} does not exist", "check the path")


def test_apertium_not_on_path(run_cli: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(_bin(tmp_path, None)))
    result = run_cli("distill-run", *TRANSLATE)
    result.assert_clean_error(
        "the apertium program is not installed", "apt-get install apertium apertium-eng-spa"
    )


def test_apertium_returns_fewer_sentences(
    run_cli: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    folder = _bin(tmp_path, SHORT_APERTIUM.format(python=sys.executable, drop_last=DROP_LAST))
    monkeypatch.setenv("PATH", f"{folder}:/usr/bin:/bin")
    result = run_cli("distill-run", *TRANSLATE)
    result.assert_clean_error("apertium spa-eng returned 63 sentences for 64", "no longer aligned")
    assert not (result.cache / "translations").exists() or not any((result.cache / "translations").iterdir())


class _Short(Translator):
    """Any backend that loses a line (here: the last one)."""

    name = "short"

    def describe(self) -> str:
        return "short:test"

    def _translate(self, texts: list[str]) -> list[str]:
        return texts[:-1]


def test_any_backend_returning_fewer_lines_is_refused() -> None:
    with pytest.raises(DistillError, match=r"returned 2 translations for 3 sentences") as err:
        _Short().translate(["one", "two", "three"])
    assert err.value.fix


def test_translation_files_of_different_lengths(tmp_path: Path) -> None:
    src, tgt = tmp_path / "es.txt", tmp_path / "en.txt"
    src.write_text("hola\nadiós\ngracias\n")
    tgt.write_text("hello\ngoodbye\n")
    with pytest.raises(DistillError, match=f"{src} has 3 lines but {tgt} has 2") as err:
        FileTranslator(src, target_path=tgt).translate(["hola"])
    assert err.value.fix
