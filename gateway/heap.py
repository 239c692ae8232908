"""Python's garbage collector and the event loop: what start-up leaves alive stays out of full collections.

A full (generation 2) collection walks every object the collector tracks, on whichever thread triggers it,
holding the GIL: the event loop stops for its length. Once it has loaded its models, the gateway process
holds ~150,000 such objects (FastAPI's and pydantic's schemas, pandas, ONNX Runtime's and OpenVINO's
bindings), and a full collection of them took ~90 ms on a 2-core EPYC: a stall of every request in flight,
five times in one `investiq bench gateway` run (benchmarks/results/gateway_profile.md). `gc.freeze()` after
start-up moves them into a permanent generation that collections skip (what CPython's documentation
advises for long-lived servers); garbage made while serving is still collected as before.

    with settled(metrics.gc_pause):   # the lifespan: what start-up left is frozen
        ...serve...                   # pauses observed as investiq_gc_pause_seconds{generation}
    resettle()                        # after a model reload: the replaced model's objects become collectable
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import Histogram


class PauseObserver:
    """A `gc.callbacks` entry: each collection's wall time, by generation, into `histogram`. Collections do
    not nest and run holding the GIL, so one start time is enough."""

    def __init__(self, histogram: Histogram) -> None:
        self._children = {generation: histogram.labels(str(generation)) for generation in range(3)}
        self._start: float | None = None  # None: the collection under way began before this was installed

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        elif self._start is not None:
            self._children[info["generation"]].observe(time.perf_counter() - self._start)
            self._start = None


def resettle() -> None:
    """Collect everything, the frozen objects included, then freeze what survives: after a model reload, so
    that the replaced model's objects can go. One full collection of the whole heap (~90 ms), once."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


_serving = 0  # gateways inside `settled` in this process: the heap is unfrozen when the last one stops


@contextmanager
def settled(pauses: Histogram) -> Iterator[None]:
    """For the life of a serving gateway: what start-up left is frozen, pauses are observed. On exit the objects
    are handed back to the collector (tests run many gateways in one process). No collection first: start-up
    leaves a few hundred unreachable objects, not worth a full collection per start (~0.1 s in a test process)."""
    global _serving
    observer = PauseObserver(pauses)
    gc.freeze()
    gc.callbacks.append(observer)
    _serving += 1
    try:
        yield
    finally:
        _serving -= 1
        gc.callbacks.remove(observer)
        if _serving == 0:
            gc.unfreeze()
