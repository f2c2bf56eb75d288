"""The per-example Parquet files of a run: ``predictions.parquet`` and ``embeddings.parquet``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from distill.report.contract import PREDICTION_COLUMNS
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


def write_predictions(
    predictions: Mapping[tuple[str, str, str], Mapping[str, np.ndarray]], path: Path
) -> None:
    """One row per (system, language, split, example): gold and predicted ids and the confidence."""
    columns: dict[str, list[Any]] = {k: [] for k in ("system", "lang", "split", "index", *PREDICTION_COLUMNS)}
    for (system, lang, split), arrays in predictions.items():
        n = len(arrays["gold"])
        columns["system"] += [system] * n
        columns["lang"] += [lang] * n
        columns["split"] += [split] * n
        columns["index"] += list(range(n))
        for k in PREDICTION_COLUMNS:
            columns[k] += np.asarray(arrays[k]).tolist()
    write_table_atomic(columns, path)
