"""Serving at scale (issue 16, parts 1 and 5): several calls in flight to Triton while the embedded backend
stays micro-batched; the liveness and readiness probes; counters, model_info and inference latency."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from numpy.typing import NDArray

from gateway.app import create_app
from gateway.backends.base import Tensors
from gateway.metrics import Metrics
from gateway.services.batching import MicroBatcher
from gateway.services.price_forecast import PriceQuery
from gateway.wiring import build_price, build_sentiment
from investiq.core.errors import BackendUnavailableError
from investiq.core.finbert import FINBERT, LABELS, FinbertMeta
from investiq.core.journal import JournalWriter, open_journal
from investiq.core.patchtst import PATCHTST
from investiq.core.settings import Settings
from tests.fakes import FakeBackend, patchtst_outputs

VERSION = "v1"  # the fake FinBERT artifact's version; the scorer serves it as "v1-int8"


class SlowBackend(FakeBackend):
    """Answers FinBERT and PatchTST after `delay` seconds, counting the calls in flight at once."""

    def __init__(self, delay: float = 0.05, horizon: int = 1, ready: bool = True) -> None:
        super().__init__(ready)
        self.delay = delay
        self.horizon = horizon
        self.inflight = 0
        self.most = 0
        self.batches: list[tuple[str, int]] = []

    async def infer(
        self, model: str, inputs: Tensors, version: int | None = None
    ) -> dict[str, NDArray[np.generic]]:
        batch = len(next(iter(inputs.values())))
        self.inflight += 1
        self.most = max(self.most, self.inflight)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.inflight -= 1
        self.batches.append((model, batch))
        if model == FINBERT:
            return {"probabilities": np.tile(np.array([[0.6, 0.1, 0.3]], dtype=np.float32), (batch, 1))}
        return dict(patchtst_outputs(batch, self.horizon))


@pytest.fixture
def finbert_exported(monkeypatch: pytest.MonkeyPatch) -> None:
    """The wiring finds an exported FinBERT (its artifact record only: the backend is a fake)."""
    meta = SimpleNamespace(labels=list(LABELS), version=VERSION)
    monkeypatch.setattr(FinbertMeta, "load", staticmethod(lambda directory: meta))


@pytest.fixture
def writer(settings: Settings) -> Iterator[JournalWriter]:
    open_journal(settings.db_path, settings.db_busy_timeout_ms).close()
    journal = JournalWriter(settings.db_path, settings.db_busy_timeout_ms)
    journal.start()
    yield journal
    journal.close()


TRITON = {"backend": "triton", "triton_max_inflight": 3, "sentiment_batch_size": 4}
EMBEDDED = {"backend": "embedded", "sentiment_batch_size": 4}


# -- part 1: calls in flight ----------------------------------------------------------------------


@pytest.mark.usefixtures("finbert_exported")
@pytest.mark.parametrize(("update", "most"), [(TRITON, 3), (EMBEDDED, 1)], ids=["triton", "embedded"])
def test_sentiment_keeps_the_configured_batches_in_flight(
    settings: Settings, writer: JournalWriter, update: dict[str, Any], most: int
):
    backend = SlowBackend()
    service = build_sentiment(settings.model_copy(update=update), backend, writer, Metrics())
    assert service.scorer.model == FINBERT

    async def run() -> list[Any]:
        try:
            texts = [f"headline {i}" for i in range(32)]
            return await asyncio.gather(*(service.predict([t], None, use_cache=False) for t in texts))
        finally:
            await service.scorer.close()

    results = asyncio.run(run())
    assert [r.predictions[0].label for r in results] == ["positive"] * 32
    assert backend.most == most  # triton: as many as configured, never more; embedded: one at a time
    sizes = [size for _, size in backend.batches]
    assert sum(sizes) == 32 and max(sizes) <= 4
    assert max(sizes) == 4  # batches still grow with load: requests pile up while every slot is busy
    if most == 1:
        assert len(sizes) <= 9  # 1 alone, then full batches of 4: the embedded path stays batched


@pytest.mark.parametrize(("update", "most"), [(TRITON, 3), (EMBEDDED, 12)], ids=["triton", "embedded"])
def test_price_forecasts_keep_the_configured_calls_in_flight(
    settings: Settings, writer: JournalWriter, trained: tuple[Path, Path], update: dict[str, Any], most: int
):
    """Each price request is one forward pass; towards Triton at most triton_max_inflight at once. The
    embedded backend sets no limit here: its PatchTST worker thread runs them one by one."""
    configured = settings.model_copy(update={**update, "model_repository": trained[1]})
    service = build_price(configured, SlowBackend(), writer, Metrics())
    assert service.meta is not None
    backend = SlowBackend(horizon=service.meta.prediction_length)
    service._backend = backend
    closes = [100.0 + 0.1 * i for i in range(service.meta.context_length)]

    async def run() -> list[Any]:
        queries = [PriceQuery(f"S{i}", closes, None) for i in range(12)]
        return await asyncio.gather(*(service.predict([q]) for q in queries))

    forecasts = asyncio.run(run())
    assert len(forecasts) == 12 and backend.most == most
    assert backend.batches == [(PATCHTST, 1)] * 12


HUNG = {**TRITON, "triton_timeout_s": 0.3}  # a Triton that accepts every call and never answers


def settle(tasks: list[asyncio.Task[Any]]) -> tuple[list[BaseException | None], int]:
    """The errors of the tasks done (None: an answer) and how many still wait."""
    done = [t.exception() for t in tasks if t.done()]
    return done, sum(not t.done() for t in tasks)


@pytest.mark.usefixtures("finbert_exported")
def test_headlines_queued_behind_a_hung_triton_give_up_after_one_timeout(
    settings: Settings, writer: JournalWriter
):
    """Each call to Triton waits at most triton_timeout_s, but a request queued behind the calls in flight waited
    that again for every round of them (12 forecasts on a hung Triton: 503s at 5, 10 and 15 s; a review). Those
    still queued after one timeout give up, a 503 naming why; the batches in flight keep their own timeout."""
    backend = SlowBackend(delay=3600)
    service = build_sentiment(settings.model_copy(update=HUNG), backend, writer, Metrics())

    async def run() -> tuple[list[BaseException | None], int, float]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        tasks = [
            asyncio.ensure_future(service.predict([f"headline {i}"], None, use_cache=False)) for i in range(32)
        ]
        while sum(t.done() for t in tasks) < 32 - 3 * 4 and loop.time() - start < 5:
            await asyncio.sleep(0.02)
        errors, waiting = settle(tasks)
        await service.scorer.close()
        return errors, waiting, loop.time() - start

    errors, waiting, took = asyncio.run(run())
    assert backend.most == 3 and 0 < waiting <= 3 * 4 and took < 3, (backend.most, waiting, took)
    assert errors and all(isinstance(e, BackendUnavailableError) for e in errors), errors
    assert "no call to the backend finished within 0.3 s: the 3 in flight" in str(errors[0])


def test_forecasts_queued_behind_a_hung_triton_give_up_after_one_timeout(
    settings: Settings, writer: JournalWriter, trained: tuple[Path, Path]
):
    """As for headlines: of 12 forecasts on a hung Triton with 3 calls in flight, 9 give up after one timeout."""
    configured = settings.model_copy(update={**HUNG, "model_repository": trained[1]})
    service = build_price(configured, SlowBackend(delay=3600), writer, Metrics())
    assert service.meta is not None
    closes = [100.0 + 0.1 * i for i in range(service.meta.context_length)]

    async def run() -> tuple[list[BaseException | None], int, float]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        tasks = [asyncio.ensure_future(service.predict([PriceQuery(f"S{i}", closes, None)])) for i in range(12)]
        while sum(t.done() for t in tasks) < 9 and loop.time() - start < 5:
            await asyncio.sleep(0.02)
        errors, waiting = settle(tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return errors, waiting, loop.time() - start

    errors, waiting, took = asyncio.run(run())
    assert (len(errors), waiting) == (9, 3) and took < 3, (errors, waiting, took)
    assert all(isinstance(e, BackendUnavailableError) and "within 0.3 s" in str(e) for e in errors), errors


def test_a_batcher_in_flight_is_cancelled_on_close():
    """close() ends the batches in flight too: their callers are cancelled, never left waiting."""

    async def run() -> None:
        started = asyncio.Event()

        async def forever(items: list[int]) -> list[int]:
            started.set()
            await asyncio.sleep(3600)
            return items

        batcher: MicroBatcher[int, int] = MicroBatcher(forever, max_batch=2, max_wait_s=0, max_inflight=2)
        calls = [asyncio.ensure_future(batcher.submit([i])) for i in range(3)]
        await started.wait()
        await batcher.close()
        done = await asyncio.gather(*calls, return_exceptions=True)
        assert all(isinstance(d, asyncio.CancelledError) for d in done)

    asyncio.run(asyncio.wait_for(run(), 5))
    with pytest.raises(ValueError, match="max_inflight"):
        MicroBatcher(lambda items: asyncio.sleep(0, items), max_batch=1, max_wait_s=0, max_inflight=0)


# -- part 5: probes -------------------------------------------------------------------------------


def test_live_is_200_while_ready_follows_the_journal_writer(settings: Settings):
    app = create_app(settings.model_copy(update={"sentiment_model": "lexicon"}), FakeBackend())
    with TestClient(app) as client:
        assert client.get("/health/live").json() == {"status": "alive"}
        ready = client.get("/health/ready")
        assert ready.status_code == 200
        assert ready.json() == {"ready": True, "journal": True, "models": {"lexicon": True}}
        app.state.writer.close()  # the writer stops: nothing can be journaled
        ready = client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["ready"] is False and ready.json()["journal"] is False
        assert "the journal writer has stopped" in ready.json()["reason"]
        assert client.get("/health/live").status_code == 200  # alive: a restart is not what it needs
        assert client.get("/health").status_code == 503  # /health as it was


@pytest.mark.usefixtures("finbert_exported")
def test_ready_does_not_follow_the_backend_it_reports(settings: Settings):
    """A backend without a ready model (Triton down) would say so to every replica: readiness stays with the
    process, which still serves the Bayesian weights and answers the models' routes with a 503 naming why."""
    backend = FakeBackend(ready=False)
    with TestClient(create_app(settings, backend)) as client:
        ready = client.get("/health/ready")
        assert ready.status_code == 200
        assert ready.json() == {"ready": True, "journal": True, "models": {FINBERT: False}}
        assert client.get("/bayesian/weights").status_code == 200
        assert client.get("/health").json()["components"]["inference"]["models"] == {FINBERT: False}
        sentiment = client.get("/sentiment/health")  # 503, as the API document says of an unhealthy report
        assert (sentiment.status_code, sentiment.json()["status"]) == (503, "unhealthy")
        backend.is_ready = True
        assert client.get("/health/ready").json() == {"ready": True, "journal": True, "models": {FINBERT: True}}


