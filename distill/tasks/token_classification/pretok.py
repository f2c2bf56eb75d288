"""Words of raw target-language text: one declared pre-tokenizer per language.

Soft labels are rows per *word*, so the words of a text must not depend on the teacher's or the
student's sub-word tokenizer. Each language gets one pre-tokenizer, named in the data config
(``data.corpus.pretokenizers``: language -> name, ``default`` for the rest):

* ``regex`` (the default): runs of letters/digits (with inner ``-``/``'``), each other non-space
  character a word of its own. Universal Dependencies' treebanks split punctuation the same way.
* ``mecab_ipadic``: Japanese, written without spaces: MeCab through ``fugashi`` with the packaged
  IPADIC dictionary (``ipadic``). It is the segmentation the Japanese gold NER corpus
  (``hironsancorpus``) was annotated on, so student training text and the gold test words are cut
  the same way. Both are pure PyPI wheels (no system MeCab); ``sudachipy``/``janome`` cut
  differently (UniDic units / a pure-Python IPADIC port that is about 10x slower).
* ``whitespace``: ``str.split``, for text that is tokenized already.

Example::

    words("ja", "神が天と地を創造した。", {"ja": "mecab_ipadic"})   # ['神', 'が', '天', 'と', ...]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import cache

from distill.errors import DistillError

_WORD = re.compile(r"\w+(?:['’-]\w+)*|[^\w\s]")


def _regex(text: str) -> list[str]:
    return _WORD.findall(text)


def _whitespace(text: str) -> list[str]:
    return text.split()


@cache
def _mecab() -> Callable[[str], list[str]]:
    try:
        import fugashi
        import ipadic
    except ImportError as exc:
        raise DistillError(
            "the mecab_ipadic pre-tokenizer needs fugashi and ipadic",
            fix="pip install '.[tokens]' (or pip install fugashi ipadic)",
        ) from exc
    tagger = fugashi.GenericTagger(ipadic.MECAB_ARGS)
    return lambda text: [w.surface for w in tagger(text) if w.surface.strip()]


PRETOKENIZERS: dict[str, Callable[[], Callable[[str], list[str]]]] = {
    "regex": lambda: _regex,
    "whitespace": lambda: _whitespace,
    "mecab_ipadic": _mecab,
}


def pretokenizer(lang: str, names: Mapping[str, str] | None = None) -> Callable[[str], list[str]]:
    """The word splitter of ``lang``: ``names[lang]``, else ``names["default"]``, else ``regex``.

    Raises:
        DistillError: An unknown pre-tokenizer name, or a missing package.
    """
    names = names or {}
    name = str(names.get(lang, names.get("default", "regex")))
    if name not in PRETOKENIZERS:
        raise DistillError(
            f"unknown pre-tokenizer {name!r} for {lang}",
            fix=f"use one of {', '.join(PRETOKENIZERS)} in data.corpus.pretokenizers",
        )
    return PRETOKENIZERS[name]()


def words(lang: str, text: str, names: Mapping[str, str] | None = None) -> list[str]:
    """``text`` cut into words by ``lang``'s pre-tokenizer."""
    return pretokenizer(lang, names)(text)
