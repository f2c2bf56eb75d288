"""The per-example Parquet files of a run: ``predictions.parquet``, ``embeddings.parquet`` and
``retrieval_hits.parquet``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from distill.report.contract import PREDICTION_COLUMNS, RETRIEVAL_COLUMNS
from distill.utils.atomic import atomic_file


def write_table_atomic(columns: Mapping[str, Any], path: Path) -> None:
    """Write ``columns`` (equal-length lists or arrays) as a Parquet file, atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {k: list(v) if isinstance(v, np.ndarray) and v.ndim > 1 else v for k, v in columns.items()}
    )
    with atomic_file(path, "wb") as fh:
        pq.write_table(table, fh)


def _per_example(
    outcomes: Mapping[tuple[str, str, str], Mapping[str, np.ndarray]], index: str, names: Sequence[str]
) -> dict[str, list[Any]]:
    """Columns ``system, lang, split, <index>, *names``: one row per example of each (system,
    language, split), ``index`` counting its examples from 0."""
    columns: dict[str, list[Any]] = {k: [] for k in ("system", "lang", "split", index, *names)}
    for (system, lang, split), arrays in outcomes.items():
        n = len(arrays[names[0]])
        columns["system"] += [system] * n
        columns["lang"] += [lang] * n
        columns["split"] += [split] * n
        columns[index] += list(range(n))
        for k in names:
            columns[k] += np.asarray(arrays[k]).tolist()
    return columns


def write_predictions(
    predictions: Mapping[tuple[str, str, str], Mapping[str, np.ndarray]], path: Path
) -> None:
    """One row per (system, language, split, example): gold and predicted ids and the confidence."""
    write_table_atomic(_per_example(predictions, "index", PREDICTION_COLUMNS), path)


def write_retrieval_hits(
    outcomes: Mapping[tuple[str, str, str], Mapping[str, np.ndarray]], path: Path
) -> None:
    """One row per (system, language, split, pair ``id``): hits and reciprocal ranks in both
    directions (:func:`~distill.report.metrics.retrieval_outcomes`); ``id`` is the pair's position
    in the language's split."""
    write_table_atomic(_per_example(outcomes, "id", RETRIEVAL_COLUMNS), path)
