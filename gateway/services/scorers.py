"""Sentiment scorers: FinBERT through the inference backend, or the finance lexicon fallback.

A scorer maps texts to probabilities over LABELS, in that order, and names its model and version.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from gateway.backends.base import InferenceBackend
from gateway.services.batching import MicroBatcher
from investiq.core.errors import BackendUnavailableError
from investiq.core.finbert import FINBERT, LABELS, PROBABILITIES, TEXT_INPUT
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
    """FinBERT via backend model `finbert`, micro-batched with up to `max_inflight` batches in flight
    (gateway/services/batching.py); columns reordered from the artifact's labels. `on_infer` is given
    the seconds of each backend call, failed ones included. `cut` False: the backend is handed a batch
    larger than `max_batch` whole, and cuts it into passes itself (by exact token counts); True: the batcher
    cuts it, shortest texts first."""

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
        on_infer: Callable[[float], None] | None = None,
        max_inflight: int = 1,
        cut: bool = True,
        slot_timeout_s: float | None = None,
    ) -> None:
        self.version = version
        self._backend = backend
        self._on_infer = on_infer
        self._columns = [labels.index(label) for label in LABELS]
        self._batcher: MicroBatcher[str, NDArray[np.float32]] = MicroBatcher(
            self._run,
            max_batch,
            max_wait_s,
            on_batch,
            max_inflight=max_inflight,
            order=len,
            cut=cut,
            slot_timeout_s=slot_timeout_s,
        )  # order=len: a burst of headlines is cut into batches of like length (characters ~ tokens)

    async def score(self, texts: list[str]) -> NDArray[np.float32]:
        return np.stack(await self._batcher.submit(texts))

    async def _run(self, texts: list[str]) -> list[NDArray[np.float32]]:
        start = time.perf_counter()
        try:
            out = await self._backend.infer(FINBERT, {TEXT_INPUT: np.array(texts, dtype=object)})
        finally:
            if self._on_infer is not None:
                self._on_infer(time.perf_counter() - start)
        probabilities = np.asarray(out[PROBABILITIES], dtype=np.float32)[:, self._columns]
        if not (np.isfinite(probabilities).all() and ((probabilities >= 0) & (probabilities <= 1)).all()):
            # a broken graph or runtime: a NaN must reach neither the answer nor the journal (its row was dropped)
            raise BackendUnavailableError(
                f"{FINBERT} answered something that is not a probability for a batch of {len(texts)} texts: its "
                "export or runtime is broken; re-export it (`investiq export finbert`) or set finbert_runtime"
            )
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
