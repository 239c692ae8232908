"""The micro-batcher (`gateway/services/batching.py`): which requests share a forward pass, who gets which
answer, and what a timeout, a failure or close() leaves behind. Each test here kills a mutant that every other
test survived (a mutation audit).

No test sleeps to synchronise: the model is a fake whose calls the test releases, a wait that must not happen is
made effectively endless (a long `max_wait_s`, a huge REGROUP) and "at once" means within a fixed number of
event-loop rounds, which does not depend on how busy the machine is."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from gateway.services import batching
from gateway.services.batching import MicroBatcher
from investiq.core.errors import BackendUnavailableError

X = TypeVar("X")
ROUNDS = 200  # event-loop rounds: far more than any batch needs to be taken, run and answered


class Model:
    """A fake run: records each call's items and answers each item negated; calls holding an item of `hold`
    wait until the test sets `release`, and raise `fail` once released, if given."""

    def __init__(self, hold: frozenset[int] = frozenset(), fail: Exception | None = None) -> None:
        self.calls: list[list[int]] = []
        self.hold, self.fail = hold, fail
        self.release = asyncio.Event()
        self.held = asyncio.Event()

    async def __call__(self, items: list[int]) -> list[int]:
        self.calls.append(list(items))
        if self.hold.intersection(items):
            self.held.set()
            await self.release.wait()
            if self.fail is not None:
                raise self.fail
        await asyncio.sleep(0)  # a run takes some time: never zero on the loop's clock
        return [-i for i in items]


async def rounds(n: int = ROUNDS) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def done_soon(task: asyncio.Future[X], n: int = ROUNDS) -> bool:
    """Whether `task` is done within `n` event-loop rounds."""
    for _ in range(n):
        if task.done():
            return True
        await asyncio.sleep(0)
    return task.done()


def start(coro: Coroutine[Any, Any, X]) -> asyncio.Task[X]:
    return asyncio.ensure_future(coro)


def run(coro: Coroutine[Any, Any, X]) -> X:
    return asyncio.run(coro)


def batcher_tasks() -> list[asyncio.Task[Any]]:
    """The batcher's own tasks still pending: its worker ('micro-batcher') and batches ('micro-batch')."""
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("micro-batch") and not t.done()]


def test_a_batcher_serves_again_after_close():
    """close() ends the worker; the next submit starts another (the docstring's promise) and is answered.
    Kills batching.py:submit: `worker is None or worker.done()` -> `worker is None` (a closed batcher's next
    request waited forever)."""

    async def scenario() -> None:
        model = Model()
        b: MicroBatcher[int, int] = MicroBatcher(model, max_batch=4, max_wait_s=0)
        assert await b.submit([1]) == [-1]
        await b.close()
        again = start(b.submit([2]))
        assert await done_soon(again), "a request after close() was never served"
        assert again.result() == [-2]
        await b.close()

    run(scenario())


def test_close_leaves_no_task_of_the_batcher_behind():
    """After `await close()` neither the worker nor a batch in flight is still pending.
    Kills batching.py:close: the worker left out of the tasks cancelled (a task leaked per batcher closed), and
    close returning without awaiting the cancelled tasks (still running when it returned)."""

    async def scenario() -> None:
        model = Model(hold=frozenset({1}))
        b: MicroBatcher[int, int] = MicroBatcher(model, max_batch=4, max_wait_s=0)
        call = start(b.submit([1]))
        await model.held.wait()
        assert {t.get_name() for t in batcher_tasks()} == {"micro-batcher", "micro-batch"}
        await b.close()
        assert batcher_tasks() == []
        with pytest.raises(asyncio.CancelledError):
            await call

    run(scenario())


def test_a_request_as_large_as_a_batch_runs_at_once():
    """A request of `max_batch` items fills a batch: it runs without waiting `max_wait_s` for more.
    Kills batching.py:_queued: items -> requests counted (one request of 2 looked like 1 of 2), and
    batching.py:_work: `_queued() < max_batch` -> `<=` (a full batch still waited)."""

    async def scenario() -> None:
        model = Model()
        b: MicroBatcher[int, int] = MicroBatcher(model, max_batch=2, max_wait_s=3600)
        call = start(b.submit([1, 2]))
        assert await done_soon(call), "a full batch waited for more"
        assert call.result() == [-1, -2] and model.calls == [[1, 2]]
        await b.close()

    run(scenario())


def test_a_lone_request_waits_max_wait_for_company():
    """With `max_wait_s`, a request that finds the batcher idle waits for more: one that arrives meanwhile
    shares its batch. Kills batching.py:_work: `deadline = now + max_wait_s` -> `now` (the wait dropped)."""

    async def scenario() -> None:
        model = Model()
        b: MicroBatcher[int, int] = MicroBatcher(model, max_batch=2, max_wait_s=3600)
        first = start(b.submit([1]))
        await rounds(20)  # the worker is waiting for more
        assert not first.done()
        second = start(b.submit([2]))
        assert await done_soon(first) and await done_soon(second)
        assert (first.result(), second.result(), model.calls) == ([-1], [-2], [[1, 2]])
        await b.close()

    run(scenario())


