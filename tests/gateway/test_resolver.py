"""The resolver scores final closes only, against the right bar, and one series' trouble holds back no other:
forecasts journaled as the gateway journals them, bars in a real cache, a data source that the test controls."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

from gateway.services.price_forecast import closed_after
from gateway.services.resolver import ResolveReport, evaluate, resolve_due
from investiq.core.bar_cache import BarCache
from investiq.core.errors import DataError
from investiq.core.journal import JournalWriter, open_journal
from investiq.core.journal.predictions import RESOLVED_COLUMNS, PriceRow, insert_price, resolve_price
from investiq.core.skill import SkillBook
from investiq.core.skill_outcomes import forecast_key, outcome_of_row

T0 = datetime(2024, 3, 8, 14, 30, tzinfo=timezone.utc)  # a 15-minute bar of a Friday afternoon opens
STEP = timedelta(minutes=15)
Fetch = Callable[[str, str, datetime, datetime], pd.DataFrame]


def forecast(symbol: str, last_bar_time: datetime, horizon: int = 2, interval: str = "15m") -> PriceRow:
    """An 'up' forecast from a close of 100, made when the bar ending at `last_bar_time` closed."""
    at = last_bar_time.isoformat()
    target = (last_bar_time + horizon * STEP).isoformat()
    return PriceRow(
        at, symbol, "patchtst", "v1", interval, horizon, 100.0, at, 101.0, 0.01, "up", 0.6, "[]", target, 3.0
    )


def bars(start: datetime, closes: list[float]) -> pd.DataFrame:
    """15-minute bars opening at `start`, `start` + 15 min, ..."""
    stamps = pd.DatetimeIndex([start + i * STEP for i in range(len(closes))], name="timestamp")
    return pd.DataFrame({"open": closes, "high": closes, "low": closes, "close": closes, "volume": 0.0}, stamps)


def source(frame: pd.DataFrame) -> Fetch:
    """A data source that has `frame` (the final bars) and returns what opened in [start, end)."""

    def fetch(symbol: str, interval: str, start: datetime, end: datetime) -> pd.DataFrame:
        return frame[(frame.index >= pd.Timestamp(start)) & (frame.index < pd.Timestamp(end))]

    return fetch


def offline(*_: object) -> pd.DataFrame:
    raise DataError("offline")


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    db = tmp_path / "portfolio.db"
    open_journal(db).close()
    return db


def journaled(db: Path, rows: list[PriceRow]) -> None:
    writer = JournalWriter(db)
    writer.start()
    try:
        writer.submit(insert_price(rows)).result()
    finally:
        writer.close()


def resolve(db: Path, cache: BarCache, fetch: Fetch, now: datetime) -> ResolveReport:
    writer = JournalWriter(db)
    writer.start()
    try:
        return resolve_due(db, writer, cache, fetch, now=now)
    finally:
        writer.close()


def actuals(db: Path) -> dict[str, float | None]:
    return dict(sqlite3.connect(db).execute("SELECT symbol, actual_price FROM price_predictions ORDER BY id"))


def test_a_bar_cached_while_it_formed_is_fetched_again_before_it_scores(journal: Path, tmp_path: Path):
    """The cache keeps the bar in progress as a source returns it. The horizon's bar was cached at 101 a few
    minutes into its life and closed at 104: the resolver scored 101. The forecast is from the last bar of a
    session, so it is due (its target time, two bar times on, passed over the weekend) long before its H-th bar,
    the second of the next session, closes: only the bar's own close time can hold it back."""
    monday = T0 + timedelta(days=3) - 4 * STEP  # Monday 13:30: the next session's first bar opens
    journaled(journal, [forecast("SPY", T0 + 2 * STEP)])  # the session's last bar (T0 + 15 min) closed; H = 2
    final = bars(T0, [99.0, 100.0, 102.0, 104.0, 105.0])
    final.index = pd.DatetimeIndex([T0, T0 + STEP, monday, monday + STEP, monday + 2 * STEP], name="timestamp")
    cache = BarCache(tmp_path / "bars")
    forming = final.iloc[:4].copy()
    forming.iloc[3, forming.columns.get_loc("close")] = 101.0  # fetched 3 minutes into the H-th bar
    cache.merge("SPY", "15m", forming)
    h_bar_closes = monday + 2 * STEP
    # due, not resolved: the H-th bar is still forming, whatever the source says of it
    waiting = resolve(journal, cache, source(final), now=h_bar_closes - timedelta(minutes=1))
    assert waiting == ResolveReport(resolved=0, waiting=1, errors={})
    assert resolve(journal, cache, offline, now=h_bar_closes + STEP).resolved == 0  # no source: it waits
    assert actuals(journal) == {"SPY": None}
    assert resolve(journal, cache, source(final), now=h_bar_closes + timedelta(minutes=1)).resolved == 1
    assert actuals(journal) == {"SPY": 104.0}


