"""The source ranking: each candidate's evidence (typology, subword overlap, embedding similarity), its
score and rank, the ranking JSON, and the teacher weights ``combine=similarity`` derives from it.

``score`` is the weighted mean of the signals (each in [0, 1]; cosines clipped at 0), default
weights 1/1/1. A signal that some candidate lacks (a language URIEL does not know) is dropped for
every candidate, so that scores stay comparable, and the note says so.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from distill.data.langs import normalize_tag
from distill.errors import DistillError
from distill.models.encoder import encode, load_encoder
from distill.rank_sources.uriel import uriel_similarity
from distill.utils.config import compose_option

SIGNALS = ("typology", "overlap", "embedding")
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
        conf = compose_option("student", ref)
        if conf is not None:
            # max_length=auto is fitted to a run's data; ranking embeds pairs at the cap instead.
            length = conf.max_length if conf.max_length != "auto" else conf.get("max_length_cap", 128)
            return cls(str(conf.model), str(conf.prefix or ""), int(length))
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
    model, tokenizer = load_encoder(student.model)
    return (model.eval() if with_model else None), tokenizer


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
