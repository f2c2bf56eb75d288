"""experiments/demo/record.py: the README's demo section comes from the measured run, not from typing."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType, SimpleNamespace

from tests.scripts import load_script


def _record() -> ModuleType:
    return load_script("experiments/demo/record.py", "demo_record")


def _row(system: str, lang: str, acc: float) -> dict[str, object]:
    return {
        "system": system,
        "lang": lang,
        "split": "test",
        "accuracy": acc,
        "macro_f1": acc / 2,
        "ece": 0.1,
        "n": 10,
    }


def test_the_section_is_made_from_the_run_and_lands_between_the_markers(tmp_path: Path) -> None:
    record = _record()
    run = tmp_path / "run"
    run.mkdir()
    rows = [_row("student", "it", 0.5), _row("tfidf_student", "it", 0.6), _row("teacher", "en", 0.9)]
    metrics = {
        "results": rows,
        "selection": "teacher_agreement",
        "reproducibility": {"git": {"commit": "abc" * 8}},
    }
    (run / "metrics.json").write_text(json.dumps(metrics))
    (run / "timings.json").write_text(json.dumps({"stage_seconds": {"distill": 12.5}}))
    console = tmp_path / "demo.log"
    console.write_text(
        "12:00:00 stage distill: start\nit: the student's accuracy 0.500 is -0.100 under tfidf_student.\n"
    )
    args = SimpleNamespace(run=str(run), console=str(console), start="100", setup_end="150", end="420")
    measured = record.measure(args)
    assert measured["seconds"] == {"total": 320.0, "setup": 50.0, "demo": 270.0}
    section = record.render(measured)
    assert "| `student`: the distilled student (multilingual-e5-small) | - | 0.500 (0.250) |" in section
    assert "it: the student's accuracy 0.500 is -0.100 under tfidf_student." in section
    assert "the run alone meets it, the install included misses it" in section  # 270 < 300 <= 320
    assert "distill 12.5 s" in section and "`abcabcabca`" in section
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n{record.BEGIN}\nold\n{record.END}\nafter\n")
    record.write_readme(tmp_path, section)
    text = readme.read_text()
    assert text.startswith("# x\n\nbefore\n") and text.endswith("\nafter\n") and "\nold\n" not in text
    assert text.count(record.BEGIN) == 1 and text.count(record.END) == 1
