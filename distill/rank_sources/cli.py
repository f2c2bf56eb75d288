"""``distill-rank-sources``: which source languages should teach a target language?

The command line of :mod:`distill.rank_sources`: it reads the text, ranks the candidates, prints the
ranking as a Markdown table with the evidence and writes it as JSON (``--out``).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from distill.data.langs import check_lang_codes, normalize_tag
from distill.errors import DistillError
from distill.rank_sources.data import chatterbot_data, file_data
from distill.rank_sources.ranking import SIGNALS, LanguageData, Ranking, StudentSpec, rank_candidates
from distill.utils.atomic import write_text_atomic


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