def test_a_batch_fills_exactly_to_max_batch_first_come_first_served(monkeypatch: pytest.MonkeyPatch):
    """Requests queued together are taken oldest first, up to exactly `max_batch` items.
    Kills batching.py:_work: `size + len <= max_batch` -> `<` (a batch one item short: [1], [2], [3]) and
    `queue.pop(0)` -> `queue.pop()` (the newest first: [3, 2], [1])."""
    monkeypatch.setattr(batching, "REGROUP", 0.0)  # the second batch need not wait for the first's callers

    async def scenario() -> None:
        model = Model()
        b: MicroBatcher[int, int] = MicroBatcher(model, max_batch=2, max_wait_s=0)
        answers = await asyncio.gather(*(b.submit([i]) for i in (1, 2, 3)))
        assert answers == [[-1], [-2], [-3]]
        assert model.calls == [[1, 2], [3]]
        await b.close()

    run(scenario())


def test_the_wait_for_more_is_woken_once_per_arrival(monkeypatch: pytest.MonkeyPatch):
    """While a batch waits for more, it wakes when a request arrives and then waits again: it does not spin
    through the event loop until its deadline. Kills batching.py:_work: the inner `_wake.clear()` dropped (the
    event stayed set: every round of the loop re-checked the queue until `max_wait_s` was up)."""
    checks: list[float] = []
    left = MicroBatcher._left

    def spy(self: MicroBatcher[int, int], deadline: float, now: float) -> float:
        checks.append(left(self, deadline, now))
        return checks[-1]

    monkeypatch.setattr(MicroBatcher, "_left", spy)

    async def scenario() -> None:
        model = Model()
        b: MicroBatcher[int, int] = MicroBatcher(model, max_batch=3, max_wait_s=3600)
        calls = [start(b.submit([1]))]
        await rounds(20)
        calls.append(start(b.submit([2])))
        await rounds(50)  # a spinning worker would check the queue in each of these rounds
        calls.append(start(b.submit([3])))
        for call in calls:
            assert await done_soon(call)
        assert model.calls == [[1, 2, 3]]
        assert len(checks) == 2, checks  # once for the first request, once after the second's arrival
        await b.close()

    run(scenario())


def test_a_wait_that_timed_out_runs_its_batch_without_looking_again(monkeypatch: pytest.MonkeyPatch):
    """When the wait for more times out, the batch runs: the deadline is not looked at again.
    Kills batching.py:_work: `except TimeoutError: break` -> `continue` (a second look at the deadline, which
    could move it: a regrouping time that began meanwhile)."""
    checks: list[float] = []
    left = MicroBatcher._left

    def spy(self: MicroBatcher[int, int], deadline: float, now: float) -> float:
        checks.append(0.001 if not checks else left(self, deadline, now))  # the first: a short wait that times out
        return checks[-1]

    monkeypatch.setattr(MicroBatcher, "_left", spy)

    async def scenario() -> None:
        model = Model()
        b: MicroBatcher[int, int] = MicroBatcher(model, max_batch=4, max_wait_s=0)
        assert await b.submit([1]) == [-1]
        await b.close()

    run(scenario())
    assert checks == [0.001]


def test_a_batch_in_flight_does_not_make_the_next_wait_for_regrouping(monkeypatch: pytest.MonkeyPatch):
    """The regrouping wait applies only while no batch is in flight: with one in flight (`max_inflight` 2),
    a lone request runs at once in the free slot. Kills batching.py:_left: `not self._inflight and` dropped
    (the request waited for the last batch's callers although they were busy in flight)."""
    monkeypatch.setattr(batching, "REGROUP", 1e9)  # a regrouping wait would not end within the test

    async def scenario() -> None:
        model = Model(hold=frozenset({3}))
        b: MicroBatcher[int, int] = MicroBatcher(model, max_batch=8, max_wait_s=0, max_inflight=2)
        await asyncio.gather(b.submit([1]), b.submit([2]))  # the last batch served two callers
        held = [start(b.submit([3])), start(b.submit([4]))]  # both back: no regrouping wait; held in flight
        await model.held.wait()
        lone = start(b.submit([5]))
        assert await done_soon(lone), "a lone request waited for callers busy in flight"
        assert lone.result() == [-5]
        model.release.set()
        assert [await h for h in held] == [[-3], [-4]]
        await b.close()

    run(scenario())


def test_a_lone_caller_with_many_items_does_not_wait_for_itself(monkeypatch: pytest.MonkeyPatch):
    """The regrouping wait counts callers, not items: after a batch of one caller with four items, that
    caller's next request runs at once. Kills batching.py:_run_batch: `_callers = len(taken)` -> the items
    taken (the lone caller's next request waited for three callers that never were)."""
    monkeypatch.setattr(batching, "REGROUP", 1e9)

    async def scenario() -> None:
        model = Model()
        b: MicroBatcher[int, int] = MicroBatcher(model, max_batch=8, max_wait_s=0)
        assert await b.submit([1, 2, 3, 4]) == [-1, -2, -3, -4]
        again = start(b.submit([5]))
        assert await done_soon(again), "a lone caller waited to regroup with itself"
        await b.close()

    run(scenario())


