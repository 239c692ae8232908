"""Micro-batching: concurrent requests share forward passes.

Requests queue their items; one worker takes whatever is queued (whole requests, up to
`max_batch` items), waiting at most `max_wait_s` for more to arrive, and runs them as one call.
While a batch runs, new requests pile up and form the next one, so batches grow with load and a
lone request pays at most `max_wait_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class MicroBatcher(Generic[T, R]):
    def __init__(
        self,
        run: Callable[[list[T]], Awaitable[list[R]]],
        max_batch: int,
        max_wait_s: float,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self._run = run
        self._max_batch = max_batch
        self._max_wait_s = max_wait_s
        self._on_batch = on_batch
        self._queue: list[tuple[list[T], asyncio.Future[list[R]]]] = []
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None

    async def submit(self, items: list[T]) -> list[R]:
        """Results for `items`, in order, computed in a batch shared with concurrent callers."""
        future: asyncio.Future[list[R]] = asyncio.get_running_loop().create_future()
        self._queue.append((items, future))
        self._wake.set()
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work(), name="micro-batcher")
        return await future

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker

    def _queued(self) -> int:
        return sum(len(items) for items, _ in self._queue)

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                deadline = loop.time() + self._max_wait_s
                while self._queued() < self._max_batch and (left := deadline - loop.time()) > 0:
                    self._wake.clear()
                    try:
                        await asyncio.wait_for(self._wake.wait(), left)
                    except asyncio.TimeoutError:
                        break
                taken: list[tuple[list[T], asyncio.Future[list[R]]]] = []
                size = 0
                while self._queue and (not taken or size + len(self._queue[0][0]) <= self._max_batch):
                    entry = self._queue.pop(0)
                    taken.append(entry)
                    size += len(entry[0])
                await self._run_batch(taken)

    async def _run_batch(self, taken: list[tuple[list[T], asyncio.Future[list[R]]]]) -> None:
        items = [item for entry, _ in taken for item in entry]
        try:
            results: list[R] = []
            for start in range(0, len(items), self._max_batch):  # one oversized request: chunks
                chunk = items[start : start + self._max_batch]
                if self._on_batch is not None:
                    self._on_batch(len(chunk))
                results.extend(await self._run(chunk))
        except Exception as exc:
            for _, future in taken:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException:
            # A CancelledError: close(), or a backend call cancelled under us (grpc.aio cancels the calls
            # of a channel that is closed). Its callers are cancelled too, never left waiting forever;
            # the worker ends, and the next submit starts another.
            for _, future in taken:
                future.cancel()
            raise
        offset = 0
        for entry, future in taken:
            if not future.done():  # a caller that went away
                future.set_result(results[offset : offset + len(entry)])
            offset += len(entry)
