"""The gateway's own cost (issue 16, part 6) and the model age (part 5): the sentiment answer written directly
is the schema's answer, the journal still gets every prediction once the answer is sent, concurrent callers
regroup into one batch, and the served price model's age is exported for the stale-model alert."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families as parse

from gateway.app import create_app, price_trained
from gateway.metrics import Metrics
from gateway.middleware import new_request_id
from gateway.schemas.sentiment import SentimentResponse, response_json
from gateway.services.batching import REGROUP, MicroBatcher
from gateway.services.sentiment import Prediction, SentimentLimits, SentimentService
from gateway.wiring import build_price
from investiq.core.finbert import LABELS
from investiq.core.journal import JournalWriter, open_journal
from investiq.core.settings import Settings
from tests.fakes import Clock, FakeBackend


def test_the_written_answer_is_the_schemas_answer():
    predictions = [
        Prediction("positive", 0.875, 0.8125, {"positive": 0.875, "negative": 0.0625, "neutral": 0.0625}, False),
        Prediction("neutral", 1 / 3, 1e-7, {"positive": 1 / 3, "negative": 1 / 3 - 1e-7, "neutral": 1 / 3}, True),
    ]
    written = response_json([vars(p) for p in predictions], "finbert", "v1-int8", 4.25)
    through_pydantic = SentimentResponse(
        predictions=[dataclasses.asdict(p) for p in predictions],
        model="finbert",
        model_version="v1-int8",
        processing_time_ms=4.25,
    )
    assert SentimentResponse.model_validate_json(written) == through_pydantic
    assert json.loads(written) == json.loads(through_pydantic.model_dump_json())
    assert b" " not in written.replace(b"v1-int8", b"")  # compact, as pydantic writes it


def test_every_prediction_is_journaled_once_the_answer_is_sent(settings: Settings):
    lexicon = settings.model_copy(update={"sentiment_model": "lexicon"})
    with TestClient(create_app(lexicon, FakeBackend())) as client:
        texts = ["Profits soar at the bank", "Shares plunge after the recall"]
        answer = client.post("/sentiment/predict", json={"texts": texts, "symbol": "AAPL"})
        assert answer.status_code == 200, answer.text
        client.app.state.writer.flush()
    body = answer.json()
    with sqlite3.connect(settings.db_path) as conn:
        rows = conn.execute(
            "SELECT symbol, text, label, confidence, model_name, model_version "
            "FROM sentiment_predictions ORDER BY id"
        ).fetchall()
    assert rows == [
        ("AAPL", t, p["label"], p["confidence"], body["model"], body["model_version"])
        for t, p in zip(texts, body["predictions"], strict=True)
    ]


def test_request_ids_have_the_uuid4_hex_form_and_differ():
    ids = {new_request_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


class Lockstep:
    """A model call of a fixed duration that records the size of each batch (the layer below the batcher)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.sizes: list[int] = []

    async def __call__(self, items: list[int]) -> list[int]:
        self.sizes.append(len(items))
        await asyncio.sleep(self.seconds)
        return items


def test_callers_that_come_back_together_are_batched_together():
    """Four callers answered by one batch come back one after another (as clients do over HTTP): the next
    batch waits for all four instead of running the first alone and the other three after it."""
    model = Lockstep(0.2)  # long, so that a busy machine's scheduling stays well inside REGROUP of it

    async def caller(batcher: MicroBatcher[int, int], i: int, delay: float) -> None:
        await batcher.submit([i])
        await asyncio.sleep(delay)  # the answer travels, the next request comes back
        await batcher.submit([i])

    async def run() -> None:
        batcher: MicroBatcher[int, int] = MicroBatcher(model, max_batch=32, max_wait_s=0)
        await asyncio.gather(*(caller(batcher, i, 0.004 * i) for i in range(4)))
        await batcher.close()

    asyncio.run(run())
    assert model.sizes == [4, 4]


def test_a_lone_caller_never_waits_and_a_missing_one_costs_at_most_the_regroup_time(
    monkeypatch: pytest.MonkeyPatch,
):
    """What each batch waited for its callers is read from the batcher (`_left`), not from the clock: the model's
    0.2 s sleep overshot by up to 80 ms on a loaded 2-core machine, past the 0.1 s margin a clock bound had."""
    model = Lockstep(0.2)
    waits: list[float] = []  # the first wait each batch was allowed, in seconds (<= 0: none)
    left = MicroBatcher._left

    def spy(self: MicroBatcher[int, int], deadline: float, now: float) -> float:
        value = left(self, deadline, now)
        if first[0]:
            waits.append(value)
            first[0] = False
        return value

    first = [False]
    monkeypatch.setattr(MicroBatcher, "_left", spy)

    async def submit(batcher: MicroBatcher[int, int], *items: list[int]) -> float:
        loop = asyncio.get_running_loop()
        first[0], begin = True, loop.time()
        await asyncio.gather(*(batcher.submit(i) for i in items))
        return loop.time() - begin

    async def run() -> tuple[float, float]:
        batcher: MicroBatcher[int, int] = MicroBatcher(model, max_batch=32, max_wait_s=0)
        await submit(batcher, [0])
        await submit(batcher, [1])  # the last batch had one caller: it runs at once
        four = await submit(batcher, *([i] for i in range(4)))
        short = await submit(batcher, [9])  # three of the four callers went away
        await batcher.close()
        return four, short

    four, short = asyncio.run(run())
    assert model.sizes == [1, 1, 4, 1]
    assert waits[1] <= 0, waits  # the lone caller's batch: no regrouping wait
    # the batch after the four waited for them, at most REGROUP of that batch's run (0.2 s; longer when busy)
    assert 0 < waits[3] <= REGROUP * four, (waits, four)
    assert short > 0.2 + REGROUP * 0.2 * 0.5  # the model's time and (most of) the wait: a slow machine only adds


