"""``distill-serve <export folder>``: serve a student over HTTP (FastAPI + uvicorn)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from distill.errors import DistillError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="distill-serve",
        description="Serve an exported student: POST /predict, GET /health, /metrics, /info, admin routes.",
    )
    p.add_argument("folder", type=Path, help="the student/ folder of a run (plain or per-language adapters)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--max-batch", type=int, default=32, help="rows per batch (dynamic batching)")
    p.add_argument(
        "--micro-batch",
        type=int,
        default=8,
        help="rows per forward inside a batch, grouped by length so that short texts are not padded "
        "(0: the whole batch in one forward)",
    )
    p.add_argument("--batch-timeout-ms", type=float, default=5.0, help="how long a batch waits for more rows")
    p.add_argument("--cache-size", type=int, default=10_000, help="responses kept in the LRU cache (0: off)")
    p.add_argument("--max-length", type=int, default=128, help="tokens per text")
    p.add_argument("--max-texts", type=int, default=256, help="texts per request")
    p.add_argument("--max-chars", type=int, default=20_000, help="characters per text")
    p.add_argument(
        "--registry", type=Path, default=None, help="adapter registry folder (default <folder>/registry)"
    )
    p.add_argument(
        "--detect-among",
        choices=["served", "all"],
        default="served",
        help="detect a missing lang among the export's languages (default) or all py3langid's 97",
    )
    p.add_argument(
        "--backend",
        choices=["torch", "onnx", "onnx-int8"],
        default="torch",
        help="torch (adapters per row in one forward) or ONNX Runtime (fp32 / int8; adapter versions merged)",
    )
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    return p


def build(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from distill.serve.app import Limits, create_app
    from distill.serve.service import Service, Settings

    settings = Settings(
        max_batch=args.max_batch,
        batch_timeout_ms=args.batch_timeout_ms,
        micro_batch=args.micro_batch,
        cache_size=args.cache_size,
        max_length=args.max_length,
        detect_among=args.detect_among,
        backend=args.backend,
    )
    service = Service.from_export(args.folder, settings, args.registry)
    return create_app(service, Limits(max_texts=args.max_texts, max_chars=args.max_chars))


# The model runs on the batcher's inference thread, not the thread that loaded it. With OpenMP's
# default (active) waiting, the idle threads of the loading thread's team spin and take the cores:
# a 2-core forward took 250 ms instead of 1.3 ms (tiny model). Passive waiting must be set before
# torch starts OpenMP, so before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    try:
        app = build(args)
    except DistillError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    import uvicorn

    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def drift_main(argv: list[str] | None = None) -> int:
    """``distill-drift <export> <texts>``: PSI of a file of texts against the export's profile."""
    p = argparse.ArgumentParser(prog="distill-drift", description=drift_main.__doc__)
    p.add_argument("folder", type=Path, help="the student/ folder of a run")
    p.add_argument(
        "texts", type=Path, help=".txt (a text a line) or .jsonl ({'text': ..., 'lang': ...} a line)"
    )
    p.add_argument("--lang", default=None, help="the language of texts that name none (default: detect)")
    p.add_argument("--json", type=Path, default=None, help="also write the scores here")
    p.add_argument("--fail-on-drift", action="store_true", help="exit 1 when a language drifts")
    args = p.parse_args(argv)
    from distill.serve.offline import drift_report, read_items, render
    from distill.utils.atomic import write_text_atomic

    try:
        report = drift_report(args.folder, read_items(args.texts, args.lang))
    except DistillError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(render(report))
    if args.json:
        import json

        write_text_atomic(args.json, json.dumps(report, indent=2) + "\n")
    drifted = any(s["drift"] for s in report["languages"].values())
    return 1 if drifted and args.fail_on_drift else 0


if __name__ == "__main__":
    sys.exit(main())
