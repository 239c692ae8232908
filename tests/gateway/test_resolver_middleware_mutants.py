"""Mutation audit of the resolver, retention, the middleware and the fast lane: each test here fails with one
plausible one-line change that the other tests let pass (its docstring names it), and passes as the code stands."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.services.resolver import ResolveReport, Series, evaluate, resolve_due
from gateway.services.retention import prune_now, prune_periodically
from investiq.core.bar_cache import BarCache
from investiq.core.journal import JournalWriter, open_journal
from investiq.core.journal.predictions import Pruned, insert_sentiment, resolve_price
from investiq.core.settings import Settings
from investiq.core.stale import LONG_WEEKEND
from investiq.ops.retention import prune_journal
from tests.core.test_journal_prune import NOW, headline, writer
from tests.fakes import FakeBackend
from tests.gateway.test_observability import Lines, app_client, logged
from tests.gateway.test_resolver import (
    STEP,
    T0,
    actuals,
    bars,
    forecast,
    journal,
    journaled,
    offline,
    resolve,
    source,
)
from tests.gateway.test_security import KEY, app_for
from tests.ops.test_retention import counts

__all__ = ["app_client", "journal", "logged", "writer"]  # fixtures, imported for pytest
MAX_BODY = 2048


def correct(db: Path) -> list[tuple[int | None]]:
    return sqlite3.connect(db).execute("SELECT correct FROM price_predictions ORDER BY id").fetchall()


# --- gateway/services/resolver.py --------------------------------------------------------------------------------


def test_an_up_call_on_a_close_that_did_not_move_is_scored_wrong(journal: Path, tmp_path: Path):
    """resolver.py:outcome, `move > 0` -> `move >= 0`: an 'up' call whose H-th close equals its last price."""
    journaled(journal, [forecast("SPY", T0 + STEP)])  # 'up' from 100
    cache = BarCache(tmp_path / "bars")
    cache.merge("SPY", "15m", bars(T0, [100.0, 103.0, 100.0, 105.0]))
    assert resolve(journal, cache, offline, now=T0 + 5 * STEP) == ResolveReport(1, 0, {}, 0)
    assert correct(journal) == [(0,)]


def test_a_stop_during_the_last_series_writes_nothing(journal: Path, tmp_path: Path):
    """resolver.py:resolve_due, the stop check after the last series dropped: a gateway stopping while the pass
    scored its last series wrote that pass's outcomes."""
    journaled(journal, [forecast("SPY", T0 + STEP)])
    cache = BarCache(tmp_path / "bars")
    cache.merge("SPY", "15m", bars(T0, [100.0, 102.0, 104.0, 105.0]))
    stop = threading.Event()

    def stopping_after_the_last(series: list[Series]) -> Iterator[Series]:
        yield from series
        stop.set()  # the gateway stopped while the last series was scored

    writer = JournalWriter(journal)
    writer.start()
    try:
        report = resolve_due(
            journal, writer, cache, offline, T0 + 5 * STEP, progress=stopping_after_the_last, stop=stop
        )
    finally:
        writer.close()
    assert report == ResolveReport(0, 1, {}, 0)
    assert actuals(journal) == {"SPY": None}


def test_a_source_whose_connection_breaks_holds_back_no_other_series(journal: Path, tmp_path: Path):
    """resolver.py:resolve_due, `except OSError` dropped: one symbol's OSError (a connection reset, a cache file
    system that refuses) stopped the whole pass, every other series unscored."""
    journaled(journal, [forecast("QQQ", T0 + STEP), forecast("SPY", T0 + STEP)])
    final = bars(T0, [100.0, 102.0, 104.0, 105.0])

    def flaky(symbol: str, interval: str, start: datetime, end: datetime) -> pd.DataFrame:
        if symbol == "QQQ":
            raise ConnectionResetError(104, "Connection reset by peer")
        return source(final)(symbol, interval, start, end)

    report = resolve(journal, BarCache(tmp_path / "bars"), flaky, now=T0 + 5 * STEP)
    assert report.resolved == 1 and actuals(journal) == {"QQQ": None, "SPY": 104.0}
    assert report.errors["QQQ"].startswith("cannot read or write its cached bars")


