from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from distill.errors import DistillError
from distill.models import resolve as R
from distill.models.info import model_info
from distill.models.resolve import resolve_model
from distill.models.tiny import build_tiny_encoder


@pytest.fixture(autouse=True)
def _fresh_probe_cache() -> None:
    R._hub_has.cache_clear()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record (and refuse) every attempt to ask the hub."""
    calls: list[str] = []

    def refuse(repo_id: str, endpoint: str | None, timeout: float) -> bool:
        calls.append(repo_id)
        raise AssertionError(f"network attempted for {repo_id}")

    monkeypatch.setattr(R, "_hub_has", refuse)
    return calls


def test_local_folder(tmp_path: Path) -> None:
    folder = build_tiny_encoder(tmp_path / "m")
    r = resolve_model(str(folder))
    assert (r.source, r.location) == ("local", str(folder.resolve()))
    info = model_info(r)
    assert info.params is not None and info.params > 1000
    assert info.disk_bytes is not None and info.disk_bytes > info.params * 4


def test_folder_without_config_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(DistillError, match=r"not a Hugging Face model folder \(no config.json"):
        resolve_model(str(tmp_path))


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DistillError, match="does not exist"):
        resolve_model(str(tmp_path / "nope"))


def test_offline_uses_packaged_minilm_without_network(no_network: list[str]) -> None:
    r = resolve_model("sentence-transformers/all-MiniLM-L6-v2")
    assert r.source == "packaged"
    assert (Path(r.location) / "model.safetensors").is_file()
    assert resolve_model("all-MiniLM-L6-v2").location == r.location
    assert no_network == []


def test_offline_unknown_model_names_the_fix(no_network: list[str]) -> None:
    with pytest.raises(DistillError, match="HF_HUB_OFFLINE is set") as e:
        resolve_model("someone/not-packaged-model")
    assert "packaged:" in str(e.value)
    assert no_network == []


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_hub_falls_back_quickly(monkeypatch: pytest.MonkeyPatch) -> None:
    # Online mode, but the hub endpoint is a closed local port: must fall back, not hang.
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "0")
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    start = time.perf_counter()
    r = resolve_model("sentence-transformers/all-MiniLM-L6-v2")
    assert r.source == "packaged"
    assert time.perf_counter() - start < 15
    with pytest.raises(DistillError, match="the hub did not answer"):
        resolve_model("someone/not-packaged-model")


def test_reachable_hub_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "0")
    monkeypatch.setattr(R, "_hub_has", lambda repo_id, endpoint, timeout: True)
    r = resolve_model("intfloat/multilingual-e5-small")
    assert (r.source, r.location) == ("hub", "intfloat/multilingual-e5-small")
    assert model_info(r).params is None


def test_hub_cache_is_used_offline(monkeypatch: pytest.MonkeyPatch, no_network: list[str]) -> None:
    monkeypatch.setattr(R, "in_hub_cache", lambda repo_id: repo_id == "someone/cached")
    assert resolve_model("someone/cached").source == "hub-cache"


def test_packaged_only_names_never_ask_the_hub(
    monkeypatch: pytest.MonkeyPatch, no_network: list[str]
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "0")
    r = resolve_model("tiny-random-bert")
    assert r.source == "packaged"
    assert no_network == []


def test_empty_reference() -> None:
    with pytest.raises(DistillError, match="empty model reference"):
        resolve_model("  ")
