"""Config helpers: errors from building objects name the key; the resolvers the configs use."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

import distill  # noqa: F401  (registers the resolvers)
from distill.errors import DistillError
from distill.utils.config import build
from distill.utils.resolvers import active_terms, join


def test_build_passes_our_errors_through_unwrapped() -> None:
    node = OmegaConf.create(
        {
            "_target_": "distill.losses.WeightedDistillationLoss.from_config",
            "temperature": 0,
            "weights": {"kd": 1},
        }
    )
    with pytest.raises(DistillError, match=r"^loss\.temperature must be > 0") as info:
        build(node, "loss")
    assert info.value.fix and "loss.temperature" in info.value.fix


def test_build_names_the_key_and_target_for_a_wrong_argument() -> None:
    node = OmegaConf.create({"_target_": "torch.optim.AdamW", "_partial_": False, "lrr": 0.1, "params": []})
    with pytest.raises(
        DistillError, match=r"cannot build `student.optimizer` \(torch.optim.AdamW\): TypeError"
    ):
        build(node, "student.optimizer")


def test_resolvers() -> None:
    assert join(["it", "ja"]) == "it+ja"
    assert active_terms({"kd": 1.0, "back": 0.0, "cycle": 0.5, "ce": 0}) == "kd+cycle"
    cfg = OmegaConf.create(
        {
            "langs": ["it", "ja"],
            "w": {"kd": 1.0, "emb": 0.0},
            "tag": "${distill.join:${langs}}/${distill.terms:${w}}",
        }
    )
    assert cfg.tag == "it+ja/kd"


def test_per_language_keys_need_no_plus() -> None:
    from distill.cli import open_mapping_overrides

    args = [
        "data=files",
        "data.target_test.ja=ja.jsonl",
        "data.parallel.it=[a.txt,b.txt]",
        "data.parallel=x.tsv",
    ]
    assert open_mapping_overrides(args) == [
        "data=files",
        "++data.target_test.ja=ja.jsonl",
        "++data.parallel.it=[a.txt,b.txt]",
        "data.parallel=x.tsv",
    ]
