"""PatchTST served end to end: the tiny configuration trained on real daily S&P 500 bars (shipped by
`arch`; the `trained` fixture of tests/conftest.py) behind /price over HTTP, its probabilistic
forecast, the journal and the resolver, bad input, and the direction/confidence rule.
Training and export themselves are tested in tests/training/."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from contextlib import closing
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from export.patchtst import sample_windows
from gateway.app import create_app
from gateway.backends.embedded import load_patchtst, patchtst_dir
from gateway.services import price as price_service
from gateway.services.price_forecast import quantile_key, split_outputs
from gateway.services.resolver import outcome, resolve_due
from gateway.wiring import StartupError, build_backend
from harness.tiny_repository import as_exported
from investiq.core import market_fetch as data_module
from investiq.core import yahoo
from investiq.core.bar_cache import BarCache
from investiq.core.errors import ArtifactError, DataError
from investiq.core.gaps import GapIntervals, widen
from investiq.core.journal import JournalWriter
from investiq.core.market_fetch import recent_bars
from investiq.core.patchtst import (
    FLAT_BAND,
    OUTPUT,
    PROBABILITY_UP,
    QUANTILE_LEVELS,
    QUANTILES,
    VOLATILITY,
    PatchTSTMeta,
    check_closes,
    signal,
)
from investiq.core.settings import Settings
from tests.conftest import flush_journal
from tests.fakes import patchtst_outputs


def closes(n: int = 64, seed: int = 1) -> list[float]:
    return [float(x) for x in sample_windows(1, n, seed)[0, :, 0]]


FROZEN = datetime(2026, 3, 11, 15, 30, tzinfo=timezone.utc)  # a Wednesday afternoon


class _FrozenDatetime(datetime):
    """`datetime` whose now() is FROZEN."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> _FrozenDatetime:
        return cls.fromtimestamp(FROZEN.timestamp(), tz)


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """The gateway's clock stopped at FROZEN (the price service's and the bar cache's `datetime.now`, which date a
    forecast and say which bars have closed): a test's "today" is the gateway's, however near midnight UTC it
    runs."""
    monkeypatch.setattr(price_service, "datetime", _FrozenDatetime)
    monkeypatch.setattr(data_module, "datetime", _FrozenDatetime)
    return FROZEN


