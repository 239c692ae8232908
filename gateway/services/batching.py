"""Micro-batching: concurrent requests share forward passes.

Requests queue their items; one worker takes whatever is queued (whole requests, up to
`max_batch` items), waiting at most `max_wait_s` for more to arrive, and runs them as one call.
While a batch runs, new requests pile up and form the next one, so batches grow with load and a
lone request pays at most `max_wait_s`.

Under steady load the callers of a batch come back together: each gets its answer and sends its next
request a moment later. Taking whatever is queued at once would then run the first of them alone and
the rest as the next batch (1, 15, 1, 15, ... for 16 clients), paying a forward pass for one text each
time. So when no batch is in flight, the next one waits for as many callers as the last one served, at
most REGROUP of that batch's run time after it ended (a caller that went away costs that once, and the
count follows). A lone caller is never kept waiting by this: the last batch had one caller, itself.

A batch of more than `max_batch` items (one large request) runs in chunks of `max_batch`; given `order`
(an item's rough cost, e.g. a text's length), the items are sorted by it before they are cut, so that
each chunk holds items of like cost (FinBERT: texts of like length pad less), and the results go back to
their callers in the callers' order. With `cut` False the run is handed the batch whole and cuts it
itself (the embedded backend plans FinBERT's passes from exact token counts).

With `slot_timeout_s` (Triton's timeout), a request still queued after that long, every slot held by a call
that has not come back, gives up with a 503 (`slot_timeout`) rather than wait for another round of calls.

`max_inflight` batches run at once (1: one at a time, for the embedded backend, whose worker thread for
the model runs them one by one anyway). A server with several model instances and a batcher of its own
(Triton) is given more: while all of them are busy, requests pile up as before, and the batches in
flight keep every instance working and let the server merge them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from investiq.core.errors import BackendUnavailableError

T = TypeVar("T")
R = TypeVar("R")
REGROUP = 0.25  # of the last batch's run time: how long the next one waits for its callers to come back


def slot_timeout(waited_s: float, inflight: int) -> BackendUnavailableError:
    """A request that waited `waited_s` for one of the `inflight` calls to the backend to finish: each call waits
    at most the backend's own timeout, but a request queued behind them waited that again per round of calls (a
    hung Triton answered 12 concurrent forecasts at 5, 10 and 15 s, a review); it gives up after one instead."""
    return BackendUnavailableError(
        f"no call to the backend finished within {waited_s:g} s: the {inflight} in flight are all still waiting "
        "for it (a server that accepts and does not answer?); send it again later"
    )


class MicroBatcher(Generic[T, R]):
    def __init__(
        self,
        run: Callable[[list[T]], Awaitable[list[R]]],
        max_batch: int,
        max_wait_s: float,
        on_batch: Callable[[int], None] | None = None,
        max_inflight: int = 1,
        order: Callable[[T], int] | None = None,
        cut: bool = True,
        slot_timeout_s: float | None = None,
    ) -> None:
        if max_inflight < 1:
            raise ValueError(f"max_inflight must be >= 1, not {max_inflight}")
        self._run = run
        self._max_batch = max_batch
        self._max_wait_s = max_wait_s
        self._on_batch = on_batch
        self._order = order
        self._cut = cut
        self._queue: list[tuple[list[T], asyncio.Future[list[R]]]] = []
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._slots = asyncio.Semaphore(max_inflight)
        self._max_inflight, self._slot_timeout_s = max_inflight, slot_timeout_s
        self._inflight: set[asyncio.Task[None]] = set()
        self._callers = 0  # callers the last batch to end served
        self._regroup_until = 0.0  # loop time until which the next batch waits for them

    async def submit(self, items: list[T]) -> list[R]:
        """Results for `items`, in order, computed in a batch shared with concurrent callers."""
        future: asyncio.Future[list[R]] = asyncio.get_running_loop().create_future()
        entry = (items, future)
        self._queue.append(entry)
        self._wake.set()
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work(), name="micro-batcher")
        if self._slot_timeout_s is None:
            return await future
        try:
            return await asyncio.wait_for(asyncio.shield(future), self._slot_timeout_s)
        except asyncio.TimeoutError:
            if not any(queued is entry for queued in self._queue):
                return await future  # taken into a batch in flight: its call has the backend's own timeout
            self._queue[:] = [queued for queued in self._queue if queued is not entry]
            future.cancel()
            raise slot_timeout(self._slot_timeout_s, self._max_inflight) from None

    async def close(self) -> None:
        """Cancel the worker and the batches in flight, whose callers are cancelled, and the callers still queued
        (they were left waiting forever: a mutation audit)."""
        tasks = [*self._inflight, *([self._worker] if self._worker is not None else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        queued, self._queue[:] = self._queue[:], []
        for _, future in queued:
            future.cancel()

    def _queued(self) -> int:
        return sum(len(items) for items, _ in self._queue)

    def _left(self, deadline: float, now: float) -> float:
        """Seconds the next batch may still wait for more: until `deadline` (max_wait_s), or, while no batch is
        in flight and fewer callers are queued than the last one served, until its regrouping time is up."""
        if not self._inflight and len(self._queue) < self._callers:
            deadline = max(deadline, self._regroup_until)
        return deadline - now

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                await self._slots.acquire()  # while every slot is busy, requests pile up: the batch grows
                deadline = loop.time() + self._max_wait_s
                while self._queued() < self._max_batch and (left := self._left(deadline, loop.time())) > 0:
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
                task = asyncio.create_task(self._run_batch(taken, loop.time()), name="micro-batch")
                self._inflight.add(task)
                task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._slots.release()

    async def _run_batch(self, taken: list[tuple[list[T], asyncio.Future[list[R]]]], started: float) -> None:
        items = [item for entry, _ in taken for item in entry]
        try:
            results = await self._chunked(items)
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
        now = asyncio.get_running_loop().time()
        self._callers, self._regroup_until = len(taken), now + REGROUP * (now - started)
        offset = 0
        for entry, future in taken:
            if not future.done():  # a caller that went away
                future.set_result(results[offset : offset + len(entry)])
            offset += len(entry)

    async def _chunked(self, items: list[T]) -> list[R]:
        """`run` over `items` in chunks of at most max_batch (sorted by `order` first when there are several;
        one chunk when the run cuts its own); the results in `items`' order."""
        if not self._cut:
            if self._on_batch is not None:
                self._on_batch(len(items))
            return await self._run(items)
        order = list(range(len(items)))
        if self._order is not None and len(items) > self._max_batch:
            key = self._order
            order.sort(key=lambda i: key(items[i]))
        results: dict[int, R] = {}
        for start in range(0, len(items), self._max_batch):
            chunk = order[start : start + self._max_batch]
            if self._on_batch is not None:
                self._on_batch(len(chunk))
            results.update(zip(chunk, await self._run([items[i] for i in chunk]), strict=True))
        return [results[i] for i in range(len(items))]