def test_a_bar_with_a_later_one_cached_is_final(journal: Path, tmp_path: Path):
    journaled(journal, [forecast("SPY", T0 + STEP)])
    cache = BarCache(tmp_path / "bars")
    cache.merge("SPY", "15m", bars(T0, [100.0, 102.0, 104.0, 105.0]))
    assert resolve(journal, cache, offline, now=T0 + 5 * STEP).resolved == 1
    assert actuals(journal) == {"SPY": 104.0}


def test_a_journaled_time_that_is_not_one_holds_back_no_other_series(journal: Path, tmp_path: Path):
    """A due forecast whose last_bar_time cannot be read (not the gateway's writing) is unscorable; the others
    resolve. It was a traceback that stopped every series (a review), then its series' error (another)."""
    journaled(journal, [forecast(s, T0 + STEP) for s in ("SPY", "QQQ", "IWM")])
    with sqlite3.connect(journal) as conn:
        conn.execute("UPDATE price_predictions SET last_bar_time = 'garbage' WHERE symbol = 'QQQ'")
        conn.execute("UPDATE price_predictions SET last_bar_time = '2024-03-08T14:45:00' WHERE symbol = 'IWM'")
    cache = BarCache(tmp_path / "bars")
    for symbol in ("SPY", "QQQ", "IWM"):
        cache.merge(symbol, "15m", bars(T0, [100.0, 102.0, 104.0, 105.0]))
    report = resolve(journal, cache, offline, now=T0 + 5 * STEP)
    # QQQ's forecast alone is unscorable; IWM's naive time is UTC, as the journal reads every time
    assert report.resolved == 3 and report.unscorable == 1 and report.errors == {}, report
    assert actuals(journal) == {"SPY": 104.0, "QQQ": None, "IWM": 104.0}


def test_a_forecast_made_before_a_split_is_scored_on_its_own_price_basis(journal: Path, tmp_path: Path):
    """After a 10-for-1 split the cache holds the adjusted history (10.0, 10.2, 10.4): the forecast from 100 was
    scored against 10.4, a 90 % fall, and its 'up' call wrong."""
    journaled(journal, [forecast("SPY", T0 + STEP), forecast("QQQ", T0 + STEP)])
    cache = BarCache(tmp_path / "bars")
    cache.merge("SPY", "15m", bars(T0, [10.0, 10.2, 10.4, 10.5]))
    cache.merge("QQQ", "15m", bars(T0, [100.5, 102.0, 104.0, 105.0]))  # within 1 %: a close as it stands
    assert resolve(journal, cache, offline, now=T0 + 5 * STEP).resolved == 2
    assert actuals(journal) == {"SPY": pytest.approx(104.0), "QQQ": 104.0}
    correct = sqlite3.connect(journal).execute("SELECT correct FROM price_predictions").fetchall()
    assert correct == [(1,), (1,)]


def test_a_volatile_symbols_move_is_no_split_when_the_last_close_is_a_cached_one(journal: Path, tmp_path: Path):
    """A forecast from 100 dated a bar late (closes sent without their times, during a session, are dated then),
    where the cached bar it names closed at 150: a move beyond 5 % read as a split since the forecast, and the
    outcome 118 was rewritten to 78.7, the 'up' call scored wrong (a review, on the VIX's real 17.31 -> 37.32).
    The last price is the close of a cached bar beside it: the same basis, scored as it stands."""
    journaled(journal, [forecast("VIX", T0 + 2 * STEP)])
    cache = BarCache(tmp_path / "bars")
    cache.merge("VIX", "15m", bars(T0, [100.0, 150.0, 120.0, 118.0, 119.0]))
    assert resolve(journal, cache, offline, now=T0 + 6 * STEP).resolved == 1
    assert actuals(journal) == {"VIX": 118.0}
    assert sqlite3.connect(journal).execute("SELECT correct FROM price_predictions").fetchall() == [(1,)]


def test_an_index_is_never_rescaled_for_a_split(journal: Path, tmp_path: Path):
    """An index never splits: a ^VIX forecast from 20 with no cached close near it within 1 % had its outcome 21.5
    rescaled to 18.7, a right 'up' call scored wrong (a review)."""
    journaled(journal, [forecast("^VIX", T0 + STEP)])
    cache = BarCache(tmp_path / "bars")
    cache.merge("^VIX", "15m", bars(T0, [23.0, 24.6, 121.5, 23.9]))
    assert resolve(journal, cache, offline, now=T0 + 5 * STEP).resolved == 1
    assert actuals(journal) == {"^VIX": 121.5}


