"""The scale-out trainer configs compose and build a Lightning Trainer (what a CPU-only machine can check).

``trainer=gpu`` and ``trainer=fsdp`` are for GPU machines: here ``gpu`` builds with the accelerator
overridden to the CPU, and ``fsdp`` builds its strategy, while Lightning itself refuses FSDP on a
CPU (checked, not worked around).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import DictConfig
from pytorch_lightning.strategies import DDPStrategy, FSDPStrategy, SingleDeviceStrategy

from distill.errors import DistillError
from distill.utils.config import build
from tests.integration.helpers import compose_cfg


def _trainer_cfg(tmp_path: Path, *overrides: str) -> DictConfig:
    return compose_cfg(tmp_path, "debug=tiny", *overrides).trainer


def test_ddp_builds_two_cpu_processes_with_gloo_and_our_own_sampler(tmp_path: Path) -> None:
    trainer = build(_trainer_cfg(tmp_path, "trainer=ddp"), "trainer", logger=False)
    assert isinstance(trainer.strategy, DDPStrategy)
    assert trainer.world_size == 2 and trainer.num_devices == 2
    assert trainer.strategy._get_process_group_backend() == "gloo"  # nccl on GPUs
    assert trainer._accelerator_connector.use_distributed_sampler is False


def test_gpu_builds_bf16_mixed_with_the_accelerator_overridden_to_cpu(tmp_path: Path) -> None:
    cfg = _trainer_cfg(tmp_path, "trainer=gpu")
    assert (cfg.accelerator, cfg.devices, cfg.precision) == ("gpu", 1, "bf16-mixed")
    trainer = build(_trainer_cfg(tmp_path, "trainer=gpu", "trainer.accelerator=cpu"), "trainer", logger=False)
    assert isinstance(trainer.strategy, SingleDeviceStrategy)
    assert trainer.precision == "bf16-mixed"


def test_fsdp_builds_its_strategy_and_lightning_refuses_it_on_cpu(tmp_path: Path) -> None:
    cfg = _trainer_cfg(tmp_path, "trainer=fsdp")
    assert (cfg.accelerator, cfg.precision, cfg.use_distributed_sampler) == ("gpu", "bf16-mixed", False)
    strategy = build(cfg.strategy, "trainer.strategy")
    assert isinstance(strategy, FSDPStrategy)
    assert strategy._state_dict_type == "full"  # one checkpoint file, which the pipeline reloads
    with pytest.raises(DistillError, match="requires a GPU accelerator"):
        build(_trainer_cfg(tmp_path, "trainer=fsdp", "trainer.accelerator=cpu"), "trainer", logger=False)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["teacher.label_devices=0"], "label_devices must be an integer >= 1"),
        (["teacher.label_strategy=fsdp"], "label_strategy must be ddp or ddp_spawn"),
        (["trainer=ddp", "teacher.label_devices=4"], "both use the same processes"),
    ],
)
def test_label_devices_that_cannot_work_fail_before_anything_runs(
    tmp_path: Path, overrides: list[str], message: str
) -> None:
    from distill.settings import check_config

    with pytest.raises(DistillError, match=message):
        check_config(compose_cfg(tmp_path, "debug=tiny", *overrides))
    # The same number of processes, or workers of their own, are fine.
    check_config(compose_cfg(tmp_path, "debug=tiny", "trainer=ddp", "teacher.label_devices=2"))
    check_config(
        compose_cfg(
            tmp_path,
            "debug=tiny",
            "trainer=ddp",
            "teacher.label_devices=4",
            "teacher.label_strategy=ddp_spawn",
        )
    )
