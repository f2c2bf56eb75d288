"""Compare the run records of two ``experiments/parity/run.sh`` out dirs (before/after a refactor).

Prints, per case and file, ``same`` or the differing keys; ``reproducibility`` (git commit, command
paths) is left out of the comparison of ``metrics.json`` since it names the code tree, and so are
paths under the out dir. Exit status 1 when anything else differs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow.parquet as pq

FILES = ("metrics.json", "labels.json", "predictions.parquet", "embeddings.parquet")


def _load(path: Path, root: Path) -> object:
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pylist()
    text = path.read_text().replace(str(root), "<out>")
    data = json.loads(text)
    if isinstance(data, dict):
        data.pop("reproducibility", None)
    return data


def main(before: Path, after: Path) -> int:
    bad = 0
    for case in sorted(p.name for p in before.iterdir() if (p / "metrics.json").is_file()):
        for name in FILES:
            a, b = before / case / name, after / case / name
            if not a.is_file() and not b.is_file():
                continue
            same = a.is_file() and b.is_file() and _load(a, before) == _load(b, after)
            bytes_same = same and a.read_bytes() == b.read_bytes()
            print(
                f"{case:12s} {name:20s} {'same' if same else 'DIFFERENT'}{' (bytes)' if bytes_same else ''}"
            )
            bad += not same
    return int(bad > 0)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