def test_a_cache_that_starts_after_the_forecast_is_filled_in_not_counted_from(journal: Path, tmp_path: Path):
    """A forecast older than a symbol's cache was scored from the first cached bar: the wrong one."""
    journaled(journal, [forecast("SPY", T0 + STEP)])
    final = bars(T0, [100.0, 102.0, 104.0, 105.0, 106.0, 107.0, 108.0])
    cache = BarCache(tmp_path / "bars")
    cache.merge("SPY", "15m", final.iloc[4:])  # what a later start cached: from the 5th bar on
    now = T0 + 8 * STEP
    assert resolve(journal, cache, offline, now=now).resolved == 0  # waiting, not scored at 107
    assert actuals(journal) == {"SPY": None}
    assert resolve(journal, cache, source(final), now=now).resolved == 1
    assert actuals(journal) == {"SPY": 104.0}


def test_one_symbol_that_cannot_be_cached_holds_back_no_other(journal: Path, tmp_path: Path):
    """A forecast sent with its closes may carry any symbol; 'BRK/B' can name no cache file, and the error it
    raised outside the per-symbol guard stopped every resolution, for as long as the row was kept."""
    journaled(journal, [forecast("BRK/B", T0 + STEP), forecast("SPY", T0 + STEP)])
    cache = BarCache(tmp_path / "bars")
    cache.merge("SPY", "15m", bars(T0, [100.0, 102.0, 104.0, 105.0]))
    report = resolve(journal, cache, offline, now=T0 + 5 * STEP)
    assert report.resolved == 1 and actuals(journal) == {"BRK/B": None, "SPY": 104.0}
    assert "BRK/B" in report.errors and "cannot name a cache file" in report.errors["BRK/B"]


def test_a_symbol_too_long_for_a_file_name_holds_back_no_other(journal: Path, tmp_path: Path):
    """Journaled before the gateway refused it: its cache file's name is over the file system's 255 bytes, and
    the OSError it raised stopped every symbol's resolution."""
    long = "É" * 128
    journaled(journal, [forecast(long, T0 + STEP), forecast("SPY", T0 + STEP)])
    cache = BarCache(tmp_path / "bars")
    cache.merge("SPY", "15m", bars(T0, [100.0, 102.0, 104.0, 105.0]))
    report = resolve(journal, cache, offline, now=T0 + 5 * STEP)
    assert report.resolved == 1 and actuals(journal) == {long: None, "SPY": 104.0}
    assert "cannot name a cache file: 256 bytes in UTF-8" in report.errors[long]


def test_forecasts_that_never_resolve_hold_back_no_other(journal: Path, tmp_path: Path):
    """The due forecasts were read oldest first, a thousand at most: a thousand of a symbol no source knows
    stopped every other symbol's resolution."""
    stuck = [forecast("MYFUND", T0 - (1001 - i) * STEP) for i in range(1001)]
    journaled(journal, [*stuck, forecast("SPY", T0 + STEP)])
    cache = BarCache(tmp_path / "bars")
    cache.merge("SPY", "15m", bars(T0, [100.0, 102.0, 104.0, 105.0]))
    report = resolve(journal, cache, offline, now=T0 + 5 * STEP)
    assert report.resolved == 1 and actuals(journal)["SPY"] == 104.0
    assert report.errors == {"MYFUND": "offline"}


def test_forecasts_still_waiting_for_their_bar_hold_back_no_older_one_of_their_series(
    journal: Path, tmp_path: Path
):
    """Due forecasts were read newest first, a thousand per series: an agent polling one symbol every 6 minutes
    journals a thousand forecasts due but waiting for their H-th bar within the 4 days a daily one waits, and the
    series' older, resolvable forecasts were never read again (an audit)."""
    session = bars(T0, [100.0 + i for i in range(22)])  # Friday 14:30 to the close at 20:00
    friday_close = T0 + 22 * STEP
    journaled(journal, [forecast("SPY", T0 + STEP), *[forecast("SPY", friday_close)] * 1000])
    cache = BarCache(tmp_path / "bars")
    cache.merge("SPY", "15m", session)
    report = resolve(journal, cache, source(session), now=friday_close + 4 * STEP)  # due; Monday's bars are not
    assert report.resolved == 1 and report.waiting == 1000
    first = sqlite3.connect(journal).execute("SELECT actual_price FROM price_predictions WHERE id = 1").fetchone()
    assert first == (102.0,)  # its 2nd bar after 14:45: 15:00's


def test_forecasts_that_wait_for_ever_at_a_series_old_end_hold_back_none_of_its_newer_ones(
    journal: Path, tmp_path: Path
):
    """Read oldest first alone, a thousand forecasts older than a cache the source no longer serves (a delisted
    symbol, a fund whose bars came from a file) waited for ever and hid the series' newer, resolvable ones (a
    review): both ends of a series are read."""
    monday = datetime(2024, 3, 11, 13, 30, tzinfo=timezone.utc)
    old = [forecast("MYFUND", monday - timedelta(days=3) + i * timedelta(minutes=1)) for i in range(1000)]
    journaled(journal, [*old, forecast("MYFUND", monday + 4 * STEP)])
    cache = BarCache(tmp_path / "bars")
    cache.merge("MYFUND", "15m", bars(monday, [200.0 + i for i in range(26)]))
    report = resolve(journal, cache, offline, now=monday + 27 * STEP)
    assert report.resolved == 1 and report.waiting == 1000
    last = (
        sqlite3.connect(journal).execute("SELECT actual_price FROM price_predictions WHERE id = 1001").fetchone()
    )
    assert last == (pytest.approx(100.0 * 205 / 203),)  # 14:45's bar; the forecast's close of 100 is on its basis


