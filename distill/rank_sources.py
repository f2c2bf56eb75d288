"""``distill-rank-sources``: which source languages should teach a target language?

For a target language and candidate source languages, each candidate gets three pieces of evidence
and one score:

* **typology** (URIEL, Littell et al. 2017): the cosine similarity of the two languages' URIEL
  vectors, averaged over five feature sets: ``syntax_knn``, ``phonology_knn`` and
  ``inventory_knn`` (typological features with missing values predicted by k-NN, so every
  language has a full vector), ``fam`` (membership in the Glottolog family tree) and ``geo``
  (distances to fixed points on the globe). The vectors come from the ``.npz`` files that the
  ``lang2vec==1.1.2`` wheel ships, read with numpy: that version has no ``distance()`` (later ones
  download ``distances.zip`` for it) and its module imports ``pkg_resources``, which setuptools
  >= 81 no longer has, so nothing is imported from it and nothing is downloaded.
* **overlap**: the share of the target text's subword tokens (under the student's tokenizer)
  whose type also occurs in the candidate's text (Jaccard of the type sets is shown too). Shared
  subwords are what lets a multilingual student carry a label from one language to another.
* **embedding**: the mean cosine similarity of the student's mean-pooled embeddings of the two
  sides of aligned sentence pairs (candidate vs target): how close the student already puts
  translations.

``score`` is the weighted mean of the signals (each in [0, 1]; cosines clipped at 0), default
weights 1/1/1. A signal that some candidate lacks (a language URIEL does not know) is dropped for
every candidate, so that scores stay comparable, and the note says so. The ranking JSON
(``--out``) is what ``combine=similarity`` reads (:func:`similarity_weights`).

Example::

    distill-rank-sources --target ko --candidates en it ja uk --student me5_small --out ko.json
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import math
import os
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from distill.data.langs import check_lang_codes, normalize_tag
from distill.errors import DistillError
from distill.utils.atomic import write_text_atomic

log = logging.getLogger(__name__)

SIGNALS = ("typology", "overlap", "embedding")
# lang2vec's feature sets: file, feature-name prefix (as in lang2vec.FEATURE_SETS_DICT).
URIEL_SETS: Mapping[str, tuple[str, str]] = {
    "syntax_knn": ("feature_predictions.npz", "S_"),
    "phonology_knn": ("feature_predictions.npz", "P_"),
    "inventory_knn": ("feature_predictions.npz", "INV_"),
    "fam": ("family_features.npz", ""),
    "geo": ("geocoord_features.npz", ""),
}
URIEL_PACKAGE = "lang2vec==1.1.2"
#: Ranking JSON format version (bump when the keys change meaning).
FORMAT = 1


@dataclass
class Candidate:
    """One candidate source language and its evidence (``None``: signal not available)."""

    lang: str
    typology: float | None = None
    typology_sets: dict[str, float] = field(default_factory=dict)
    overlap: float | None = None
    overlap_jaccard: float | None = None
    embedding: float | None = None
    texts: int = 0
    pairs: int = 0
    score: float = 0.0
    rank: int = 0


@dataclass
class Ranking:
    """The ranking of candidate sources for one target (the ``--out`` JSON)."""

    target: str
    candidates: list[Candidate]
    signals: list[str]
    weights: dict[str, float]
    student: str
    data: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, **asdict(self)}

    def scores(self) -> dict[str, float]:
        return {c.lang: c.score for c in self.candidates}


# ------------------------------------------------------------------------------------------- URIEL


def _uriel_dir() -> Path:
    """The wheel's ``lang2vec/data`` folder, found through the distribution's files: the wheel also
    installs a ``bin/lang2vec.py`` script, which shadows the package in console scripts."""
    try:
        folder = Path(str(importlib.metadata.distribution("lang2vec").locate_file("lang2vec/data")))
    except importlib.metadata.PackageNotFoundError:
        folder = Path("/nonexistent")
    if not (folder / "feature_predictions.npz").is_file():
        raise DistillError("the URIEL feature files are not installed", fix=f"pip install {URIEL_PACKAGE}")
    return folder


_URIEL: dict[str, tuple[dict[str, int], np.ndarray, np.ndarray]] = {}


def _uriel_file(name: str) -> tuple[dict[str, int], np.ndarray, np.ndarray]:
    """``(lang -> row, feature names, data (L, F))`` of one lang2vec file (cached)."""
    if name not in _URIEL:
        z = np.load(_uriel_dir() / name)  # plain arrays: no pickle
        langs = {str(code): i for i, code in enumerate(z["langs"])}
        _URIEL[name] = (langs, z["feats"], z["data"][:, :, 0])
    return _URIEL[name]


def uriel_code(lang: str) -> str:
    """The ISO 639-3 code URIEL files use (``ko`` -> ``kor``, ``zh-Hant`` -> ``zho``)."""
    import langcodes

    primary = normalize_tag(lang).split("-")[0]
    letter = json.loads((_uriel_dir() / "letter_codes.json").read_text(encoding="utf-8"))
    if primary in letter:
        return str(letter[primary])
    try:
        return str(langcodes.Language.get(primary).to_alpha3())
    except (LookupError, ValueError):
        return primary


def uriel_vector(lang: str, feature_set: str) -> np.ndarray | None:
    """A language's vector of one URIEL feature set, or ``None`` if URIEL lacks the language."""
    name, prefix = URIEL_SETS[feature_set]
    langs, feats, data = _uriel_file(name)
    row = langs.get(uriel_code(lang))
    if row is None:
        return None
    keep = np.char.startswith(feats.astype(str), prefix) if prefix else np.ones(len(feats), bool)
    vector = data[row, keep].astype(np.float64)
    return None if not np.isfinite(vector).all() or np.all(vector == 0) else vector


