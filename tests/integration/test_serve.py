"""distill-serve on localhost: real HTTP requests against tiny exports (plain and per-language adapters)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from distill.serve.app import TOKEN_ENV, Limits, create_app
from distill.serve.model import BASE, ServedModel
from distill.serve.service import Service, Settings
from tests.serve_helpers import LABELS, make_adapter_export, make_embedding_export, perturbed_adapter, serving

IT = "ciao come stai bene grazie"
JA = "今日はとても良い天気ですね。映画を見に行きましょう。"
TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_adapter_export(tmp_path_factory.mktemp("serve"))


@pytest.fixture
def fresh_export(export: Path, tmp_path: Path) -> Path:
    """A copy per test: the registry writes into the export folder."""
    import shutil

    shutil.copytree(export, tmp_path / "student")
    return tmp_path / "student"


def _probs(answer: dict) -> np.ndarray:
    return np.array([answer["probabilities"][label] for label in LABELS])


@pytest.mark.parametrize("micro_batch", [0, 2])
def test_a_mixed_batch_gives_each_row_its_own_adapter(export: Path, micro_batch: int) -> None:
    # micro_batch=2: the rows are re-ordered by length and split; each must keep its own adapter.
    model = ServedModel.load(export, micro_batch=micro_batch)
    for lang in model.languages:
        model.load_adapter(lang, "v1", export / "adapters" / lang)
    texts = [IT, "the movie is good", "money money food", "io non sono", "a"]
    names = ["it@v1", "ja@v1", BASE, "ja@v1", "it@v1"]
    mixed = model.classify(texts, names)
    for i, (text, name) in enumerate(zip(texts, names, strict=True)):
        np.testing.assert_allclose(mixed[i], model.classify([text], [name])[0], atol=1e-5)
    # The adapters change the answer: a model that ignored them would give the base's row.
    it_row, ja_row, base_row = (model.classify([IT], [n])[0] for n in ("it@v1", "ja@v1", BASE))
    assert np.abs(it_row - base_row).max() > 1e-3
    assert np.abs(it_row - ja_row).max() > 1e-3


def test_the_server_answers_single_batch_mixed_unknown_and_undetected_languages(fresh_export: Path) -> None:
    service = Service.from_export(fresh_export, Settings(max_batch=8, batch_timeout_ms=2))
    with serving(create_app(service)) as url, httpx.Client(base_url=url, timeout=30) as client:
        assert client.get("/health").json()["status"] == "ok"
        one = client.post("/predict", json={"text": IT, "lang": "it"}).json()
        assert one["label"] in LABELS and one["adapter"] == "it@v1" and one["route"] == "adapter"
        assert abs(sum(one["probabilities"].values()) - 1) < 1e-4

        batch = client.post(
            "/predict",
            json={
                "texts": [
                    {"text": IT, "lang": "it"},
                    {"text": JA, "lang": "ja"},
                    {"text": "guten tag", "lang": "de"},
                    JA,
                ]
            },
        ).json()["results"]
        assert [r["adapter"] for r in batch[:3]] == ["it@v1", "ja@v1", None]
        assert batch[2]["route"] == "base" and "no adapter for 'de'" in batch[2]["note"]
        assert (
            batch[3]["lang_source"] == "detected"
            and batch[3]["lang"] == "ja"
            and batch[3]["adapter"] == "ja@v1"
        )
        # In a batch each row reads its own adapter: the Italian row equals the single request.
        np.testing.assert_allclose(_probs(batch[0]), _probs(one), atol=1e-5)

        info = client.get("/info").json()
        assert info["kind"] == "classification" and info["labels"] == LABELS
        assert info["routes"] == {"it": "it@v1", "ja": "ja@v1"}
        assert info["card"]["base_model"] == "tiny"

        metrics = client.get("/metrics").text
        assert 'distill_texts_total{lang="de",route="base"} 1.0' in metrics
        assert 'distill_lang_detected_total{lang="ja"} 1.0' in metrics
        assert 'distill_requests_total{endpoint="/predict",status="200"} 2.0' in metrics
        assert "distill_batch_rows_bucket" in metrics and "distill_confidence_bucket" in metrics


def test_bad_requests_get_a_4xx_with_one_line_and_the_server_stays_up(
    fresh_export: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = Service.from_export(fresh_export)
    app = create_app(service, Limits(max_texts=16, max_chars=5000))
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        cases = {
            "malformed": client.post(
                "/predict", content=b'{"text": "ciao"', headers={"content-type": "application/json"}
            ),
            "empty": client.post("/predict", json={"text": "   "}),
            "huge": client.post("/predict", json={"text": "a" * 1_000_000}),
            "too many": client.post("/predict", json={"texts": ["ciao"] * 17}),
            "unknown field": client.post("/predict", json={"text": "ciao", "language": "it"}),
            "both": client.post("/predict", json={"text": "ciao", "texts": ["ciao"]}),
            "no admin": client.post("/admin/adapters/it/rollback"),
        }
        monkeypatch.setenv(TOKEN_ENV, TOKEN)
        cases["wrong token"] = client.post(
            "/admin/adapters/it/rollback", headers={"Authorization": "Bearer nope"}
        )
        cases["no earlier version"] = client.post(
            "/admin/adapters/it/rollback", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        expected = {
            "malformed": 400,
            "empty": 422,
            "huge": 413,
            "too many": 413,
            "unknown field": 422,
            "both": 422,
            "no admin": 403,
            "wrong token": 401,
            "no earlier version": 400,
        }
        for name, response in cases.items():
            assert response.status_code == expected[name], (name, response.text)
            message = response.json()["error"]
            assert message and "\n" not in message, (name, message)
        assert "language" in cases["unknown field"].json()["error"]
        assert "1000000 characters" in cases["huge"].json()["error"]
        assert client.get("/health").status_code == 200
        assert client.post("/predict", json={"text": "ciao", "lang": "it"}).status_code == 200


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_promote_and_roll_back_under_load_without_a_failed_request(
    fresh_export: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    v2 = perturbed_adapter(fresh_export / "adapters" / "it", tmp_path / "it_v2")
    settings = Settings(max_batch=16, batch_timeout_ms=2, cache_size=0, backend=backend)
    service = Service.from_export(fresh_export, settings)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    failures: list[str] = []
    answered = [0]
    stop = threading.Event()

    def load(url: str) -> None:
        with httpx.Client(base_url=url, timeout=30) as c:
            for i in range(400):  # bounded: at most 400 requests per client
                if stop.is_set():
                    return
                r = c.post(
                    "/predict",
                    json={"texts": [{"text": f"{IT} {i}", "lang": "it"}, {"text": JA, "lang": "ja"}]},
                )
                if r.status_code != 200:
                    failures.append(r.text)
                answered[0] += 1

    with serving(create_app(service)) as url, httpx.Client(base_url=url, timeout=30) as client:
        before = _probs(client.post("/predict", json={"text": IT, "lang": "it"}).json())
        clients = [threading.Thread(target=load, args=(url,)) for _ in range(4)]
        for t in clients:
            t.start()
        time.sleep(0.3)
        added = client.post("/admin/adapters/it", json={"path": str(v2)}, headers=auth).json()
        assert added["version"] == "v2" and added["active"] == "it@v1"
        promoted = client.post("/admin/adapters/it/promote", json={"version": "v2"}, headers=auth)
        assert promoted.status_code == 200, promoted.text
        after = client.post("/predict", json={"text": IT, "lang": "it"}).json()
        assert after["adapter"] == "it@v2"
        time.sleep(0.3)
        rolled = client.post("/admin/adapters/it/rollback", headers=auth).json()
        assert rolled["active"] == "v1" and rolled["previous"] == "v2"
        back = client.post("/predict", json={"text": IT, "lang": "it"}).json()
        time.sleep(0.2)
        stop.set()
        for t in clients:
            t.join(timeout=60)
        metrics = client.get("/metrics").text
    assert failures == [] and answered[0] > 10
    assert np.abs(_probs(after) - before).max() > 1e-3  # v2 really serves
    np.testing.assert_allclose(_probs(back), before, atol=1e-6)  # and v1 is back
    assert back["adapter"] == "it@v1"
    assert 'distill_adapter_active{lang="it",version="v1"} 1.0' in metrics
    # The registry on disk says the same, for the next start.
    index = json.loads((fresh_export / "registry" / "registry.json").read_text())
    assert index["it"]["active"] == "v1" and index["it"]["versions"] == ["v1", "v2"]


def test_the_cache_answers_repeats_and_a_promote_empties_it(
    fresh_export: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    v2 = perturbed_adapter(fresh_export / "adapters" / "it", tmp_path / "it_v2")
    service = Service.from_export(fresh_export, Settings(cache_size=100))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with serving(create_app(service)) as url, httpx.Client(base_url=url, timeout=30) as client:
        first = client.post("/predict", json={"text": IT, "lang": "it"}).json()
        again = client.post("/predict", json={"text": IT, "lang": "it"}).json()
        assert again == first
        assert 'distill_cache_total{result="hit"} 1.0' in client.get("/metrics").text
        client.post("/admin/adapters/it", json={"path": str(v2), "promote": True}, headers=auth)
        assert len(service.cache) == 0
        new = client.post("/predict", json={"text": IT, "lang": "it"}).json()
        assert new["adapter"] == "it@v2" and new["probabilities"] != first["probabilities"]


def test_a_fully_shared_export_is_served_without_routing(tmp_path: Path) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from distill.export import export_student
    from distill.models.tiny import build_tiny_encoder

    enc = build_tiny_encoder(tmp_path / "encoder")
    model = AutoModelForSequenceClassification.from_pretrained(
        str(enc), num_labels=3, id2label=dict(enumerate(LABELS))
    )
    folder = export_student(
        model,
        AutoTokenizer.from_pretrained(str(enc)),
        tmp_path / "student",
        base_model="tiny",
        teacher="tiny",
        languages=["en", "it"],
        command="test",
    )
    with (
        serving(create_app(Service.from_export(folder))) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        answer = client.post("/predict", json={"text": IT}).json()
        assert answer["route"] == "shared" and answer["lang"] == "it" and "note" not in answer
        admin = client.post("/admin/adapters/it/rollback", headers={"Authorization": "Bearer x"})
        assert admin.status_code in (400, 403)


def test_distill_serve_command_starts_and_refuses_a_bad_folder(export: Path, tmp_path: Path) -> None:
    import shutil
    import socket

    bad = subprocess.run(
        [sys.executable, "-m", "distill.serve.cli", str(tmp_path / "nothing")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and bad.stderr.startswith("error:") and "not an exported student" in bad.stderr

    folder = tmp_path / "student"
    shutil.copytree(export, folder)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # The serving image's own entrypoint and healthcheck, pointed at this folder and port.
    entrypoint, healthcheck = _dockerfile_commands(port)
    command = [str(Path(sys.executable).parent / entrypoint[0]), *entrypoint[1:]]
    proc = subprocess.Popen(
        [a if a != "/model" else str(folder) for a in command] + ["--threads", "1"],
        env={**os.environ},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (
                proc.stdout.read() if proc.stdout else ""
            )
            time.sleep(0.2)
        answer = httpx.post(f"http://127.0.0.1:{port}/predict", json={"text": JA}, timeout=30).json()
        assert answer["lang"] == "ja" and answer["adapter"] == "ja@v1"
        assert subprocess.run(healthcheck, timeout=30).returncode == 0
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert subprocess.run(healthcheck, timeout=30, capture_output=True).returncode != 0


def _dockerfile_commands(port: int) -> tuple[list[str], list[str]]:
    """``docker/Dockerfile.serve``'s ENTRYPOINT and HEALTHCHECK CMD (exec form), on ``port`` of
    localhost instead of 8000 of every interface."""
    text = (Path(__file__).parents[2] / "docker" / "Dockerfile.serve").read_text(encoding="utf-8")
    text = text.replace("\\\n", " ")
    entry = next(line for line in text.splitlines() if line.startswith("ENTRYPOINT "))
    check = next(line for line in text.splitlines() if line.startswith("HEALTHCHECK "))
    entrypoint = json.loads(entry.removeprefix("ENTRYPOINT "))
    entrypoint = ["127.0.0.1" if a == "0.0.0.0" else str(port) if a == "8000" else a for a in entrypoint]
    healthcheck = json.loads(check[check.index("CMD ") + 4 :])
    assert healthcheck[0] == "python" and "/health" in healthcheck[-1]
    healthcheck = [sys.executable, *healthcheck[1:-1], healthcheck[-1].replace(":8000/", f":{port}/")]
    return entrypoint, healthcheck


def test_detection_chooses_among_the_exports_languages_unless_told_otherwise(export: Path) -> None:
    from distill.serve.langid import LanguageDetector
    from distill.serve.service import export_languages

    served = export_languages(ServedModel.load(export))
    assert served == ["en", "it", "ja"]
    # A German greeting: among en/it/ja it is one of them; among all languages it is German.
    assert LanguageDetector(served).detect("Guten Morgen, wie geht es dir heute?").lang in served
    assert LanguageDetector().detect("Guten Morgen, wie geht es dir heute?").lang == "de"
    assert LanguageDetector(served).detect(JA).lang == "ja"


@pytest.mark.parametrize(
    ("normalize", "prefix", "backend"),
    [(True, "", "torch"), (False, "query: ", "torch"), (False, "query: ", "onnx")],
)
def test_an_embedding_export_is_served_as_sentence_transformers_encodes_it(
    tmp_path: Path, normalize: bool, prefix: str, backend: str
) -> None:
    from sentence_transformers import SentenceTransformer

    folder = make_embedding_export(tmp_path, normalize=normalize, prefix=prefix)
    texts = [IT, "the movie was good", JA]
    reference = SentenceTransformer(str(folder), device="cpu").encode(texts)
    settings = Settings(max_batch=8, batch_timeout_ms=2, micro_batch=2, backend=backend)
    service = Service.from_export(folder, settings)
    with serving(create_app(service)) as url, httpx.Client(base_url=url, timeout=30) as client:
        one = client.post("/predict", json={"text": texts[0], "lang": "it"}).json()
        batch = client.post("/predict", json={"texts": texts}).json()["results"]
        info = client.get("/info").json()
        metrics = client.get("/metrics").text
    assert info["kind"] == "embedding" and info["backend"] == backend and "label" not in one
    np.testing.assert_allclose(one["embedding"], reference[0], atol=1e-5)
    np.testing.assert_allclose([r["embedding"] for r in batch], reference, atol=1e-5)
    norms = np.linalg.norm(reference, axis=1)
    assert np.allclose(norms, 1.0, atol=1e-4) == normalize
    if prefix:  # the served vector is that of the prefixed text, as the student was trained
        unprefixed = SentenceTransformer(str(folder), device="cpu").encode(texts[:1], prompt="")
        assert np.abs(unprefixed[0] - np.asarray(one["embedding"])).max() > 1e-4
    assert 'distill_texts_total{lang="it",route="shared"}' in metrics


def test_the_onnx_backend_serves_each_adapter_version_merged_as_torch_serves_it(fresh_export: Path) -> None:
    from distill.serve.onnx_model import OnnxServedModel
    from distill.serve.registry import AdapterRegistry

    registry = AdapterRegistry.for_export(fresh_export)
    torch_model, onnx_model = (
        ServedModel.load(fresh_export),
        OnnxServedModel.load(fresh_export, micro_batch=2),
    )
    for lang in ("it", "ja"):
        for model in (torch_model, onnx_model):
            model.load_adapter(lang, "v1", registry.path(lang, "v1"))
    texts = [IT, "the movie is good", "money money food", JA, "a", IT]
    names = ["it@v1", "ja@v1", BASE, "ja@v1", "it@v1", "xx@v1"]  # an unknown name reads the base
    np.testing.assert_allclose(
        onnx_model.classify(texts, names), torch_model.classify(texts, names), atol=1e-4
    )
    assert np.abs(onnx_model.classify([IT], ["it@v1"]) - onnx_model.classify([IT], [BASE])).max() > 1e-3
    merged = registry.path("it", "v1").parent / "v1.onnx"
    assert (merged / "onnx" / "model.onnx").is_file()
    stamp = (merged / "onnx" / "model.onnx").stat().st_mtime_ns
    again = OnnxServedModel.load(fresh_export)
    again.load_adapter("it", "v1", registry.path("it", "v1"))  # the next start reuses the merged file
    assert (merged / "onnx" / "model.onnx").stat().st_mtime_ns == stamp


def test_a_token_tagger_export_answers_its_words_tags_and_entities(tmp_path: Path) -> None:
    import torch
    from seqeval.metrics.sequence_labeling import get_entities
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from distill.errors import DistillError
    from distill.models.tiny import build_tiny_encoder
    from distill.tasks.token_classification.labels import word_logits

    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    enc = build_tiny_encoder(tmp_path / "encoder")
    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_pretrained(
        str(enc), num_labels=5, id2label=dict(enumerate(tags)), label2id={t: i for i, t in enumerate(tags)}
    ).eval()
    with torch.no_grad():
        model.classifier.bias[3] += 2.0  # some words are places: the answer has entities
    tokenizer = AutoTokenizer.from_pretrained(str(enc))
    model.save_pretrained(str(tmp_path / "student"))
    tokenizer.save_pretrained(str(tmp_path / "student"))
    text = "ieri  Maria Rossi ha visitato Roma"  # two spaces: the character spans must still fit
    service = Service.from_export(tmp_path / "student", Settings(micro_batch=1, batch_timeout_ms=2))
    with serving(create_app(service)) as url, httpx.Client(base_url=url, timeout=30) as client:
        one = client.post("/predict", json={"text": text, "lang": "it"}).json()
        batch = client.post("/predict", json={"texts": ["Roma", text]}).json()["results"]
        info = client.get("/info").json()
    assert info["kind"] == "token_classification" and info["labels"] == tags
    expected = [tags[i] for i in word_logits(model, tokenizer, [text.split()], 128)[0].argmax(1)]
    assert [w["tag"] for w in one["words"]] == expected
    assert [text[w["start"] : w["end"]] for w in one["words"]] == text.split()
    spans = [(t, one["words"][a]["start"], one["words"][b]["end"]) for t, a, b in get_entities(expected)]
    assert [(e["type"], e["start"], e["end"]) for e in one["entities"]] == spans and spans
    assert all(text[e["start"] : e["end"]] == e["text"] for e in one["entities"])
    assert batch[1]["words"] == one["words"]  # the same in a batch of other lengths
    with pytest.raises(DistillError, match="token tagger"):
        Service.from_export(tmp_path / "student", Settings(backend="onnx"))
