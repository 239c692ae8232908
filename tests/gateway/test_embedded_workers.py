"""The embedded backend runs each model on a worker thread of its own: a forecast never queues behind a burst of
headlines. Shown with the real backend on tiny exported models, FinBERT's session held mid-run."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import numpy as np

from gateway.backends.embedded import EmbeddedBackend
from investiq.core.finbert import FINBERT, FINBERT_MODEL
from investiq.core.patchtst import INPUT, PATCHTST

WAIT_S = 30.0  # only ever reached when the test fails


class Held:
    """A session whose runs wait until released: a burst of headlines that has not finished yet."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.started, self.release = inner, threading.Event(), threading.Event()

    def run(self, names: list[str], feed: dict[str, Any]) -> Any:
        self.started.set()
        assert self.release.wait(WAIT_S)
        return self.inner.run(names, feed)


def test_a_forecast_does_not_wait_for_headlines_in_flight(both_models: Path):
    backend = EmbeddedBackend(both_models)
    assert backend.patchtst is not None
    held = Held(backend._sessions[FINBERT_MODEL])
    backend._sessions[FINBERT_MODEL] = held
    window = {INPUT: np.linspace(100, 110, backend.patchtst.context_length, dtype=np.float32).reshape(1, -1, 1)}

    async def scenario() -> None:
        news = asyncio.create_task(backend.infer(FINBERT, {"TEXT": np.array(["Profits soar"], dtype=object)}))
        assert await asyncio.to_thread(held.started.wait, WAIT_S)
        forecast = await asyncio.wait_for(backend.infer(PATCHTST, window), WAIT_S)  # FinBERT still mid-run
        assert not news.done()
        assert np.isfinite(forecast["probability_up"]).all()
        held.release.set()
        assert (await news)["probabilities"].shape == (1, 3)

    try:
        asyncio.run(scenario())
    finally:
        held.release.set()
        asyncio.run(backend.close())
