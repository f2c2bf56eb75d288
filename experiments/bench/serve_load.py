"""distill-serve under a bounded load vs in-process ``transformers.pipeline`` on the same texts.

For each backend (torch fp32, ONNX fp32, ONNX int8) a ``distill-serve`` process is started on
localhost (cache off: every request runs the model) and hit by 1, 8 and 32 concurrent clients, each
sending one text per request, ``--requests`` requests in all per level (or until ``--seconds``).
The same texts then go through ``pipeline("text-classification")`` in this process, one text per
call from the same number of threads: what a user without a server does. Reported: requests/s,
p50/p99 latency, and each backend's accuracy and agreement with torch on the labelled texts.

    python experiments/bench/serve_load.py --model runs/it/student      # a classifier export
    python experiments/bench/serve_load.py --quick                      # tiny model, seconds
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OFFLINE, command_line, machine, machine_line, write_section

BACKENDS = ("torch", "onnx", "onnx-int8")


def texts_and_gold(lang: str, labels: list[str]) -> tuple[list[str], list[int]]:
    """The chatterbot test utterances of ``lang`` whose topic is one of the model's labels."""
    from distill.data.sources import chatterbot as cb

    rows = [r for r in cb.load_chatterbot()["test"] if r["lang"] == lang and r["topic"] in labels]
    return [r["text"] for r in rows], [labels.index(r["topic"]) for r in rows]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(folder: Path, contender: str, threads: int) -> tuple[subprocess.Popen[bytes], str]:
    """``contender``: a backend, or ``backend:N`` for ``--micro-batch N`` (``onnx:0``: one padded
    forward per batch, as before micro-batches)."""
    import httpx

    backend, _, micro = contender.partition(":")
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "distill.serve.cli",
        str(folder),
        "--port",
        str(port),
        "--backend",
        backend,
        "--cache-size",
        "0",
        "--threads",
        str(threads),
        *(["--micro-batch", micro] if micro else []),
    ]
    proc = subprocess.Popen(
        cmd, env={**os.environ, **OFFLINE}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"distill-serve --backend {backend} exited: {proc.stderr.read().decode()[-2000:]}"
            )
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("distill-serve did not answer /health")


async def _load(
    url: str, texts: list[str], lang: str, clients: int, requests: int, seconds: float
) -> dict[str, Any]:
    """``clients`` coroutines on one aiohttp session (its C HTTP parser keeps the load generator's
    own share of the 2 cores small; ``client_cpu_pct`` in the result says how much it took)."""
    import aiohttp

    latencies: list[float] = []
    failures = 0
    counter = iter(range(requests))
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(
        base_url=url, connector=connector, timeout=aiohttp.ClientTimeout(total=120)
    ) as client:

        async def one_client() -> None:
            nonlocal failures
            for i in counter:
                if time.perf_counter() > deadline:
                    return
                start = time.perf_counter()
                async with client.post("/predict", json={"text": texts[i % len(texts)], "lang": lang}) as r:
                    await r.read()
                    failures += r.status != 200
                latencies.append(time.perf_counter() - start)

        cpu = time.process_time()
        start = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(clients)))
        wall = time.perf_counter() - start
        cpu = time.process_time() - cpu
    return {**summary(latencies, wall, failures), "client_cpu_pct": round(100 * cpu / wall, 1)}


def summary(latencies: list[float], wall: float, failures: int = 0) -> dict[str, Any]:
    ms = np.asarray(latencies) * 1000
    return {
        "requests": len(latencies),
        "failures": failures,
        "seconds": round(wall, 3),
        "rps": round(len(latencies) / wall, 2),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
    }


def served_predictions(url: str, texts: list[str], lang: str) -> list[int]:
    import httpx

    preds: list[int] = []
    labels: list[str] = httpx.get(f"{url}/info", timeout=30).json()["labels"]
    for start in range(0, len(texts), 32):
        body = {"texts": [{"text": t, "lang": lang} for t in texts[start : start + 32]]}
        results = httpx.post(f"{url}/predict", json=body, timeout=120).json()["results"]
        preds += [labels.index(r["label"]) for r in results]
    return preds


def pipeline_load(
    folder: Path, texts: list[str], clients: int, requests: int, seconds: float
) -> dict[str, Any]:
    """``pipeline(text)`` per request from ``clients`` threads, in this process."""
    from transformers import pipeline

    pipe = pipeline("text-classification", model=str(folder), device="cpu")
    pipe(texts[0])  # warm-up
    latencies: list[float] = []
    lock = threading.Lock()
    counter = iter(range(requests))
    deadline = time.perf_counter() + seconds

    def worker() -> None:
        while True:
            with lock:
                i = next(counter, None)
            if i is None or time.perf_counter() > deadline:
                return
            start = time.perf_counter()
            pipe(texts[i % len(texts)])
            with lock:
                latencies.append(time.perf_counter() - start)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return summary(latencies, time.perf_counter() - start)