def test_a_forecast_dated_at_a_weekend_before_the_cache_is_looked_back_for_across_it(
    journal: Path, tmp_path: Path
):
    """Closes sent without their times are dated by the request: one sent on a Saturday, with a cache that begins
    on Monday, was looked back for over 3 hours of 15m bars, found no bar before it and waited for ever, though
    the source has Friday's (a review). The look-back spans a long weekend."""
    monday = datetime(2024, 3, 11, 13, 30, tzinfo=timezone.utc)
    friday = bars(T0, [100.0 + i for i in range(22)])  # to the close at 20:00
    after = bars(monday, [200.0 + i for i in range(26)])
    journaled(journal, [forecast("SPY", datetime(2024, 3, 9, 12, tzinfo=timezone.utc))])
    cache = BarCache(tmp_path / "bars")
    cache.merge("SPY", "15m", after)
    report = resolve(journal, cache, source(pd.concat([friday, after])), now=monday + 27 * STEP)
    # Monday's 2nd bar against Friday's last close (121), on the forecast's close of 100
    assert report.resolved == 1 and actuals(journal) == {"SPY": pytest.approx(100.0 * 201 / 121)}


def test_a_stamp_is_later_than_every_one_before_it_and_a_resolution_counts_once(journal: Path):
    """resolved_at came from the clock alone: one stepped back (NTP, another host's resolver behind) stamped rows
    behind a gateway's watermark, never counted until a restart; and with two resolvers at once the second's rows
    were reported resolved again (an audit)."""
    journaled(journal, [forecast("SPY", T0 + STEP), forecast("QQQ", T0 + STEP), forecast("IWM", T0 + STEP)])
    writer = JournalWriter(journal)
    writer.start()
    try:
        ahead = writer.submit(resolve_price([(1, 101.0, True)], resolved_at="2999-01-01T00:00:00+00:00")).result()
        done = writer.submit(resolve_price([(2, 99.0, False), (3, float("nan"), None)])).result()
        again = writer.submit(resolve_price([(2, 98.0, False), (3, float("nan"), None)])).result()
    finally:
        writer.close()
    assert (ahead, done, again) == ((1, 0), (2, 1), (0, 0))
    stamps = dict(sqlite3.connect(journal).execute("SELECT id, resolved_at FROM price_predictions"))
    assert stamps[2] == stamps[3] == "2999-01-01T00:00:00.000001+00:00"
    assert actuals(journal)["QQQ"] == 99.0  # the second resolution changed nothing


def test_polls_of_one_forecast_count_once():
    """A caller sending its closes without last_bar_time is journaled at the request's time: an agent polling
    every few seconds made each poll a forecast of its own in the live skill."""

    def key(at: datetime, interval: str = "15m") -> tuple[str, str, float, float]:
        row = {"model_version": "v1", "symbol": "SPY", "horizon_steps": 12, "interval": interval}
        return forecast_key({**row, "last_bar_time": at.isoformat(), "created_at": at.isoformat()})

    polls = [T0 + timedelta(seconds=s) for s in (20, 95, 180, 301)]
    assert len({key(at) for at in polls}) == 1
    closes = [T0 + i * STEP for i in range(8)]  # bar times one interval apart stay apart
    assert len({key(at) for at in closes}) == len(closes)
    hourly = [datetime(2024, 3, 8, h, 30, tzinfo=timezone.utc) for h in (14, 15, 16, 17, 18, 19)] + [
        datetime(2024, 3, 8, 20, 0, tzinfo=timezone.utc)  # the half-hour bar that ends the US session
    ]
    assert len({key(at, "1h") for at in hourly}) == len(hourly)


def test_the_horizons_real_span_is_recorded_across_a_weekend(journal: Path, tmp_path: Path):
    """Two 15-minute bars from Friday 14:45 end on Monday: the horizon took three days, not 30 minutes, and live
    skill's periods go by what it took (investiq/core/skill.py)."""
    from investiq.core.journal.predictions import RESOLVED_COLUMNS
    from investiq.core.skill_outcomes import outcome_of_row

    journaled(journal, [forecast("SPY", T0 + STEP)])  # the bar of 14:30 closed at 14:45; H = 2
    monday = T0 + timedelta(days=3) - 4 * STEP  # Monday 13:30
    frame = bars(T0, [100.0, 102.0, 104.0, 105.0])
    frame.index = pd.DatetimeIndex([T0, T0 + STEP, monday, monday + STEP], name="timestamp")
    cache = BarCache(tmp_path / "bars")
    cache.merge("SPY", "15m", frame)
    assert resolve(journal, cache, offline, now=monday + 3 * STEP).resolved == 1
    conn = sqlite3.connect(journal)
    conn.row_factory = sqlite3.Row
    row = conn.execute(f"SELECT {RESOLVED_COLUMNS} FROM price_predictions").fetchone()
    assert (row["actual_price"], row["outcome_bar_time"]) == (104.0, (monday + STEP).isoformat())
    assert outcome_of_row(row).span_seconds == (monday + STEP - (T0 + STEP)).total_seconds()


