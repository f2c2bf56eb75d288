"""Sweeps: an Optuna search over the tiny setting, the submitit launcher, one W&B group per sweep."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from distill.utils.resolvers import group, sweep_group
from tests.integration.helpers import compose_cfg, labels_hit, sweep_jobs
from tests.integration.test_cli import _run

# The tiny setting without a logger choice (the W&B test picks its own), one target language, no
# export: sweep jobs only need their scores.
TINY = (
    "debug=tiny",
    "trainer.max_epochs=1",
    "trainer.enable_progress_bar=false",
    "data.target_langs=[it]",
    "export_student=false",
)
SEARCHED = {"loss.temperature", "loss.weights.back", "loss.weights.cycle", "student.optimizer.lr"}


@pytest.fixture(scope="module")
def warm_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache holding the tiny teacher and its soft labels, as `distill-label` leaves it."""
    root = tmp_path_factory.mktemp("warm")
    proc = _run("distill-label", *TINY, "logger=none", f"paths.cache_dir={root / 'cache'}", cwd=root)
    assert proc.returncode == 0, proc.stderr
    return root / "cache"


def test_optuna_search_shares_one_teacher_pass(tmp_path: Path) -> None:
    """3 trials: the teacher trains and labels in the first; each returns its best val/agreement."""
    cache, sweep = tmp_path / "cache", tmp_path / "sweep"
    proc = _run(
        "distill-run",  # no -m: the hparams_search config sets hydra.mode=MULTIRUN
        "hparams_search=student_kd",
        "hydra.sweeper.n_trials=3",
        *TINY,
        "logger=none",
        f"paths.cache_dir={cache}",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    result = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert result["name"] == "optuna" and set(result["best_params"]) == SEARCHED

    jobs = sweep_jobs(sweep)
    assert [j.name for j in jobs] == ["0", "1", "2"]
    scores = []
    for j in jobs:
        best = json.loads((j / "metrics.json").read_text())["best_val"]
        assert best["metric"] == "val/agreement" and best["mode"] == "max"
        scores.append(best["score"])
    assert result["best_value"] == pytest.approx(max(scores))
    assert proc.stdout.count("objective: best val/agreement = ") == 3

    # One teacher pass for the whole search: trained and labelled in trial 0, read from the cache after.
    assert [json.loads((j / "teacher.json").read_text())["source"] for j in jobs] == [
        "trained",
        "cache",
        "cache",
    ]
    assert len(list((cache / "teachers").iterdir())) == 1
    assert [labels_hit(j) for j in jobs] == [{False}, {True}, {True}]


def test_submitit_local_launcher_runs_every_job(tmp_path: Path, warm_cache: Path) -> None:
    sweep = tmp_path / "sweep"
    proc = _run(
        "distill-run",
        "-m",
        "launcher=submitit_local",
        *TINY,
        "logger=none",
        "seed=1,2",
        f"paths.cache_dir={warm_cache}",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    metrics = sorted(sweep.rglob("metrics.json"))
    assert [m.parent.name for m in metrics] == ["0", "1"]
    assert {json.loads(m.read_text())["run"]["seed"] for m in metrics} == {1, 2}
    assert (sweep / ".submitit").is_dir()  # submitit's own job folders (pickles, logs)


def _wandb_blob(run_dir: Path) -> bytes:
    (offline,) = (run_dir / "wandb").glob("offline-run-*")
    return b"".join(p.read_bytes() for p in offline.glob("*.wandb"))


def _group_field(name: str) -> bytes:
    """The run record's group field as the offline ``.wandb`` file holds it (protobuf bytes)."""
    from wandb.proto import wandb_internal_pb2 as pb

    return pb.RunRecord(run_group=name).SerializeToString()


def test_wandb_runs_of_a_sweep_share_one_group(tmp_path: Path, warm_cache: Path) -> None:
    sweep = tmp_path / "sweep"
    proc = _run(
        "distill-run",
        "-m",
        *TINY,
        "logger=wandb",
        "experiment_name=grp",
        "seed=1,2",
        f"paths.cache_dir={warm_cache}",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    swept = _group_field(f"grp-{tmp_path.name}_sweep")  # the experiment and the sweep folder
    for j, seed in zip(sweep_jobs(sweep), (1, 2), strict=True):
        blob = _wandb_blob(j)
        assert swept in blob, j
        for tag in ("mode:parallel", "langs:it", "loss:kd+back+cycle", f"seed:{seed}"):
            assert tag.encode() in blob, (j, tag)

    single = tmp_path / "single"
    proc = _run(
        "distill-run",
        *TINY,
        "logger=wandb",
        "experiment_name=grp",
        f"paths.cache_dir={warm_cache}",
        f"hydra.run.dir={single}",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    blob = _wandb_blob(single)
    assert _group_field("grp") in blob and swept not in blob


@pytest.fixture
def no_hydra_config() -> Iterator[None]:
    """No running Hydra app (as in tests and notebooks); whatever was set is put back after."""
    from hydra.core.hydra_config import HydraConfig

    saved = HydraConfig.instance().cfg
    HydraConfig.instance().cfg = None  # type: ignore[assignment]
    yield
    HydraConfig.instance().cfg = saved


def test_group_resolver_without_hydra_config(tmp_path: Path, no_hydra_config: None) -> None:
    assert group("demo") == "demo"
    cfg = compose_cfg(tmp_path, "logger=wandb", "experiment_name=demo_it")
    assert cfg.logger.wandb.group == "demo_it"
    assert OmegaConf.create({"e": "x", "g": "${distill.group:${e}}"}).g == "x"


def test_sweep_group_names_the_sweep() -> None:
    assert sweep_group("demo", None) == "demo"
    assert sweep_group("demo", "multirun/2026-01-31/12-00-00") == "demo-2026-01-31_12-00-00"
    # Sweeps at the same time of day on different days get different groups.
    assert sweep_group("demo", "multirun/2026-01-30/12-00-00") != sweep_group(
        "demo", "multirun/2026-01-31/12-00-00"
    )


def test_group_resolver_reads_the_running_hydra_config(tmp_path: Path, no_hydra_config: None) -> None:
    from hydra.conf import HydraConf
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    for mode, expected in ((RunMode.RUN, "demo"), (RunMode.MULTIRUN, "demo-day_sw")):
        hydra_cfg = OmegaConf.structured(HydraConf)
        hydra_cfg.mode = mode
        hydra_cfg.sweep.dir = str(tmp_path / "day" / "sw")
        HydraConfig.instance().set_config(OmegaConf.create({"hydra": hydra_cfg}))
        assert group("demo") == expected


def test_objective_is_checked_before_training(tmp_path: Path, no_hydra_config: None) -> None:
    from hydra.conf import HydraConf
    from hydra.core.hydra_config import HydraConfig

    from distill.cli import check_objective
    from distill.errors import DistillError

    with pytest.raises(DistillError, match="objective must be null or val"):
        check_objective(compose_cfg(tmp_path, "objective=best"))
    check_objective(compose_cfg(tmp_path, "objective=val", "task=embedding"))  # no sweep: nothing to check

    hydra_cfg = OmegaConf.structured(HydraConf)
    hydra_cfg.sweeper = {"direction": "maximize"}
    HydraConfig.instance().set_config(OmegaConf.create({"hydra": hydra_cfg}))
    check_objective(compose_cfg(tmp_path, "objective=val"))  # classification: val/agreement, maximize
    with pytest.raises(DistillError, match="lower is better") as err:
        check_objective(compose_cfg(tmp_path, "objective=val", "task=embedding"))
    assert err.value.fix == "set hydra.sweeper.direction=minimize"