def uriel_similarity(target: str, source: str) -> dict[str, float]:
    """Cosine similarity of ``target`` and ``source`` per URIEL feature set (those URIEL lacks: left out)."""
    out: dict[str, float] = {}
    for name in URIEL_SETS:
        a, b = uriel_vector(target, name), uriel_vector(source, name)
        if a is not None and b is not None:
            out[name] = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
    return out


# ------------------------------------------------------------------------------- empirical signals


def subword_overlap(
    tokenizer: Any, target_texts: Sequence[str], source_texts: Sequence[str]
) -> tuple[float, float]:
    """``(coverage, jaccard)``: the share of target tokens whose type the source text has, and the
    Jaccard similarity of the two sets of token types, under ``tokenizer``."""
    tgt = Counter(tok for text in target_texts for tok in tokenizer.tokenize(text))
    src = {tok for text in source_texts for tok in tokenizer.tokenize(text)}
    total = sum(tgt.values())
    if not total or not src:
        return 0.0, 0.0
    coverage = sum(n for tok, n in tgt.items() if tok in src) / total
    jaccard = len(src & set(tgt)) / len(src | set(tgt))
    return float(coverage), float(jaccard)


def embedding_similarity(
    encoder: Any, tokenizer: Any, pairs: Sequence[tuple[str, str]], *, prefix: str, max_length: int
) -> float:
    """Mean cosine of the mean-pooled embeddings of aligned ``(source, target)`` pairs."""
    import torch

    from distill.embedding import encode

    with torch.inference_mode():
        src, tgt = (
            encode(
                encoder, tokenizer, side, normalize=True, prefix=prefix, max_length=max_length, desc="embed"
            )
            for side in ([s for s, _ in pairs], [t for _, t in pairs])
        )
    return float(np.mean(np.sum(src * tgt, axis=1)))  # (N,) cosines of unit vectors


@dataclass(frozen=True)
class LanguageData:
    """What a candidate brings: its text, and pairs ``(candidate side, target side)`` if aligned."""

    texts: list[str]
    pairs: list[tuple[str, str]]


@dataclass(frozen=True)
class StudentSpec:
    """The student whose tokenizer and encoder the empirical signals use."""

    model: str
    prefix: str = ""
    max_length: int = 128

    @classmethod
    def named(cls, ref: str) -> StudentSpec:
        """A ``conf/student/<ref>.yaml`` name (``me5_small``, ``tiny``) or a model reference."""
        from omegaconf import DictConfig, OmegaConf

        from distill.cli import config_dir

        path = Path(config_dir()) / "student" / f"{ref}.yaml"
        if path.is_file():
            conf = OmegaConf.load(path)
            assert isinstance(conf, DictConfig)
            return cls(str(conf.model), str(conf.get("prefix", "") or ""), int(conf.get("max_length", 128)))
        return cls(ref)


def _weighted_score(c: Candidate, signals: Sequence[str], weights: Mapping[str, float]) -> float:
    values = [(max(0.0, float(getattr(c, s))), weights.get(s, 1.0)) for s in signals]
    total = sum(w for _, w in values)
    return sum(v * w for v, w in values) / total if total > 0 else 0.0


