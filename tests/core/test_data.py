"""Market data: cleaning, CSV and sample import, the Parquet cache, cache-first loading and serving bars.

Yahoo Finance is never reached: loading takes a fake `fetch`, and `fetch_yfinance` runs against a
monkeypatched `yfinance.Ticker`.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
import pytest

from investiq.core import bar_files, market, yahoo
from investiq.core.bar_cache import BarCache
from investiq.core.bar_files import load_csv
from investiq.core.bar_intervals import SpacingError, check_spacing, interval_of
from investiq.core.errors import DataError
from investiq.core.market import (
    CleaningReport,
    clean_bars,
    load_bars,
    load_sample,
)
from investiq.core.market_fetch import _next_label, recent_bars
from investiq.core.market_splits import split_factor
from investiq.core.yahoo import fetch_yfinance

NOW = datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc)


def bars(times: list[Any], close: list[float], **columns: list[float]) -> pd.DataFrame:
    """Raw bars with a 'timestamp' column; open/high/low follow close unless given."""
    data = {"timestamp": times, "open": close, "high": close, "low": close, "close": close, "volume": 1.0}
    return pd.DataFrame({**data, **columns})


class FakeYahoo:
    """A `Fetch` that records its calls and serves round-the-clock bars like yfinance's history()."""

    def __init__(self, version: float = 0.0) -> None:
        self.calls: list[tuple[str, str, datetime, datetime]] = []
        self.version = version  # added to every price, so a test can tell old bars from refetched ones (keep it
        # under 1 % of them: more would be the source re-basing its history, and the cache be fetched again)

    def __call__(self, symbol: str, interval: str, start: datetime, end: datetime) -> pd.DataFrame:
        self.calls.append((symbol, interval, start, end))
        step = pd.Timedelta({"15m": "15min", "1h": "1h", "1d": "1D"}[interval])
        times = pd.date_range(pd.Timestamp(start).ceil(step), end, freq=step, inclusive="left")
        close = 100.0 + (times.asi8 // step.value) % 7 + self.version  # a bar's close, whenever it is asked
        frame = pd.DataFrame(
            {"Open": close, "High": close + 1, "Low": close - 1, "Close": close, "Adj Close": close},
            index=times.tz_convert("America/New_York").rename("Datetime"),  # yfinance: exchange time
        )
        frame["Volume"] = 10
        return frame


# -- cleaning ------------------------------------------------------------------------------------


def test_clean_bars_output_shape_and_types():
    raw = bars(["2024-01-02 14:30", "2024-01-02 14:45"], [10.0, 11.0])
    frame, report = clean_bars(raw, "AAPL", "15m")
    assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
    assert all(dtype == np.float64 for dtype in frame.dtypes)
    assert frame.index.name == "timestamp"
    assert str(frame.index.tz) == "UTC"
    assert (report.rows_in, report.rows_out, report.gaps, report.largest_gap) == (2, 2, 0, "none")


def test_naive_times_are_utc_and_aware_times_are_converted():
    naive, _ = clean_bars(bars(["2024-01-02 14:30"], [10.0]), "X", "15m")
    aware, _ = clean_bars(bars(["2024-01-02 09:30-05:00"], [10.0]), "X", "15m")
    assert naive.index[0] == pd.Timestamp("2024-01-02 14:30", tz="UTC")
    assert aware.index[0] == naive.index[0]


@pytest.mark.parametrize(
    ("written", "days"),
    [
        (["2021-12-02 00:00:00+09:00", "2021-12-03 00:00:00+09:00"], ["2021-12-02", "2021-12-03"]),  # Tokyo
        (["2024-03-29 00:00:00+01:00", "2024-04-02 00:00:00+02:00"], ["2024-03-29", "2024-04-02"]),  # a DST change
        (["2024-01-02 00:00:00-05:00", "2024-01-03 00:00:00-05:00"], ["2024-01-02", "2024-01-03"]),  # New York
        (["2024-01-02", "2024-01-03"], ["2024-01-02", "2024-01-03"]),  # no offset: as before
    ],
)
def test_daily_bars_written_at_local_midnight_keep_their_day(written: list[str], days: list[str]):
    """In UTC, a day that starts east of Greenwich falls on the day before (a split warned of on the wrong date,
    Mondays read as Sundays)."""
    frame, _ = clean_bars(bars(written, [10.0, 11.0]), "X", "1d")
    assert frame.index.tolist() == [pd.Timestamp(day, tz="UTC") for day in days]
    intraday, _ = clean_bars(bars(["2021-12-02 09:00:00+09:00"], [10.0]), "X", "15m")  # a time of day: its instant
    assert intraday.index[0] == pd.Timestamp("2021-12-02 00:00", tz="UTC")
    times_of_day, _ = clean_bars(bars(["2021-12-02 15:00:00+09:00"], [10.0]), "X", "1d")
    assert times_of_day.index[0] == pd.Timestamp("2021-12-02 06:00", tz="UTC")
    business = pd.bdate_range("2021-01-04", periods=10, tz="UTC")
    day_first = [f"{d:%d-%m-%Y}" for d in business]  # "-2021" is no UTC offset, and 15-01 says day first
    frame, _ = clean_bars(bars(day_first, [1.0] * 10), "X", "1d")
    assert frame.index.tolist() == business.tolist()


def test_duplicates_keep_the_last_row_and_unsorted_input_is_sorted():
    raw = bars(["2024-01-02 15:00", "2024-01-02 14:30", "2024-01-02 14:45", "2024-01-02 14:30"], [4, 1, 2, 3])
    frame, report = clean_bars(raw, "X", "15m")
    assert frame.index.is_monotonic_increasing and frame.index.is_unique
    assert frame["close"].tolist() == [3.0, 2.0, 4.0]  # 14:30 appears twice: the later row wins
    assert report.duplicates == 1


def test_nan_inf_and_non_positive_rows_are_dropped_and_counted():
    times = [f"2024-01-02 14:{m:02d}" for m in (0, 15, 30, 45)] + ["2024-01-02 15:00", "2024-01-02 15:15"]
    raw = bars(times, [1.0, np.nan, np.inf, 0.0, -5.0, 6.0], low=[1.0, 1.0, 1.0, 0.0, -5.0, 0.0])
    frame, report = clean_bars(raw, "X", "15m")
    assert frame["close"].tolist() == [1.0, 6.0]
    assert (report.rows_in, report.rows_out, report.nan_rows, report.non_positive) == (6, 2, 2, 2)
    assert report.rows_in == report.rows_out + report.duplicates + report.nan_rows + report.non_positive
    # a good close with a low of 0 (Yahoo's old index history): kept, its low set to the close, and counted
    assert frame["low"].tolist() == [1.0, 6.0] and report.filled == 1
    assert "1 rows without a usable open, high or low: set to the close" in str(report)


def test_a_file_of_closes_alone_is_enough(tmp_path: Path):
    path = tmp_path / "closes.csv"
    path.write_text('date,close\n2024-01-02,"1,050.25"\n2024-01-03,$1051.00\n2024-01-04,1052\n')
    frame, report = clean_bars(load_csv(path), "X", "1d")  # thousands grouped and a currency sign, as exported
    assert frame["close"].tolist() == [1050.25, 1051.0, 1052.0] and report.nan_rows == 0
    assert (frame["open"] == frame["close"]).all() and report.filled == 0  # no column to be unusable in (a review)
    assert "without a usable open" not in str(report)


def test_a_broken_later_row_does_not_replace_a_good_one():
    frame, report = clean_bars(bars(["2024-01-02", "2024-01-02"], [5.0, np.nan]), "X", "1d")
    assert frame["close"].tolist() == [5.0]
    assert (report.nan_rows, report.duplicates) == (1, 0)


def test_missing_or_broken_volume_is_zero():
    raw = bars(["2024-01-02", "2024-01-03"], [5.0, 6.0]).drop(columns="volume")
    assert clean_bars(raw, "X", "1d")[0]["volume"].tolist() == [0.0, 0.0]
    raw["Volume"] = [np.nan, 7]
    assert clean_bars(raw, "X", "1d")[0]["volume"].tolist() == [0.0, 7.0]


def test_intraday_gaps_count_holes_within_a_utc_day_only():
    times = [f"2024-01-02 {t}" for t in ("14:30", "14:45", "15:30", "15:45", "17:00")]
    times.append("2024-01-03 14:30")  # overnight: the market was closed, not a hole
    frame, report = clean_bars(bars(times, [1.0] * 6), "X", "15m")
    assert len(frame) == 6  # reported, never filled
    assert (report.gaps, report.largest_gap) == (2, "0 days 01:15:00")


def test_a_round_the_clock_market_s_outage_is_a_gap_across_midnight_too():
    """A crypto pair's hourly bars (weekends included) missing a week from 20:00 were "0 gaps": only holes within
    one UTC day counted (a review). Its nights are no closures; a stock's still are."""
    hours = pd.date_range("2024-01-01", periods=24 * 60, freq="1h", tz="UTC")
    out = hours[(hours < "2024-01-10 20:00") | (hours >= "2024-01-17 20:00")]
    _, report = clean_bars(bars([t.isoformat() for t in out], [1.0] * len(out)), "BTC", "1h")
    assert (report.gaps, report.largest_gap) == (1, "7 days 01:00:00")
    stock = hours[(hours.day_of_week < 5) & (hours.hour >= 14) & (hours.hour < 21)]
    assert clean_bars(bars([t.isoformat() for t in stock], [1.0] * len(stock)), "X", "1h")[1].gaps == 0
    # FX and futures open on Sunday evening (UTC) and shut at weekends: no gap a week (a review of this rule)
    day, hour = hours.day_of_week, hours.hour
    fx = hours[~((day == 5) | ((day == 6) & (hour < 21)) | ((day == 4) & (hour >= 21)))]
    assert clean_bars(bars([t.isoformat() for t in fx], [1.0] * len(fx)), "EURUSD", "1h")[1].gaps == 0


def test_daily_gaps_skip_weekends_and_long_weekends():
    # Fri -> Mon (3 days) and Thu -> Mon (4 days) are closures; Mon -> Mon (7 days) is a hole.
    times = ["2024-03-22", "2024-03-25", "2024-03-28", "2024-04-01", "2024-04-08"]
    _, report = clean_bars(bars(times, [1.0] * 5), "X", "1d")
    assert (report.gaps, report.largest_gap) == (1, "7 days 00:00:00")
    assert "1 gaps, largest 7 days" in str(report)


def test_clean_bars_errors_name_what_is_wrong():
    with pytest.raises(DataError, match=r"AAPL lack a close column \(found: timestamp, open\)"):
        clean_bars(pd.DataFrame({"timestamp": ["2024-01-02"], "open": [1]}), "AAPL", "1d")
    with pytest.raises(DataError, match="unknown interval '7m'"):
        clean_bars(bars(["2024-01-02"], [1.0]), "X", "7m")
    with pytest.raises(DataError, match="cannot read the timestamps of X"):
        clean_bars(bars(["2024-01-02", "not a date"], [1.0, 2.0]), "X", "1d")
    with pytest.raises(DataError, match="datetime index or a 'timestamp' column"):
        clean_bars(pd.DataFrame({"open": [1.0], "high": [1.0], "low": [1.0], "close": [1.0]}), "X", "1d")


# -- CSV and sample import -----------------------------------------------------------------------


def test_csv_columns_are_case_insensitive(tmp_path: Path):
    path = tmp_path / "bars.csv"
    path.write_text("Date,OPEN,High,low,Close,Adj Close,VOLUME\n2024-01-02,1,2,0.5,1.5,1.4,100\n")
    frame, report = clean_bars(load_csv(path), "X", "1d")
    assert frame.loc[pd.Timestamp("2024-01-02", tz="UTC")].tolist() == [1.0, 2.0, 0.5, 1.5, 100.0]
    assert report.rows_out == 1


def test_csv_symbol_column_picks_the_symbol(tmp_path: Path):
    path = tmp_path / "bars.csv"
    path.write_text(
        "timestamp,symbol,open,high,low,close,volume\n2024-01-02,AAPL,1,1,1,1,1\n2024-01-02,MSFT,2,2,2,2,2\n"
    )
    assert load_csv(path, "msft")["close"].tolist() == [2]
    with pytest.raises(DataError, match="no rows for TSLA; its symbols are AAPL, MSFT"):
        load_csv(path, "TSLA")
    with pytest.raises(DataError, match=r"several symbols \(AAPL, MSFT\)"):
        load_csv(path)


def test_csv_tickers_are_text_as_written_and_a_blank_one_is_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "bars.csv"
    rows = [f"2024-01-0{d},{sym},{p},{p},{p},{p},1" for d in range(2, 6) for sym, p in (("0700", 3), ("NA", 4))]
    rows += ["2024-01-03,,9,9,9,9,1"]  # a row whose symbol is blank
    path.write_text("timestamp,Symbol,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    assert load_csv(path, "0700")["close"].tolist() == [3] * 4  # leading zero kept
    assert load_csv(path, "na")["close"].tolist() == [4] * 4  # National Bank's ticker, not a missing value
    with pytest.raises(DataError, match=r"no rows for 700; its symbols are 0700, NA$"):
        load_csv(path, "700")
    blank = tmp_path / "blank.csv"
    blank.write_text("timestamp,symbol,open,high,low,close\n2024-01-02,,1,1,1,1\n2024-01-03,AAPL,2,2,2,2\n")
    assert load_csv(blank)["close"].tolist() == [2]  # the one symbol it names; the blank row is none
    unnamed = tmp_path / "unnamed.csv"
    unnamed.write_text("timestamp,symbol,open,high,low,close\n2024-01-02,,1,1,1,1\n")
    with pytest.raises(DataError, match=r"its symbols are none \(its symbol column is blank\)"):
        load_csv(unnamed, "MSFT")
    reads: list[Path] = []
    real = bar_files.read_bar_csv

    def counted(p: Path) -> pd.DataFrame:
        reads.append(p)
        return real(p)

    monkeypatch.setattr(market, "read_bar_csv", counted)
    got = load_bars("csv", ["0700", "NA"], days=30, interval="1d", cache_dir=tmp_path, csv_path=path)
    assert {s: len(bars) for s, (bars, _) in got.items()} == {"0700": 4, "NA": 4}
    assert reads == [path]  # the file is read once, however many symbols


def test_a_date_and_a_time_column_make_the_bar_time(tmp_path: Path):
    path = tmp_path / "intraday.csv"
    rows = [f"2024-01-0{d},{t},1,1,1,{d}.{i}" for d in (2, 3) for i, t in enumerate(("09:30", "09:45", "10:00"))]
    path.write_text("Date,Time,Open,High,Low,Close\n" + "\n".join(rows) + "\n")
    frame, report = clean_bars(load_csv(path), "X", "15m")  # before: one bar a day, the rest "duplicates"
    assert report.duplicates == 0 and len(frame) == 6
    assert frame.index[1] == pd.Timestamp("2024-01-02 09:45", tz="UTC")


def test_csv_missing_columns_are_named(tmp_path: Path):
    path = tmp_path / "prices.csv"
    path.write_text("when,open,value\n2024-01-02,1,1\n")
    with pytest.raises(DataError, match=r"prices\.csv lacks column\(s\) timestamp \(or date/datetime\), close"):
        load_csv(path)
    with pytest.raises(DataError, match=r"cannot read CSV .*absent\.csv"):
        load_csv(tmp_path / "absent.csv")


def test_sample_spx_is_real_daily_data():
    frame, report = clean_bars(load_sample("SPX"), "SPX", "1d")
    assert len(frame) > 5000
    assert frame.index[0].year == 1999 and frame.index[-1].year == 2018
    assert (frame["close"] > 0).all()
    # The only holes in 20 years: 9/11, President Ford's funeral and Hurricane Sandy.
    assert report.gaps == 3 and report.largest_gap == "7 days 00:00:00"


def test_unknown_sample_lists_the_samples():
    with pytest.raises(DataError, match="no sample data for AAPL; samples: SPX, NASDAQ"):
        load_sample("AAPL")


# -- the Parquet cache ---------------------------------------------------------------------------


def test_cache_merge_appends_dedupes_and_newer_rows_win(tmp_path: Path):
    cache = BarCache(tmp_path / "cache")
    assert cache.read("SPY", "1d") is None
    cache.merge("SPY", "1d", bars(["2024-01-02", "2024-01-03"], [1.0, 2.0]))
    merged = cache.merge("SPY", "1d", bars(["2024-01-03", "2024-01-04"], [20.0, 30.0]))
    assert merged["close"].tolist() == [1.0, 20.0, 30.0]
    pd.testing.assert_frame_equal(cache.read("SPY", "1d"), merged)

    path = cache.path("SPY", "1d")
    assert path == tmp_path / "cache" / "SPY_1d.parquet"
    assert str(pq.read_schema(path).field("timestamp").type) == "timestamp[ns, tz=UTC]"
    assert [p.name for p in path.parent.iterdir()] == ["SPY_1d.parquet"]  # no temp files left


def test_a_session_labelled_by_yahoo_and_by_a_bar_file_is_cached_once(tmp_path: Path):
    """Yahoo labels New York's daily bars at its midnight (04:00 UTC), a bar file at 00:00 UTC: merged, both were
    kept, each session twice, and the resolver scored forecasts about half their horizon early (an audit). One
    bar a session, the newer; intraday bars of different times stay apart."""
    cache = BarCache(tmp_path / "cache")
    cache.merge("SPY", "1d", bars(["2024-04-22T00:00:00Z", "2024-04-23T00:00:00Z"], [1.0, 2.0]))  # a file's
    merged = cache.merge("SPY", "1d", bars(["2024-04-23T04:00:00Z", "2024-04-24T04:00:00Z"], [20.0, 30.0]))
    assert [str(t) for t in merged.index] == [
        "2024-04-22 00:00:00+00:00",
        "2024-04-23 04:00:00+00:00",
        "2024-04-24 04:00:00+00:00",
    ]
    assert merged["close"].tolist() == [1.0, 20.0, 30.0]
    cache.merge("SPY", "1h", bars(["2024-04-22T13:00:00Z"], [1.0]))
    assert len(cache.merge("SPY", "1h", bars(["2024-04-22T14:00:00Z"], [2.0]))) == 2


def test_cache_refuses_a_symbol_that_is_a_path(tmp_path: Path):
    with pytest.raises(DataError, match="cannot name a cache file"):
        BarCache(tmp_path).path("../etc", "1d")


# -- load_bars -----------------------------------------------------------------------------------


def test_second_yfinance_load_fetches_only_from_the_last_cached_bar(tmp_path: Path):
    fetch, cache = FakeYahoo(), tmp_path

    def load(now: datetime) -> tuple[pd.DataFrame, CleaningReport]:
        got = load_bars("yfinance", ["AAPL"], days=5, interval="15m", cache_dir=cache, fetch=fetch, now=now)
        return got["AAPL"]

    frame, report = load(NOW)
    assert fetch.calls == [("AAPL", "15m", NOW - timedelta(days=5), NOW)]
    assert len(frame) == 5 * 96 and report.gaps == 0
    assert frame.index[-1] == pd.Timestamp(NOW) - pd.Timedelta("15min")

    later = NOW + timedelta(hours=2, minutes=5)
    fetch.version = 0.5
    frame, _ = load(later)
    last_cached = NOW - timedelta(minutes=15)
    assert fetch.calls[1] == ("AAPL", "15m", last_cached - timedelta(minutes=15), later)  # one bar of overlap
    assert len(fetch.calls) == 2  # a correction of 0.5 %, not a re-based history: not fetched again
    assert frame.index[-1] == pd.Timestamp(later).floor("15min") - pd.Timedelta("15min")  # the 14:00 bar: forming
    assert frame.loc[pd.Timestamp(last_cached), "close"] % 1 == 0.5  # the refetched bar replaced the cached one
    assert frame.index[0] == pd.Timestamp(later - timedelta(days=5)).ceil("15min")  # the window moved on

    load(later)
    assert len(fetch.calls) == 2  # the bar after the newest closes at 14:15: nothing new to fetch


def test_a_longer_window_than_cached_fetches_the_whole_window(tmp_path: Path):
    fetch = FakeYahoo()
    load_bars("yfinance", ["AAPL"], days=2, interval="1h", cache_dir=tmp_path, fetch=fetch, now=NOW)
    result = load_bars("yfinance", ["AAPL"], days=20, interval="1h", cache_dir=tmp_path, fetch=fetch, now=NOW)
    assert fetch.calls[1][2] == NOW - timedelta(days=20)
    assert len(result["AAPL"][0]) == 20 * 24


def test_yfinance_limits_and_intervals_are_checked_before_fetching(tmp_path: Path):
    fetch = FakeYahoo()
    with pytest.raises(DataError, match="15m bars for the last 60 days only, 61 asked"):
        load_bars("yfinance", ["AAPL"], days=61, interval="15m", cache_dir=tmp_path, fetch=fetch)
    with pytest.raises(DataError, match="no interval '3h'; use one of 1m, 2m, 5m"):
        load_bars("yfinance", ["AAPL"], days=1, interval="3h", cache_dir=tmp_path, fetch=fetch)
    assert fetch.calls == []


def test_csv_and_sample_windows_count_back_from_the_last_bar(tmp_path: Path):
    path = tmp_path / "bars.csv"
    rows = [f"2024-01-{d:02d},1,1,1,{d},1" for d in range(1, 11)]
    path.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    frame, report = load_bars("csv", ["X"], days=3, interval="1d", cache_dir=tmp_path, csv_path=path)["X"]
    assert frame["close"].tolist() == [7.0, 8.0, 9.0, 10.0]
    assert report.rows_in == 4

    frame, _ = load_bars("sample", ["SPX"], days=365, interval="1d", cache_dir=tmp_path)["SPX"]
    assert frame.index[0] >= pd.Timestamp("2018-01-01", tz="UTC") and 240 < len(frame) < 260


def test_load_bars_refusals_name_the_problem(tmp_path: Path):
    with pytest.raises(DataError, match="needs a bar file: --csv FILE, or the setting price_csv"):
        load_bars("csv", ["X"], days=3, interval="1d", cache_dir=tmp_path)
    with pytest.raises(DataError, match="sample bars are daily"):
        load_bars("sample", ["SPX"], days=3, interval="15m", cache_dir=tmp_path)
    path = tmp_path / "bad.csv"
    path.write_text("timestamp,open,high,low,close\n2024-01-02,1,1,1,-1\n")
    with pytest.raises(DataError, match="no usable bars for BAD from csv"):
        load_bars("csv", ["BAD"], days=3, interval="1d", cache_dir=tmp_path, csv_path=path)


# -- recent_bars ---------------------------------------------------------------------------------


def test_recent_bars_serves_fresh_cache_and_refreshes_stale_or_short_cache(tmp_path: Path):
    cache, fetch = BarCache(tmp_path), FakeYahoo()
    first = recent_bars("AAPL", "1h", 24, cache, fetch, now=NOW)
    assert len(first) == 24 and first.index[-1] == pd.Timestamp(NOW) - pd.Timedelta("1h")
    assert len(fetch.calls) == 1

    recent_bars("AAPL", "1h", 24, cache, fetch, now=NOW + timedelta(minutes=59))
    assert len(fetch.calls) == 1  # the bar after the newest (11:00) closes at 13:00: nothing new to ask for
    served = recent_bars("AAPL", "1h", 24, cache, fetch, now=NOW + timedelta(minutes=61))
    assert len(fetch.calls) == 2 and served.index[-1] == pd.Timestamp(NOW)  # the 12:00 bar, closed at 13:00

    stale = NOW + timedelta(hours=3)
    served = recent_bars("AAPL", "1h", 24, cache, fetch, now=stale)
    assert fetch.calls[-1][2:] == (NOW - timedelta(hours=1), stale)  # from the last cached bar only
    assert served.index[-1] == pd.Timestamp(stale) - pd.Timedelta("1h")

    calls = len(fetch.calls)
    with pytest.raises(DataError, match=r"only \d+ 1h bars for AAPL, 20000 needed"):
        recent_bars("AAPL", "1h", 20_000, cache, fetch, now=stale)
    assert len(fetch.calls) == calls + 1  # too few cached: it tried to fetch more first


class Exchange:
    """A `Fetch` of daily bars labelled at 00:00 UTC on the days the market trades (`days`), the day in progress
    included, as yfinance returns it: its close is the price of the moment (`intraday`)."""

    def __init__(self, days: list[str], intraday: float = 999.0) -> None:
        self.days = [pd.Timestamp(d, tz="UTC") for d in days]
        self.intraday = intraday
        self.calls: list[tuple[datetime, datetime]] = []

    def __call__(self, symbol: str, interval: str, start: datetime, end: datetime) -> pd.DataFrame:
        self.calls.append((start, end))
        days = [d for d in self.days if pd.Timestamp(start) <= d < pd.Timestamp(end)]
        close = [self.intraday if d + pd.Timedelta("1D") > pd.Timestamp(end) else float(d.day) for d in days]
        return bars(days, close)


def test_recent_bars_leave_out_the_bar_in_progress(tmp_path: Path):
    """A daily bar fetched during its day is the price of the moment: it was served as the last close, with a
    last_bar_time in the future, and, the cache being under four days old, for days after."""
    cache, fetch = BarCache(tmp_path), Exchange(["2024-03-25", "2024-03-26", "2024-03-27"])
    served = recent_bars("SPY", "1d", 2, cache, fetch, now=datetime(2024, 3, 27, 15, tzinfo=timezone.utc))
    assert served["close"].tolist() == [25.0, 26.0]  # Wednesday's bar, still forming (999), left out
    cached = cache.read("SPY", "1d")
    assert cached is not None and cached["close"].tolist() == [25.0, 26.0]  # nor cached

    thursday = datetime(2024, 3, 28, 1, tzinfo=timezone.utc)  # Wednesday's bar has closed
    served = recent_bars("SPY", "1d", 2, cache, fetch, now=thursday)
    assert fetch.calls[-1] == (datetime(2024, 3, 25, tzinfo=timezone.utc), thursday)  # from the last closed bar
    assert served["close"].tolist() == [26.0, 27.0]  # Wednesday's final close replaced its intraday price


def test_recent_bars_daily_asks_again_on_a_closed_market_at_most_every_few_minutes(tmp_path: Path):
    fetch = Exchange(["2024-03-26", "2024-03-27", "2024-03-28", "2024-04-01"])  # Good Friday: closed
    cache = BarCache(tmp_path)
    cache.merge("SPY", "1d", bars(["2024-03-26", "2024-03-27", "2024-03-28"], [26.0, 27.0, 28.0]))

    def serve(day: int, hour: int, minute: int = 0) -> pd.DataFrame:
        return recent_bars(
            "SPY", "1d", 3, cache, fetch, now=datetime(2024, 3, day, hour, minute, tzinfo=timezone.utc)
        )

    serve(29, 12)
    assert len(fetch.calls) == 1  # Thursday's bar, cached before this process, is asked about once it closed
    serve(29, 13)
    assert len(fetch.calls) == 1  # Friday's bar would close at midnight: nothing due
    serve(30, 12)
    assert len(fetch.calls) == 2  # Friday's bar should have closed: asked once, and it was not there
    serve(30, 12, 10)
    assert len(fetch.calls) == 2  # asked ten minutes ago
    served = serve(30, 12, 16)
    assert len(fetch.calls) == 3  # 15 minutes on: asked again
    assert served["close"].tolist() == [26.0, 27.0, 28.0]  # Thursday's bar is still the newest

    calls = 0

    def failing(symbol: str, interval: str, start: datetime, end: datetime) -> pd.DataFrame:
        nonlocal calls
        calls += 1
        raise DataError("Yahoo Finance cannot be reached from this machine (offline?)")

    sunday = datetime(2024, 3, 31, 12, tzinfo=timezone.utc)
    for minutes in (0, 5, 10):  # under four days old: served; the source asked once, not at every request
        served = recent_bars("SPY", "1d", 3, cache, failing, now=sunday + timedelta(minutes=minutes))
        assert served["close"].iloc[-1] == 28.0
    assert calls == 1
    with pytest.raises(DataError, match="offline"):  # Thursday's bar, five days on: not served any longer
        recent_bars("SPY", "1d", 3, cache, failing, now=datetime(2024, 4, 2, 12, tzinfo=timezone.utc))
    assert calls == 2


def test_a_bar_an_earlier_version_cached_in_progress_is_fetched_again_once_it_has_closed(tmp_path: Path):
    """Before 2026-12-04 the cache kept the bar in progress: Friday's, cached at noon at 101, closed at 105."""
    fetch = Exchange(["2024-03-27", "2024-03-28", "2024-03-29"])
    cache = BarCache(tmp_path)  # written as an earlier version did: this process never asked the source about it
    cache.merge("SPY", "1d", bars(["2024-03-27", "2024-03-28", "2024-03-29"], [27.0, 28.0, 101.0]))
    saturday = datetime(2024, 3, 30, 1, tzinfo=timezone.utc)  # Friday's bar has closed
    assert recent_bars("SPY", "1d", 3, cache, fetch, now=saturday)["close"].tolist() == [27.0, 28.0, 29.0]
    assert len(fetch.calls) == 1


class Yahoo60Days(FakeYahoo):
    """FakeYahoo that refuses, as Yahoo does, 15m bars older than 60 days before the call."""

    def __call__(self, symbol: str, interval: str, start: datetime, end: datetime) -> pd.DataFrame:
        if start < end - timedelta(days=60):
            self.calls.append((symbol, interval, start, end))
            raise yahoo.YahooError(f"no data from Yahoo Finance for {symbol} {interval}: not available", "")
        return super().__call__(symbol, interval, start, end)


def test_a_cache_older_than_the_source_serves_is_refreshed_from_what_it_does_serve(tmp_path: Path):
    """A 15m symbol nobody asked about for over 60 days was asked for from its newest cached bar, which Yahoo
    refuses: every request failed, serving and training alike, until the file was deleted by hand."""
    cache, fetch = BarCache(tmp_path), Yahoo60Days()
    recent_bars("AAPL", "15m", 96, cache, fetch, now=NOW)
    later = NOW + timedelta(days=75)
    served = recent_bars("AAPL", "15m", 96, cache, fetch, now=later)
    assert fetch.calls[-1][2] == later - timedelta(days=59)  # as far back as the source serves, less a day
    assert served.index[-1] == pd.Timestamp(later) - pd.Timedelta("15min")
    assert (served.index.to_series().diff().dropna() == pd.Timedelta("15min")).all()  # the hole is further back
    got = load_bars("yfinance", ["AAPL"], days=60, interval="15m", cache_dir=tmp_path, fetch=fetch, now=later)
    assert len(got["AAPL"][0]) == 59 * 96  # the first day of the 60 is in the hole


class Split(FakeYahoo):
    """FakeYahoo of a stock split `ratio` for 1 at `when`: it trades at FakeYahoo's prices before and at a
    `ratio`th of them after, and asked after `when` its whole history is adjusted for the split, as Yahoo's is."""

    def __init__(self, when: datetime, ratio: float) -> None:
        super().__init__()
        self.when, self.ratio = pd.Timestamp(when), ratio

    def __call__(self, symbol: str, interval: str, start: datetime, end: datetime) -> pd.DataFrame:
        frame = super().__call__(symbol, interval, start, end)
        if end > self.when:  # bars after the split trade at the new level, those before are adjusted to it
            frame[["Open", "High", "Low", "Close", "Adj Close"]] /= self.ratio
        return frame


@pytest.mark.parametrize("newest_bars", [1, 2], ids=["one-bar overlap", "two-bar overlap"])
def test_a_split_after_caching_rescales_the_cached_bars_to_the_adjusted_history(
    tmp_path: Path, newest_bars: int, caplog: pytest.LogCaptureFixture
):
    """Merged, the cached bars kept their pre-split level and the refreshed ones had the new one: a x0.1 one-bar
    move in the served window, on no day of the source's own history, and no warning (the cache's are taken
    for adjusted). Rescaled, the cache keeps all its bars, those the source no longer serves too."""
    cache, fetch = BarCache(tmp_path), Split(NOW + timedelta(hours=6), 10.0)
    recent_bars("AAPL", "1h", 48, cache, fetch, now=NOW)
    first = cache.read("AAPL", "1h")
    later = NOW + timedelta(hours=6 + newest_bars)  # one or two bars after the split
    with caplog.at_level("WARNING"):
        served = recent_bars("AAPL", "1h", 48, cache, fetch, now=later)
    assert "are x0.1 theirs (a split since they were cached)" in caplog.text
    moves = np.abs(np.diff(np.log(served["close"].to_numpy())))
    assert moves.max() < 0.1  # FakeYahoo's own moves: at most 106 -> 100
    cached = cache.read("AAPL", "1h")
    assert first is not None and cached is not None and cached.index[0] == first.index[0]  # no bar lost
    adjusted = fetch("AAPL", "1h", cached.index[0].to_pydatetime(), later)["Close"]
    assert cached["close"].to_numpy() == pytest.approx(adjusted.to_numpy())  # the source's history, as adjusted
    assert cached["volume"].iloc[0] == pytest.approx(100.0)  # 10 shares before the split are 100 after
    assert len(fetch.calls) == 4  # the fill, the refresh, its confirmation on SPLIT_BARS bars, and this test's


class BadPrint(FakeYahoo):
    """FakeYahoo whose first answer has the bar at `when` 7 % too high, corrected in every later one."""

    def __init__(self, when: datetime) -> None:
        super().__init__()
        self.when = pd.Timestamp(when)

    def __call__(self, symbol: str, interval: str, start: datetime, end: datetime) -> pd.DataFrame:
        frame = super().__call__(symbol, interval, start, end)
        if len(self.calls) == 1:
            frame.loc[frame.index == self.when, ["Open", "High", "Low", "Close", "Adj Close"]] *= 1.07
        return frame


def test_one_corrected_bar_is_no_split(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    """A refresh compares one cached bar with the source's: a bad print the source corrected by 7 % rescaled every
    cached bar by x0.93 (a review: 434 of 437 bars more than 1 % off, and a false jump in the window). A split
    seen on so few bars is fetched again over SPLIT_BARS of them first."""
    cache, fetch = BarCache(tmp_path), BadPrint(NOW - timedelta(hours=2))  # the second newest closed bar
    recent_bars("AAPL", "1h", 48, cache, fetch, now=NOW)
    first = cache.read("AAPL", "1h")
    with caplog.at_level("WARNING"):
        recent_bars("AAPL", "1h", 48, cache, fetch, now=NOW + timedelta(hours=1))
    assert "a split since they were cached" not in caplog.text
    cached = cache.read("AAPL", "1h")
    assert first is not None and cached is not None
    before = first.index < fetch.when
    assert cached.loc[first.index[before], "close"].to_numpy() == pytest.approx(first["close"][before].to_numpy())
    assert first.loc[fetch.when, "close"] / cached.loc[fetch.when, "close"] == pytest.approx(1.07)  # corrected
    assert len(fetch.calls) == 3  # the fill, the refresh, and its confirmation


def test_a_corrected_or_in_progress_newest_bar_is_not_a_split(tmp_path: Path):
    fetch = FakeYahoo()
    source = BarCache(tmp_path).merge("AAPL", "1h", fetch("AAPL", "1h", NOW - timedelta(hours=48), NOW))
    cached = source.copy()
    cached.iloc[-1, cached.columns.get_loc("close")] *= 3  # cached in progress, or corrected since
    assert split_factor(cached, source) is None
    assert split_factor(source, source.assign(close=source["close"] * 1.005)) is None
    # one cent on a $0.81 stock (x1.012) was taken for a split, and the cache fetched again, losing bars
    assert split_factor(source, source.assign(close=source["close"] * 1.012)) is None
    assert split_factor(source, source.assign(close=source["close"] / 2)) == pytest.approx(0.5)
    assert split_factor(source, source.assign(close=source["close"] / 1.1)) == pytest.approx(1 / 1.1)
    uneven = source["close"] / np.where(np.arange(len(source)) % 2, 2.0, 1.0)  # not one factor: not a split
    assert split_factor(source, source.assign(close=uneven)) is None
    halved = source["close"] / 2
    halved.iloc[3] *= 1.02  # one of 48 corrected since it was cached: still the split of the others
    assert split_factor(source, source.assign(close=halved)) == pytest.approx(0.5)
    assert split_factor(source.iloc[-3:], source.assign(close=halved).iloc[-3:]) == pytest.approx(0.5)
    assert split_factor(source.iloc[:-1], source.iloc[-1:]) is None  # no bar in common


def test_recent_bars_with_nothing_to_serve_says_so(tmp_path: Path):
    def empty(symbol: str, interval: str, start: datetime, end: datetime) -> pd.DataFrame:
        return pd.DataFrame(columns=["Open", "High", "Low", "Close", "Volume"], index=pd.DatetimeIndex([]))

    with pytest.raises(DataError, match="no 15m bars for ZZZZ"):
        recent_bars("ZZZZ", "15m", 8, BarCache(tmp_path), empty, now=NOW)


# -- the real Yahoo Finance call, without the network --------------------------------------------


class FakeTicker:
    """Stands in for yfinance.Ticker(symbol): history() raises `failure`, or returns no rows."""

    def __init__(self, failure: Exception | None) -> None:
        self.failure = failure
        self.kwargs: dict[str, object] = {}

    def history(self, **kwargs: object) -> pd.DataFrame:
        self.kwargs = kwargs
        if self.failure is not None:
            raise self.failure
        return pd.DataFrame()


def test_fetch_yfinance_turns_failures_into_data_errors(monkeypatch: pytest.MonkeyPatch):
    import yfinance  # type: ignore[import-untyped, unused-ignore]

    offline = FakeTicker(RuntimeError("Failed to resolve 'query2.finance.yahoo.com'"))
    monkeypatch.setattr(yfinance, "Ticker", lambda symbol: offline)
    start, end = NOW - timedelta(days=1), NOW
    with pytest.raises(DataError, match=r"for AAPL 1d: Yahoo Finance cannot be reached .*use --source csv"):
        fetch_yfinance("AAPL", "1d", start, end)
    assert offline.kwargs["auto_adjust"] is False and offline.kwargs["start"] == start

    monkeypatch.setattr(yahoo, "yahoo_resolves", lambda: True)  # online, and Yahoo has nothing
    monkeypatch.setattr(yfinance, "Ticker", lambda symbol: FakeTicker(None))  # no rows is no data either
    with pytest.raises(
        DataError, match=r"AAPL 15m: empty response\. Check the symbol and interval, or use --source csv"
    ):
        fetch_yfinance("AAPL", "15m", start, end)


class DNSError(Exception):
    """Named like curl_cffi's: what yfinance raises on the first call without a network."""


def possibly_delisted() -> Exception:
    from yfinance.exceptions import YFTzMissingError  # type: ignore[import-untyped, unused-ignore]

    error: Exception = YFTzMissingError("AAPL")  # "$AAPL: possibly delisted; no timezone found"
    return error


@pytest.mark.parametrize(
    "failure",
    [
        DNSError("Failed to perform, curl: (6) Could not resolve host: query2.finance.yahoo.com."),
        possibly_delisted(),  # the same cause on a later call
        TypeError("argument of type 'NoneType' is not iterable"),  # and on another one
        ConnectionRefusedError(111, "Connection refused"),
        None,  # an empty frame
    ],
    ids=["dns", "possibly-delisted", "type-error", "refused", "empty"],
)
def test_offline_yahoo_reads_the_same_whatever_yfinance_raises(
    monkeypatch: pytest.MonkeyPatch, failure: Exception | None
):
    import yfinance  # type: ignore[import-untyped, unused-ignore]

    monkeypatch.setattr(yahoo, "yahoo_resolves", lambda: False)  # the host name does not resolve
    monkeypatch.setattr(yfinance, "Ticker", lambda symbol: FakeTicker(failure))
    with pytest.raises(DataError) as caught:
        fetch_yfinance("AAPL", "15m", NOW - timedelta(days=1), NOW)
    assert (
        str(caught.value)
        == f"no data from Yahoo Finance for AAPL 15m: {yahoo.OFFLINE_REASON}; {yahoo.OTHER_SOURCE}"
    )


def test_online_yahoo_passes_its_own_reason_on(monkeypatch: pytest.MonkeyPatch):
    import yfinance  # type: ignore[import-untyped, unused-ignore]

    monkeypatch.setattr(yahoo, "yahoo_resolves", lambda: True)
    monkeypatch.setattr(yfinance, "Ticker", lambda symbol: FakeTicker(possibly_delisted()))
    with pytest.raises(DataError, match=r"for AAPL 15m: \$AAPL: possibly delisted; no timezone found\. Check the"):
        fetch_yfinance("AAPL", "15m", NOW - timedelta(days=1), NOW)


class RateLimitedTicker:
    """yfinance.Ticker that answers 429 `limited` times, then bars; counts its calls."""

    def __init__(self, limited: int) -> None:
        self.limited, self.calls = limited, 0

    def __call__(self, symbol: str) -> RateLimitedTicker:
        return self

    def history(self, **kwargs: object) -> pd.DataFrame:
        from yfinance.exceptions import YFRateLimitError  # type: ignore[import-untyped, unused-ignore]

        self.calls += 1
        if self.calls <= self.limited:
            raise YFRateLimitError()
        return pd.DataFrame({"Close": [1.0]}, index=pd.DatetimeIndex([NOW]))


def test_rate_limits_are_retried_with_growing_pauses(monkeypatch: pytest.MonkeyPatch):
    import yfinance  # type: ignore[import-untyped, unused-ignore]

    pauses: list[float] = []
    monkeypatch.setattr(yahoo, "_sleep", pauses.append)
    ticker = RateLimitedTicker(limited=2)
    monkeypatch.setattr(yfinance, "Ticker", ticker)
    frame = fetch_yfinance("AAPL", "15m", NOW - timedelta(days=1), NOW)
    assert len(frame) == 1 and ticker.calls == 3
    first, longest = yahoo.RATE_LIMIT_WAIT_S
    assert len(pauses) == 2 and first <= pauses[0] < pauses[1] <= longest + first


def test_a_rate_limit_that_lasts_is_one_clear_error(monkeypatch: pytest.MonkeyPatch):
    import yfinance  # type: ignore[import-untyped, unused-ignore]

    pauses: list[float] = []
    monkeypatch.setattr(yahoo, "_sleep", pauses.append)
    monkeypatch.setattr(yahoo, "yahoo_resolves", lambda: pytest.fail("a rate limit is not offline"))
    ticker = RateLimitedTicker(limited=100)
    monkeypatch.setattr(yfinance, "Ticker", ticker)
    with pytest.raises(DataError, match=r"AAPL 15m: Yahoo Finance is rate-limiting this machine \(429"):
        fetch_yfinance("AAPL", "15m", NOW - timedelta(days=1), NOW)
    assert ticker.calls == yahoo.RATE_LIMIT_TRIES and len(pauses) == yahoo.RATE_LIMIT_TRIES - 1
    assert all(p <= yahoo.RATE_LIMIT_WAIT_S[1] + yahoo.RATE_LIMIT_WAIT_S[0] for p in pauses)


def test_the_reachability_probe_gives_up_on_a_hanging_resolver(monkeypatch: pytest.MonkeyPatch):
    import socket
    import time

    monkeypatch.setattr(socket, "getaddrinfo", lambda *args: time.sleep(5))
    began = time.monotonic()
    assert yahoo.yahoo_resolves(timeout_s=0.2) is False
    assert time.monotonic() - began < 2

    def refuse(*args: object) -> None:
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    assert yahoo.yahoo_resolves(timeout_s=1.0) is False


def test_a_csv_of_several_symbols_loads_each_of_them(tmp_path: Path):
    # regression: load_bars read the file without a symbol first, and refused any multi-symbol CSV
    path = tmp_path / "bars.csv"
    rows = [f"2024-01-{d:02d},{s},1,1,1,{d * k},1" for d in range(1, 6) for s, k in (("AAA", 1), ("BBB", 10))]
    path.write_text("timestamp,symbol,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    loaded = load_bars("csv", ["AAA", "BBB"], days=30, interval="1d", cache_dir=tmp_path, csv_path=path)
    assert loaded["AAA"][0]["close"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert loaded["BBB"][0]["close"].tolist() == [10.0, 20.0, 30.0, 40.0, 50.0]
    with pytest.raises(DataError, match="no rows for CCC"):
        load_bars("csv", ["CCC", "AAA"], days=30, interval="1d", cache_dir=tmp_path, csv_path=path)


def test_a_model_trained_from_a_csv_records_it_for_evaluate_and_retrain(tmp_path: Path):
    # regression: evaluate crashed with KeyError 'csv_path' on a model trained from a CSV
    from investiq.core.patchtst import TrainConfig, config_from
    from investiq.core.settings import Settings
    from investiq.ops.patchtst import choose_bars, config_for, trained_bars

    path = tmp_path / "bars.csv"
    path.write_text("timestamp,symbol,open,high,low,close\n")
    bars = choose_bars(Settings(), "csv", ("AAA BBB",), 30, "1d", path)
    config = config_from(json.loads(json.dumps(asdict(config_for(bars)))))  # as metrics.json keeps it
    assert trained_bars(config).csv_path == path
    other = tmp_path / "moved.csv"
    assert trained_bars(config, other).csv_path == other  # --csv overrides
    unrecorded = TrainConfig(symbols=("AAA",), source="csv", days=30, interval="1d")
    with pytest.raises(DataError, match="pass it with --csv"):
        trained_bars(unrecorded)


# -- files as people export them (issue: real-data re-checks) --------------------------------------


@pytest.mark.parametrize(
    "stamps",
    [
        [1451865600, 1451952000],  # epoch seconds
        [1451865600000, 1451952000000],  # milliseconds
        [1451865600_000000, 1451952000_000000],  # microseconds
        [20160104, 20160105],  # YYYYMMDD
        ["04/01/2016", "13/01/2016"],  # day first: month-first fails at the 13th, so unambiguous
    ],
)
def test_numeric_and_day_first_timestamps_are_read_as_the_dates_they_are(stamps: list[Any]):
    frame, _ = clean_bars(bars(stamps, [1.0, 2.0]), "X", "1d")
    first = "2016-01-04"
    assert frame.index[0] == pd.Timestamp(first, tz="UTC")
    assert frame.index[1] in (pd.Timestamp("2016-01-05", tz="UTC"), pd.Timestamp("2016-01-13", tz="UTC"))


def test_timestamps_that_cannot_be_read_say_so_cleanly():
    with pytest.raises(DataError, match="neither epoch times nor YYYYMMDD"):
        clean_bars(bars([42373, 42374], [1.0, 2.0]), "X", "1d")  # spreadsheet day numbers: not guessed
    with pytest.raises(DataError, match="in different units"):
        clean_bars(bars([1451865600, 1451952000000], [1.0, 2.0]), "X", "1d")  # seconds and milliseconds
    with pytest.raises(DataError, match="neither epoch times nor YYYYMMDD"):
        clean_bars(bars([20160104, 1451952000], [1.0, 2.0]), "X", "1d")  # a date would read as 1970
    with pytest.raises(DataError) as caught:
        clean_bars(bars(["2016-01-04", "garbage"], [1.0, 2.0]), "X", "1d")
    assert '"garbage"' in str(caught.value) and "You might want" not in str(caught.value)
    assert "ISO 8601" in str(caught.value)


def test_a_file_whose_bars_are_not_spaced_as_the_interval_says_is_refused(tmp_path: Path):
    path = tmp_path / "daily.csv"
    days = pd.bdate_range("2024-01-01", periods=30)
    path.write_text("date,open,high,low,close\n" + "".join(f"{d:%Y-%m-%d},1,1,1,1\n" for d in days))
    with pytest.raises(DataError, match=r"apart \(median\), not 15m .*pass --interval 1d"):
        load_bars("csv", ["X"], days=60, interval="15m", cache_dir=tmp_path, csv_path=path)
    half_hours = pd.date_range("2024-01-02 14:30", periods=40, freq="30min", tz="UTC")
    with pytest.raises(SpacingError, match=r"not 15m .*pass --interval 30m") as caught:  # x2: not 15m bars
        check_spacing(half_hours, "15m", "X")
    assert caught.value.looks_like == "30m"
    with pytest.raises(SpacingError, match=r"not 1h .*pass --interval 90m"):  # x1.5
        check_spacing(pd.date_range("2024-01-02", periods=40, freq="90min", tz="UTC"), "1h", "X")
    with pytest.raises(SpacingError, match=r"04:00:00 apart .*no interval InvestIQ takes .*resample") as caught:
        check_spacing(pd.date_range("2024-01-02", periods=40, freq="4h", tz="UTC"), "1h", "X")
    assert caught.value.looks_like is None
    assert interval_of(pd.Timedelta(days=7)) == "1wk" and interval_of(pd.Timedelta(hours=1)) == "1h"
    assert interval_of(pd.Timedelta(days=30)) is None
    frame, report = load_bars("csv", ["X"], days=10, interval="1d", cache_dir=tmp_path, csv_path=path)["X"]
    assert report.older_rows == 30 - len(frame) > 0
    assert f"{report.older_rows} older rows outside the window left out (--days)" in str(report)


def test_a_one_bar_move_like_an_unadjusted_split_is_reported_not_dropped():
    close = [100.0, 101.0, 25.5, 25.0]  # a 4:1 split in prices that were not adjusted for it
    frame, report = clean_bars(bars([f"2024-01-0{d}" for d in (2, 3, 4, 5)], close), "X", "1d")
    assert len(frame) == 4 and report.jumps == 1
    assert report.largest_jump == "x0.252 on 2024-01-04"
    assert "split-adjusted prices" in str(report)
    _, calm = clean_bars(bars(["2024-01-02", "2024-01-03"], [100.0, 60.0]), "X", "1d")  # -40%: a crash, kept quiet
    assert calm.jumps == 0 and "WARNING" not in str(calm)
    # inside x2 or /2 but at a split's ratio: 2:1 on a +4 % day, and 3:2; the -40 % crash among them is not named
    days = [f"2024-01-{d:02d}" for d in (2, 3, 4, 5, 8)]
    _, splits = clean_bars(bars(days, [100.0, 52.0, 31.2, 31.0, 20.7]), "X", "1d")
    assert splits.jumps == 2 and splits.largest_jump == "x0.52 on 2024-01-03"
    assert "like a split (beyond x2 or /2, or near a split ratio such as 2:1 or 3:2)" in str(splits)


def test_a_yfinance_download_csv_with_its_three_header_rows_loads(tmp_path: Path):
    one = tmp_path / "aapl.csv"
    one.write_text(
        "Price,Adj Close,Close,High,Low,Open,Volume\nTicker,AAPL,AAPL,AAPL,AAPL,AAPL,AAPL\nDate,,,,,,\n"
        "2016-01-04,24.0,26.3,26.3,25.5,25.6,100\n2016-01-05,23.4,25.6,26.4,25.6,26.4,200\n"
    )
    frame, _ = clean_bars(load_csv(one, "AAPL"), "AAPL", "1d")
    assert frame["close"].tolist() == [26.3, 25.6] and frame["volume"].tolist() == [100.0, 200.0]
    two = tmp_path / "two.csv"
    two.write_text(
        "Price,Close,Close,High,High,Low,Low,Open,Open\nTicker,AAPL,MSFT,AAPL,MSFT,AAPL,MSFT,AAPL,MSFT\n"
        "Date,,,,,,,,\n2016-01-04,26.3,54.8,26.3,54.8,25.5,53.4,25.6,54.3\n"
    )
    frame, _ = clean_bars(load_csv(two, "msft"), "MSFT", "1d")
    assert frame.iloc[0][["open", "high", "low", "close"]].tolist() == [54.3, 54.8, 53.4, 54.8]
    by_ticker = tmp_path / "by_ticker.csv"  # download(..., group_by="ticker"): the Ticker row first
    by_ticker.write_text(
        "Ticker,AAPL,AAPL,MSFT,MSFT\nPrice,Open,Close,Open,Close\nDate,,,,\n2016-01-04,25.6,26.3,54.3,54.8\n"
    )
    frame, _ = clean_bars(load_csv(by_ticker, "MSFT"), "MSFT", "1d")
    assert frame.iloc[0][["open", "close"]].tolist() == [54.3, 54.8]


def test_european_spreadsheet_files_read_with_their_decimal_commas(tmp_path: Path):
    semicolons = tmp_path / "eu.csv"  # Excel where the comma is the decimal sign: semicolons, day-first dots
    semicolons.write_text(
        "\ufeffDate;Open;High;Low;Close\n13.01.2016;25,6;26,3;25,5;26,3\n14.01.2016;1.025,5;1.030;1.020;1.026,25\n"
    )
    frame, _ = clean_bars(load_csv(semicolons), "X", "1d")
    assert frame.index.tolist() == [pd.Timestamp("2016-01-13", tz="UTC"), pd.Timestamp("2016-01-14", tz="UTC")]
    assert frame["close"].tolist() == [26.3, 1026.25] and frame["high"].tolist() == [26.3, 1030.0]
    quoted = tmp_path / "sheets.csv"  # Google Sheets in a European locale: commas, the numbers quoted
    quoted.write_text('"Date","Close"\n"2016-01-04","1,1113"\n"2016-01-05","1,095"\n')
    assert clean_bars(load_csv(quoted), "X", "1d")[0]["close"].tolist() == [1.1113, 1.095]
    grouped = tmp_path / "us.csv"  # thousands grouped with commas: 1,095 is 1095 where nothing says otherwise
    grouped.write_text('Date,Close\n2016-01-04,"1,095"\n2016-01-05,"1,050.25"\n2016-01-06,"1,100"\n')
    assert clean_bars(load_csv(grouped), "X", "1d")[0]["close"].tolist() == [1095.0, 1050.25, 1100.0]
    alone = tmp_path / "ambiguous.csv"
    alone.write_text('Date,Close\n2016-01-04,"1,095"\n2016-01-05,"1,100"\n')
    assert clean_bars(load_csv(alone), "X", "1d")[0]["close"].tolist() == [1095.0, 1100.0]
    months = tmp_path / "months.csv"  # the format guessed from May's row: a full month name, and June's refused
    months.write_text("Date,Close\n31-May-2017,10\n01-Jun-2017,11\n02-Jun-2017,12\n")
    assert clean_bars(load_csv(months), "X", "1d")[0].index[1] == pd.Timestamp("2017-06-01", tz="UTC")
    for rows in (
        "2017-01-10 09:30-05:00,10\n2017-01-10 10:30,11\n",
        "2017-01-10 10:30,11\n2017-01-10 11:30-05:00,10\n",
    ):
        mixed = (
            tmp_path / "mixed.csv"
        )  # naive and aware times: refused whichever comes first (the retry read them)
        mixed.write_text("Date,Close\n" + rows + "2017-01-10 12:30,12\n")
        with pytest.raises(DataError):
            clean_bars(load_csv(mixed), "X", "1h")
    zones = tmp_path / "zones.csv"  # aware times written two ways: read (the check took " UTC" for none, a review)
    zones.write_text("Date,Close\n2024-01-02 14:30:00 UTC,10\n2024-01-02 15:30:00+00:00,11\n")
    assert clean_bars(load_csv(zones), "X", "1h")[0]["close"].tolist() == [10.0, 11.0]
    blank = tmp_path / "blank.csv"  # a row without its time is named as such, not as a format ("-2017" no offset)
    blank.write_text("Date,Close\n31-May-2017,10\n01-Jun-2017,11\n,5\n02-Jun-2017,12\n")
    with pytest.raises(DataError, match="empty timestamp on line 4"):
        clean_bars(load_csv(blank), "X", "1d")
    below_one = tmp_path / "below.csv"  # no thousands begin with 0: a decimal comma (read as 512, 1489: a review)
    below_one.write_text("date;close\n2020-01-01;0,512\n2020-01-02;1,489\n")
    assert clean_bars(load_csv(below_one), "X", "1d")[0]["close"].tolist() == [0.512, 1.489]


def test_exports_that_name_the_close_otherwise_read_as_they_are(tmp_path: Path):
    investing = tmp_path / "investing.csv"  # Investing.com: the close is "Price", newest first, volume "5.65M"
    investing.write_text(
        '"Date","Price","Open","High","Low","Vol.","Change %"\n'
        '"Jul 03, 2023","1,792.69","1,755.20","1,796.59","1,749.62","5.65M","2.14%"\n'
        '"Jun 30, 2023","1,755.13","1,740.00","1,760.00","1,735.00","4.10M","0.52%"\n'
    )
    frame, report = clean_bars(load_csv(investing), "X", "1d")
    assert frame["close"].tolist() == [1755.13, 1792.69] and frame["open"].tolist() == [1740.0, 1755.2]
    assert report.rows_out == 2 and frame["volume"].tolist() == [0.0, 0.0]
    nasdaq = tmp_path / "nasdaq.csv"  # Nasdaq.com: "Close/Last" with dollar signs, month-first slash dates
    nasdaq.write_text(
        "Date,Close/Last,Volume,Open,High,Low\n07/03/2023,$89.63,5652908,$87.76,$89.83,$87.48\n"
        "06/30/2023,$88.00,100,$87.00,$88.50,$86.90\n"
    )
    frame, _ = clean_bars(load_csv(nasdaq), "X", "1d")
    assert frame.index[-1] == pd.Timestamp("2023-07-03", tz="UTC") and frame["close"].tolist() == [88.0, 89.63]
    mt5 = tmp_path / "mt5.csv"  # MetaTrader: tab-separated, <DATE> and <TIME> apart
    mt5.write_text(
        "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\n"
        "2024.01.02\t09:00:00\t1.1\t1.2\t1.0\t1.15\t10\n2024.01.02\t10:00:00\t1.15\t1.2\t1.1\t1.12\t12\n"
    )
    frame, _ = clean_bars(load_csv(mt5), "X", "1h")
    assert frame.index.tolist() == [
        pd.Timestamp("2024-01-02 09:00", tz="UTC"),
        pd.Timestamp("2024-01-02 10:00", tz="UTC"),
    ]
    assert frame["close"].tolist() == [1.15, 1.12] and frame["volume"].tolist() == [10.0, 12.0]
    numbers = tmp_path / "numbers.csv"  # a YYYYMMDD date and an HMM (or HHMMSS) time, both whole numbers
    numbers.write_text("Date,Time,Close\n20240102,930,1\n20240102,1600,2\n20240103,93000,3\n")
    frame, _ = clean_bars(load_csv(numbers), "X", "15m")
    assert [f"{t:%Y-%m-%d %H:%M}" for t in frame.index] == [
        "2024-01-02 09:30",
        "2024-01-02 16:00",
        "2024-01-03 09:30",
    ]


def test_tradingview_and_binance_exports_with_a_header_read_as_they_are(tmp_path: Path):
    """TradingView's "time" (epoch seconds) and Binance's "Open time" (epoch milliseconds) were refused: "lacks
    column(s) timestamp (or date/datetime)"."""
    tradingview = tmp_path / "BATS_SPY, 60.csv"
    tradingview.write_text(
        "time,open,high,low,close,Volume\n1704205800,472.1,473,471.5,472.6,100\n"
        "1704209400,472.6,473.2,472,472.9,120\n"
    )
    frame, _ = clean_bars(load_csv(tradingview), "SPY", "1h")
    assert frame.index.tolist() == [
        pd.Timestamp("2024-01-02 14:30", tz="UTC"),
        pd.Timestamp("2024-01-02 15:30", tz="UTC"),
    ]
    assert frame["close"].tolist() == [472.6, 472.9]
    binance = tmp_path / "BTCUSDT-1h.csv"
    binance.write_text(
        "Open time,Open,High,Low,Close,Volume,Close time\n1704067200000,42283.6,42554.6,42261,42475.2,"
        "1271.7,1704070799999\n1704070800000,42475.2,42775,42431.6,42613.6,1196.3,1704074399999\n"
    )
    frame, _ = clean_bars(load_csv(binance), "BTCUSDT", "1h")
    assert frame.index[0] == pd.Timestamp("2024-01-01 00:00", tz="UTC") and frame["close"].iloc[-1] == 42613.6
    tv_dated = tmp_path / "dated.csv"  # a date column beside a time of day: both, as MetaTrader's
    tv_dated.write_text("date,time,close\n2024-01-02,14:30,1\n2024-01-02,15:30,2\n")
    frame, _ = clean_bars(load_csv(tv_dated), "X", "1h")
    assert frame.index[-1] == pd.Timestamp("2024-01-02 15:30", tz="UTC")


def test_binance_kline_files_read_without_a_header_in_milliseconds_or_microseconds(tmp_path: Path):
    def line(opened: int, close: float) -> str:  # Binance's 12 columns: open time ... ignore
        return f"{opened},{close},{close + 1},{close - 1},{close},12.5,{opened + 3599999},5e5,100,6.0,2.4e5,0\n"

    path = tmp_path / "BTCUSDT-1h-2024-12.csv"  # spot files: ms until 2024, µs from 2025; one file may hold both
    last_2024, first_2025 = 1735686000000, 1735689600000  # 2024-12-31 23:00 and 2025-01-01 00:00 UTC
    path.write_text(line(last_2024, 93000.5) + line(first_2025 * 1000, 93100.0))
    frame, report = clean_bars(load_csv(path), "BTCUSDT", "1h")
    assert [f"{t:%Y-%m-%d %H:%M}" for t in frame.index] == ["2024-12-31 23:00", "2025-01-01 00:00"]
    assert frame["close"].tolist() == [93000.5, 93100.0] and frame["volume"].tolist() == [12.5, 12.5]
    assert report.rows_out == 2 and report.gaps == 0
    headed = tmp_path / "futures.csv"  # futures files (and some spot ones) carry a header: open_time, ...
    headed.write_text("open_time,open,high,low,close,volume\n1735686000000,1,2,0.5,1.5,3\n")
    assert clean_bars(load_csv(headed), "X", "1h")[0]["close"].tolist() == [1.5]
    bare = tmp_path / "bare.csv"  # no header, not Binance's width: say to add one, not "lacks close"
    bare.write_text("1735686000000,1,2,0.5,1.5,3\n1735689600000,1,2,0.5,1.5,3\n")
    with pytest.raises(DataError, match=r"has no header row: its first line holds 6 numbers\. Add a header"):
        load_csv(bare)


def test_a_footer_row_is_named_rather_than_the_format_blamed(tmp_path: Path):
    path = tmp_path / "export.csv"
    days = pd.bdate_range("2024-01-01", periods=200)
    path.write_text("Date,Close\n" + "".join(f"{d:%Y-%m-%d},1\n" for d in days) + "Total,200\n")
    # named by its file line, the header line 1 (it was "row 201", the 0-based data rows plus one)
    with pytest.raises(DataError, match=r"line 202 \('Total'\) is not a time; remove such rows"):
        clean_bars(load_csv(path), "X", "1d")


def test_symbols_that_differ_only_in_case_are_kept_apart(tmp_path: Path):
    path = tmp_path / "two.csv"
    path.write_text(
        "symbol,date,close\nabc,2024-01-02,100\nABC,2024-01-02,20\nabc,2024-01-03,101\nABC,2024-01-03,21\n"
    )
    assert load_csv(path, "abc")["close"].tolist() == [100, 101]
    assert load_csv(path, "ABC")["close"].tolist() == [20, 21]
    with pytest.raises(DataError, match=r"differ only in case \(ABC, abc\): name one as it is written"):
        load_csv(path, "Abc")
    one = tmp_path / "one.csv"
    one.write_text("symbol,date,close\nspy,2024-01-02,100\n")
    assert load_csv(one, "SPY")["close"].tolist() == [100]  # one spelling: any case finds it, as before


def test_a_csv_recorded_at_training_is_absolute_and_its_absence_points_to_csv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from investiq.core.settings import Settings
    from investiq.ops.patchtst import choose_bars, config_for, trained_bars

    monkeypatch.chdir(tmp_path)
    Path("bars.csv").write_text("timestamp,open,high,low,close\n")
    config = config_for(choose_bars(Settings(), "csv", ("X",), 30, "1d", Path("bars.csv")))
    assert config.csv_path == str(tmp_path.resolve() / "bars.csv")
    Path("bars.csv").unlink()
    with pytest.raises(DataError, match="not there now: pass the file with --csv"):
        trained_bars(config)


def test_a_csv_named_on_the_command_line_describes_itself(tmp_path: Path):
    """`train patchtst --source csv --csv FILE` and nothing else: the file's symbols, spacing and history, not
    the defaults meant for Yahoo (SPY QQQ AAPL, 15m, 60 days), which failed three times in a row."""
    from investiq.core.settings import Settings
    from investiq.ops.patchtst import choose_bars

    days = pd.bdate_range("2020-01-01", periods=40)
    one = tmp_path / "aapl_us_d.csv"  # Stooq's name for it; no symbol column
    one.write_text("Date,Close\n" + "".join(f"{d:%Y-%m-%d},{i + 1}\n" for i, d in enumerate(days)))
    logged: list[str] = []
    bars = choose_bars(Settings(), "csv", (), None, None, one, log=logged.append)
    assert (bars.symbols, bars.interval, bars.days) == (("aapl_us_d",), "1d", market.SAMPLE_DAYS)
    assert logged == [
        f"{one}: aapl_us_d (every symbol in the file), 1d bars (as the file is spaced), all of its history"
    ]
    frame, _ = load_bars(
        "csv", bars.symbols, days=bars.days, interval=bars.interval, cache_dir=tmp_path, csv_path=one
    )["aapl_us_d"]
    assert len(frame) == 40
    hours = pd.date_range("2024-01-01", periods=30, freq="1h")  # round the clock: BTC-USD, ETH-USD
    two = tmp_path / "crypto.csv"
    two.write_text(
        "symbol,timestamp,close\n"
        + "".join(f"{s},{t:%Y-%m-%dT%H:%M}Z,1\n" for s in ("ETH-USD", "BTC-USD") for t in hours)
    )
    bars = choose_bars(Settings(), "csv", ("ETH-USD",), 7, None, two, log=logged.append)
    assert (bars.symbols, bars.interval, bars.days) == (("ETH-USD",), "1h", 7)
    assert choose_bars(Settings(), "csv", (), None, "1h", two, log=logged.append).symbols == ("BTC-USD", "ETH-USD")
    configured = Settings(price_source="csv", price_csv=two)  # the settings name the file: theirs are the defaults
    assert choose_bars(configured, log=logged.append).symbols == tuple(configured.price_symbols)
    four = tmp_path / "four_hours.csv"
    four.write_text(
        "timestamp,close\n"
        + "".join(f"{t:%Y-%m-%dT%H:%M}Z,1\n" for t in pd.date_range("2024-01-01", periods=30, freq="4h"))
    )
    with pytest.raises(DataError, match=r"04:00:00 apart \(median\): that is no interval InvestIQ takes"):
        choose_bars(Settings(), "csv", (), None, None, four, log=logged.append)
    mixed = tmp_path / "mixed.csv"  # daily bars of one symbol, weekly of another (a review: the first one's
    # interval was taken for the file, and the error blamed the other's spacing on an --interval nobody gave)
    weeks = pd.date_range("2020-01-06", periods=40, freq="7D")
    mixed.write_text(
        "symbol,timestamp,close\n"
        + "".join(f"SPX,{d:%Y-%m-%d},1\n" for d in days)
        + "".join(f"NASW,{d:%Y-%m-%d},1\n" for d in weeks)
    )
    with pytest.raises(
        DataError, match=r"mixes bar intervals \(NASW 1wk, SPX 1d\).*pass --symbols with those of one"
    ):
        choose_bars(Settings(), "csv", (), None, None, mixed, log=logged.append)
    assert choose_bars(Settings(), "csv", ("spx",), None, None, mixed, log=logged.append).interval == "1d"
    with pytest.raises(DataError, match=r"holds none of QQQ: its symbols are NASW, SPX"):
        choose_bars(Settings(), "csv", ("QQQ",), None, None, mixed, log=logged.append)  # not "pass --symbols"
    # --csv FILE without --source: the file is the source meant (it was ignored, and Yahoo asked for SPY)
    assert choose_bars(Settings(), None, (), None, None, one, log=logged.append).source == "csv"
    with pytest.raises(DataError, match="names a bar file, --source yfinance another source: drop one of them"):
        choose_bars(Settings(), "yfinance", (), None, None, one)


def test_daily_bars_of_a_market_closed_at_weekends_are_not_asked_for_on_saturday_and_sunday(tmp_path: Path):
    """A stock's Friday bar is followed by Monday's: it was asked for every 15 minutes of the weekend."""
    fetch = Exchange(["2024-04-01", "2024-04-02", "2024-04-03", "2024-04-04", "2024-04-05", "2024-04-08"])
    cache = BarCache(tmp_path)
    at = datetime(2024, 4, 6, 1, tzinfo=timezone.utc)  # Saturday: Friday's bar has closed
    assert recent_bars("SPY", "1d", 3, cache, fetch, now=at).index[-1] == pd.Timestamp("2024-04-05", tz="UTC")
    calls = len(fetch.calls)
    for hours in range(1, 48, 5):  # through Saturday and Sunday
        recent_bars("SPY", "1d", 3, cache, fetch, now=at + timedelta(hours=hours))
    assert len(fetch.calls) == calls
    tuesday = datetime(2024, 4, 9, 1, tzinfo=timezone.utc)  # Monday's bar has closed
    assert recent_bars("SPY", "1d", 3, cache, fetch, now=tuesday).index[-1] == pd.Timestamp("2024-04-08", tz="UTC")
    assert len(fetch.calls) == calls + 1
    crypto = Exchange([str(d.date()) for d in pd.date_range("2024-03-01", "2024-04-08")])  # every day
    recent_bars("BTC", "1d", 3, cache, crypto, now=at)
    recent_bars("BTC", "1d", 3, cache, crypto, now=at + timedelta(days=1))  # Saturday's bar closed: asked for
    assert len(crypto.calls) == 2


class Sessions(FakeYahoo):
    """FakeYahoo of a stock market's 15-minute bars: weekdays, 13:30 to 20:00 UTC."""

    def __call__(self, symbol: str, interval: str, start: datetime, end: datetime) -> pd.DataFrame:
        frame = super().__call__(symbol, interval, start, end)
        utc = frame.index.tz_convert("UTC")
        minutes = utc.hour * 60 + utc.minute
        return frame[(utc.day_of_week < 5) & (minutes >= 13 * 60 + 30) & (minutes < 20 * 60)]


def test_intraday_bars_of_a_market_closed_at_weekends_are_not_asked_for_then(tmp_path: Path):
    """A stock's 15-minute bars were asked for every few minutes of the weekend, ~1,300 calls a symbol (a review);
    a crypto pair's, which trade then, still are."""
    fetch, cache = Sessions(), BarCache(tmp_path)
    saturday = datetime(2024, 3, 23, 12, tzinfo=timezone.utc)
    recent_bars("SPY", "15m", 300, cache, fetch, now=saturday)  # fills three weeks of sessions
    calls = len(fetch.calls)
    for minutes in range(10, 36 * 60, 30):  # through Saturday and Sunday
        recent_bars("SPY", "15m", 300, cache, fetch, now=saturday + timedelta(minutes=minutes))
    assert len(fetch.calls) == calls
    # a gateway that last asked on Friday afternoon asks once more at the weekend, for Friday's last bars
    friday = BarCache(tmp_path / "friday")
    recent_bars("SPY", "15m", 300, friday, Sessions(), now=datetime(2024, 3, 22, 15, tzinfo=timezone.utc))
    served = recent_bars("SPY", "15m", 300, friday, Sessions(), now=saturday)
    assert served.index[-1] == pd.Timestamp("2024-03-22 19:45", tz="UTC")
    crypto = FakeYahoo()
    recent_bars("BTC", "15m", 300, cache, crypto, now=saturday)
    recent_bars("BTC", "15m", 300, cache, crypto, now=saturday + timedelta(minutes=30))
    assert len(crypto.calls) == 2


def test_the_weekend_of_an_exchange_east_of_utc_is_its_own():
    """Yahoo labels Tokyo's Monday bar at Tokyo's midnight: Sunday 15:00 UTC. Those Sunday labels made the
    market look open at weekends, and it was asked for new bars all weekend."""
    monday = pd.Timestamp("2024-04-01", tz="Asia/Tokyo")
    days = [monday + pd.Timedelta(days=k) for k in range(5)]  # Monday to Friday, Tokyo midnights
    tokyo = pd.DataFrame({"close": range(5)}, index=pd.DatetimeIndex(days).tz_convert("UTC"))
    assert (tokyo.index.day_of_week >= 5).any()  # in UTC, Monday's label is a Sunday
    assert _next_label(tokyo, pd.Timedelta(days=1)) == (monday + pd.Timedelta(days=7)).tz_convert("UTC")


def test_a_short_history_or_a_failing_source_is_not_asked_again_at_every_request(tmp_path: Path):
    """A new listing with fewer bars than the model's context, and a source that fails on an empty cache: the
    source was asked at every request (the gateway asks for 512 bars)."""
    listing = Exchange([str(d.date()) for d in pd.bdate_range("2024-03-18", "2024-03-29")])
    cache, at = BarCache(tmp_path), datetime(2024, 3, 30, 12, tzinfo=timezone.utc)
    for minutes in (0, 5, 10):
        with pytest.raises(DataError, match=r"only 10 1d bars for NEW, 64 needed"):
            recent_bars("NEW", "1d", 64, cache, listing, now=at + timedelta(minutes=minutes))
    assert len(listing.calls) == 1
    with pytest.raises(DataError, match="only 10 1d bars"):
        recent_bars("NEW", "1d", 64, cache, listing, now=at + timedelta(minutes=16))
    assert len(listing.calls) == 2  # 15 minutes on: asked again
    calls = 0

    def failing(symbol: str, interval: str, start: datetime, end: datetime) -> pd.DataFrame:
        nonlocal calls
        calls += 1
        raise DataError("Yahoo Finance cannot be reached from this machine (offline?)")

    for minutes in (0, 5, 10):
        with pytest.raises(DataError, match="offline"):
            recent_bars("GONE", "1d", 64, cache, failing, now=at + timedelta(minutes=minutes))
    assert calls == 1
