"""Tables (JSON Lines, CSV, TSV, Parquet) read into a ``Dataset`` with our column names."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from datasets import Dataset

from distill.data.files.rows import CHUNK, Skipped, cell, check_file, table_rows
from distill.data.files.store import ArrowRows
from distill.errors import DistillError
from distill.utils.mapped_pages import batches_released, releasing

log = logging.getLogger(__name__)


def read_table(
    path: str | Path,
    *,
    required: Sequence[str],
    optional: Sequence[str] = (),
    columns: Mapping[str, str] | None = None,
    what: str = "data",
) -> Dataset:
    """Read a table file into a ``Dataset`` with columns ``required`` (+ the ``optional`` ones present).

    The rows stream into a memory-mapped Arrow file in the cache (``$DISTILL_CACHE/files``), so
    memory does not grow with the file; reading the same unchanged file again reuses it.

    Args:
        path: A ``.jsonl``/``.json``/``.csv``/``.tsv``/``.parquet`` file.
        required: Our column names that every row must have, e.g. ``("text", "label")``; a row
            where one of them is blank is skipped and reported.
        optional: Our column names that are read when the file has them (``id``, ``label``).
        columns: Our name -> the file's name, for files whose columns are named otherwise.
        what: What the file is for, in messages (``parallel data``, ``target test``).

    Raises:
        DistillError: See :mod:`distill.data.files`.
    """
    p = Path(path).expanduser()
    check_file(p, what)
    names = {ours: (columns or {}).get(ours, ours) for ours in (*required, *optional)}
    rows = table_rows(p, what)  # checks the extension
    store = ArrowRows([p], {"table": names, "required": list(required)}, [*names, "line"])
    found = store.cached()
    if found is None:
        state: dict[str, Any] = {"present": set(), "blank": [], "rows": 0}

        def cells() -> Iterator[dict[str, Any]]:
            for line, row in rows:
                state["rows"] += 1
                state["present"].update(row.keys())
                out: dict[str, Any] = {
                    ours: cell(row.get(theirs), p, line, theirs, what) for ours, theirs in names.items()
                }
                if any(out[r] is None or not out[r].strip() for r in required):
                    state["blank"].append(line)
                    continue
                out["line"] = line
                yield out

        def check(ds: Dataset) -> dict[str, Any]:
            _check_read(p, what, names, required, state, len(ds))
            if "id" in ds.column_names and "id" in state["present"]:
                _check_unique_ids(ds, p, what)
            return {"blank": state["blank"], "present": sorted(state["present"])}

        found = store.write(cells(), check)
    ds, info = found
    skipped = Skipped(str(p), {"rows with an empty required field": info["blank"]})
    if skipped.total():
        log.warning("%s", skipped.report())
    absent = [ours for ours in names if ours not in required and names[ours] not in info["present"]]
    return ds.remove_columns(absent) if absent else ds


def with_line_ids(ds: Dataset, name: str, desc: str) -> Dataset:
    """``ds`` with an ``id`` column last: the file's own id where given, else ``<name>:<line>``.

    A batched ``map``, so the result is cached beside the memory-mapped rows.
    """
    has_id = "id" in ds.column_names

    def ids(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        given = batch["id"] if has_id else [None] * len(batch["line"])
        return {
            "id": [
                i if i not in (None, "") else f"{name}:{line}"
                for i, line in zip(given, batch["line"], strict=True)
            ]
        }

    out = ds.map(releasing(ids, ds), batched=True, batch_size=CHUNK, desc=desc)
    if has_id:  # map replaced the column in place; keep the order of before (id last)
        out = out.select_columns([c for c in out.column_names if c != "id"] + ["id"])
    return out


def _check_read(
    p: Path, what: str, names: Mapping[str, str], required: Sequence[str], state: Mapping[str, Any], kept: int
) -> None:
    if not state["rows"]:
        raise DistillError(f"{what} file {p} has no rows", fix="give a file with at least one row")
    present = state["present"]
    missing = [
        f"{ours!r}" + (f" (as {theirs!r})" if theirs != ours else "")
        for ours, theirs in names.items()
        if ours in required and theirs not in present
    ]
    if missing:
        first = next(ours for ours in required if names[ours] not in present)
        raise DistillError(
            f"{what} file {p} has no column {', '.join(missing)}; its columns are {sorted(present)}",
            fix=f"rename the columns, or map them, e.g. data.columns.{first}=<your column name>",
        )
    if not kept:
        raise DistillError(
            f"{what} file {p}: every row has an empty {' or '.join(required)}",
            fix=f"fill in {', '.join(names[r] for r in required)} (or map other columns with data.columns.*)",
        )


def _check_unique_ids(ds: Dataset, path: Path, what: str) -> None:
    """Refuse a repeated id, naming the first repeat in file order and where it was first used.

    Streams the column: memory holds one 8-byte hash per row, not the ids themselves.
    """
    import numpy as np

    hashes = np.empty(len(ds), dtype=np.int64)
    lines = np.empty(len(ds), dtype=np.int64)
    present = np.zeros(len(ds), dtype=bool)
    pos = 0
    for batch in batches_released(ds, ["id", "line"], CHUNK):
        n = len(batch["line"])
        hashes[pos : pos + n] = [hash(v) if v is not None else 0 for v in batch["id"]]
        present[pos : pos + n] = [v is not None for v in batch["id"]]
        lines[pos : pos + n] = batch["line"]
        pos += n
    idx = np.flatnonzero(present)
    order = idx[np.lexsort((lines[idx], hashes[idx]))]  # by hash, then by line
    same = np.flatnonzero(hashes[order][1:] == hashes[order][:-1])
    best: tuple[int, int, str] | None = None  # (line of the repeat, first line, id)
    for k in same:
        first, again = int(order[k]), int(order[k + 1])
        value = ds[again]["id"]
        if ds[first]["id"] != value:  # a hash collision, not a repeat
            continue
        # The first row of this hash with this very id (rows before k may be other ids).
        group = [int(i) for i in order[: k + 1] if hashes[i] == hashes[again] and ds[int(i)]["id"] == value]
        first_line = int(lines[group[0]])
        if best is None or int(lines[again]) < best[0]:
            best = (int(lines[again]), first_line, value)
    if best is not None:
        line, seen, value = best
        raise DistillError(
            f"{what} file {path}: id {value!r} on line {line} was already used on line {seen} "
            "(ids must be unique: a pair's id picks its split)",
            fix="give every row its own id, or drop the id column (ids are then made from the line)",
        )
