"""News sentiment: validation limits, the cache, the scorer (FinBERT or lexicon) and the journal."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone

from gateway.metrics import Metrics
from gateway.services.cache import LRUCache
from gateway.services.scorers import Scorer
from investiq.core.errors import InvalidInputError
from investiq.core.finbert import LABELS, label_of, score_of
from investiq.core.journal.predictions import SentimentRow, insert_sentiment
from investiq.core.journal.writer import JournalWriter
from investiq.core.texts import normalize


@dataclass(frozen=True)
class SentimentLimits:
    max_texts: int = 256
    max_chars: int = 2000


@dataclass(frozen=True)
class Prediction:
    label: str
    confidence: float  # p of the label
    score: float  # p(positive) - p(negative), in [-1, 1]
    probabilities: dict[str, float]
    cached: bool


@dataclass(frozen=True)
class SentimentResult:
    predictions: list[Prediction]
    model: str
    model_version: str
    processing_time_ms: float
    texts: list[str]  # as scored and journaled (`normalize`d), one per prediction


class SentimentService:
    def __init__(
        self,
        scorer: Scorer,
        writer: JournalWriter,
        metrics: Metrics,
        *,
        limits: SentimentLimits,
        cache_size: int,
        degraded_reason: str | None = None,
    ) -> None:
        self.scorer = scorer
        self.degraded_reason = degraded_reason
        self._writer = writer
        self._metrics = metrics
        self._limits = limits
        self.cache: LRUCache[tuple[str, str], tuple[float, float, float]] = LRUCache(cache_size)
        metrics.serve_model("sentiment", scorer.model, scorer.version)
        # Labelled children looked up once: prometheus_client's labels() takes a lock and builds a key per call.
        self._cache_hits = metrics.sentiment_cache.labels("hit")
        self._cache_misses = metrics.sentiment_cache.labels("miss")
        self._by_label = [metrics.sentiment_predictions.labels(scorer.model, label) for label in LABELS]

    def validate(self, texts: list[str]) -> list[str]:
        """Normalized texts, or InvalidInputError naming the first offending item."""
        if not texts:
            raise InvalidInputError("texts is empty: send at least one text")
        if len(texts) > self._limits.max_texts:
            raise InvalidInputError(
                f"texts has {len(texts)} items, more than the limit of {self._limits.max_texts}: split the request"
            )
        out = []
        for i, text in enumerate(texts):
            clean = normalize(text)
            if not clean:
                raise InvalidInputError(
                    f"texts[{i}] is empty or only whitespace (control, format and unpaired surrogate characters, "
                    'such as a JSON "\\ud800" escape, do not count)'
                )
            if len(clean) > self._limits.max_chars:
                raise InvalidInputError(
                    f"texts[{i}] has {len(clean)} characters, more than the limit of {self._limits.max_chars}"
                )
            out.append(clean)
        return out

    async def predict(self, texts: list[str], symbol: str | None, use_cache: bool = True) -> SentimentResult:
        """`score`, then `journal`: the predictions, queued for the journal."""
        result = await self.score(texts, use_cache)
        await self.journal(result, symbol)
        return result

    async def score(self, texts: list[str], use_cache: bool = True) -> SentimentResult:
        """The predictions, not journaled: the route answers first and journals after (`journal`), so that
        waking the writer thread is not on the answer's path."""
        start = time.perf_counter()
        clean = self.validate(texts)
        version = self.scorer.version
        found: dict[int, tuple[float, float, float]] = {}
        if use_cache:
            for i, text in enumerate(clean):
                hit = self.cache.get((version, text))
                if hit is not None:
                    found[i] = hit
            self._cache_hits.inc(len(found))
            self._cache_misses.inc(len(clean) - len(found))
        # Scored shortest first: a request longer than a batch is cut into batches of like lengths, which pad
        # less (1.11-1.14x the texts/s in batches of 32, benchmarks/results/finbert_runtimes.md); the answers
        # go back to their places by index.
        todo = sorted((i for i in range(len(clean)) if i not in found), key=lambda i: len(clean[i]))
        first: dict[str, int] = {}  # a text sent more than once is scored once (256 copies: 256 rows of compute)
        for i in todo:
            first.setdefault(clean[i], i)
        if first:
            unique = list(first.values())
            scored = await self.scorer.score([clean[i] for i in unique])
            for i, row in zip(unique, scored, strict=True):
                p = (float(row[0]), float(row[1]), float(row[2]))
                if use_cache:  # `use_cache: false` neither reads nor writes it (a review: it overwrote the first)
                    self.cache.put((version, clean[i]), p)
                found[i] = p
            for i in todo:
                found[i] = found[first[clean[i]]]
        predictions = [self._prediction(found[i], cached=i not in todo) for i in range(len(clean))]
        elapsed_ms = (time.perf_counter() - start) * 1000
        return SentimentResult(predictions, self.scorer.model, version, elapsed_ms, clean)

    def _prediction(self, p: tuple[float, float, float], cached: bool) -> Prediction:
        k = label_of(p)
        self._by_label[k].inc()
        return Prediction(LABELS[k], p[k], score_of(p), dict(zip(LABELS, p, strict=True)), cached)

    async def journal(self, result: SentimentResult, symbol: str | None) -> None:
        """Queue `result`'s rows for the journal writer (never waits for the disk). A coroutine so that a
        response can run it once sent (Starlette runs a plain function of a background task on a thread)."""
        texts, predictions, ms = result.texts, result.predictions, result.processing_time_ms
        now = datetime.now(timezone.utc).isoformat()
        rows = [
            SentimentRow(
                now,
                symbol,
                t,
                p.label,
                p.confidence,
                p.score,
                p.probabilities["positive"],
                p.probabilities["negative"],
                p.probabilities["neutral"],
                result.model,
                result.model_version,
                ms,
                p.cached,
            )
            for t, p in zip(texts, predictions, strict=True)
        ]
        self._writer.log(insert_sentiment(rows))

    def health(self) -> dict[str, object]:
        report: dict[str, object] = {
            "status": "healthy",
            "model": self.scorer.model,
            "model_version": self.scorer.version,
            "cache": {"size": len(self.cache), "hit_rate": round(self.cache.hit_rate, 4)},
        }
        if self.degraded_reason:
            report.update(status="degraded", reason=self.degraded_reason)
        return report
