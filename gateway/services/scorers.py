"""Sentiment scorers: FinBERT through the inference backend, or the finance lexicon fallback.

A scorer maps texts to probabilities over LABELS, in that order, and names its model and version.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from gateway.backends.base import InferenceBackend
from gateway.services.batching import MicroBatcher
from investiq.core.finbert import FINBERT, LABELS
from investiq.core.lexicon import NAME as LEXICON
from investiq.core.lexicon import FinanceLexicon


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
    """The finance lexicon fallback (investiq/core/lexicon.py): finance words and phrases read with VADER's
    negation and intensity rules, probabilities that follow the evidence. Model "lexicon"; its version
    names the lexicon file's hash and the vaderSentiment release."""

    model = LEXICON

    def __init__(self) -> None:
        self._lexicon = FinanceLexicon()
        self.version = self._lexicon.version

    async def score(self, texts: list[str]) -> NDArray[np.float32]:
        return await asyncio.to_thread(self._lexicon.score, texts)

    async def close(self) -> None:
        return None