def rank_candidates(
    target: str,
    data: Mapping[str, LanguageData],
    target_texts: Sequence[str],
    student: StudentSpec,
    *,
    signals: Sequence[str] = SIGNALS,
    weights: Mapping[str, float] | None = None,
    data_name: str = "",
    encoder: tuple[Any, Any] | None = None,
) -> Ranking:
    """Score and rank the candidates in ``data`` as sources for ``target``.

    Args:
        target: The target language code.
        data: Candidate language -> its text and its pairs with the target.
        target_texts: The target language's text (for the subword overlap).
        student: The student whose tokenizer (overlap) and encoder (embedding) are used.
        signals: Which of ``typology``, ``overlap``, ``embedding`` to use.
        weights: Weight of each signal in the score (default 1 each).
        data_name: Where the text came from (recorded in the JSON).
        encoder: ``(model, tokenizer)`` already loaded (else loaded from ``student.model``).

    Raises:
        DistillError: An unknown signal, or ``embedding`` for a candidate without aligned pairs.
    """
    unknown = sorted(set(signals) - set(SIGNALS))
    if unknown or not signals:
        raise DistillError(
            f"unknown signals {unknown or '(none given)'}", fix=f"use some of {', '.join(SIGNALS)}"
        )
    weights = {s: float((weights or {}).get(s, 1.0)) for s in signals}
    notes: list[str] = []
    model, tokenizer = encoder if encoder is not None else _load_encoder(student, "embedding" in signals)
    out = [
        _evidence(target, lang, d, target_texts, signals, student, (model, tokenizer))
        for lang, d in data.items()
    ]
    used = [s for s in signals if all(getattr(c, s) is not None for c in out)]
    for s in signals:
        if s not in used:
            missing = [c.lang for c in out if getattr(c, s) is None]
            notes.append(f"{s} left out of the score: not available for {', '.join(missing)}")
    if not used:
        raise DistillError(
            "no signal is available for every candidate", fix="use other candidates or signals"
        )
    for c in out:
        c.score = _weighted_score(c, used, weights)
    out.sort(key=lambda c: (-c.score, c.lang))
    for i, c in enumerate(out, start=1):
        c.rank = i
    return Ranking(target, out, list(used), {s: weights[s] for s in used}, student.model, data_name, notes)


def _evidence(
    target: str,
    lang: str,
    d: LanguageData,
    target_texts: Sequence[str],
    signals: Sequence[str],
    student: StudentSpec,
    encoder: tuple[Any, Any],
) -> Candidate:
    """One candidate's signals."""
    model, tokenizer = encoder
    c = Candidate(lang=lang, texts=len(d.texts), pairs=len(d.pairs))
    if "typology" in signals:
        c.typology_sets = uriel_similarity(target, lang)
        c.typology = float(np.mean(list(c.typology_sets.values()))) if c.typology_sets else None
    if "overlap" in signals:
        c.overlap, c.overlap_jaccard = subword_overlap(tokenizer, target_texts, d.texts)
    if "embedding" in signals:
        if not d.pairs:
            raise DistillError(
                f"no aligned {lang}-{target} sentence pairs for the embedding signal",
                fix=f"drop {lang} from the candidates, or rank without it: --signals typology overlap",
            )
        c.embedding = embedding_similarity(
            model, tokenizer, d.pairs, prefix=student.prefix, max_length=student.max_length
        )
    return c


def _load_encoder(student: StudentSpec, with_model: bool) -> tuple[Any, Any]:
    from distill.embedding import load_encoder

    model, tokenizer = load_encoder(student.model)
    return (model.eval() if with_model else None), tokenizer


# ------------------------------------------------------------------------------------------- data


def chatterbot_data(
    target: str, candidates: Sequence[str], split: str = "train"
) -> tuple[list[str], dict[str, LanguageData]]:
    """The target's text and each candidate's text and pairs with the target, from chatterbot-corpus.

    Raises:
        DistillError: A language the corpus lacks, or one with no text in ``split``.
    """
    from distill.data.sources.chatterbot import _corpus, _parallel_rows, _resolve

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


# --------------------------------------------------------------------------------- combine=similarity


def read_ranking(path: str | os.PathLike[str], target: str) -> Ranking:
    """Read a ``distill-rank-sources --out`` JSON made for ``target``.

    Raises:
        DistillError: A missing or malformed file, or one made for another target.
    """
    p = Path(path)
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
        cands = [Candidate(**c) for c in raw["candidates"]]
        ranking = Ranking(
            str(raw["target"]),
            cands,
            list(raw["signals"]),
            dict(raw["weights"]),
            str(raw["student"]),
            str(raw["data"]),
            list(raw.get("notes", [])),
        )
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DistillError(
            f"cannot read the source ranking {p}: {e}",
            fix="write it with distill-rank-sources --out, or set combine_similarity.ranking=null",
        ) from e
    if normalize_tag(ranking.target) != normalize_tag(target):
        raise DistillError(
            f"the source ranking {p} is for target {ranking.target!r}, not {target!r}",
            fix=f"rank for this target: distill-rank-sources --target {target} ... --out <file>",
        )
    return ranking


