"""Test-wide settings: never touch the network, keep the shared cache inside the checkout."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Set before anything imports transformers / huggingface_hub / wandb.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["WANDB_MODE"] = "offline"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Converted packaged models are reused across test runs (conversion takes ~10 s a model).
os.environ.setdefault("DISTILL_CACHE", str(REPO / ".cache" / "test-cache"))


@pytest.fixture
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty ``$DISTILL_CACHE`` for tests that check what gets written to it."""
    root = tmp_path / "cache"
    monkeypatch.setenv("DISTILL_CACHE", str(root))
    return root


@pytest.fixture(scope="module")
def module_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh ``$DISTILL_CACHE`` shared by the tests of one module (their runs reuse its entries)."""
    root = tmp_path_factory.mktemp("module-cache")
    old = os.environ.get("DISTILL_CACHE")
    os.environ["DISTILL_CACHE"] = str(root)
    yield root
    if old is None:
        os.environ.pop("DISTILL_CACHE")
    else:
        os.environ["DISTILL_CACHE"] = old


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``apertium`` need the program; CI installs it, so there they must run."""
    if shutil.which("apertium"):
        return
    if os.environ.get("CI"):
        return  # let them fail loudly: CI is expected to have installed apertium
    skip = pytest.mark.skip(reason="apertium not installed: sudo apt-get install apertium apertium-eng-spa")
    for item in items:
        if "apertium" in item.keywords:
            item.add_marker(skip)
