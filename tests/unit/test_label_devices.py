"""The label stage on two CPU processes (``teacher.label_devices=2``, Lightning ``ddp`` with gloo): each
rank labels its own shards, rank 0 merges them, and the entry equals the one-process entry, bit for
bit, with the teacher run once over the texts in total."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from distill.cache import MANIFEST, SoftLabels, soft_labels
from tests.unit.test_label import MAX_LENGTH, teacher  # noqa: F401 (fixture)
from tests.unit.test_label_shards import BATCH, SHARD, TEXTS, _data_files

# Run as a file: Lightning's ddp starts rank 1 by running `python <this file> <args>` again.
SCRIPT = """
import json, os, sys
from pathlib import Path
from distill.cache import soft_labels
from distill.models.classifier import load_classifier

rows = 0
def loader(path):
    model, tokenizer = load_classifier(str(path))
    def count(_module, _args, kwargs):
        global rows
        rows += int(kwargs["input_ids"].shape[0])
    model.register_forward_pre_hook(count, with_kwargs=True)
    return model, tokenizer

texts = Path(sys.argv[2]).read_text().split("\\n")
entry = soft_labels(Path(sys.argv[1]), texts, mode="parallel", max_length=32, batch_size=4, shard_rows=8,
                    progress=False, model_loader=loader, devices=2, strategy="ddp")
rank = int(os.environ.get("LOCAL_RANK", 0))
Path(sys.argv[3], f"rank{rank}.json").write_text(json.dumps({"rows": rows, "path": str(entry.path)}))
"""


def _label(teacher_dir: Path) -> SoftLabels:
    return soft_labels(
        teacher_dir,
        TEXTS,
        mode="parallel",
        max_length=MAX_LENGTH,
        batch_size=BATCH,
        shard_rows=SHARD,
        progress=False,
    )


def test_two_processes_label_each_their_shards_into_the_one_process_entry(
    teacher: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert (MAX_LENGTH, BATCH, SHARD) == (32, 4, 8)  # the script's settings
    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path / "one"))
    reference = _label(teacher)

    script, texts = tmp_path / "label_two.py", tmp_path / "texts.txt"
    script.write_text(SCRIPT)
    texts.write_text("\n".join(TEXTS))
    cache = tmp_path / "two"
    env = {**os.environ, "DISTILL_CACHE": str(cache), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run(
        [sys.executable, str(script), str(teacher), str(texts), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]

    # 7 shards of 8 rows (the last one 2): rank 0 labels shards 0, 2, 4, 6 (26 rows), rank 1 shards
    # 1, 3, 5 (24 rows); together every text once.
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["rows"] for r in ranks] == [26, 24]
    entry = cache / "soft_labels" / reference.key
    assert {r["path"] for r in ranks} == {str(entry)}  # both ranks read the one merged entry
    assert _data_files(entry) == _data_files(reference.path)
    assert json.loads((entry / MANIFEST).read_text())["devices"] == 2
    assert not (cache / "soft_labels_partial" / reference.key).exists()  # merged, then cleared

    monkeypatch.setenv("DISTILL_CACHE", str(cache))
    merged = _label(teacher)
    assert merged.hit
    np.testing.assert_array_equal(merged.logits(), reference.logits())


def test_devices_reads_only_the_cache_public_api() -> None:
    """``distill.cache.devices`` imports nothing of the cache but the names ``distill.cache`` exports."""
    import ast

    import distill.cache
    import distill.cache.devices

    tree = ast.parse(Path(distill.cache.devices.__file__).read_text())
    imports = [
        n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("distill")
    ]
    assert imports, "devices.py reads the shard API from distill.cache"
    for node in imports:
        assert node.module == "distill.cache", f"devices.py imports from {node.module}"
        assert all(a.name in distill.cache.__all__ for a in node.names)