def test_a_burst_larger_than_a_batch_is_cut_into_batches_of_like_length_and_answered_in_order():
    chunks: list[list[str]] = []

    async def model(items: list[str]) -> list[str]:
        chunks.append(items)
        return [item.upper() for item in items]

    texts = ["a" * n for n in (30, 2, 31, 1, 29, 3)]

    async def run() -> list[str]:
        batcher: MicroBatcher[str, str] = MicroBatcher(model, max_batch=3, max_wait_s=0, order=len)
        answers = await batcher.submit(texts)
        await batcher.close()
        return answers

    assert asyncio.run(run()) == [t.upper() for t in texts]  # the caller's answers, in its order
    assert [sorted(map(len, c)) for c in chunks] == [[1, 2, 3], [29, 30, 31]]  # the short ones together


def test_a_batcher_that_does_not_cut_hands_the_run_the_burst_whole():
    calls: list[list[int]] = []

    async def model(items: list[int]) -> list[int]:
        calls.append(items)
        return [-i for i in items]

    async def run() -> list[int]:
        batcher: MicroBatcher[int, int] = MicroBatcher(model, max_batch=3, max_wait_s=0, cut=False)
        answers = await batcher.submit(list(range(7)))
        await batcher.close()
        return answers

    assert asyncio.run(run()) == [-i for i in range(7)]
    assert calls == [list(range(7))]


def test_the_served_price_models_age_is_exported(settings: Settings, trained: tuple[Path, Path], clock: Clock):
    served = settings.model_copy(update={"model_repository": trained[1], "sentiment_model": "lexicon"})
    with TestClient(create_app(served, FakeBackend(), clock=clock)) as client:
        meta = client.app.state.price.meta
        text = client.get("/metrics").text
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in parse(text) for s in f.samples}
    labels = (("model", meta.served_as()), ("task", "price"), ("version", meta.version))
    age = samples["investiq_model_age_seconds", labels]
    assert age == pytest.approx(clock() - datetime.fromisoformat(meta.trained_at).timestamp())
    assert age > 0
    assert samples["investiq_model_max_age_seconds", ()] == settings.max_model_age_days * 86400


def test_the_model_age_follows_a_hot_swap_and_time(settings: Settings, trained: tuple[Path, Path], clock: Clock):
    open_journal(settings.db_path, settings.db_busy_timeout_ms).close()
    writer = JournalWriter(settings.db_path, settings.db_busy_timeout_ms)
    metrics = Metrics(clock)
    repository = settings.model_copy(update={"model_repository": trained[1]})
    service = build_price(repository, FakeBackend(), writer, metrics)
    metrics.model_age.track("price", lambda: price_trained(service))
    meta = service.meta
    assert meta is not None

    def ages() -> dict[str, float]:
        family = next(f for f in metrics.registry.collect() if f.name == "investiq_model_age_seconds")
        return {s.labels["version"]: s.value for s in family.samples}

    before = ages()[meta.version]
    clock.advance(days=3)
    assert ages()[meta.version] == pytest.approx(before + 3 * 86400)
    now = datetime.fromtimestamp(clock(), timezone.utc).replace(tzinfo=None).isoformat()
    service.swap(dataclasses.replace(meta, version="next", trained_at=now), 2)
    assert ages() == {"next": pytest.approx(0.0, abs=1.0)}  # a naive time is read as UTC


def test_texts_are_scored_shortest_first_and_answered_in_request_order() -> None:
    """Length bucketing: the scorer sees a request's texts by length (batches pad less), the caller gets
    each answer in its own place."""
    seen: list[list[str]] = []

    class ByLength:  # P(positive) grows with the text's length: each answer says which text it was for
        model, version = "fake", "1"

        async def score(self, texts: list[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
            seen.append(list(texts))
            p = np.array([min(len(t) / 100, 1.0) for t in texts], dtype=np.float32)
            return np.stack([p, np.zeros_like(p), 1 - p], axis=1)

        async def close(self) -> None: ...

    class NoJournal:
        def log(self, job: object) -> None: ...

    service = SentimentService(
        ByLength(),
        NoJournal(),  # type: ignore[arg-type]
        Metrics(),
        limits=SentimentLimits(),
        cache_size=0,
    )
    texts = ["a" * n for n in (50, 5, 90, 20, 70)]
    result = asyncio.run(service.score(texts, use_cache=False))
    assert seen == [sorted(texts, key=len)]
    assert [p.probabilities[LABELS[0]] for p in result.predictions] == pytest.approx([0.5, 0.05, 0.9, 0.2, 0.7])
    # a text sent again in one request is scored once (256 copies were 256 rows of compute, a review)
    seen.clear()
    again = asyncio.run(service.score(["a" * 20, "a" * 5, "a" * 20, "a" * 20], use_cache=False))
    assert seen == [["a" * 5, "a" * 20]]
    assert [p.probabilities[LABELS[0]] for p in again.predictions] == pytest.approx([0.2, 0.05, 0.2, 0.2])