def daily(offset_h: int, n: int = 40) -> pd.DataFrame:
    """Sessions from Monday 2026-09-07, one a weekday, closing at 100, 101, ..., labelled as Yahoo labels them:
    at the midnight that starts the session on its exchange's clock, `offset_h` hours from UTC."""
    sessions = pd.bdate_range("2026-09-07", periods=n, tz="UTC")
    closes = [100.0 + i for i in range(n)]
    return pd.DataFrame(
        {"open": closes, "high": closes, "low": closes, "close": closes, "volume": 0.0},
        (sessions - pd.Timedelta(hours=offset_h)).rename("timestamp"),
    )


@pytest.mark.parametrize(
    ("market", "offset_h"),
    [("New York", -4), ("Sao Paulo", -3), ("Frankfurt", 2), ("Tokyo", 9), ("Sydney", 10), ("Auckland", 12)],
)
def test_a_daily_forecast_sent_with_dates_is_scored_at_its_horizon_in_any_market(
    market: str, offset_h: int, journal: Path, tmp_path: Path
):
    """Closes sent with date-only bar_times ("2026-09-21") are dated by `closed_after`, and the resolver scores
    the H-th session after the last one sent. Dated at the next UTC midnight, every market east of UTC was
    scored one session late (a review: Frankfurt's Friday bar opens at 22:00 UTC on Thursday)."""
    frame, k, horizon = daily(offset_h), 10, 12
    date = pd.bdate_range("2026-09-07", periods=k + 1, tz="UTC")[-1].to_pydatetime()  # session k, as a date
    row = replace(forecast("X", closed_after(date, 86_400), horizon, "1d"), last_price=frame["close"].iloc[k])
    journaled(journal, [row])
    now = frame.index[-1].to_pydatetime() + timedelta(days=2)
    assert resolve(journal, BarCache(tmp_path / "bars"), source(frame), now=now).resolved == 1
    assert actuals(journal) == {"X": frame["close"].iloc[k + horizon]}, market


@pytest.mark.parametrize(
    ("market", "offset_h"), [("New York", -4), ("Sao Paulo", -3), ("Frankfurt", 2), ("Tokyo", 9), ("Auckland", 12)]
)
@pytest.mark.parametrize("cached_as", ["yahoo", "bar file"])
def test_a_daily_forecast_sent_with_local_midnights_is_scored_at_its_horizon_however_the_bars_are_labelled(
    market: str, offset_h: int, cached_as: str, journal: Path, tmp_path: Path
):
    """bar_times at the exchange's midnight with its offset ("2024-04-22T00:00:00-04:00", as Yahoo's history()
    gives them) closed a day later at that instant, 04:00 UTC the next day for New York: after the next bar of a
    bar file (labelled at 00:00 UTC of its date), so the resolver scored one session late there (a review). They
    close at noon UTC of their session date now, between the sessions under either labelling."""
    frame, k, horizon = daily(0 if cached_as == "bar file" else offset_h), 10, 12
    sent = daily(offset_h).index[k].to_pydatetime()  # session k's local midnight, in UTC
    row = replace(forecast("X", closed_after(sent, 86_400), horizon, "1d"), last_price=frame["close"].iloc[k])
    journaled(journal, [row])
    now = frame.index[-1].to_pydatetime() + timedelta(days=2)
    assert resolve(journal, BarCache(tmp_path / "bars"), source(frame), now=now).resolved == 1
    assert actuals(journal) == {"X": frame["close"].iloc[k + horizon]}, (market, cached_as)


def test_one_forecast_dated_two_ways_counts_once(journal: Path, tmp_path: Path):
    """The same session's forecast sent with its close time (21:00 UTC) and with no time (the next bar's label,
    as forecasts from cached bars are dated) fell in two cells of the origin grid: it counted twice in the live
    skill and /price/evaluate (a review). Both are scored on one bar, and count once."""
    frame, k = daily(-4), 10
    session = frame.index[k].to_pydatetime()
    rows = [forecast("X", session + timedelta(hours=h), 12, "1d") for h in (17, 24)]  # 21:00 UTC; the next label
    journaled(journal, [replace(r, last_price=frame["close"].iloc[k]) for r in rows])
    now = frame.index[-1].to_pydatetime() + timedelta(days=2)
    assert resolve(journal, BarCache(tmp_path / "bars"), source(frame), now=now).resolved == 2
    assert set(actuals(journal).values()) == {frame["close"].iloc[k + 12]}
    report = evaluate(journal, "X", 3650, now=now)
    assert report["count"] == 1 and report["calls"] == 1, report