@pytest.mark.usefixtures("finbert_exported")
def test_metrics_say_whether_the_backend_can_answer_each_task(settings: Settings):
    """The 200 of /health/ready does not page anyone when Triton is down: investiq_backend_ready does."""
    backend = FakeBackend(ready=False)
    with TestClient(create_app(settings, backend)) as client:
        assert 'investiq_backend_ready{task="sentiment"} 0.0' in client.get("/metrics").text
        backend.is_ready = True
        scraped = client.get("/metrics").text
        assert 'investiq_backend_ready{task="sentiment"} 1.0' in scraped
        # no PatchTST exported: every forecast is a 503, and an alert needs a series to fire on
        assert client.post("/price/predict", json={"symbol": "SPX", "prices": [1.0] * 600}).status_code == 503
        assert 'investiq_backend_ready{task="price"} 0.0' in scraped
    lexicon = settings.model_copy(update={"sentiment_model": "lexicon"})
    with TestClient(create_app(lexicon, FakeBackend())) as client:
        assert (
            'investiq_backend_ready{task="sentiment"}' not in client.get("/metrics").text
        )  # no model to be ready


# -- part 5: metrics ------------------------------------------------------------------------------


@pytest.mark.usefixtures("finbert_exported")
def test_metrics_have_counters_model_info_and_inference_latency(settings: Settings):
    app = create_app(settings, SlowBackend(delay=0))
    with TestClient(app) as client:
        assert client.post("/sentiment/predict", json={"texts": ["Profits soar"]}).status_code == 200
        app.state.writer.flush()
        text = client.get("/metrics").text
        committed = app.state.writer.committed  # the journal's own count (the sentiment row, the daily prune)
    assert committed >= 1
    assert "# TYPE investiq_journal_committed_total counter" in text
    assert "# TYPE investiq_journal_failed_total counter" in text
    assert f"investiq_journal_committed_total {float(committed)}" in text
    assert "investiq_journal_failed_total 0.0" in text
    assert "# TYPE investiq_model_info gauge" in text
    assert f'investiq_model_info{{model="finbert",task="sentiment",version="{VERSION}-int8"}} 1.0' in text
    assert "# TYPE investiq_inference_duration_seconds histogram" in text
    assert 'investiq_inference_duration_seconds_count{model="finbert"} 1.0' in text
    assert 'investiq_inference_duration_seconds_bucket{le="0.0005",model="finbert"}' in text