def test_a_newest_bar_that_closed_at_the_pass_is_fetched_and_scored(journal: Path, tmp_path: Path):
    """resolver.py:_resolve_series, the newest cached H-th bar's `close > now` -> `>=`: one that closed at the very
    moment of the pass waited for the next pass."""
    journaled(journal, [forecast("SPY", T0 + STEP)])
    final = bars(T0, [100.0, 102.0, 104.0])
    cache = BarCache(tmp_path / "bars")
    cache.merge("SPY", "15m", final)  # the H-th bar, 15:00's, is the newest cached
    assert resolve(journal, cache, source(final), now=T0 + 3 * STEP).resolved == 1  # 15:00's closed at 15:15
    assert actuals(journal) == {"SPY": 104.0}


def test_a_bar_cached_while_it_formed_is_not_scored_after_the_cache_is_filled_in_before_it(
    journal: Path, tmp_path: Path
):
    """resolver.py:_resolve_series, `bars.index[at] + step > now` -> `bars.index[at] > now` where the bars were
    fetched in this pass: a cache (of before 2026-12-04) that starts after the forecast and ends in Monday's second
    bar, cached at 103.5 while it formed, was filled in back to Friday, and the forming bar was scored."""
    monday = T0 + timedelta(days=3) - 4 * STEP  # Monday 13:30
    journaled(journal, [forecast("SPY", T0 + 2 * STEP)])  # from Friday's close; due over the weekend; H = 2
    final = bars(T0, [99.0, 100.0, 102.0, 104.0])
    final.index = pd.DatetimeIndex([T0, T0 + STEP, monday, monday + STEP], name="timestamp")
    cache = BarCache(tmp_path / "bars")
    forming = final.iloc[2:].copy()
    forming.iloc[1, forming.columns.get_loc("close")] = 103.5  # Monday's 2nd bar, 5 minutes into its life
    cache.merge("SPY", "15m", forming)
    now = monday + STEP + timedelta(minutes=5)
    assert resolve(journal, cache, source(final), now=now) == ResolveReport(0, 1, {}, 0)
    assert actuals(journal) == {"SPY": None}


def test_a_break_of_exactly_a_long_weekend_still_scores(journal: Path, tmp_path: Path):
    """resolver.py:_broken, `> LONG_WEEKEND` -> `>=`: bars 5 days apart exactly (the longest break that is no
    hole) made the forecast unscorable."""
    journaled(journal, [forecast("SPY", T0 + STEP)])
    after = T0 + STEP + LONG_WEEKEND  # the next bar opens 5 days after the forecast's last one closed
    final = bars(T0, [100.0, 102.0, 104.0])
    final.index = pd.DatetimeIndex([T0, after, after + STEP], name="timestamp")
    cache = BarCache(tmp_path / "bars")
    cache.merge("SPY", "15m", final)
    report = resolve(journal, cache, source(final), now=after + 3 * STEP)
    assert report == ResolveReport(1, 0, {}, 0)
    assert actuals(journal) == {"SPY": 104.0}


def test_evaluate_counts_the_hits_not_the_calls(journal: Path):
    """resolver.py:evaluate, "hits" -> the number of calls: /price/evaluate said every call hit."""
    journaled(journal, [forecast("SPY", T0 + STEP), forecast("SPY", T0 + 5 * STEP)])
    writer = JournalWriter(journal)
    writer.start()
    try:
        writer.submit(resolve_price([(1, 104.0, True), (2, 99.0, False)])).result()
    finally:
        writer.close()
    report = evaluate(journal, "SPY", 30, now=T0 + timedelta(days=1))
    assert (report["calls"], report["hits"], report["hit_rate"]) == (2, 1, 0.5)


