"""Sentiment scorers: FinBERT through the inference backend, or the VADER lexicon fallback.

A scorer maps texts to probabilities over LABELS, in that order, and names its model and version.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from importlib.metadata import version as package_version
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from gateway.backends.base import InferenceBackend
from gateway.services.batching import MicroBatcher
from investiq.core.finbert import FINBERT, LABELS

VADER_NEUTRAL_BAND = 0.05  # |compound| below this is neutral (VADER's documented threshold)


class Scorer(Protocol):
    model: str
    version: str

    async def score(self, texts: list[str]) -> NDArray[np.float32]:
        """Probabilities [len(texts), 3] over LABELS."""
        ...

    async def close(self) -> None: ...


class FinbertScorer:
    """FinBERT via backend model `finbert`, micro-batched; columns reordered from the artifact's labels."""

    model = FINBERT

    def __init__(
        self,
        backend: InferenceBackend,
        labels: list[str],
        version: str,
        *,
        max_batch: int,
        max_wait_s: float,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.version = version
        self._backend = backend
        self._columns = [labels.index(label) for label in LABELS]
        self._batcher: MicroBatcher[str, NDArray[np.float32]] = MicroBatcher(
            self._run, max_batch, max_wait_s, on_batch
        )

    async def score(self, texts: list[str]) -> NDArray[np.float32]:
        return np.stack(await self._batcher.submit(texts))

    async def _run(self, texts: list[str]) -> list[NDArray[np.float32]]:
        out = await self._backend.infer(FINBERT, {"TEXT": np.array(texts, dtype=object)})
        probabilities = np.asarray(out["probabilities"], dtype=np.float32)[:, self._columns]
        return list(probabilities)

    async def close(self) -> None:
        await self._batcher.close()


class LexiconScorer:
    """VADER (vaderSentiment): a maintained-in-place lexicon with its own word list and rules.

    Probabilities: VADER's pos/neg/neu proportions, with the label decided by the compound score
    as VADER recommends; the proportion of the decided label is raised to be the largest, so that
    the label and the argmax agree.
    """

    model = "vader"

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._analyzer = SentimentIntensityAnalyzer()
        self.version = package_version("vaderSentiment")

    async def score(self, texts: list[str]) -> NDArray[np.float32]:
        return await asyncio.to_thread(lambda: np.stack([self._one(t) for t in texts]))

    def _one(self, text: str) -> NDArray[np.float32]:
        s = self._analyzer.polarity_scores(text)
        p = np.array([s["pos"], s["neg"], s["neu"]], dtype=np.float64) + 1e-6
        label = 0 if s["compound"] >= VADER_NEUTRAL_BAND else 1 if s["compound"] <= -VADER_NEUTRAL_BAND else 2
        p[label] = max(p[label], p.max() + 1e-3)
        return np.asarray(p / p.sum(), dtype=np.float32)

    async def close(self) -> None:
        return None
