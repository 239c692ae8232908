"""Fakes for tests of the layers above them (never for the layer under test)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from gateway.backends.base import Tensors
from investiq.core.patchtst import OUTPUT, PROBABILITY_UP, QUANTILE_LEVELS, QUANTILES, VOLATILITY
from investiq.core.plotting import pyplot


class FakeBackend:
    """An inference backend whose readiness the test controls; echoes the batch size."""

    name = "fake"
    target = "in-process"

    def __init__(self, ready: bool = True) -> None:
        self.is_ready = ready
        self.closed = False
        self.reloaded: list[str] = []

    async def infer(
        self, model: str, inputs: Tensors, version: int | None = None
    ) -> dict[str, NDArray[np.generic]]:
        batch = len(next(iter(inputs.values())))
        return {"batch": np.array([batch])}

    async def ready(self, model: str | None = None) -> bool:
        return self.is_ready

    async def reload(self, model: str) -> None:
        self.reloaded.append(model)

    async def close(self) -> None:
        self.closed = True


class Clock:
    """A settable epoch-seconds clock for the forgetting."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, days: float) -> None:
        self.now += days * 86_400.0


def patchtst_outputs(batch: int, horizon: int, price: float = 101.0) -> dict[str, NDArray[np.float32]]:
    """A valid answer of the PatchTST graph for `batch` windows (investiq/core/patchtst.py): every
    path at `price`, the quantiles fanned out around it, P(up) 0.5, volatility 1%."""
    spread = np.linspace(0.95, 1.05, len(QUANTILE_LEVELS), dtype=np.float32)
    return {
        OUTPUT: np.full((batch, horizon, 1), price, dtype=np.float32),
        QUANTILES: np.tile(price * spread, (batch, horizon, 1)),
        PROBABILITY_UP: np.full((batch, horizon), 0.5, dtype=np.float32),
        VOLATILITY: np.full((batch, 1), 0.01, dtype=np.float32),
    }


def post_scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """The ASGI scope of an HTTP/1.1 POST to `path` with `headers`, for calling the app directly (what a server
    would pass it), where a test must see how often the app asks for the body."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8080),
    }


class Kept:
    """pyplot whose figures stay open for the test to read (plt.close only records the figure)."""

    def __init__(self) -> None:
        self.figs: list[Any] = []
        self.closed: list[Any] = []

    def subplots(self, *args: Any, **kwargs: Any) -> Any:
        fig, axes = pyplot().subplots(*args, **kwargs)
        self.figs.append(fig)
        return fig, axes

    def close(self, fig: Any) -> None:
        self.closed.append(fig)
