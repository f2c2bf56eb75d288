"""experiments/tools/tie_effect.py: the tie-break against Lightning's strict rule on a run's history."""

from __future__ import annotations

import json
from pathlib import Path

from tests.scripts import load_script

SCRIPT = "experiments/tools/tie_effect.py"
# Level agreement for three epochs while the loss falls, then a rise, then level again.
HISTORY = [(0, 0.5, 2.0), (1, 0.5, 1.8), (2, 0.5, 1.6), (3, 0.5, 1.5), (4, 0.7, 1.2), (5, 0.7, 1.1)]


def _run(root: Path, kept: int) -> None:
    run = root / "topics_kd" / "ko" / "seed1"
    (run / "csv" / "version_0").mkdir(parents=True)
    lines = ["epoch,step,val/agreement,val/loss,train/loss"]
    for epoch, agreement, loss in HISTORY:
        lines += [f"{epoch},{epoch},,,0.9", f"{epoch},{epoch},{agreement},{loss},"]
    (run / "csv" / "version_0" / "metrics.csv").write_text("\n".join(lines) + "\n")
    (run / "metrics.json").write_text(json.dumps({"student_checkpoint": f"checkpoints/epoch{kept:02d}.ckpt"}))


def test_the_two_rules_on_a_level_history() -> None:
    tool = load_script(SCRIPT, "study_tie_effect")
    assert tool.strict(HISTORY, patience=3) == (4, 0)  # three level epochs: stop, keep the first
    assert tool.strict(HISTORY, patience=5) == (6, 4)
    assert tool.tie_break(HISTORY) == 5  # 0.7 twice: the lower loss


def test_it_reports_each_run_and_checks_the_recorded_checkpoint(tmp_path: Path, capsys) -> None:
    tool = load_script(SCRIPT, "study_tie_effect")
    _run(tmp_path, kept=5)
    assert tool.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| topics_kd/ko/seed1 | 6 | 6 | 4 | 1 | yes |" in out
    assert "in 1 of 1 runs" in out
    # A run that kept another epoch than its rule says is an error, not a row.
    assert tool.main([str(tmp_path), "--ran-with", "strict"]) == 1
    assert "strict says epoch 0" in capsys.readouterr().err
