"""Reading the corpus: every ``<language>/<topic>.yml`` file of the installed package, parsed.

Labels are the file names, with the target files' own names for an English topic mapped to it
(``_TOPIC_ALIASES``); the YAML oddities handled are counted per language (see
:mod:`distill.data.sources.chatterbot`).
"""

from __future__ import annotations

import importlib.util
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from distill.errors import DistillError

CORPUS_PACKAGE = "chatterbot-corpus==1.3.3"
SOURCE_LANG = "en"

# Package folder -> BCP-47 tag users type. ``hinglish`` is Hindi written in Latin script, hence
# ``hi-Latn``; ``chinese`` is simplified (``zh``, alias ``zh-Hans``), ``traditionalchinese`` is ``zh-Hant``.
FOLDER_CODES: Mapping[str, str] = {
    "bengali": "bn",
    "chinese": "zh",
    "dutch": "nl",
    "english": "en",
    "french": "fr",
    "german": "de",
    "hebrew": "he",
    "hindi": "hi",
    "hinglish": "hi-Latn",
    "indonesian": "id",
    "italian": "it",
    "japanese": "ja",
    "korean": "ko",
    "marathi": "mr",
    "oriya": "or",
    "persian": "fa",
    "portuguese": "pt",
    "russian": "ru",
    "spanish": "es",
    "swedish": "sv",
    "tamil": "ta",
    "telugu": "te",
    "thai": "th",
    "traditionalchinese": "zh-Hant",
    "turkish": "tr",
    "ukrainian": "uk",
    "urdu": "ur",
    "yoruba": "yo",
}

# Target file names (lower-cased stems) that mean an English topic; the label is the English one.
_TOPIC_ALIASES: Mapping[str, str] = {
    "computer": "computers",
    "coversations": "conversations",
    "emotions": "emotion",
    "greeting": "greetings",
    "sport": "sports",
    "profile": "botprofile",
    "ia": "ai",
    "dinero": "money",
    "emociones": "emotion",
    "perfilbot": "botprofile",
    "psicologia": "psychology",
}


@dataclass
class _Language:
    """The parsed files of one language folder: topic -> conversations -> utterances."""

    code: str
    folder: str
    topics: dict[str, list[list[str]]]
    skipped: Counter[str]


def _default_data_dir() -> Path:
    """Return the ``data`` folder of the installed ``chatterbot_corpus`` package without importing it."""
    spec = importlib.util.find_spec("chatterbot_corpus")
    if spec is None or not spec.submodule_search_locations:
        raise DistillError(
            "the chatterbot-corpus package is not installed", fix=f"pip install {CORPUS_PACKAGE}"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _load_yaml(path: Path) -> Any:
    """Parse a YAML file keeping every scalar as the text written (no bool/number guessing)."""
    loader = getattr(yaml, "CBaseLoader", yaml.BaseLoader)  # the C loader parses all files in ~0.2 s
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.load(fh, Loader=loader)  # the base loader builds no objects: safe
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise DistillError(
            f"cannot read chatterbot-corpus file {path}: {exc}",
            fix=f"pip install --force-reinstall {CORPUS_PACKAGE}",
        ) from exc


def _utterance_texts(item: object, skipped: Counter[str]) -> list[str]:
    """Return the utterance text(s) in one list item, counting anything unusual in ``skipped``."""
    if isinstance(item, str):
        text = item.strip()
        if not text:
            skipped["empty utterance skipped"] += 1
            return []
        return [text]
    if isinstance(item, bool | int | float):  # only reachable with a typed loader; keep the value's text
        skipped["non-string scalar stringified"] += 1
        return [str(item)]
    if isinstance(item, list):
        skipped["nested list flattened"] += 1
        return [text for sub in item for text in _utterance_texts(sub, skipped)]
    skipped[f"{type(item).__name__} utterance skipped"] += 1
    return []


def _conversation(value: object, skipped: Counter[str]) -> list[str]:
    """Return one conversation's utterances; an unusable value gives ``[]`` so positions do not shift."""
    if isinstance(value, list):
        return [text for item in value for text in _utterance_texts(item, skipped)]
    if isinstance(value, str | bool | int | float):
        # A "- Q - A" line that lost its indentation: keep it as one utterance rather than guess a split.
        skipped["bare string conversation wrapped"] += 1
        return _utterance_texts(value, skipped)
    skipped[f"{type(value).__name__} conversation skipped"] += 1
    return []


def _read_topic(path: Path, skipped: Counter[str]) -> list[list[str]]:
    """Return the conversations of one topic file."""
    doc = _load_yaml(path)
    conversations = doc.get("conversations") if isinstance(doc, dict) else None
    if not isinstance(conversations, list):
        skipped["file without a conversations list"] += 1
        return []
    return [_conversation(value, skipped) for value in conversations]


def _topic_names(stems: Iterable[str]) -> dict[str, str]:
    """Map each file stem of one folder to its label, using the English name where one is known."""
    lowered = {stem: stem.lower() for stem in stems}
    own = set(lowered.values())
    # An alias is used only if the folder has no file of the English name, so labels stay unique.
    return {
        stem: _TOPIC_ALIASES[low] if low in _TOPIC_ALIASES and _TOPIC_ALIASES[low] not in own else low
        for stem, low in lowered.items()
    }


def _read_language(folder: Path, code: str) -> _Language:
    """Parse every topic file of one language folder."""
    skipped: Counter[str] = Counter()
    paths = sorted(p for p in folder.iterdir() if p.suffix in (".yml", ".yaml") and p.is_file())
    names = _topic_names(p.stem for p in paths)
    topics = {names[p.stem]: _read_topic(p, skipped) for p in paths}
    return _Language(code=code, folder=folder.name, topics=topics, skipped=skipped)


def _read_all(data_dir: Path) -> dict[str, _Language]:
    """Parse every language folder; an unknown folder keeps its name as the code."""
    if not data_dir.is_dir():
        raise DistillError(
            f"chatterbot-corpus data folder {data_dir} does not exist", fix=f"pip install {CORPUS_PACKAGE}"
        )
    languages: dict[str, _Language] = {}
    for folder in sorted(p for p in data_dir.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
        code = FOLDER_CODES.get(folder.name, folder.name)
        languages[code] = _read_language(folder, code)
    if SOURCE_LANG not in languages:
        raise DistillError(
            f"chatterbot-corpus data folder {data_dir} has no english/ folder",
            fix=f"pip install --force-reinstall {CORPUS_PACKAGE}",
        )
    return languages