@pytest.fixture
def client(trained: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    def offline(symbol: str, interval: str, start: datetime, end: datetime) -> pd.DataFrame:
        raise DataError(f"no data from Yahoo Finance for {symbol} {interval}: offline in tests")

    monkeypatch.setattr(yahoo, "fetch_yfinance", offline)
    settings = Settings(
        db_path=tmp_path / "p.db", model_repository=trained[1], data_dir=tmp_path / "data", price_batch_size=8
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def check_forecast(one: dict[str, Any]) -> None:
    """The probabilistic fields of one /price answer agree with each other and with the contract."""
    h = one["horizon"]
    levels = [float(k) for k in one["quantiles"]]
    assert levels == sorted(levels) == list(QUANTILE_LEVELS)
    paths = np.array(list(one["quantiles"].values()))  # [K, horizon]
    assert paths.shape == (len(QUANTILE_LEVELS), h)
    assert (np.diff(paths, axis=0) >= 0).all()  # ascending across levels at every step
    median = one["quantiles"][quantile_key(0.5)]
    np.testing.assert_allclose(median, one["predicted_prices"], rtol=1e-6)
    assert len(one["probability_up"]) == h and all(0 <= p <= 1 for p in one["probability_up"])
    p_h = one["probability_up"][-1]
    assert one["confidence"] == pytest.approx(max(p_h, 1 - p_h))
    assert one["volatility"] > 0
    assert one["model"] in {"patchtst", "random_walk"}
    assert one["probability_up_source"] in {"model", "base_rate"}
    if one["model"] == "random_walk":  # nothing of the network kept: P(up) is its base rate
        assert one["probability_up_source"] == "base_rate"
    # One distribution: a level above 1 - P(up) at or above the current price, one below it at or under it.
    current, slack, p = one["current_price"], one["current_price"] * 1e-6, np.array(one["probability_up"])
    level = np.array(QUANTILE_LEVELS)[:, None]
    assert (paths[level > 1 - p + 1e-5] >= current - slack).all()
    assert (paths[level < 1 - p - 1e-5] <= current + slack).all()
    assert {"up": p_h > 0.5, "down": p_h < 0.5, "flat": True}[one["direction"]]


def test_predict_and_batch_predict_over_http(client: TestClient, tmp_path: Path):
    body = client.post("/price/predict", json={"symbol": "SPX", "prices": closes(100), "interval": "1d"})
    assert body.status_code == 200, body.text
    one = body.json()
    assert one["direction"] in {"up", "down", "flat"}
    assert 0.5 <= one["confidence"] <= 1
    assert len(one["predicted_prices"]) == one["horizon"] == 4
    assert one["current_price"] == pytest.approx(closes(100)[-1], rel=1e-6)
    check_forecast(one)
    requests = [{"symbol": f"S{i}", "prices": closes(64, seed=i)} for i in range(5)]
    batch = client.post("/price/batch_predict", json={"requests": requests}).json()["predictions"]
    assert [p["symbol"] for p in batch] == ["S0", "S1", "S2", "S3", "S4"]
    for p in batch:
        check_forecast(p)
    assert len({round(p["volatility"], 9) for p in batch}) > 1  # from each window, not a constant
    assert 'investiq_batch_size_bucket{le="8.0",model="patchtst"} 2.0' in client.get("/metrics").text
    health = client.get("/price/health").json()
    assert health["status"] == "degraded"  # a random-walk baseline, or no live record yet: never "healthy"
    assert health["data_age_days"] >= health["age_days"]  # since the last bar it learnt from, not since training
    assert health["trained_on"]["symbols"] and health["trained_on"]["source"]  # what it learnt from, said
    if one["model"] == "random_walk":
        assert "random-walk baseline" in health["reason"]
    else:
        assert "not enough evidence" in health["reason"]
    assert one["skill"] == {"scope": "pooled", "window": "30d", "n": 0, "record": None}
    same = client.post("/price/predict", json={"symbol": "SPX", "prices": closes(100), "horizon": one["horizon"]})
    assert same.status_code == 200 and same.json()["horizon"] == one["horizon"]  # the model's horizon, said
    cents = [round(x, 2) for x in closes(100)]  # as sent, not through float32 (123.46 came back 123.45999908)
    sent = client.post("/price/predict", json={"symbol": "SPX", "prices": cents}).json()
    assert sent["current_price"] == cents[-1]


def smooth_trend() -> list[float]:
    return [100 * 1.001**t for t in range(64)]


def random_walk() -> list[float]:
    return closes(64, seed=11)


def flat() -> list[float]:
    return [100.0] * 64


@pytest.mark.parametrize("series", [smooth_trend, random_walk, flat])
def test_confidence_never_exceeds_what_calibration_supports(client: TestClient, series: Any):
    """Issue 13: the old score answered ~1.0 for a smooth trend (a tiny volatility makes any move stand
    out). The calibrated P(up) is bounded by the graph to what the validation part saw; a flat series
    (zero volatility) must be answered too, not crash."""
    response = client.post("/price/predict", json={"symbol": "SPX", "prices": series()})
    assert response.status_code == 200, response.text
    one = response.json()
    assert one["confidence"] <= 0.9
    assert all(0 <= p <= 1 for p in one["probability_up"])
    assert all(np.isfinite(v).all() for v in one["quantiles"].values())


@pytest.fixture(scope="module")
def momentum(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository serving the tiny PatchTST trained where a trend carries on (daily log steps AR(1) at 0.6, a
    bar every calendar day): its validation keeps the median's move and P(up)'s slope. `trained`'s keeps neither
    and serves a constant P(up), so on it the bound on confidence was never exercised (an audit)."""
    import dataclasses

    from export.patchtst import export_patchtst
    from harness.tiny_patchtst import TINY
    from training.patchtst import train

    rng = np.random.default_rng(6)
    steps = np.empty(3000)
    steps[0] = 0.01
    for t in range(1, len(steps)):
        steps[t] = 0.6 * steps[t - 1] + rng.normal(0, 0.01)
    series = 100 * np.exp(np.cumsum(steps))
    times = (np.datetime64("2010-01-04") + np.arange(len(series))).astype("datetime64[ns]")
    root = tmp_path_factory.mktemp("momentum")
    config = dataclasses.replace(TINY, epochs=8, patience=3, learning_rate=1e-3)
    calibration = train({"X": (series, times)}, config, root / "model", log=lambda _: None)["calibration"]
    assert calibration["alpha"] > 0 and calibration["slope"] > 0, calibration  # else the test tests nothing
    export_patchtst(root / "model", root / "repo", log=lambda _: None)
    return root / "repo"


@pytest.mark.parametrize(("series", "called"), [(smooth_trend, "up"), (lambda: smooth_trend()[::-1], "down")])
def test_a_model_that_kept_its_slope_calls_a_trend_within_the_bounds_validation_saw(
    momentum: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, series: Any, called: str
):
    """The original complaint: 'down, confidence 1.0' on an uptrend. A smooth trend has a tiny volatility, so
    without the graph's bounds P(up) runs to 0 or 1; with them it stays within what validation saw."""
    monkeypatch.setattr(yahoo, "fetch_yfinance", lambda *_: pd.DataFrame())
    settings = Settings(db_path=tmp_path / "p.db", model_repository=momentum, data_dir=tmp_path / "data")
    with TestClient(create_app(settings)) as client:
        response = client.post("/price/predict", json={"symbol": "X", "prices": series()})
    assert response.status_code == 200, response.text
    one = response.json()
    assert one["model"] == "patchtst" and one["direction"] == called, one
    bounds = np.array(
        json.loads((momentum / "patchtst" / "1" / "artifact.json").read_text())["calibration"]["p_bounds"]
    )
    p_up = np.array(one["probability_up"])
    assert (p_up >= bounds[:, 0] - 1e-6).all() and (p_up <= bounds[:, 1] + 1e-6).all()
    assert 0.6 < one["confidence"] <= 0.9  # the slope acts (not the base rate), and the bound holds


def test_forecasts_are_journaled_then_resolved_against_known_prices(
    client: TestClient, trained: tuple[Path, Path], tmp_path: Path
):
    prices = closes(64, seed=7)
    forecast = client.post("/price/predict", json={"symbol": "SPX", "prices": prices}).json()
    db = tmp_path / "p.db"
    flush_journal(client)
    row = (
        sqlite3.connect(db)
        .execute(
            "SELECT last_bar_time, target_time, confidence, probability_up, quantiles, volatility "
            "FROM price_predictions"
        )
        .fetchone()
    )
    assert row is not None and row[2] == pytest.approx(forecast["confidence"])
    assert row[3] == pytest.approx(forecast["probability_up"][-1])
    assert json.loads(row[4]) == pytest.approx({k: v[-1] for k, v in forecast["quantiles"].items()})
    assert row[5] == pytest.approx(forecast["volatility"])
    last = datetime.fromisoformat(row[0])
    # The market: the forecast's last bar, then four daily bars, the 4th (the horizon) at 1.1x the last close,
    # and a later one (the 4th is final: the resolver scores no bar that may have been cached while forming).
    future = [prices[-1] * f for f in (1.0, 1.01, 0.99, 1.05, 1.10, 1.2)]
    stamps = pd.DatetimeIndex([last + timedelta(days=d) for d in (-1, 1, 2, 3, 4, 5)], name="timestamp")
    frame = pd.DataFrame(
        {"open": future, "high": future, "low": future, "close": future, "volume": 0.0}, index=stamps
    )
    cache = BarCache(tmp_path / "data" / "bars")
    cache.merge("SPX", "1d", frame)
    writer = JournalWriter(db)
    writer.start()

    def no_fetch(*_: Any) -> pd.DataFrame:
        raise DataError("offline")

    early = resolve_due(db, writer, cache, no_fetch, now=last + timedelta(days=1))
    assert early.resolved == 0  # the horizon has not passed
    report = resolve_due(db, writer, cache, no_fetch, now=last + timedelta(days=6))
    writer.close()
    assert report.resolved == 1
    actual, correct = sqlite3.connect(db).execute("SELECT actual_price, correct FROM price_predictions").fetchone()
    assert actual == pytest.approx(prices[-1] * 1.10, rel=1e-6)
    called = forecast["direction"] != "flat"  # a flat forecast (the random walk's) calls no direction
    assert correct == (int(forecast["direction"] == "up") if called else None)
    evaluation = client.get("/price/evaluate/SPX", params={"days": 7}).json()
    assert evaluation["count"] == 1 and evaluation["calls"] == int(called) and evaluation["hits"] == (correct or 0)
    assert (evaluation["hit_rate"] is None) == (not called)
    assert evaluation["mae"] == pytest.approx(abs(forecast["predicted_prices"][-1] - actual), rel=1e-5)


def test_the_resolver_counts_its_passes_and_what_it_could_not_score(tmp_path: Path):
    """While the resolver cannot get bars, live skill and /price/health judge on evidence that stopped growing:
    the metrics say so (investiq_price_forecasts_waiting, _resolver_symbols_failing; an alert reads them)."""
    import asyncio
    import time

    from prometheus_client import generate_latest

    from gateway.metrics import Metrics
    from gateway.services.resolver import resolve_periodically
    from investiq.core.journal import open_journal
    from investiq.core.journal.predictions import PriceRow, insert_price

    db = tmp_path / "p.db"
    conn = open_journal(db)
    made = "2026-01-05T21:00:00+00:00"
    row = PriceRow(made, "SPX", "patchtst", "v1", "1d", 1, 100.0, made, 101.0, 0.01, "up", 0.6, "[]", made, 1.0)
    insert_price([row])(conn)  # past its horizon: due
    conn.close()
    writer, metrics = JournalWriter(db), Metrics()
    writer.start()

    def offline(*_: Any) -> pd.DataFrame:
        raise DataError("offline")

    async def one_pass() -> None:
        task = asyncio.create_task(
            resolve_periodically(
                db, writer, BarCache(tmp_path / "bars"), offline, 3600, metrics
            )  # first pass: at once
        )
        deadline = time.monotonic() + 30
        while metrics.resolver_runs.labels("ok")._value.get() < 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        task.cancel()

    asyncio.run(one_pass())
    writer.close()
    text = generate_latest(metrics.registry).decode()
    assert metrics.resolver_runs.labels("ok")._value.get() >= 1 and 'runs_total{result="failed"}' not in text
    assert "investiq_price_forecasts_waiting 1.0" in text and "investiq_price_resolver_symbols_failing 1.0" in text
    assert "investiq_price_resolved_total 0.0" in text


def test_a_gateway_stopping_ends_the_resolver_pass_at_its_next_series(tmp_path: Path):
    """The first pass runs at start; stopping the gateway then waited for all of it (asyncio waits for the pass's
    thread): 8 symbols whose bars take a second each held a stop 8 s (a review). It ends before its next series
    now, writing nothing (the next start scores them)."""
    import asyncio
    import threading
    import time

    from gateway.metrics import Metrics
    from gateway.services.resolver import resolve_periodically
    from investiq.core.journal import open_journal
    from investiq.core.journal.predictions import PriceRow, insert_price

    db = tmp_path / "p.db"
    conn = open_journal(db)
    made = "2026-01-05T21:00:00+00:00"
    symbols = [f"S{i}" for i in range(8)]
    rows = [
        PriceRow(made, s, "patchtst", "v1", "1d", 1, 100.0, made, 101.0, 0.01, "up", 0.6, "[]", made, 1.0)
        for s in symbols
    ]
    insert_price(rows)(conn)  # past their horizon: due
    conn.close()
    writer, asked = JournalWriter(db), threading.Event()
    fetched: list[str] = []
    writer.start()

    def slow(symbol: str, *_: Any) -> pd.DataFrame:
        fetched.append(symbol)
        asked.set()
        time.sleep(1.0)
        raise DataError("offline")

    async def start_then_stop() -> None:
        task = asyncio.create_task(
            resolve_periodically(db, writer, BarCache(tmp_path / "bars"), slow, 3600, Metrics())
        )
        await asyncio.to_thread(asked.wait, 30)
        task.cancel()

    began = time.monotonic()
    asyncio.run(start_then_stop())  # returns once the pass's thread has ended
    stopped_in = time.monotonic() - began
    writer.close()
    assert 1 <= len(fetched) <= 2 and stopped_in < 5, (fetched, stopped_in)


def test_a_flat_forecast_calls_no_direction():
    """Scored as a call that the close stays within 1 bp, the random walk was wrong on nearly every forecast."""
    assert outcome("flat", 100.0, 100.0) is None and outcome("flat", 100.0, 103.0) is None
    assert outcome("up", 100.0, 101.0) is True and outcome("down", 100.0, 101.0) is False


def daily_bars(start: datetime, closes: list[float]) -> pd.DataFrame:
    """Daily bars labelled by when they open (00:00 UTC, every day: a market that never closes)."""
    stamps = pd.DatetimeIndex([start + timedelta(days=d) for d in range(len(closes))], name="timestamp")
    return pd.DataFrame({"open": closes, "high": closes, "low": closes, "close": closes, "volume": 0.0}, stamps)


def resolved_price(db: Path, cache: BarCache, now: datetime) -> float | None:
    writer = JournalWriter(db)
    writer.start()

    def no_fetch(*_: Any) -> pd.DataFrame:
        raise DataError("offline")

    try:
        resolve_due(db, writer, cache, no_fetch, now=now)
    finally:
        writer.close()
    actual: float | None = sqlite3.connect(db).execute("SELECT actual_price FROM price_predictions").fetchone()[0]
    return actual


def test_the_horizon_counts_from_the_bar_opening_when_the_last_one_closed(client: TestClient, tmp_path: Path):
    """A caller's last bar (labelled D0 - 1 day) closed at D0, when the next bar opens: that bar is step 1. The
    resolver took bars later than D0 and scored the forecast one bar late (intraday bars always meet so)."""
    prices = closes(64, seed=7)
    d0 = datetime(2024, 3, 8, tzinfo=timezone.utc)
    body = {"symbol": "SPX", "prices": prices, "last_bar_time": d0.isoformat()}
    forecast = client.post("/price/predict", json=body).json()
    assert datetime.fromisoformat(forecast["last_bar_time"]) == d0
    flush_journal(client)
    cache = BarCache(tmp_path / "data" / "bars")
    steps = [prices[-1] * f for f in (1.01, 1.02, 1.03, 1.04, 1.05)]  # opening at D0, D0 + 1 day, ...
    cache.merge("SPX", "1d", daily_bars(d0 - timedelta(days=1), [prices[-1], *steps]))
    assert resolved_price(tmp_path / "p.db", cache, now=d0 + timedelta(days=10)) == pytest.approx(steps[3])


def test_a_forecast_from_cached_bars_counts_from_the_bar_after_the_last_one(
    client: TestClient, tmp_path: Path, frozen: datetime
):
    """The last bar served is the last one closed: today's, still in progress in a cache written before
    2026-12-04, was served as the last close with a last_bar_time tomorrow."""
    today = pd.Timestamp(frozen).floor("D").to_pydatetime()
    history = closes(100, seed=5)
    cache = BarCache(tmp_path / "data" / "bars")  # the gateway's: fresh bars, the last one closed today
    cache.merge("SPX", "1d", daily_bars(today - timedelta(days=len(history)), [*history, history[-1] * 1.5]))
    response = client.post("/price/predict", json={"symbol": "SPX"})
    assert response.status_code == 200, response.text
    forecast = response.json()
    assert forecast["current_price"] == pytest.approx(history[-1])  # not today's price of the moment
    assert datetime.fromisoformat(forecast["last_bar_time"]) == today  # when it closed
    assert datetime.fromisoformat(forecast["target_time"]) == today + timedelta(days=forecast["horizon"])
    flush_journal(client)
    steps = [history[-1] * f for f in (0.99, 0.98, 0.97, 0.96, 0.95)]
    cache.merge("SPX", "1d", daily_bars(today, steps))
    later = today + timedelta(days=10)
    assert resolved_price(tmp_path / "p.db", cache, now=later) == pytest.approx(steps[forecast["horizon"] - 1])


def test_a_forecast_from_fetched_bars_gets_the_intervals_of_the_gaps_ahead(
    client: TestClient, trained: tuple[Path, Path], tmp_path: Path, frozen: datetime
):
    """The tiny model's daily bars have weekends: calibration fitted its intervals per gaps crossed and step
    (investiq/core/gaps.py). A forecast from cached bars whose times show a week's gaps is served with the factors
    of its place in the week, and so are the same closes sent with their `bar_times`; sent without, they get the
    pooled intervals. The median and P(up) are the same either way."""
    today = pd.Timestamp(frozen).floor("D").to_pydatetime()
    days = [today - timedelta(days=d) for d in range(160, -1, -1) if d % 7 not in (3, 4)]  # yesterday: place 1
    prices = closes(len(days), seed=5)
    stamps = pd.DatetimeIndex(days, name="timestamp")
    frame = pd.DataFrame({"open": prices, "high": prices, "low": prices, "close": prices, "volume": 0.0}, stamps)
    BarCache(tmp_path / "data" / "bars").merge("SPX", "1d", frame)  # today's bar is still forming: not served
    fetched = client.post("/price/predict", json={"symbol": "SPX"}).json()
    sent = client.post("/price/predict", json={"symbol": "SPX", "prices": prices[:-1], "interval": "1d"}).json()
    times = [t.isoformat() for t in stamps[:-1]]
    timed = client.post("/price/predict", json={"symbol": "SPX", "prices": prices[:-1], "bar_times": times}).json()
    meta = PatchTSTMeta.load(patchtst_dir(trained[1]))
    gaps = GapIntervals.from_calibration(meta.calibration)
    factors = gaps.for_window(stamps[:-1][-meta.context_length :]) if gaps else None
    assert factors is not None and gaps is not None  # yesterday, the 2nd bar of a 5-bar week: a weekend at step 4
    np.testing.assert_array_equal(factors, gaps.factors[[0, 0, 0, 1], [0, 1, 2, 3]])
    assert not np.allclose(factors, 1.0), factors
    assert fetched["predicted_prices"] == sent["predicted_prices"]
    assert fetched["probability_up"] == sent["probability_up"]
    pooled = np.array(list(sent["quantiles"].values())).T  # [H, K]
    served = np.array(list(fetched["quantiles"].values())).T
    last = np.float32(prices[-2])
    np.testing.assert_allclose(served, widen(last, np.array(sent["predicted_prices"]), pooled, factors), rtol=1e-5)
    check_forecast(fetched)
    assert timed["quantiles"] == fetched["quantiles"]  # the closes sent with their bar times: as fetched
    assert fetched["intervals"] == timed["intervals"] == "gaps_ahead" and sent["intervals"] == "pooled"
    flush_journal(client)
    kinds = sqlite3.connect(tmp_path / "p.db").execute("SELECT intervals FROM price_predictions ORDER BY id")
    assert [k for (k,) in kinds][:3] == ["gaps_ahead", "pooled", "gaps_ahead"]
    half = len(stamps) // 2  # local times whose offset changes (-04:00, then -05:00: daylight saving's end)
    local = [t.tz_convert("Etc/GMT+4" if i < half else "Etc/GMT+5").isoformat() for i, t in enumerate(stamps[:-1])]
    assert {t[-6:] for t in local} == {"-04:00", "-05:00"}
    naive = [t.tz_localize(None).isoformat() for t in stamps[:-1]]  # naive: UTC
    body = {"symbol": "SPX", "prices": prices[:-1]}
    batch = client.post(
        "/price/batch_predict", json={"requests": [body | {"bar_times": local}, body | {"bar_times": naive}]}
    )
    assert batch.status_code == 200, batch.text
    assert all(p["quantiles"] == fetched["quantiles"] for p in batch.json()["predictions"])


def test_bar_times_before_pandas_range_are_refused_and_after_it_served(client: TestClient):
    """Bar times before 1677 are beyond pandas' nanosecond range: a review found a 500 for weekdays of 1600, and
    then, served, a security audit found them journaled and pending for ever (the resolver cannot hold them): a
    422 naming the earliest time scored. From then on, their spacing is taken in their own resolution."""
    for start, status in (("1600-01-03", 422), ("1678-01-03", 200)):
        days = [d for d in pd.date_range(start, periods=120, freq="D", unit="s") if d.day_of_week < 5][:64]
        body = {"symbol": "SPX", "prices": closes(64, seed=3), "bar_times": [f"{d.isoformat()}Z" for d in days]}
        response = client.post("/price/predict", json=body)
        assert response.status_code == status, response.text
    assert "before 1678-01-01" in client.post("/price/predict", json=body | {"last_bar_time": "1600-01-01"}).text
    check_forecast(response.json())


def test_closes_sent_with_their_bar_times_are_dated_by_them_not_now(client: TestClient, frozen: datetime):
    """A replay of 2018's bars sent with its bar_times and no last_bar_time was dated now (a review): its horizon,
    and the resolver's outcome, counted from today. The last bar, labelled by when it opened, closed one interval
    later (a daily bar: at noon UTC of its session date, `closed_after`); one still forming closes later than
    now, so now it is."""
    days = pd.bdate_range(end="2018-08-23", periods=64)
    body = {"symbol": "SPX", "prices": closes(64, seed=4), "bar_times": [f"{d.isoformat()}Z" for d in days]}
    old = client.post("/price/predict", json=body).json()
    assert pd.Timestamp(old["last_bar_time"]) == pd.Timestamp("2018-08-23T12:00:00Z"), old["last_bar_time"]
    assert pd.Timestamp(old["target_time"]) < pd.Timestamp("2018-09-30T00:00:00Z")
    # served as a replay, and said: a stale feed's bars sent as current would be served alike (a walkthrough)
    [replay] = [w for w in old["warnings"] if w.startswith("the newest bar sent (bar_times) closed")]
    assert "a feed that stopped, or a replay?" in replay, old["warnings"]
    labels = [f"{d:%Y-%m-%d}T04:00:00Z" for d in days]  # New York's midnight, as Yahoo labels its bars
    body = {"symbol": "SPX", "prices": closes(64, seed=4), "bar_times": labels}
    labelled = client.post("/price/predict", json=body).json()
    # its session date's noon, as a date's (it was 2018-08-24T04:00Z: after a bar file's next bar)
    assert pd.Timestamp(labelled["last_bar_time"]) == pd.Timestamp("2018-08-23T12:00:00Z")
    # Tokyo's session of tomorrow opened at 15:00 UTC today, half an hour ago: still forming, so it closes now
    opened = pd.Timestamp(frozen).floor("D") + pd.Timedelta(hours=15)
    recent = pd.date_range(end=opened, periods=64, freq="D")
    body = {"symbol": "SPX", "prices": closes(64, seed=4), "bar_times": [d.isoformat() for d in recent]}
    answer = client.post("/price/predict", json=body).json()
    forming = pd.Timestamp(answer["last_bar_time"])
    assert opened < forming == pd.Timestamp(frozen)  # now, not tomorrow's noon
    assert not [w for w in answer["warnings"] if "newest bar" in w], answer["warnings"]  # current bars: no word


@pytest.mark.parametrize(
    ("path", "body", "status", "fragment"),
    [
        (
            "/price/predict",
            {"symbol": "SPX", "prices": [100.0] * 10},
            422,
            "got 10 closes, the model needs at least 64",
        ),
        ("/price/predict", {"symbol": "SPX", "prices": [100.0] * 63 + [0.0]}, 422, "prices[63] = 0.0"),
        ("/price/predict", {"symbol": "SPX", "prices": [100.0] * 63 + [-5.0]}, 422, "every close must be"),
        ("/price/predict", {"symbol": "SPX", "prices": [100.0] * 64, "interval": "7m"}, 422, "'7m' is unknown"),
        (
            "/price/predict",
            {"symbol": "SPX", "prices": [100.0] * 64, "interval": "15m"},
            422,
            "trained on 1d bars",
        ),
        ("/price/predict", {"symbol": "SPX", "prices": ["a"] * 64}, 422, "prices.0"),
        ("/price/predict", {"prices": [100.0] * 64}, 422, "symbol: Field required"),
        ("/price/predict", {"symbol": "NOPE"}, 503, "NOPE: no recent 1d bars"),
        (
            "/price/predict",
            {"symbol": "SPX", "prices": [100.0] * 64, "bar_times": ["2026-01-01T00:00:00Z"] * 63},
            422,
            "bar_times has 63 times for 64 prices: send one per close",
        ),
        (
            "/price/predict",
            {"symbol": "SPX", "prices": [100.0] * 3, "bar_times": ["2026-01-02", "2026-01-01", "2026-01-03"]},
            422,
            "bar_times[1] = 2026-01-01T00:00:00+00:00 is not after bar_times[0]",
        ),
        ("/price/predict", {"symbol": "SPX", "bar_times": ["2026-01-01"]}, 422, "bar_times goes with prices"),
        (
            "/price/predict",
            {"symbol": "SPX", "prices": [100.0], "bar_times": ["2026-01-01"]},
            422,
            "got 1 closes, the model needs at least 64",
        ),
        (
            "/price/predict",
            {"symbol": "SPX", "prices": [1.0] * 2, "bar_times": ["2099-01-01", "2099-01-02"]},
            422,
            "bar_times[-1] = 2099-01-02T00:00:00+00:00 is in the future",
        ),
        (  # pandas cannot hold the time: answered and journaled, it stayed pending for ever (a security audit)
            "/price/predict",
            {"symbol": "SPX", "prices": [1.0] * 64, "last_bar_time": "0001-01-01T05:00:00Z"},
            422,
            "last_bar_time: 0001-01-01T05:00:00+00:00 is before 1678-01-01",
        ),
        (
            "/price/predict",
            {"symbol": "SPX", "prices": [1.0] * 2, "bar_times": ["1600-01-01", "1600-01-02"]},
            422,
            "bar_times: 1600-01-01T00:00:00+00:00 is before 1678-01-01",
        ),
        (
            "/price/predict",
            {
                "symbol": "SPX",
                "prices": [1.0] * 2,
                "bar_times": ["2026-01-01", "2026-01-02"],
                "last_bar_time": "2025-12-31T00:00:00Z",
            },
            422,
            "last_bar_time 2025-12-31T00:00:00+00:00 is before bar_times[-1]",
        ),
        (
            "/price/predict",
            {
                "symbol": "SPX",
                "prices": [100.0] * 64,
                "bar_times": [d.strftime("%Y-%m-%d") for d in pd.bdate_range(end="2024-05-24", periods=64)],
                "last_bar_time": "2026-03-11T15:00:00Z",
            },
            422,
            "is 656.6 days after bar_times[-1] = 2024-05-24T00:00:00+00:00",
        ),
        (
            "/price/predict",
            {
                "symbol": "SPX",
                "prices": [100.0] * 64,
                "bar_times": [f"2026-01-05T{h:02d}:{m:02d}:00Z" for h in range(16) for m in (0, 15, 30, 45)],
            },
            422,
            "bar_times are 0 days 00:15:00 apart (their median), the model's bars 1d",
        ),
        (
            "/price/predict",
            {"symbol": "SPX", "prices": [1.0] * 64, "timestamps": []},
            422,
            "did you mean 'bar_times'",
        ),
        ("/price/batch_predict", {"requests": []}, 422, "requests is empty"),
        (
            "/price/batch_predict",
            {"requests": [{"symbol": "A", "prices": [1.0] * 64}] * 9},
            422,
            "more than the limit of 8",
        ),
    ],
)
def test_bad_price_requests_are_named(
    client: TestClient, tmp_path: Path, path: str, body: dict[str, Any], status: int, fragment: str
):
    response = client.post(path, json=body)
    assert response.status_code == status, response.text
    assert fragment in response.json()["detail"]
    assert sqlite3.connect(tmp_path / "p.db").execute("SELECT count(*) FROM price_predictions").fetchone()[0] == 0


@pytest.mark.parametrize("literal", ["NaN", "Infinity"])
def test_non_finite_prices_are_refused(client: TestClient, literal: str):
    body = '{"symbol": "SPX", "prices": [' + ", ".join(["100.0"] * 63 + [literal]) + "]}"
    response = client.post("/price/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert "prices.63: Input should be a finite number" in response.json()["detail"]


def test_a_corrupt_or_missing_model_file_is_a_startup_error_naming_it(trained: tuple[Path, Path], tmp_path: Path):
    import shutil

    broken = tmp_path / "repo"
    shutil.copytree(trained[1], broken)
    (patchtst_dir(broken) / "model.onnx").write_bytes(b"garbage")
    with pytest.raises(StartupError, match=r"patchtst/1/model\.onnx is not the file exported"):
        build_backend(Settings(model_repository=broken))
    as_exported(patchtst_dir(broken))  # as recorded: what ONNX Runtime says of it
    with pytest.raises(StartupError, match=r"cannot load ONNX file .*patchtst/1/model\.onnx"):
        build_backend(Settings(model_repository=broken))
    (patchtst_dir(broken) / "model.onnx").unlink()
    with pytest.raises(StartupError, match=r"patchtst/1/model\.onnx is missing"):
        build_backend(Settings(model_repository=broken))


def test_without_a_model_price_says_what_to_run(tmp_path: Path):
    with TestClient(create_app(Settings(db_path=tmp_path / "p.db", model_repository=tmp_path / "empty"))) as c:
        response = c.post("/price/predict", json={"symbol": "SPX", "prices": [1.0] * 600})
        assert response.status_code == 503
        assert "investiq train patchtst" in response.json()["detail"]
        assert response.headers["Retry-After"] == "5"  # a guess a client may follow, as with 429
        assert c.get("/price/health").json()["status"] == "unhealthy"


def test_a_graph_whose_outputs_break_the_contract_is_refused_at_load(trained: tuple[Path, Path], tmp_path: Path):
    """The warm-up run checks every output against artifact.json: here the artifact claims 5 quantile
    levels and the graph answers 7."""
    import shutil

    broken = tmp_path / "repo"
    shutil.copytree(trained[1], broken)
    artifact = patchtst_dir(broken) / "artifact.json"
    meta = json.loads(artifact.read_text())
    meta["quantile_levels"] = [0.1, 0.25, 0.5, 0.75, 0.9]
    artifact.write_text(json.dumps(meta))
    k = len(QUANTILE_LEVELS)
    with pytest.raises(ArtifactError, match=rf"{QUANTILES} of shape \(1, 4, {k}\), expected \(1, 4, 5\)"):
        load_patchtst(patchtst_dir(broken))


def test_the_call_is_the_medians_sign_and_the_calibrated_probability_of_the_likelier_sign():
    window = np.array(closes(64), dtype=np.float64)
    last = window[-1]
    up = signal(window, np.full(4, last * 1.01), np.array([0.5, 0.55, 0.6, 0.58]))
    assert (up.direction, up.probability_up) == ("up", 0.58)  # the last step's P(up)
    assert up.confidence == pytest.approx(0.58)
    assert up.predicted_return == pytest.approx(0.01)
    down = signal(window, np.full(4, last * 0.98), np.array([0.5, 0.4, 0.35, 0.3]))
    assert down.direction == "down" and down.confidence == pytest.approx(0.7)
    # The direction follows the median, the confidence P(up), even when they disagree.
    mixed = signal(window, np.full(4, last * 0.99), np.full(4, 0.6))
    assert mixed.direction == "down" and mixed.confidence == pytest.approx(0.6)
    inside = signal(window, np.full(4, last * (1 + FLAT_BAND / 2)), np.full(4, 0.5))
    assert inside.direction == "flat" and inside.confidence == 0.5
    with pytest.raises(ValueError, match="needs at least 64"):
        check_closes(window[:10], 64)


def test_an_output_that_is_not_finite_or_not_a_probability_is_never_served():
    good = patchtst_outputs(1, 4)
    (ok,) = split_outputs(good)
    assert ok.problem() is None and ok.volatility == pytest.approx(0.01)
    for name, index, value, fragment in [
        (QUANTILES, (0, 2, 0), np.nan, "not a finite positive price"),
        (OUTPUT, (0, 3, 0), np.inf, "not a finite positive price"),
        (PROBABILITY_UP, (0, 3), 1.5, "not a number in [0, 1]"),
        (PROBABILITY_UP, (0, 0), np.nan, "not a number in [0, 1]"),
        (VOLATILITY, (0, 0), np.nan, "volatility is not a finite number"),
    ]:
        outputs = {n: a.copy() for n, a in good.items()}
        outputs[name][index] = value
        (bad,) = split_outputs(outputs)
        assert fragment in (bad.problem() or ""), name


def test_closes_sent_with_their_last_bar_time_are_forecast_from_it(client: TestClient):
    """A caller replaying history (or sending bars that closed a while ago) gives the time of its last
    bar: the horizon counts from it; a future time, or one without closes, is refused with the reason."""
    body = {"symbol": "SPX", "prices": closes(64), "last_bar_time": "2018-06-01T20:00:00"}  # naive = UTC
    one = client.post("/price/predict", json=body).json()
    assert one["last_bar_time"] == "2018-06-01T20:00:00Z"
    assert one["target_time"] == "2018-06-05T20:00:00Z"  # 4 daily bars later
    future = client.post("/price/predict", json=body | {"last_bar_time": "2999-01-01T00:00:00Z"})
    assert future.status_code == 422 and "in the future" in future.text
    alone = client.post("/price/predict", json={"symbol": "SPX", "last_bar_time": "2018-06-01T20:00:00Z"})
    assert alone.status_code == 422 and "last_bar_time goes with prices" in alone.text


def test_closes_with_an_unadjusted_split_are_forecast_with_a_warning_naming_the_bar(client: TestClient):
    """A caller's closes with a 2-for-1 split left in them: served as sent (the forecast takes the halving for a
    real fall), with a warning naming the close and the adjustment; the same closes adjusted carry none."""
    adjusted = closes(80)
    unadjusted = [c * 2 for c in adjusted[:70]] + adjusted[70:]  # before the split, each share was worth two
    warned = client.post("/price/predict", json={"symbol": "SPX", "prices": unadjusted, "interval": "1d"}).json()
    clean = client.post("/price/predict", json={"symbol": "SPX", "prices": adjusted, "interval": "1d"}).json()
    assert clean["warnings"] == []
    [warning] = warned["warnings"]
    assert warning.startswith("prices[70] / prices[69] = ") and "2-for-1 split" in warning
    assert "every close before prices[70] times 0.5" in warning
    check_forecast(warned)  # still a forecast of the closes as sent
    batch = client.post(
        "/price/batch_predict", json={"requests": [{"symbol": "A", "prices": unadjusted, "interval": "1d"}]}
    ).json()
    assert batch["predictions"][0]["warnings"] == warned["warnings"]
    # an index never splits: the VIX's real spikes (17.31 -> 37.32) read as reverse splits
    index = client.post("/price/predict", json={"symbol": "^VIX", "prices": unadjusted, "interval": "1d"}).json()
    assert index["warnings"] == []


def test_fetched_bars_whose_newest_is_days_old_are_served_with_a_warning(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, frozen: datetime
):
    """A halted symbol leaves no bars: its window, 8 days old, was served as current without a word (a review)."""
    now = pd.Timestamp(frozen).floor("D")

    def halted(symbol: str, interval: str, n: int, *args: Any) -> pd.DataFrame:
        times = pd.date_range(end=now - pd.Timedelta(days=9), periods=n, freq="1D", tz="UTC")
        c = np.array(closes(n))
        return pd.DataFrame({"open": c, "high": c, "low": c, "close": c, "volume": 1.0}, index=times)

    monkeypatch.setattr(price_service, "recent_bars", halted)
    body = client.post("/price/predict", json={"symbol": "HALTED"}).json()
    assert any(w.startswith("the newest bar closed 8.") for w in body["warnings"]), body["warnings"]


def test_closes_that_do_not_move_are_forecast_with_a_warning(client: TestClient):
    """64 equal closes (a halted stock, a stale feed) gave an "80%" interval a few millionths of the price wide,
    with nothing to say so (found by a probe)."""
    flat = client.post("/price/predict", json={"symbol": "SPX", "prices": [101.5] * 64, "interval": "1d"}).json()
    check_forecast(flat)
    assert [w.split(":")[0] for w in flat["warnings"]] == [
        "the last 64 closes are all 101.5",
        "100% of the window's one-bar moves are zero, so its volatility (0 per bar) and the intervals made from "
        "it understate the risk of a price that moves",
    ]


def test_a_batch_names_a_client_error_in_any_item_before_fetching_bars(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """requests[0] would fetch bars (offline here: a 503); requests[1]'s three closes are the client's error.
    Every item's own input is checked first, so the answer is the 422 naming requests[1], and nothing is fetched
    for a batch that is refused."""
    asked: list[str] = []

    def counting(symbol: str, *args: Any) -> pd.DataFrame:
        asked.append(symbol)
        return recent_bars(symbol, *args)

    monkeypatch.setattr(price_service, "recent_bars", counting)
    bad_items: list[tuple[dict[str, Any], str]] = [
        ({"symbol": "T", "prices": [1, 2, 3]}, "requests[1] (T): got 3 closes, the model needs at least 64"),
        ({"symbol": "T", "prices": closes(64), "interval": "15m"}, "requests[1] (T): interval '15m' is not"),
        ({"symbol": "../../etc", "prices": closes(64)}, "cannot name a cache file"),
        (
            {"symbol": "T", "prices": [100.0] * 4, "bar_times": [f"2026-01-05T00:0{m}:00Z" for m in range(4)]},
            "requests[1] (T): bar_times are 0 days 00:01:00 apart",
        ),
    ]
    for item, fragment in bad_items:
        response = client.post("/price/batch_predict", json={"requests": [{"symbol": "SPY"}, item]})
        assert response.status_code == 422, response.text
        assert fragment in response.json()["detail"]
    assert asked == []
    # a batch whose input is all right still fetches, and its item without closes is the 503 it was
    ok = client.post(
        "/price/batch_predict", json={"requests": [{"symbol": "SPY"}, {"symbol": "T", "prices": closes(64)}]}
    )
    assert ok.status_code == 503 and "requests[0] (SPY): no recent 1d bars" in ok.json()["detail"]
    assert asked == ["SPY"]


@pytest.mark.parametrize("symbol", ["../../etc", "A/B", ".hidden", "a\\b", "É" * 128])
def test_a_symbol_that_could_not_be_fetched_is_refused_with_closes_too(
    client: TestClient, tmp_path: Path, symbol: str
):
    """One rule for a symbol, the bar cache's: with closes sent it was accepted and journaled. 128 accented letters
    (256 bytes) made a file name too long: a 500 without closes, and with them a row that stopped the resolver."""
    for body in ({"symbol": symbol}, {"symbol": symbol, "prices": closes(64)}):
        response = client.post("/price/predict", json=body)
        assert response.status_code == 422, response.text
        assert "cannot name a cache file" in response.json()["detail"]
    assert sqlite3.connect(tmp_path / "p.db").execute("SELECT count(*) FROM price_predictions").fetchone()[0] == 0


def test_closes_for_the_offline_first_model_without_their_interval_are_forecast_with_a_warning(
    trained: tuple[Path, Path],
):
    """A new user's 15-minute closes got a 12-day forecast from `up`'s offline first model (daily index bars of the
    arch sample) with no word of it. Said where nothing in the request lets the gateway check the bars."""
    import dataclasses

    from gateway.backends.embedded import patchtst_dir
    from gateway.services.price_forecast import PriceQuery, unchecked_interval
    from investiq.core.patchtst import PatchTSTMeta

    meta = dataclasses.replace(PatchTSTMeta.load(patchtst_dir(trained[1])), source="sample", symbols=["SPX"])
    sent, plain = object(), PriceQuery("SPY", [1.0] * 64, None)
    (warning,) = unchecked_interval(plain, sent, meta)
    assert "trained on 1d bars of SPX" in warning and "send interval or bar_times" in warning
    assert unchecked_interval(dataclasses.replace(plain, interval="1d"), sent, meta) == []  # checked
    assert unchecked_interval(plain, None, meta) == []  # the gateway's own bars: of the model's interval
    assert unchecked_interval(plain, sent, dataclasses.replace(meta, source="yfinance")) == []


def test_an_interval_not_the_models_says_how_to_get_one(client: TestClient):
    refused = client.post("/price/predict", json={"symbol": "SPX", "prices": closes(64), "interval": "15m"})
    assert refused.status_code == 422
    assert "investiq train patchtst --interval 15m, then investiq export patchtst" in refused.text


def test_an_interval_under_its_other_name_is_the_models(client: TestClient):
    """60m and 1h are one bar (Yahoo's two names for it): "1h" was refused to a model of 60m bars, with advice to
    train a model of 1h bars (a review); bars of another spacing still are."""
    price = client.app.state.price  # type: ignore[attr-defined]
    price.meta = dataclasses.replace(price.meta, interval="60m")
    for sent, status in (("1h", 200), ("60m", 200), ("90m", 422)):
        answer = client.post("/price/predict", json={"symbol": "SPX", "prices": closes(64), "interval": sent})
        assert answer.status_code == status, (sent, answer.text)
        assert status == 422 or answer.json()["interval"] == "60m"  # named as the model names it


def test_a_symbol_is_one_ticker_in_any_case(client: TestClient, tmp_path: Path):
    """ "spy" and "SPY" were two symbols in the journal, each with part of the forecasts (a new user's review): the
    gateway keeps a symbol in upper case, wherever it comes in, and answers with it so."""
    assert client.post("/sentiment/predict", json={"texts": ["Shares rise"], "symbol": " aapl"}).status_code == 200
    forecast = client.post("/price/predict", json={"symbol": "spx", "prices": closes(64, seed=7)})
    assert forecast.status_code == 200, forecast.text
    assert forecast.json()["symbol"] == "SPX"
    flush_journal(client)
    with closing(sqlite3.connect(tmp_path / "p.db")) as conn:
        assert conn.execute("SELECT symbol FROM sentiment_predictions").fetchall() == [("AAPL",)]
        assert conn.execute("SELECT symbol FROM price_predictions").fetchall() == [("SPX",)]
    assert client.get("/price/evaluate/spx").json()["symbol"] == "SPX"