def test_a_forecast_older_than_the_source_asks_back_for_it_once(journal: Path, tmp_path: Path):
    """A forecast older than anything the source has (a last_bar_time of 2015) had the whole history fetched
    again at every resolver pass, for as long as the journal kept it (a review). Asked once per process."""
    frame = daily(-4)
    journaled(journal, [forecast("X", datetime(2015, 6, 1, 20, tzinfo=timezone.utc), 12, "1d")])
    asked: list[datetime] = []

    def fetch(symbol: str, interval: str, start: datetime, end: datetime) -> pd.DataFrame:
        asked.append(start)
        return source(frame)(symbol, interval, start, end)

    cache, now = BarCache(tmp_path / "bars"), frame.index[-1].to_pydatetime() + timedelta(days=2)
    for _ in range(3):
        assert resolve(journal, cache, fetch, now=now).resolved == 0
    back = [a for a in asked if a < frame.index[0]]
    assert len(back) == 1 and back[0].year == 2015, asked
    # a cache deleted since (its read error advises it) is filled again: a later forecast within the source's
    # history resolves (the memo alone kept it waiting until a restart, a review)
    for path in (tmp_path / "bars").iterdir():
        path.unlink()
    k = 10
    journaled(journal, [replace(forecast("X", frame.index[k].to_pydatetime() + STEP, 12, "1d"), last_price=110.0)])
    assert resolve(journal, cache, fetch, now=now).resolved == 1


def session_times(first: str, last: str, opens: str = "13:30", n: int = 26) -> pd.DatetimeIndex:
    """Labels of 15-minute bars of the weekday sessions from `first` to `last`, `n` a session from `opens` UTC."""
    days = pd.bdate_range(first, last, tz="UTC") + pd.Timedelta(opens + ":00")
    return pd.DatetimeIndex([day + i * STEP for day in days for i in range(n)], name="timestamp")


def priced(times: pd.DatetimeIndex) -> pd.DataFrame:
    """Bars at `times`, each closing at 100 + its number / 100: a close names its bar."""
    closes = [100.0 + i / 100 for i in range(len(times))]
    return pd.DataFrame({"open": closes, "high": closes, "low": closes, "close": closes, "volume": 0.0}, times)


def from_bar(frame: pd.DataFrame, label: pd.Timestamp, horizon: int) -> PriceRow:
    """A 15-minute SPY forecast made when the bar of `frame` labelled `label` closed, from its close."""
    origin = (label + STEP).to_pydatetime()
    return replace(forecast("SPY", origin, horizon), last_price=float(frame.loc[label, "close"]))


def scored(db: Path) -> list[sqlite3.Row]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    return conn.execute(f"SELECT {RESOLVED_COLUMNS} FROM price_predictions ORDER BY id").fetchall()


def unscorable(db: Path) -> int:
    """How many of the resolved rows live skill leaves out as unscorable (SkillBook, as /price/skill counts)."""
    book = SkillBook()
    book.add(outcome_of_row(r) for r in scored(db) if r["resolved_at"] is not None)
    return book.unscorable


def test_forecasts_across_a_hole_the_source_cannot_fill_are_unscorable(journal: Path, tmp_path: Path):
    """After a 73-day outage Yahoo serves the last 60 days of 15m bars only, and the refresh left a hole of 17 days
    after Friday's forecasts: the H-th cached bar was 16 days late, and they were scored on it (a review). Nothing
    the source has fills it: they are resolved unscorable, and a forecast ending before the hole still scores."""
    frame = priced(session_times("2024-01-02", "2024-06-28"))
    friday = frame.index[(frame.index >= "2024-03-08") & (frame.index < "2024-03-09")]
    cache = BarCache(tmp_path / "bars")
    cache.merge("SPY", "15m", frame[frame.index <= friday[-1]])  # cached up to Friday's close, then the outage
    journaled(journal, [from_bar(frame, friday[-6], 2), *(from_bar(frame, t, 3) for t in friday[-3:])])

    def yahoo(symbol: str, interval: str, start: datetime, end: datetime) -> pd.DataFrame:
        if start < end - timedelta(days=60):
            raise DataError("15m data not available for startTime: only within the last 60 days")
        return source(frame)(symbol, interval, start, end)

    now = datetime(2024, 5, 20, 21, 0, tzinfo=timezone.utc)
    assert resolve(journal, cache, yahoo, now=now) == ResolveReport(resolved=4, waiting=0, errors={}, unscorable=3)
    assert [(r["actual_price"], r["outcome_bar_time"]) for r in scored(journal)] == [
        (frame.loc[friday[-4], "close"], (friday[-4] + STEP).isoformat()),  # its H-th bar is Friday's
        *[(None, None)] * 3,  # the bar after the hole was not theirs
    ]
    assert unscorable(journal) == 3
    assert (
        evaluate(journal, "SPY", 3650, now=now)["count"],
        evaluate(journal, "SPY", 3650, now=now)["unscorable"],
    ) == (
        1,
        3,
    )