# --- gateway/services/retention.py, investiq/ops/retention.py ----------------------------------------------------


def test_a_row_a_little_younger_than_the_retention_is_kept(writer: JournalWriter, db_path: Path):
    """retention.py:prune_now, the cutoff `now - days` moved a day (`days - 1`): a row 6.5 days old pruned at 7."""
    writer.submit(insert_sentiment([headline(7.5), headline(6.5)])).result(5)
    assert prune_now(writer, 7, NOW) == Pruned(1, 0)


class FailingOnce:
    """The gateway's journal writer, but its first job raises (a locked or damaged journal); tells when a second
    job comes."""

    def __init__(self, writer: JournalWriter) -> None:
        self.writer, self.jobs, self.again = writer, 0, threading.Event()

    def submit(self, job: Any) -> Any:
        self.jobs += 1
        if self.jobs == 1:
            raise RuntimeError("database is locked")
        self.again.set()
        return self.writer.submit(job)

    def truncate_wal(self) -> None:
        self.writer.truncate_wal()


def test_a_failing_prune_is_retried_at_the_next_tick(writer: JournalWriter):
    """retention.py:prune_periodically, `except Exception` narrowed: one failing pass ended the daily pruning for
    the gateway's life."""
    flaky = FailingOnce(writer)

    async def two_ticks() -> bool:
        task = asyncio.create_task(prune_periodically(flaky, 7, every_s=0, first_after_s=0))  # type: ignore[arg-type]
        again = asyncio.ensure_future(asyncio.to_thread(flaky.again.wait, 30))
        done, _ = await asyncio.wait({task, again}, return_when=asyncio.FIRST_COMPLETED)
        task.cancel()
        flaky.again.set()  # the waiting thread ends either way
        await asyncio.gather(task, again, return_exceptions=True)
        return again in done

    assert asyncio.run(two_ticks())
    assert flaky.jobs >= 2


class Slept(Exception):
    """Raised by a stand-in for asyncio.sleep, to end prune_periodically at its first wait."""


