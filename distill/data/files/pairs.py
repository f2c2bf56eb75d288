"""Parallel pairs from a table (``src``, ``tgt``) or from two aligned plain-text files."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from datasets import Dataset

from distill.data.files.rows import Skipped, check_file, text_lines
from distill.data.files.store import ArrowRows
from distill.data.files.tables import read_table, with_line_ids
from distill.errors import DistillError

log = logging.getLogger(__name__)


def _aligned_pairs(paths: Sequence[Path], what: str, state: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Pairs of lines with text on both sides; ``state`` collects the blank pairs and the line counts."""
    sides = [text_lines(p, what) for p in paths]
    for i, (a, b) in enumerate(itertools.zip_longest(*sides), start=1):
        for k, item in enumerate((a, b)):
            if item is not None:
                state["counts"][k] = i
        if a is None or b is None:
            continue
        s, t = a[1], b[1]
        if not s.strip() or not t.strip():
            state["blank"].append(i)
            continue
        yield {"src": s, "tgt": t, "line": i}


def read_aligned_text(src: str | Path, tgt: str | Path, *, what: str = "parallel data") -> Dataset:
    """Two plain-text files, one sentence a line, line i of one translating line i of the other.

    Pairs where either side is blank are skipped and reported; the line counts must match. The
    pairs stream into a memory-mapped Arrow file (see :func:`read_table`).

    Returns:
        A ``Dataset`` with ``src``, ``tgt`` and ``line``.
    """
    paths = [Path(src).expanduser(), Path(tgt).expanduser()]
    for p in paths:
        check_file(p, what)
    store = ArrowRows(paths, {"aligned": True}, ["src", "tgt", "line"])
    found = store.cached()
    if found is None:
        state: dict[str, Any] = {"blank": [], "counts": [0, 0]}

        pairs = _aligned_pairs(paths, what, state)

        def check(ds: Dataset) -> dict[str, Any]:
            counts = state["counts"]
            if counts[0] != counts[1]:
                raise DistillError(
                    f"{what}: {paths[0]} has {counts[0]} lines but {paths[1]} has {counts[1]}",
                    fix="the files must be aligned line by line "
                    "(line i of one translates line i of the other)",
                )
            if not len(ds):
                raise DistillError(
                    f"{what}: {paths[0]} and {paths[1]} hold no pair with text on both sides",
                    fix="give one sentence a line in both files",
                )
            return {"blank": state["blank"]}

        found = store.write(pairs, check)
    ds, info = found
    if info["blank"]:
        log.warning(
            "%s", Skipped(f"{paths[0]} + {paths[1]}", {"pairs with a blank side": info["blank"]}).report()
        )
    return ds


def read_parallel(spec: Any, *, columns: Mapping[str, str] | None = None) -> Dataset:
    """Parallel pairs from a table (``src``, ``tgt``, optional ``label`` and ``id``) or two text files.

    Args:
        spec: A table path, or a list ``[source.txt, target.txt]``.
        columns: Our name -> the file's column name.

    Returns:
        A ``Dataset`` with ``id``, ``src``, ``tgt`` (and ``label`` when the file has one). Rows without
        an id get ``<file name>:<line>``. Memory-mapped: the ids are added by a batched ``map``
        whose result is cached beside the rows.
    """
    if isinstance(spec, str | Path):
        ds = read_table(
            spec, required=("tgt", "src"), optional=("label", "id"), columns=columns, what="parallel data"
        )
        name = Path(spec).name
    elif isinstance(spec, Sequence) and len(spec) == 2:
        ds = read_aligned_text(spec[0], spec[1])
        name = Path(spec[1]).name
    else:
        raise DistillError(
            f"parallel data must be one table file or two aligned text files, got {spec!r}",
            fix="e.g. data.parallel.ja=en_ja.tsv or data.parallel.ja=[en.txt,ja.txt]",
        )
    return with_line_ids(ds, name, "pair ids")
