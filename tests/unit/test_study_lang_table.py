"""experiments/tools/lang_table.py: a study's systems x languages table from distill-report's summary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from tests.scripts import load_script

SCRIPT = "experiments/tools/lang_table.py"


def _table() -> ModuleType:
    return load_script(SCRIPT, "study_lang_table")


def _cell(name: str, system: str, lang: str, mean: float, seeds: int = 2, teacher: str | None = None) -> dict:
    return {"name": name, "system": system, "teacher": teacher, "lang": lang, "mean": mean, "seeds": seeds}


def _summary() -> dict:
    kd, direct = "student (kd)", "student (kd direct)"
    cells = []
    for lang, acc in (("sw", 0.60), ("hi", 0.70)):
        cells += [_cell(kd, "student", lang, acc, 3, "en_t"),
                  _cell(kd, "student", f"en ({lang})", 0.5, 2, "en_t"),
                  _cell("direct_transfer", "direct_transfer", lang, acc - 0.2),
                  _cell("tfidf_student (en_t)", "tfidf_student", lang, acc - 0.1, 2, "en_t"),
                  _cell("tfidf_student (dt)", "tfidf_student", lang, 0.3, 1, "dt"),
                  _cell("teacher (en_t)", "teacher", f"en ({lang})", 0.75, 2, "en_t")]  # fmt: skip
    cells += [_cell(direct, "student", "sw", 0.45, 1, "dt")]
    return {"cells": cells}


def test_rows_are_the_students_then_their_teachers_baselines_then_english() -> None:
    lines = _table().table(_summary())
    assert lines[0] == "| accuracy, % | sw | hi | mean | seeds |"
    rows = {line.split(" | ")[0].removeprefix("| "): line for line in lines[2:]}
    assert list(rows) == [
        "`student (kd direct)`, target",
        "`student (kd)`, target",
        "`tfidf_student (en_t)`, target",
        "`direct_transfer`, target",
        "`teacher (en_t)`, English",
        "`student (kd)`, English",  # the direct student has no English rows: none
    ]
    assert rows["`student (kd)`, target"] == "| `student (kd)`, target | 60.0 | 70.0 | 65.0 | 3 |"
    # A row with fewer languages than the table names how many its mean rests on.
    assert (
        rows["`student (kd direct)`, target"] == "| `student (kd direct)`, target | 45.0 | – | 45.0 (1) | 1 |"
    )
    assert "`tfidf_student (dt)`" not in "\n".join(lines)  # another teacher's baseline
    assert rows["`student (kd)`, English"] == "| `student (kd)`, English | 50.0 | 50.0 | 50.0 | 2 |"


def test_seed_counts_show_their_range_and_the_readme_section_is_rewritten(tmp_path: Path) -> None:
    summary = _summary()
    summary["cells"][0]["seeds"] = 1  # kd in sw: 1 seed, in hi: 3
    assert "| 65.0 | 1-3 |" in "\n".join(_table().table(summary))
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    readme = tmp_path / "README.md"
    readme.write_text(
        "# S\n<!-- languages:begin -->\nold\n<!-- languages:end -->\n<!-- results:begin -->\nr\n"
    )
    subprocess.run(
        [sys.executable, SCRIPT, str(tmp_path / "summary.json"), "--readme", str(readme)], check=True
    )
    text = readme.read_text()
    assert "old" not in text and "| `student (kd)`, target | 60.0 | 70.0 | 65.0 | 1-3 |" in text
    assert text.endswith("<!-- languages:end -->\n<!-- results:begin -->\nr\n")
