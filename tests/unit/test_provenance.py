"""Provenance records, reproducibility facts, timings kept out of metrics.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from distill.export import render_card
from distill.provenance import (
    command_line,
    data_entries,
    folder_sha256,
    git_state,
    library_versions,
    mt_entries,
    package_entry,
)
from distill.report import MetricsReport, load_runs, stage_seconds
from distill.utils.hashing import file_sha256


def test_git_state_outside_a_checkout_is_null(tmp_path: Path) -> None:
    assert git_state(tmp_path) == {"commit": None, "dirty": None}


def test_git_state_of_the_project() -> None:
    state = git_state()
    if state["commit"] is None:
        pytest.skip("not a git checkout")
    assert len(state["commit"]) == 40 and isinstance(state["dirty"], bool)


def test_versions_and_command(monkeypatch: pytest.MonkeyPatch) -> None:
    versions = library_versions()
    assert {
        "python",
        "torch",
        "pytorch-lightning",
        "transformers",
        "datasets",
        "hydra-core",
        "torchmetrics",
        "numpy",
    } <= set(versions)
    assert versions["torch"] and versions["python"]
    monkeypatch.setenv("HF_TOKEN", "hf_abcdefgh")
    cmd = command_line(["/x/bin/distill-run", "+hub.token=zz", "a=hf_abcdefgh", "seed=1"])
    assert cmd == "distill-run +hub.token=*** a=*** seed=1"


def test_embedded_package_entry() -> None:
    entry = package_entry("chatterbot-corpus")
    assert entry["version"] == "1.3.3" and entry["license"] == "BSD-3-Clause" and len(entry["sha256"]) == 64
    assert package_entry("no-such-package-xyz")["version"] is None


def test_file_data_sources_are_hashed(tmp_path: Path) -> None:
    train, pairs, test = (tmp_path / n for n in ("train.jsonl", "en_it.tsv", "it_test.jsonl"))
    for p in (train, pairs, test):
        p.write_text(p.name + "\n")
    cfg = OmegaConf.create(
        {
            "data": {
                "name": "files",
                "source_lang": "en",
                "target_langs": ["it"],
                "source_train": str(train),
                "parallel": {"it": str(pairs)},
                "target_test": {"it": str(test)},
                "source_test": None,
            },
            "mode": {"name": "translate", "translator": {"backend": "file", "path": {"it-en": str(pairs)}}},
        }
    )
    entries = {e["role"]: e for e in data_entries(cfg)}
    assert entries["data.source_train"]["sha256"] == file_sha256(train)
    assert entries["data.parallel"]["path"] == str(pairs.resolve())
    assert entries["data.target_test"]["sha256"] == file_sha256(test)
    (mt,) = mt_entries(cfg)
    assert mt["backend"] == "file" and mt["sha256"] == file_sha256(pairs)


def test_hub_data_sources_are_named_per_language() -> None:
    cfg = OmegaConf.create(
        {
            "data": {
                "name": "hub",
                "source_lang": "en",
                "target_langs": ["it", "de"],
                "parallel": {"path": "Helsinki-NLP/opus-100", "name": "{source}-{lang}"},
            },
            "mode": {"name": "parallel", "translator": None},
        }
    )
    got = [(e["hub_id"], e["config"]) for e in data_entries(cfg)]
    assert got == [("Helsinki-NLP/opus-100", "en-it"), ("Helsinki-NLP/opus-100", "en-de")]
    assert mt_entries(cfg) == []


def test_folder_hash_follows_content(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.arrow").write_bytes(b"1")
    before = folder_sha256(tmp_path)
    (tmp_path / "a" / "x.arrow").write_bytes(b"2")
    assert folder_sha256(tmp_path) != before


def test_timings_leave_metrics_json_and_report_reads_them(tmp_path: Path) -> None:
    report = MetricsReport(source_lang="en", target_langs=["it"])
    report.add("student", "it", "test", {"accuracy": 0.5, "macro_f1": 0.5, "ece": 0.1, "n": 10})
    report.extras["stage_seconds"] = {"distill": 30.0, "evaluate": 6.0}
    report.extras["run"] = {"seed": 1, "variant": "kd"}
    report.write(tmp_path)
    assert "stage_seconds" not in json.loads((tmp_path / "metrics.json").read_text())
    assert json.loads((tmp_path / "timings.json").read_text()) == {
        "stage_seconds": {"distill": 30.0, "evaluate": 6.0}
    }
    (run,) = load_runs([tmp_path])
    assert stage_seconds(run) == {"distill": 30.0, "evaluate": 6.0}
    (tmp_path / "timings.json").unlink()  # an older run: the times inside metrics.json
    data = json.loads((tmp_path / "metrics.json").read_text())
    (tmp_path / "metrics.json").write_text(json.dumps({**data, "stage_seconds": {"distill": 5.0}}))
    (run,) = load_runs([tmp_path])
    assert stage_seconds(run) == {"distill": 5.0}


def test_card_shows_provenance() -> None:
    from distill.export import ModelCard

    prov = {
        "models": [
            {
                "role": "teacher",
                "source": "fine-tuned",
                "base_model": "b/m",
                "license": "MIT",
                "sha256": {"weights": "w" * 64},
            }
        ],
        "data": [
            {
                "role": "data",
                "name": "chatterbot",
                "package": "chatterbot-corpus",
                "version": "1.3.3",
                "license": "BSD-3-Clause",
                "sha256": "d" * 64,
            }
        ],
        "reproducibility": {
            "seed": 3,
            "versions": {"torch": "2.0"},
            "git": {"commit": "c" * 40, "dirty": True},
            "platform": {"system": "Linux", "machine": "x86_64", "accelerator": "cpu"},
        },
    }
    card = ModelCard(base_model="b/m", teacher="t", languages=["en", "it"], command="c", provenance=prov)
    text = render_card(card, ["a", "b"])
    assert "## Provenance" in text and "w" * 64 in text and "package `chatterbot-corpus==1.3.3`" in text
    assert (
        "BSD-3-Clause" in text and "c" * 40 + "` (with uncommitted changes)" in text and "torch 2.0" in text
    )