def test_the_gateway_waits_before_its_first_prune(
    writer: JournalWriter,
    db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    """retention.py:prune_periodically, the first `await asyncio.sleep(first_after_s)` dropped: a gateway pruned
    the moment it started, every restart."""
    writer.submit(insert_sentiment([headline(30)])).result(5)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        raise Slept

    monkeypatch.setattr(asyncio, "sleep", sleep)
    with pytest.raises(Slept):
        asyncio.run(prune_periodically(writer, 7, every_s=86_400, first_after_s=3600))
    assert waits == [3600]
    assert counts(db_path) == (1, 0, 0)  # nothing pruned yet


def test_db_prune_counts_the_retention_from_the_time_it_is_given(settings: Settings):
    """investiq/ops/retention.py:prune_journal, `now` not passed on to prune_now: the retention was counted from
    the clock instead of the time asked for."""
    open_journal(settings.db_path).close()
    writer = JournalWriter(settings.db_path)
    writer.start()
    try:
        writer.submit(insert_sentiment([headline(7.5), headline(6.5)])).result(5)
    finally:
        writer.close()
    assert prune_journal(settings, 7, NOW) == Pruned(1, 0)  # NOW: 2026-12-05, before the clock


# --- gateway/middleware.py ---------------------------------------------------------------------------------------


def test_an_access_line_keeps_the_first_200_characters_of_a_long_path(app_client: TestClient, logged: Lines):
    """middleware.py:RequestContextMiddleware, the path's cut to _MAX_LOGGED_PATH dropped: a scanner's long URL
    became a log line as long."""
    path = "/" + "a" * 5000
    assert app_client.get(path).status_code == 404
    (line,) = logged.access()
    assert line["path"] == path[:200]


def test_a_head_requests_access_line_names_its_route(app_client: TestClient, logged: Lines):
    """middleware.py:RequestContextMiddleware, route_of(inner) -> route_of(scope): every HEAD request was logged as
    route "unmatched" (routing writes the route into the copy the app gets)."""
    assert app_client.head("/bayesian/weights").status_code == 200
    (line,) = logged.access()
    assert (line["method"], line["route"], line["status"]) == ("HEAD", "/bayesian/weights", 200)


@pytest.fixture
def guarded(settings: Settings) -> Iterator[TestClient]:
    """A keyless gateway on loopback, as `investiq serve` narrows its hosts (investiq/ops/bootstrap.py)."""
    with TestClient(
        create_app(settings.model_copy(update={"sentiment_model": "lexicon"}), FakeBackend())
    ) as client:
        client.app.state.allowed_hosts = frozenset({"localhost", "127.0.0.1", "::1"})
        yield client


@pytest.mark.parametrize("host", ["LocalHost:8000", "LOCALHOST", "[::1]:8000"])
def test_a_loopback_host_in_any_case_or_form_is_answered(guarded: TestClient, host: str):
    """middleware.py:HostGuardMiddleware, the Host's `.lower()` dropped: a client naming its gateway LocalHost
    (host names are case-insensitive) got a 421."""
    assert guarded.get("/bayesian/weights", headers={"Host": host}).status_code == 200, host


def padded(size: int) -> bytes:
    """A sentiment request of exactly `size` bytes (JSON padded with whitespace)."""
    body = b'{"texts": ["Profits soar"]}'
    return body[:-1] + b" " * (size - len(body)) + body[-1:]


@pytest.fixture
def limited(settings: Settings) -> Iterator[TestClient]:
    small = settings.model_copy(update={"sentiment_model": "lexicon", "max_body_bytes": MAX_BODY})
    with TestClient(create_app(small, FakeBackend())) as client:
        yield client


def test_a_body_of_exactly_the_limit_is_answered(limited: TestClient):
    """middleware.py:BodyLimitMiddleware, `size > max_bytes` -> `>=` (by Content-Length) or `seen > max_bytes` ->
    `>=` (streamed): a body of exactly max_body_bytes was refused 413."""
    body, json_type = padded(MAX_BODY), {"content-type": "application/json"}
    assert limited.post("/sentiment/predict", content=body, headers=json_type).status_code == 200
    streamed = limited.post("/sentiment/predict", content=iter([body[:1000], body[1000:]]), headers=json_type)
    assert streamed.status_code == 200, streamed.text
    over = limited.post("/sentiment/predict", content=iter([body, b" "]), headers=json_type)
    assert over.status_code == 413


def test_without_the_key_a_compressed_body_is_401_not_415(settings: Settings):
    """middleware.py:BodyLimitMiddleware, the key check before the Content-Encoding's 415 dropped: a request
    without the key heard about its body's coding instead of being told to send the key."""
    gzip = {"content-type": "application/json", "content-encoding": "gzip"}
    with TestClient(app_for(settings)) as client:
        assert client.post("/sentiment/predict", content=b"\x1f\x8b...", headers=gzip).status_code == 401
        keyed = client.post("/sentiment/predict", content=b"\x1f\x8b...", headers={**gzip, "X-API-Key": KEY})
        assert (keyed.status_code, keyed.json()["error"]) == (415, "unsupported_media_type")


# --- gateway/fastlane.py -----------------------------------------------------------------------------------------


def test_a_get_with_a_json_body_on_a_laned_post_route_is_405(app_client: TestClient):
    """fastlane.py:FastLane.matches, the `method == "POST"` condition dropped: a GET (or PUT) of a valid body to
    /sentiment/predict was answered 200 through the lane; FastAPI's route answers 405."""
    for method in ("GET", "PUT"):
        got = app_client.request(method, "/sentiment/predict", json={"texts": ["Profits soar"]})
        assert got.status_code == 405, method
