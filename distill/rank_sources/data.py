"""The text a ranking reads: chatterbot-corpus, or plain-text files (one sentence a line)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from distill.data.sources.chatterbot import _corpus, _parallel_rows, _resolve
from distill.errors import DistillError
from distill.rank_sources.ranking import LanguageData


def chatterbot_data(
    target: str, candidates: Sequence[str], split: str = "train"
) -> tuple[list[str], dict[str, LanguageData]]:
    """The target's text and each candidate's text and pairs with the target, from chatterbot-corpus.

    Raises:
        DistillError: A language the corpus lacks, or one with no text in ``split``.
    """
    corpus = _corpus(None)

    def rows(lang: str) -> list[Any]:
        found = [r for r in corpus.rows[_resolve(corpus, lang)] if r.split == split]
        if not found:
            raise DistillError(
                f"chatterbot-corpus has no {lang} text in the {split!r} split",
                fix=f"drop {lang} from the candidates",
            )
        return found

    tgt_rows = rows(target)
    data = {}
    for lang in candidates:
        src_rows = rows(lang)
        pairs = [(s.text, t.text) for s, t in _parallel_rows(src_rows, tgt_rows, split)]
        data[lang] = LanguageData([r.text for r in src_rows], pairs)
    return [r.text for r in tgt_rows], data


def file_data(target: str, files: Mapping[str, str]) -> tuple[list[str], dict[str, LanguageData]]:
    """Plain-text files, one sentence a line; a candidate's file with as many lines as the target's
    is read as aligned with it (line i translates line i).

    Raises:
        DistillError: A file that is missing or empty.
    """

    def read(lang: str) -> list[str]:
        path = Path(files[lang])
        if not path.is_file():
            raise DistillError(f"--text {lang}={path}: no such file", fix="give an existing text file")
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        if not any(lines):
            raise DistillError(
                f"--text {lang}={path} has no text", fix="give a file with one sentence a line"
            )
        return lines

    tgt = read(target)
    data = {}
    for lang in files:
        if lang == target:
            continue
        texts = read(lang)
        pairs = list(zip(texts, tgt, strict=True)) if len(texts) == len(tgt) else []
        data[lang] = LanguageData([t for t in texts if t], [(s, t) for s, t in pairs if s and t])
    return [t for t in tgt if t], data
