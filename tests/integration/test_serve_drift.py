"""Drift: the run's own kind of text stays under the threshold; another language crosses it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from distill.report.profile import psi, quantile_edges, shares
from distill.serve.app import create_app
from distill.serve.service import Service, Settings
from tests.serve_helpers import chatterbot_texts, make_adapter_export, serving, write_profile


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = make_adapter_export(tmp_path_factory.mktemp("drift"))
    write_profile(folder, {"it": chatterbot_texts("test", "it"), "ja": chatterbot_texts("test", "ja")})
    return folder


def test_psi_is_zero_for_the_same_shares_and_grows_with_the_shift() -> None:
    ref = list(range(100))
    edges = quantile_edges(ref)
    assert psi(shares(ref, edges), shares(ref, edges)) == 0.0
    shifted = [psi(shares(ref, edges), shares([x + d for x in ref], edges)) for d in (5, 20, 60)]
    assert 0 < shifted[0] < shifted[1] < shifted[2]
    # By hand: two bins, 50/50 against 80/20.
    assert psi([0.5, 0.5], [0.8, 0.2]) == pytest.approx(0.3 * 0.470004 + 0.3 * 0.916291, rel=1e-5)


def _flag(metrics: str, lang: str) -> float:
    found = re.search(rf'distill_drift_flag{{lang="{lang}"}} ([0-9.]+)', metrics)
    assert found, metrics[-2000:]
    return float(found.group(1))


@pytest.mark.parametrize(
    ("stream", "drifts"),
    [(("validation", "it"), False), (("train", "ja"), True)],
    ids=["unseen-italian-stays-under", "japanese-sent-as-italian-crosses"],
)
def test_the_server_flags_drift_only_for_a_stream_unlike_the_reference(
    export: Path, tmp_path: Path, stream: tuple[str, str], drifts: bool
) -> None:
    folder = tmp_path / "student"
    shutil.copytree(export, folder)
    texts = chatterbot_texts(*stream)[:150]
    service = Service.from_export(folder, Settings(drift_window=150, cache_size=0))
    with serving(create_app(service)) as url, httpx.Client(base_url=url, timeout=60) as client:
        for start in range(0, len(texts), 25):
            chunk = [{"text": t, "lang": "it"} for t in texts[start : start + 25]]
            assert client.post("/predict", json={"texts": chunk}).status_code == 200
        metrics = client.get("/metrics").text
        drift = client.get("/info").json()["drift"]["it"]
    assert _flag(metrics, "it") == (1.0 if drifts else 0.0)
    assert (drift["score"] > 0.25) is drifts and drift["n"] == len(texts)
    assert 'distill_drift_psi{feature="length",lang="it"}' in metrics


def _drift(*args: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from distill.serve.cli import drift_main; sys.exit(drift_main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)


def test_distill_drift_compares_a_file_offline(export: Path, tmp_path: Path) -> None:
    same = tmp_path / "it.txt"
    same.write_text("\n".join(chatterbot_texts("validation", "it")), encoding="utf-8")
    other = tmp_path / "other.jsonl"
    other.write_text("\n".join(json.dumps({"text": t, "lang": "it"}) for t in chatterbot_texts("test", "ja")))
    ok = _drift(str(export), str(same), "--lang", "it", "--json", str(tmp_path / "s.json"), "--fail-on-drift")
    assert ok.returncode == 0, ok.stderr
    assert re.search(r"^it .* no$", ok.stdout, re.M), ok.stdout
    assert json.loads((tmp_path / "s.json").read_text())["languages"]["it"]["drift"] is False
    bad = _drift(str(export), str(other), "--fail-on-drift")
    assert bad.returncode == 1 and re.search(r"^it .* YES$", bad.stdout, re.M), bad.stdout + bad.stderr

    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "ciao"}\n{"text": \n', encoding="utf-8")
    err = _drift(str(export), str(broken))
    assert err.returncode == 2 and f"{broken}:2: not JSON" in err.stderr
