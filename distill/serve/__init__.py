"""Serving exported students over HTTP (``distill-serve``).

FastAPI + uvicorn in one process, with our own dynamic batcher (:mod:`distill.serve.batcher`).
LitServe was the other candidate: it batches too, but runs the model in separate worker processes,
so the live adapter registry, the response cache, the drift window and the Prometheus counters
would each need inter-process plumbing; on 2 cores a second process buys no throughput. Here the
model, its adapters and the counters share one process and one inference thread.

Parts: :mod:`~distill.serve.model` (the loaded export, per-row adapters in one forward),
:mod:`~distill.serve.registry` (adapter versions on disk), :mod:`~distill.serve.service` (routing,
batching, cache, admin), :mod:`~distill.serve.app` (HTTP), :mod:`~distill.serve.cli`.
"""
