"""Tiny per-language adapter exports and a uvicorn server in a thread, for the serving tests."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

LABELS = ["food", "money", "sports"]


def make_adapter_export(root: Path, langs: tuple[str, ...] = ("it", "ja"), seed: int = 1) -> Path:
    """A tiny BERT classifier with one LoRA adapter per language whose B matrices are non-zero
    (a fresh LoRA adapter is the identity: it would not show whether the server applies it)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from distill.adapters import AdapterSpec, add_language_adapters
    from distill.export import export_adapters
    from distill.models.tiny import build_tiny_encoder

    enc = build_tiny_encoder(root / "encoder")
    model = AutoModelForSequenceClassification.from_pretrained(
        str(enc),
        num_labels=3,
        id2label=dict(enumerate(LABELS)),
        label2id={n: i for i, n in enumerate(LABELS)},
    )
    tokenizer = AutoTokenizer.from_pretrained(str(enc))
    spec = AdapterSpec(export_merged=False)
    peft_model = add_language_adapters(model, list(langs), spec)
    torch.manual_seed(seed)
    for name, p in peft_model.named_parameters():
        if "lora_B" in name:
            p.data.normal_(0.0, 1.0)
    return export_adapters(
        peft_model,
        tokenizer,
        root / "student",
        spec,
        base_model="tiny",
        teacher="tiny",
        languages=["en", *langs],
        command="test",
    )


def make_embedding_export(root: Path, *, normalize: bool, prefix: str) -> Path:
    """A tiny encoder exported by the embedding task's own export (sentence-transformers layout)."""
    from types import SimpleNamespace

    from omegaconf import OmegaConf
    from transformers import AutoModel, AutoTokenizer

    from distill.models.tiny import build_tiny_encoder
    from distill.report.run_report import MetricsReport
    from distill.tasks.embedding import export_encoder

    enc = build_tiny_encoder(root / "encoder")
    cfg = OmegaConf.create(
        {
            "paths": {"output_dir": str(root / "run")},
            "student": {"model": "tiny", "normalize": normalize, "max_length": 64, "prefix": prefix},
            "teacher": {"model": "tiny"},
            "data": {"source_lang": "en", "name": "test"},
            "experiment_name": "test",
        }
    )
    system = SimpleNamespace(encoder=AutoModel.from_pretrained(str(enc)))
    report = MetricsReport(source_lang="en", target_langs=["it"], task="embedding")
    return export_encoder(cfg, system, AutoTokenizer.from_pretrained(str(enc)), report, ["it"])  # type: ignore[arg-type]


def perturbed_adapter(src: Path, out: Path, scale: float = 1.0, seed: int = 7) -> Path:
    """A copy of the adapter folder ``src`` with noise added to its weights (a "new version")."""
    import torch
    from safetensors.torch import load_file, save_file

    shutil.copytree(src, out)
    weights = load_file(str(out / "adapter_model.safetensors"))
    gen = torch.Generator().manual_seed(seed)
    changed = {k: v + scale * torch.randn(v.shape, generator=gen) for k, v in weights.items()}
    save_file(changed, str(out / "adapter_model.safetensors"))
    return out


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Run ``app`` with uvicorn on a free localhost port in a thread; yields its base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def chatterbot_texts(split: str, lang: str) -> list[str]:
    from distill.data.sources import chatterbot as cb

    return [r["text"] for r in cb.load_chatterbot()[split] if r["lang"] == lang]


def write_profile(export: Path, texts: dict[str, list[str]]) -> Path:
    """The export's drift profile from the student's answers on ``texts`` (as the export stage
    writes it from the run's test predictions)."""
    import json

    from distill.report.profile import PROFILE_FILE, build_profile
    from distill.serve.model import ServedModel

    model = ServedModel.load(export)
    rows = {}
    for lang, ts in texts.items():
        name = model.load_adapter(lang, "v1", export / "adapters" / lang)
        probs = model.classify(ts, [name] * len(ts))
        rows[lang] = {
            "length": [len(t) for t in ts],
            "confidence": probs.max(1).tolist(),
            "pred": probs.argmax(1).tolist(),
        }
    path = export / PROFILE_FILE
    path.write_text(json.dumps(build_profile(rows, model.labels, source="test texts")), encoding="utf-8")
    return path