def test_daily_forecasts_across_sessions_the_source_lacks_are_unscorable(journal: Path, tmp_path: Path):
    """Daily bars labelled at New York's midnight (04:00 UTC), ten sessions missing from the source: forecasts
    whose H-th session fell in the gap were scored on the session after it, 14 days late (a review). Unscorable;
    one whose sessions are all there, across a weekend, scores."""
    frame, horizon = daily(-4), 5
    missing = frame.index[15:25]
    closes = {k: (frame.index[k] + timedelta(hours=17)).to_pydatetime() for k in (5, 11, 12, 13, 14)}  # 21:00 UTC
    journaled(
        journal,
        [replace(forecast("X", t, horizon, "1d"), last_price=frame["close"].iloc[k]) for k, t in closes.items()],
    )
    now = frame.index[-1].to_pydatetime() + timedelta(days=2)
    report = resolve(journal, BarCache(tmp_path / "bars"), source(frame.drop(missing)), now=now)
    assert report == ResolveReport(resolved=5, waiting=0, errors={}, unscorable=4)
    assert [r["actual_price"] for r in scored(journal)] == [frame["close"].iloc[5 + horizon], *[None] * 4]
    assert unscorable(journal) == 4


def hole_in_march() -> tuple[pd.DataFrame, pd.DataFrame]:
    """15m bars of March 2024, the market up 8 % from the 11th, and what a cache holds of them: all but the two
    weeks from the 11th to the 22nd."""
    frame = priced(session_times("2024-03-04", "2024-03-29"))
    frame["close"] *= [1.08 if t >= pd.Timestamp("2024-03-11", tz="UTC") else 1.0 for t in frame.index]
    hole = (frame.index >= "2024-03-11") & (frame.index < "2024-03-23")
    return frame, frame[~hole]


def test_a_forecast_dated_inside_a_hole_is_scored_once_the_source_fills_it(journal: Path, tmp_path: Path):
    """A forecast dated on a Wednesday the cache lacks (the two weeks around it missing) was counted from the bar
    after the hole: scored 12 days late, and its close, 8 % over the cached Friday's, taken for a split and
    rewritten (a review). The source has the bars: fetched over the hole, it is scored on its own H-th bar."""
    frame, cached = hole_in_march()
    cache = BarCache(tmp_path / "bars")
    cache.merge("SPY", "15m", cached)
    label = pd.Timestamp("2024-03-13 16:45", tz="UTC")  # Wednesday: the bar closed at 17:00
    journaled(journal, [from_bar(frame, label, 12)])
    h_bar = frame.index[frame.index.get_loc(label) + 12]
    now = datetime(2024, 3, 29, 21, 0, tzinfo=timezone.utc)
    assert resolve(journal, cache, source(frame), now=now).resolved == 1
    (row,) = scored(journal)
    assert (row["actual_price"], row["outcome_bar_time"], row["correct"]) == (
        frame.loc[h_bar, "close"],
        (h_bar + STEP).isoformat(),
        1,
    )
    stored = cache.read("SPY", "15m")
    assert stored is not None and h_bar in stored.index  # the hole is filled for good


def test_forecasts_dated_inside_a_hole_are_measured_across_the_whole_hole(journal: Path, tmp_path: Path):
    """A week missing from the cache (Monday to Friday) and two forecasts dated on its Wednesday: measured from the
    cached Friday's close to their origin (4.9 days) and from it to the next Monday (4.9 days), no break passed 5
    days and they were scored 4 days late (a review); the whole break is 9.7 days. The source has nothing more:
    unscorable, after one fetch over the hole for both."""
    frame = priced(session_times("2024-03-04", "2024-03-22"))
    week = (frame.index >= "2024-03-11") & (frame.index < "2024-03-16")
    cache = BarCache(tmp_path / "bars")
    cache.merge("SPY", "15m", frame[~week])
    labels = [pd.Timestamp("2024-03-13 16:45", tz="UTC"), pd.Timestamp("2024-03-13 17:00", tz="UTC")]
    journaled(journal, [from_bar(frame, label, 4) for label in labels])
    asked: list[datetime] = []

    def counted(symbol: str, interval: str, start: datetime, end: datetime) -> pd.DataFrame:
        asked.append(start)
        return source(frame[~week])(symbol, interval, start, end)

    now = datetime(2024, 3, 22, 21, 0, tzinfo=timezone.utc)
    assert resolve(journal, cache, counted, now=now) == ResolveReport(2, 0, {}, unscorable=2)
    assert [r["actual_price"] for r in scored(journal)] == [None, None]
    assert sum(start < datetime(2024, 3, 11, tzinfo=timezone.utc) for start in asked) == 1  # one fill for both


