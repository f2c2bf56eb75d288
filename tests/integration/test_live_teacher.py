"""teacher.live=true: the teacher labels each batch in the step, and the student learns the same."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from distill.errors import DistillError
from distill.stages.distill import train
from tests.integration.helpers import compose_cfg

TINY = (
    "debug=tiny",
    "logger=none",
    "trainer.max_epochs=2",
    "trainer.enable_progress_bar=false",
    "data.target_langs=[it,ja]",
)


def _train(out: Path, *overrides: str):  # type: ignore[no-untyped-def]
    cfg = compose_cfg(out, *TINY, f"paths.cache_dir={out.parent / 'cache'}", *overrides)
    return train(cfg)


def test_live_teacher_trains_the_same_student_as_the_cache(tmp_path: Path) -> None:
    cached = _train(tmp_path / "cached")
    live = _train(tmp_path / "live", "teacher.live=true")
    labelled, system = live[0], live[1]

    # Same targets, same batches, same seed: the same student (the cache pads the teacher's inputs
    # per length-sorted batch, the live teacher per training batch, hence float noise only).
    for (name, a), (_, b) in zip(cached[1].state_dict().items(), system.state_dict().items(), strict=True):
        torch.testing.assert_close(a, b, atol=2e-5, rtol=1e-4, msg=name)
    assert cached[3].score == pytest.approx(live[3].score, abs=1e-6)

    # The teacher ran on every training and validation row of each of the 2 epochs (the trainer
    # config has no sanity check), and nothing was cached for training.
    train_rows = sum(len(dd["train"]) for dd in labelled.data.values())
    val_rows = sum(len(dd["validation"]) for dd in labelled.data.values())
    assert system.live_teacher.rows == 2 * (train_rows + val_rows)
    assert json.loads((tmp_path / "live" / "labels.json").read_text()) == {
        "it": {"live": True},
        "ja": {"live": True},
    }
    # The teacher stays outside the module: not in the state dict, so not in checkpoints.
    assert not any(k.startswith(("teacher", "live")) for k in system.state_dict())
    ckpt = torch.load(live[3].path, map_location="cpu", weights_only=True)
    assert all(k.startswith("model.") for k in ckpt["state_dict"])


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("cycle.rounds=2", "cycle.rounds > 1"),
        ("data.rehearsal=8", "data.rehearsal"),
    ],
)
def test_live_teacher_refuses_what_needs_the_cache(override: str, named: str, tmp_path: Path) -> None:
    with pytest.raises(DistillError, match=rf"teacher.live=true does not support {named}") as err:
        _train(tmp_path / "run", "teacher.live=true", override)
    assert "teacher.live=false" in err.value.fix
    assert not (tmp_path / "run" / "labels.json").exists()  # refused before the teacher trains