def test_a_request_that_gave_up_on_a_slot_is_not_run_later():
    """A request that timed out waiting for a slot (a 503) is out of the queue: the backend never runs it
    when a slot frees. Kills batching.py:submit: the removal from the queue dropped (the backend spent a call
    on items whose caller had gone)."""

    async def scenario() -> None:
        model = Model(hold=frozenset({1}))
        b: MicroBatcher[int, int] = MicroBatcher(model, max_batch=1, max_wait_s=0, slot_timeout_s=0.01)
        first = start(b.submit([1]))
        await model.held.wait()
        with pytest.raises(BackendUnavailableError, match=r"within 0\.01 s"):
            await b.submit([2])  # queued behind the held call: gives up after the slot timeout
        model.release.set()
        assert await first == [-1]
        assert await b.submit([3]) == [-3]
        assert model.calls == [[1], [3]]
        await b.close()

    run(scenario())


def test_a_failed_batch_reaches_its_callers_past_one_that_went_away():
    """A caller that went away (cancelled) while its batch ran does not keep the backend's error from the
    others. Kills batching.py:_run_batch: the `if not future.done()` before `set_exception` dropped (an
    InvalidStateError on the cancelled caller's future; the next caller was never answered)."""

    async def scenario() -> None:
        model = Model(hold=frozenset({1}), fail=RuntimeError("backend down"))
        b: MicroBatcher[int, int] = MicroBatcher(model, max_batch=4, max_wait_s=0)
        gone, stays = start(b.submit([1])), start(b.submit([2]))
        await model.held.wait()
        assert model.calls == [[1, 2]]
        gone.cancel()
        await rounds(5)
        model.release.set()
        assert await done_soon(stays), "the caller after one that went away was never answered"
        with pytest.raises(RuntimeError, match="backend down"):
            stays.result()
        await b.close()

    run(scenario())


def test_answers_skip_a_caller_that_went_away_and_stay_aligned():
    """A caller cancelled while its batch ran is skipped, and the callers after it still get their own slices.
    Kills batching.py:_run_batch: the `if not future.done()` before `set_result` dropped (an InvalidStateError:
    the rest never answered), and the offset advanced only for callers answered (the next caller got the
    departed one's answers)."""

    async def scenario() -> None:
        model = Model(hold=frozenset({1}))
        b: MicroBatcher[int, int] = MicroBatcher(model, max_batch=8, max_wait_s=0)
        gone, stays = start(b.submit([1, 2])), start(b.submit([3]))
        await model.held.wait()
        gone.cancel()
        await rounds(5)
        model.release.set()
        assert await done_soon(stays), "the caller after one that went away was never answered"
        assert stays.result() == [-3]
        await b.close()

    run(scenario())


def test_a_batch_that_fits_one_chunk_reaches_the_backend_in_its_callers_order():
    """Sorting by `order` is for cutting a batch into several chunks: one that fits a single chunk reaches the
    backend as its callers queued it. Kills batching.py:_chunked: `len(items) > max_batch` -> `>=` (a batch of
    exactly `max_batch` items sorted)."""

    async def scenario() -> None:
        model = Model()
        b: MicroBatcher[int, int] = MicroBatcher(model, max_batch=3, max_wait_s=0, order=lambda i: -i)
        assert await b.submit([1, 2, 3]) == [-1, -2, -3]
        assert model.calls == [[1, 2, 3]]
        await b.close()

    run(scenario())


def test_close_cancels_the_callers_still_queued():
    """batching.py:close: only the worker and the batches in flight cancelled; a request queued behind the one
    busy slot, or a lone one waiting max_wait_s for company, kept a future nobody would resolve, and its caller
    waited forever (the round's finding; both cases fail before the fix)."""

    async def behind_a_busy_slot() -> None:
        held, release = asyncio.Event(), asyncio.Event()

        async def model(items: list[int]) -> list[int]:
            held.set()
            await release.wait()
            return items

        b: MicroBatcher[int, int] = MicroBatcher(model, max_batch=1, max_wait_s=0, max_inflight=1)
        in_flight = start(b.submit([1]))
        await held.wait()
        queued = start(b.submit([2]))
        await rounds(1)
        await b.close()
        assert await done_soon(in_flight) and in_flight.cancelled()
        assert await done_soon(queued) and queued.cancelled()

    async def waiting_for_company() -> None:
        async def model(items: list[int]) -> list[int]:
            return items

        b: MicroBatcher[int, int] = MicroBatcher(model, max_batch=4, max_wait_s=3600)
        waiting = start(b.submit([1]))
        await rounds(20)
        await b.close()
        assert await done_soon(waiting) and waiting.cancelled()

    run(behind_a_busy_slot())
    run(waiting_for_company())