def test_model_info_follows_the_price_model_hot_swap(
    settings: Settings, writer: JournalWriter, trained: tuple[Path, Path]
):
    metrics = Metrics()
    repository = settings.model_copy(update={"model_repository": trained[1]})
    service = build_price(repository, FakeBackend(), writer, metrics)
    meta = service.meta
    assert meta is not None
    served = meta.served_as()
    series = f'investiq_model_info{{model="{served}",task="price",version="{meta.version}"}} 1.0'
    assert series in metrics.render().decode()
    service.swap(dataclasses.replace(meta, version="next"), 2)
    text = metrics.render().decode()
    assert f'investiq_model_info{{model="{served}",task="price",version="next"}} 1.0' in text
    assert f'version="{meta.version}"' not in text  # the old version's series is gone, not left at 1


def test_price_inference_latency_is_observed_per_call(
    settings: Settings, writer: JournalWriter, trained: tuple[Path, Path]
):
    metrics = Metrics()
    repository = settings.model_copy(update={"model_repository": trained[1]})
    service = build_price(repository, FakeBackend(), writer, metrics)
    assert service.meta is not None
    service._backend = SlowBackend(delay=0.01, horizon=service.meta.prediction_length)
    closes = [100.0 + 0.1 * i for i in range(service.meta.context_length)]
    asyncio.run(service.predict([PriceQuery("SPY", closes, None)]))
    text = metrics.render().decode()
    assert 'investiq_inference_duration_seconds_count{model="patchtst"} 1.0' in text
    total = float(text.split('investiq_inference_duration_seconds_sum{model="patchtst"} ')[1].split()[0])
    assert total >= 0.01