def similarity_weights(scores: Mapping[str, float], langs: Sequence[str], temperature: float) -> np.ndarray:
    """``softmax(score / temperature)`` over the teachers' languages (one entry per teacher).

    Raises:
        DistillError: A teacher language the ranking has no score for, or temperature <= 0.
    """
    if not temperature > 0:
        raise DistillError(
            f"combine_similarity.temperature must be > 0, got {temperature}",
            fix="e.g. combine_similarity.temperature=0.1",
        )
    by_tag = {normalize_tag(k): v for k, v in scores.items()}
    missing = [lang for lang in langs if normalize_tag(lang) not in by_tag]
    if missing:
        raise DistillError(
            f"the source ranking has no score for {', '.join(missing)} (it has {', '.join(scores)})",
            fix="rank these languages too (distill-rank-sources --candidates ...)",
        )
    s = np.array([by_tag[normalize_tag(lang)] for lang in langs], dtype=np.float64) / temperature
    e = np.exp(s - s.max())
    return e / e.sum()  # type: ignore[no-any-return]


# ----------------------------------------------------------------------------------------------- CLI


def format_ranking(r: Ranking) -> str:
    """The ranking as a Markdown table with the evidence."""

    def f(x: float | None) -> str:
        return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"

    lines = [
        f"source ranking for target {r.target} (student {r.student}, data {r.data})",
        "",
        "| rank | source | score | typology | overlap (jaccard) | embedding | texts | pairs |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for c in r.candidates:
        lines.append(
            f"| {c.rank} | {c.lang} | {f(c.score)} | {f(c.typology)} | {f(c.overlap)} "
            f"({f(c.overlap_jaccard)}) | {f(c.embedding)} | {c.texts} | {c.pairs} |"
        )
    lines.append("")
    lines.append(f"score: weighted mean of {', '.join(r.signals)} (weights {r.weights})")
    lines += [f"note: {n}" for n in r.notes]
    return "\n".join(lines)


def _weights_arg(items: Sequence[str]) -> dict[str, float]:
    out = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            out[name] = float(value)
        except ValueError:
            raise DistillError(
                f"--weights {item!r} is not signal=number", fix="e.g. --weights typology=2"
            ) from None
    return out


def rank_sources(args: argparse.Namespace) -> Ranking:
    """Run the ranking the command line asks for (see :func:`main`)."""
    check_lang_codes([args.target], "--target")
    check_lang_codes(args.candidates, "--candidates")
    if normalize_tag(args.target) in {normalize_tag(c) for c in args.candidates}:
        raise DistillError(f"--candidates include the target {args.target}", fix="list only source languages")
    student = StudentSpec.named(args.student)
    if args.text:
        files = dict(item.partition("=")[::2] for item in args.text)
        missing = [lang for lang in [args.target, *args.candidates] if lang not in files]
        if missing:
            raise DistillError(
                f"--text has no file for {', '.join(missing)}", fix="add --text LANG=PATH for each"
            )
        target_texts, data = file_data(args.target, {k: files[k] for k in [args.target, *args.candidates]})
        name = "files"
    else:
        target_texts, data = chatterbot_data(args.target, args.candidates, args.split)
        name = f"chatterbot/{args.split}"
    if args.max_pairs:
        data = {k: LanguageData(v.texts, v.pairs[: args.max_pairs]) for k, v in data.items()}
    return rank_candidates(
        args.target,
        data,
        target_texts,
        student,
        signals=args.signals,
        weights=_weights_arg(args.weights),
        data_name=name,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``distill-rank-sources``: see the module docstring."""
    parser = argparse.ArgumentParser(prog="distill-rank-sources", description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", required=True, help="the target language, e.g. ko")
    parser.add_argument("--candidates", nargs="+", required=True, help="candidate source languages")
    parser.add_argument(
        "--student", default="me5_small", help="conf/student name or model (default me5_small)"
    )
    parser.add_argument("--split", default="train", help="chatterbot split to read (default train)")
    parser.add_argument("--text", nargs="*", default=[], help="LANG=PATH text files instead of chatterbot")
    parser.add_argument("--signals", nargs="+", default=list(SIGNALS), help=f"default: {' '.join(SIGNALS)}")
    parser.add_argument("--weights", nargs="*", default=[], help="signal=weight, e.g. typology=2")
    parser.add_argument("--max-pairs", type=int, default=500, help="pairs per candidate for the embedding")
    parser.add_argument("--out", default=None, help="write the ranking as JSON here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        ranking = rank_sources(args)
        if args.out:
            write_text_atomic(Path(args.out), json.dumps(ranking.to_dict(), indent=2) + "\n")
    except DistillError as e:
        if os.environ.get("DISTILL_DEBUG", "") not in ("", "0"):
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_ranking(ranking))
    if args.out:
        print(f"wrote {args.out}")
    return 0


def _entry() -> None:
    sys.exit(main())
