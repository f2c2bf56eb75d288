"""Dynamic batching: requests that arrive together run as one forward, on one inference thread.

Each ``submit`` puts its rows on a queue; a single loop takes what is waiting (up to ``max_batch``
rows, waiting at most ``timeout_ms`` for more after the first) and runs ``fn`` on all of them in a
one-thread executor. That thread is the only one that touches the model, so an adapter loaded
between two batches (:meth:`Batcher.call`) never meets a forward half-way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any


class Batcher:
    """Collects rows from concurrent requests into batches of at most ``max_batch`` rows."""

    def __init__(self, fn: Callable[[list[Any]], list[Any]], *, max_batch: int = 32, timeout_ms: float = 5.0):
        self.fn = fn
        self.max_batch = max_batch
        self.timeout = timeout_ms / 1000.0
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="distill-infer")
        self._queue: asyncio.Queue[tuple[Any, asyncio.Future[Any]]] | None = None
        self._task: asyncio.Task[None] | None = None
        self.on_batch: Callable[[int], None] = lambda n: None

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.executor.shutdown(wait=True)

    async def submit(self, rows: Sequence[Any]) -> list[Any]:
        """Run ``rows`` (through whatever batch they land in); their results in order."""
        assert self._queue is not None, "Batcher.start() was not awaited"
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in rows]
        for row, fut in zip(rows, futures, strict=True):
            self._queue.put_nowait((row, fut))
        return list(await asyncio.gather(*futures))

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` on the inference thread, between batches."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def _take(self) -> list[tuple[Any, asyncio.Future[Any]]]:
        assert self._queue is not None
        items = [await self._queue.get()]
        deadline = asyncio.get_running_loop().time() + self.timeout
        while len(items) < self.max_batch:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0 and self._queue.empty():
                break
            try:
                items.append(await asyncio.wait_for(self._queue.get(), max(left, 0.0)))
            except TimeoutError:
                break
        return items

    async def _loop(self) -> None:
        while True:
            items = await self._take()
            rows = [row for row, _ in items]
            self.on_batch(len(rows))
            try:
                results = await self.call(self.fn, rows)
            except Exception as exc:  # every waiting request hears of it; the loop goes on
                for _, fut in items:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for (_, fut), result in zip(items, results, strict=True):
                if not fut.done():
                    fut.set_result(result)