def tiny_export(root: Path) -> tuple[Path, str]:
    """--quick: a tiny random classifier over the chatterbot topics, exported as a run would."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from distill.export import export_student
    from distill.models.tiny import build_tiny_encoder

    labels = ["greetings", "food", "money", "sports", "movies"]
    enc = build_tiny_encoder(root / "encoder")
    model = AutoModelForSequenceClassification.from_pretrained(
        str(enc),
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={n: i for i, n in enumerate(labels)},
    )
    folder = export_student(
        model,
        AutoTokenizer.from_pretrained(str(enc)),
        root / "student",
        base_model="tiny",
        teacher="tiny",
        languages=["en", "it"],
        command="bench",
    )
    return folder, "it"


def markdown(data: dict[str, Any]) -> str:
    lines = [
        "## Serving under load (`serve_load.py`)",
        "",
        f"`distill-serve` ({', '.join(data['backends'])}; cache off, dynamic batching up to 32 rows, run in length-sorted forwards of 8 unless `:N` says otherwise) on localhost, "
        "hit by N concurrent clients sending one text per request, against in-process "
        '`transformers.pipeline("text-classification")` called once per text from N threads, on the same '
        f"texts ({data['n_texts']} chatterbot `{data['lang']}` test utterances, cycled), {data['requests']} requests a level.",
        "",
        f"Command: `{data['command']}`",
        "",
        f"Machine: {machine_line(data['machine'])}",
        "",
        "| contender | clients | requests/s | p50 ms | p99 ms | failed | load generator's CPU |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, levels in data["load"].items():
        for clients, r in levels.items():
            client_cpu = f"{r['client_cpu_pct']:.0f}%" if "client_cpu_pct" in r else "–"
            lines.append(
                f"| {name} | {clients} | {r['rps']:.1f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['failures']} | {client_cpu} |"
            )
    lines += ["", "| backend | accuracy | agreement with torch |", "|---|---:|---:|"]
    for name, acc in data["accuracy"].items():
        lines.append(f"| {name} | {100 * acc['accuracy']:.2f} | {100 * acc['agreement']:.2f} |")
    top = str(max(int(c) for c in data["load"]["pipeline"]))
    lines += [""]
    for name in data["backends"]:
        ratio = data["load"][name][top]["rps"] / data["load"]["pipeline"][top]["rps"]
        drop = 100 * (data["accuracy"]["torch"]["accuracy"] - data["accuracy"][name]["accuracy"])
        met = "met" if ratio >= 3 and drop <= 0.5 else "not met"
        lines.append(
            f"- {name} at {top} clients: **{ratio:.2f}x** pipeline's requests/s, accuracy {-drop:+.2f} points "
            f"vs torch (target >= 3x within 0.5 point: {met})"
        )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, help="a classifier export (the student/ folder of a run)")
    p.add_argument("--lang", default="it")
    p.add_argument("--clients", default="1,8,32")
    p.add_argument("--requests", type=int, default=400)
    p.add_argument("--seconds", type=float, default=120.0, help="at most this long per level")
    p.add_argument("--threads", type=int, default=2, help="torch threads of the server and the pipeline")
    p.add_argument(
        "--backends",
        default=",".join(BACKENDS),
        help="contenders: torch, onnx, onnx-int8, each optionally :N for --micro-batch N (e.g. onnx:0)",
    )
    p.add_argument("--quick", action="store_true", help="tiny model, few requests; leaves the README alone")
    args = p.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="serve-bench-"))
    if args.quick:
        folder, lang = tiny_export(tmp)
        args.requests, args.clients, args.backends = 24, "1,8", "torch,onnx"
    else:
        if args.model is None:
            p.error("--model is required (or --quick)")
        folder, lang = args.model, args.lang
    labels = json.loads((folder / "config.json").read_text())["id2label"]
    labels = [labels[str(i)] for i in range(len(labels))]
    texts, gold = texts_and_gold(lang, labels)
    levels = [int(c) for c in args.clients.split(",")]
    backends = args.backends.split(",")
    data: dict[str, Any] = {
        "machine": machine(),
        "command": command_line(),
        "lang": lang,
        "n_texts": len(texts),
        "requests": args.requests,
        "backends": backends,
        "load": {},
        "accuracy": {},
    }
    preds: dict[str, list[int]] = {}
    for backend in backends:
        proc, url = start_server(folder, backend, args.threads)
        try:
            preds[backend] = served_predictions(url, texts, lang)
            data["load"][backend] = {
                str(c): asyncio.run(_load(url, texts, lang, c, args.requests, args.seconds)) for c in levels
            }
        finally:
            proc.terminate()
            proc.wait(timeout=60)
        print(backend, json.dumps(data["load"][backend]), flush=True)
    data["load"]["pipeline"] = {
        str(c): pipeline_load(folder, texts, c, args.requests, args.seconds) for c in levels
    }
    print("pipeline", json.dumps(data["load"]["pipeline"]), flush=True)
    reference = np.asarray(preds.get("torch") or next(iter(preds.values())))
    for backend, pr in preds.items():
        arr = np.asarray(pr)
        data["accuracy"][backend] = {
            "accuracy": float(np.mean(arr == np.asarray(gold))),
            "agreement": float(np.mean(arr == reference)),
        }
    text = markdown(data)
    print(text)
    if not args.quick:
        write_section("serve_load", text, data)


if __name__ == "__main__":
    main()