def test_a_forecast_across_a_hole_waits_while_the_source_refuses(journal: Path, tmp_path: Path):
    """The source answered the pass's refresh, then refused (a rate limit) the fetch over a forecast's hole: it
    must wait, not be scored on the bar after the hole nor given up as unscorable, and score on a later pass. A
    forecast with its bars cached scores meanwhile."""
    frame, cached = hole_in_march()
    cache = BarCache(tmp_path / "bars")
    cache.merge("SPY", "15m", cached)
    label = pd.Timestamp("2024-03-13 16:45", tz="UTC")
    monday = pd.Timestamp("2024-03-25 14:00", tz="UTC")
    journaled(journal, [from_bar(frame, label, 12), from_bar(frame, monday, 2)])
    asked: list[datetime] = []

    def flaky(symbol: str, interval: str, start: datetime, end: datetime) -> pd.DataFrame:
        asked.append(start)
        if len(asked) > 1:
            raise DataError("Too Many Requests. Rate limited. Try after a while.")
        return source(frame)(symbol, interval, start, end)

    now = datetime(2024, 3, 29, 21, 0, tzinfo=timezone.utc)
    assert resolve(journal, cache, flaky, now=now) == ResolveReport(resolved=1, waiting=1, errors={})
    assert len(asked) == 2  # the refresh, and the fetch over the hole
    waiting, monday_row = scored(journal)
    assert (waiting["resolved_at"], monday_row["actual_price"]) == (None, frame.loc[monday + 2 * STEP, "close"])
    assert resolve(journal, cache, source(frame), now=now + timedelta(hours=1)).resolved == 1
    h_bar = frame.index[frame.index.get_loc(label) + 12]
    assert (scored(journal)[0]["actual_price"], scored(journal)[0]["outcome_bar_time"]) == (
        frame.loc[h_bar, "close"],
        (h_bar + STEP).isoformat(),
    )


@pytest.mark.parametrize(
    ("market", "thursday", "tuesday", "n"),
    [
        ("New York", "13:30", "13:30", 26),  # Thursday 20:00 to Monday 13:30 UTC: 3.7 days
        ("Frankfurt", "08:00", "07:00", 34),  # Easter Monday too: Thursday 16:30 to Tuesday 07:00 UTC, 4.6 days
    ],
)
def test_a_forecast_across_easter_scores(
    market: str, thursday: str, tuesday: str, n: int, journal: Path, tmp_path: Path
):
    """A market's own longest closure is no hole: forecasts from before Easter (Good Friday, and in Europe Easter
    Monday, closed) are scored on the H-th bar after it, not left unscorable."""
    before = session_times("2024-03-25", "2024-03-28", thursday, n)
    after = session_times("2024-04-01" if market == "New York" else "2024-04-02", "2024-04-05", tuesday, n)
    frame = priced(before.union(after))
    cache = BarCache(tmp_path / "bars")
    cache.merge("SPY", "15m", frame)
    journaled(journal, [from_bar(frame, before[-1], 2), from_bar(frame, before[-3], 4)])
    assert resolve(journal, cache, source(frame), now=datetime(2024, 4, 6, tzinfo=timezone.utc)).resolved == 2
    assert [(r["actual_price"], r["outcome_bar_time"]) for r in scored(journal)] == [
        (frame.loc[after[1], "close"], (after[1] + STEP).isoformat()),  # the second bar after Easter, both
    ] * 2, market


def test_a_journaled_time_without_its_zone_is_utc_and_one_that_is_no_time_holds_back_no_other(
    journal: Path, tmp_path: Path
):
    """A row written by another program with a naive last_bar_time could not be compared with the cache's times,
    and stopped its whole series for good (a review); one that is no time at all did too. Naive is UTC, as the
    journal reads every time; no time is that forecast unscorable, alone."""
    rows = [forecast("SPY", T0 + STEP), forecast("SPY", T0 + 2 * STEP), forecast("SPY", T0 + 3 * STEP)]
    rows[0] = replace(rows[0], last_bar_time=(T0 + STEP).replace(tzinfo=None).isoformat())
    rows[2] = replace(rows[2], last_bar_time="not a time")
    journaled(journal, rows)
    cache = BarCache(tmp_path / "bars")
    final = bars(T0, [100.0, 101.0, 102.0, 103.0, 104.0, 105.0])
    report = resolve(journal, cache, source(final), now=T0 + 8 * STEP)
    assert report.errors == {} and report.resolved == 3 and report.unscorable == 1, report
    scored = sqlite3.connect(journal).execute("SELECT actual_price FROM price_predictions ORDER BY id").fetchall()
    assert scored == [(102.0,), (103.0,), (None,)]
