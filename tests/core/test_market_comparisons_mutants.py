"""Market data (investiq/core/market.py, bar_cache.py, market_fetch.py, market_splits.py) and figure comparisons
(investiq/core/comparisons.py): behaviours that mutation testing showed no other test pinned down."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd  # type: ignore[import-untyped, unused-ignore]
import pytest

from investiq.core import market_fetch
from investiq.core.bar_cache import BarCache
from investiq.core.comparisons import compared
from investiq.core.errors import DataError
from investiq.core.lexicon import FinanceLexicon
from investiq.core.market import file_fetch, load_bars, load_sample
from investiq.core.market_fetch import recent_bars
from investiq.core.market_splits import split_factor

NOW = datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc)  # a Friday


def raw(times: list[str], close: list[float]) -> pd.DataFrame:
    """Raw bars with a 'timestamp' column (naive: UTC); open/high/low follow close."""
    return pd.DataFrame(
        {"timestamp": times, "open": close, "high": close, "low": close, "close": close, "volume": 1.0}
    )


class Clock:
    """A `Fetch` of round-the-clock bars, each close 100 + its hour (+ `shift`), the bar in progress at `end`
    included as a source gives it; records its calls."""

    def __init__(self, shift: float = 0.0) -> None:
        self.calls: list[tuple[datetime, datetime]] = []
        self.shift = shift

    def __call__(self, symbol: str, interval: str, start: datetime, end: datetime) -> pd.DataFrame:
        self.calls.append((start, end))
        step = pd.Timedelta(interval.replace("m", "min"))
        times = pd.date_range(
            pd.Timestamp(start).ceil(step), pd.Timestamp(end).ceil(step), freq=step, inclusive="left"
        )
        close = 100.0 + times.hour + self.shift
        return pd.DataFrame(
            {"timestamp": times, "open": close, "high": close, "low": close, "close": close, "volume": 5.0}
        )


# -- market: loading ---------------------------------------------------------------------------------


def test_a_sample_symbol_is_found_whatever_its_case():
    """Kills market.py:load_sample looking the symbol up as given instead of upper-cased."""
    frame = load_sample("spx")
    assert len(frame) > 4000 and frame["Date"].iloc[0] == pd.Timestamp("1999-01-04")


def test_a_window_of_zero_days_is_refused(tmp_path: Path):
    """Kills market.py:load_bars accepting days=0 (the `days < 1` check loosened to `days < 0`)."""
    with pytest.raises(DataError, match="days must be at least 1"):
        load_bars("sample", ["SPX"], days=0, interval="1d", cache_dir=tmp_path)


def test_two_symbols_from_a_file_without_a_symbol_column_are_refused(tmp_path: Path):
    """Kills market.py:load_bars letting two symbols share one symbol-less file (`len(symbols) > 1` made `> 2`)."""
    path = tmp_path / "bars.csv"
    path.write_text("timestamp,close\n2024-01-02,10\n2024-01-03,11\n")
    with pytest.raises(DataError, match="no 'symbol' column to tell AAA, BBB apart"):
        load_bars("csv", ["AAA", "BBB"], days=3, interval="1d", cache_dir=tmp_path, csv_path=path)


def test_a_file_fetch_leaves_out_the_bar_labelled_at_the_end(tmp_path: Path):
    """Kills market.py:file_fetch serving bars up to and including `end` (`<` made `<=`): end is exclusive."""
    path = tmp_path / "QQQ.csv"
    path.write_text("timestamp,close\n2024-01-02,10\n2024-01-03,11\n2024-01-04,12\n")
    rows = file_fetch(path)(
        "QQQ", "1d", datetime(2024, 1, 1, tzinfo=timezone.utc), datetime(2024, 1, 4, tzinfo=timezone.utc)
    )
    assert list(rows["close"]) == [10, 11]


# -- market: the cache -------------------------------------------------------------------------------


def test_merging_nothing_into_an_empty_cache_writes_no_file(tmp_path: Path):
    """Kills bar_cache.py:BarCache.merge writing an empty frame (the `if not fresh.empty` guard dropped): the one
    bar given has not closed by `closed_by`."""
    cache = BarCache(tmp_path)
    merged = cache.merge(
        "AAPL", "15m", raw(["2024-03-01 14:30"], [10.0]), closed_by=pd.Timestamp("2024-03-01 14:40Z")
    )
    assert merged.empty
    assert not cache.path("AAPL", "15m").exists() and cache.read("AAPL", "15m") is None


# -- market: serving ---------------------------------------------------------------------------------


def test_serving_zero_bars_is_refused(tmp_path: Path):
    """Kills market_fetch.py:recent_bars accepting n=0 (the `n < 1` check loosened to `n < 0`)."""
    with pytest.raises(DataError, match="n must be at least 1"):
        recent_bars("AAPL", "1h", 0, BarCache(tmp_path), Clock(), now=NOW)


def test_a_cached_bar_still_in_progress_does_not_count_towards_the_bars_served(tmp_path: Path):
    """Kills market_fetch.py:recent_bars counting the cache's bars before dropping one still in progress (an
    earlier version cached it): three cached, the newest not closed, three asked: the source must fill the
    cache."""
    cache = BarCache(tmp_path)
    cache.merge("AAPL", "1h", raw(["2024-03-01 09:00", "2024-03-01 10:00", "2024-03-01 11:00"], [1.0, 2.0, 3.0]))
    served = recent_bars("AAPL", "1h", 3, cache, Clock(), now=datetime(2024, 3, 1, 11, 30, tzinfo=timezone.utc))
    assert list(served.index.hour) == [8, 9, 10]


class FailingOnce(Clock):
    """A Clock whose first call fails, as a source that is down for a moment."""

    def __call__(self, symbol: str, interval: str, start: datetime, end: datetime) -> pd.DataFrame:
        if not self.calls:
            self.calls.append((start, end))
            raise DataError("the source is down")
        return super().__call__(symbol, interval, start, end)


def test_a_failed_fill_is_asked_again_once_the_throttle_has_passed_exactly(tmp_path: Path):
    """Kills market_fetch.py:_filled raising the earlier failure when exactly REFETCH_AFTER of an interval has
    passed (`end - failed < throttle` made `<=`): 12 minutes for 1h bars."""
    cache, fetch = BarCache(tmp_path), FailingOnce()
    with pytest.raises(DataError, match="the source is down"):
        recent_bars("AAPL", "1h", 2, cache, fetch, now=NOW)
    with pytest.raises(DataError, match="the source is down"):
        recent_bars("AAPL", "1h", 2, cache, fetch, now=NOW + timedelta(minutes=11))
    assert len(fetch.calls) == 1
    served = recent_bars("AAPL", "1h", 2, cache, fetch, now=NOW + timedelta(minutes=12))
    assert len(fetch.calls) == 2 and list(served.index.hour) == [10, 11]


def weekday_bars(first: str, days: int, step: str = "15min", weekends: bool = False) -> pd.DataFrame:
    """Bars from 14:30 to 20:45 UTC (a US session) for `days` days from `first`, Saturdays and Sundays only with
    `weekends`."""
    times = [
        stamp
        for day in pd.date_range(first, periods=days, freq="D", tz="UTC")
        if weekends or day.day_of_week < 5
        for stamp in pd.date_range(day + pd.Timedelta("14h30min"), day + pd.Timedelta("20h45min"), freq=step)
    ]
    index = pd.DatetimeIndex(times, name="timestamp")
    return pd.DataFrame({"close": range(len(index))}, index=index, dtype="float64")


STEP = pd.Timedelta("15min")


def test_a_closed_market_asked_at_the_very_start_of_the_weekend_is_not_asked_again_that_weekend():
    """Kills market_fetch.py:_due asking again when the source was last asked at Saturday 00:00 UTC sharp
    (`asked >= weekend` made `>`)."""
    bars = weekday_bars("2024-02-12", 19)  # Monday 12 to Friday 1 March
    saturday = pd.Timestamp("2024-03-02 00:00Z")
    assert not market_fetch._due(bars, STEP, saturday + pd.Timedelta("3h"), asked=saturday)
    assert market_fetch._due(bars, STEP, saturday + pd.Timedelta("3h"), asked=saturday - pd.Timedelta("1min"))


def test_a_bar_closed_after_the_last_ask_is_asked_for_without_waiting_out_the_throttle():
    """Kills market_fetch.py:_due dropping `asked < expected`: the source asked at 10:59 had no 10:45 bar yet (it
    closes at 11:00); at 11:01 it is asked again, though the 3-minute throttle of 15m bars has not passed."""
    bars = weekday_bars("2024-02-26", 4).loc[:"2024-02-29 20:30"]  # Thursday's last bar: 20:30, closed 20:45
    asked = pd.Timestamp("2024-02-29 20:59Z")
    assert market_fetch._due(bars, STEP, pd.Timestamp("2024-02-29 21:01Z"), asked)


def test_a_bar_the_source_did_not_have_is_asked_for_again_once_the_throttle_has_passed_exactly():
    """Kills market_fetch.py:_due waiting past the throttle (`end - asked >= throttle` made `>`): 3 minutes for
    15m."""
    bars = weekday_bars("2024-02-26", 4).loc[:"2024-02-29 20:30"]
    asked = pd.Timestamp("2024-02-29 21:00Z")  # after 20:45 closed: the source did not have it
    assert not market_fetch._due(bars, STEP, asked + pd.Timedelta("2min59s"), asked)
    assert market_fetch._due(bars, STEP, asked + pd.Timedelta("3min"), asked)


def test_under_two_weeks_of_weekday_bars_do_not_show_a_market_closed_at_weekends():
    """Kills market_fetch.py:_closed_at_weekends taking one week of bars as enough (14 days made 7)."""
    assert not market_fetch._closed_at_weekends(weekday_bars("2024-02-12", 10), STEP)  # Monday 12 to Wednesday 21
    assert market_fetch._closed_at_weekends(weekday_bars("2024-02-12", 17), STEP)


def test_daily_bars_never_show_a_market_closed_at_weekends():
    """Kills market_fetch.py:_closed_at_weekends reading daily bars too (`step >= 1 day` made `>`): it is about
    intraday bars, daily ones skip weekends in `_next_label`."""
    days = pd.DatetimeIndex([d for d in pd.date_range("2024-02-05", "2024-03-01", tz="UTC") if d.day_of_week < 5])
    bars = pd.DataFrame({"close": 1.0}, index=days)
    assert not market_fetch._closed_at_weekends(bars, pd.Timedelta(days=1))


def test_bars_on_saturdays_show_a_market_open_at_weekends():
    """Kills market_fetch.py:_closed_at_weekends counting Sundays only as weekend days (`day_of_week >= 5` made
    `>= 6`)."""
    bars = weekday_bars("2024-02-12", 19, weekends=True)
    bars = bars[bars.index.day_of_week != 6]  # Saturdays traded, Sundays not
    assert not market_fetch._closed_at_weekends(bars, STEP)


class UpThenDown(Clock):
    """A Clock that fails from its second call on."""

    def __call__(self, symbol: str, interval: str, start: datetime, end: datetime) -> pd.DataFrame:
        if self.calls:
            self.calls.append((start, end))
            raise DataError("the source is down")
        return super().__call__(symbol, interval, start, end)


def test_cached_intraday_bars_over_two_intervals_old_are_not_served_while_the_source_fails(tmp_path: Path):
    """Kills market_fetch.py:_refreshed serving cached bars up to three intervals old while the source fails (2 *
    step made 3 * step)."""
    cache, fetch = BarCache(tmp_path), UpThenDown()
    assert recent_bars("AAPL", "1h", 3, cache, fetch, now=NOW).index[-1].hour == 11
    with pytest.raises(DataError, match="the source is down"):
        recent_bars(
            "AAPL", "1h", 3, cache, fetch, now=NOW + timedelta(hours=1, minutes=30)
        )  # the 11:00 bar: 2.5 h


def test_a_refresh_starts_at_the_second_newest_bar_or_one_step_before_a_lone_one():
    """Kills market_fetch.py:_overlap going one step back from the newest bar even where the one before it is days
    earlier (a weekend between), and starting at a lone bar itself instead of one step before it."""
    day = pd.Timedelta(days=1)
    friday_monday = pd.DataFrame(
        {"close": [1.0, 2.0]}, index=pd.DatetimeIndex(["2024-03-01", "2024-03-04"], tz="UTC")
    )
    assert market_fetch._overlap(friday_monday, day) == pd.Timestamp("2024-03-01", tz="UTC")
    assert market_fetch._overlap(friday_monday.iloc[1:], day) == pd.Timestamp("2024-03-03", tz="UTC")


def test_a_cache_whose_first_bar_follows_a_weekend_after_the_window_start_is_only_topped_up(tmp_path: Path):
    """Kills market_fetch.py:cached_bars taking the cache as covering the window only when its first bar is within
    one step of the window's start (the slack of four days dropped or made one step): the window opens on Saturday,
    the cache on Monday, and only the newest bars are fetched again."""
    cache, fetch = BarCache(tmp_path), Clock()
    cache.merge(
        "AAPL",
        "1h",
        fetch(
            "AAPL",
            "1h",
            datetime(2024, 2, 26, tzinfo=timezone.utc),
            datetime(2024, 2, 28, 12, tzinfo=timezone.utc),
        ),
    )
    fetch.calls.clear()
    frame, _ = load_bars(
        "yfinance",
        ["AAPL"],
        days=4,
        interval="1h",
        cache_dir=tmp_path,
        fetch=fetch,
        now=datetime(2024, 2, 28, 12, tzinfo=timezone.utc),
    )["AAPL"]
    assert fetch.calls == [
        (datetime(2024, 2, 28, 10, tzinfo=timezone.utc), datetime(2024, 2, 28, 12, tzinfo=timezone.utc))
    ]
    assert frame.index[0] == pd.Timestamp("2024-02-26", tz="UTC") and len(frame) == 60


class Split(Clock):
    """Hourly bars whose closes are 100 + the hour before a 2:1 split (`shift` 0), and half of that after it, but
    for one bar (`corrected`) that the source gives 3 % off."""

    def __init__(self, corrected: int) -> None:
        super().__init__()
        self.corrected = corrected

    def __call__(self, symbol: str, interval: str, start: datetime, end: datetime) -> pd.DataFrame:
        frame = super().__call__(symbol, interval, start, end)
        close = frame["close"] / 2 * (1 + 0.03 * (frame["timestamp"].dt.hour == self.corrected))
        return frame.assign(open=close, high=close, low=close, close=close)


def test_a_split_seen_on_a_refresh_is_confirmed_on_ten_cached_bars_not_nine(tmp_path: Path):
    """Kills market_fetch.py:fetch_into confirming a split on SPLIT_BARS - 1 cached bars (`len - SPLIT_BARS - 1`
    made `len - SPLIT_BARS`): 20 cached hours, a split, one of the ten compared bars corrected: 9 of 10 agree
    (enough), where 8 of 9 would not. Also kills market_splits.py:split_factor refusing a split that exactly
    SPLIT_SHARE of the bars agree on (`agree.mean() < SPLIT_SHARE` made `<=`)."""
    cache = BarCache(tmp_path)
    cache.merge(
        "AAPL",
        "1h",
        Clock()(
            "AAPL", "1h", datetime(2024, 3, 1, tzinfo=timezone.utc), datetime(2024, 3, 1, 20, tzinfo=timezone.utc)
        ),
    )
    served = recent_bars(
        "AAPL", "1h", 20, cache, Split(corrected=10), now=datetime(2024, 3, 1, 21, tzinfo=timezone.utc)
    )
    assert served.index[0].hour == 1 and served["close"].iloc[0] == 50.5  # the cached 01:00 bar, rescaled


def test_asking_the_source_about_an_earlier_end_keeps_the_latest_end_asked(tmp_path: Path):
    """Kills market_fetch.py:fetch_into recording the `end` of its last call as the latest asked (the max dropped):
    a resolver's fetch back to an older end would make recent_bars ask again for a bar the source lacked."""
    cache, fetch = BarCache(tmp_path), Clock()
    market_fetch.fetch_into(
        cache, fetch, "AAPL", "1h", pd.Timestamp("2024-03-01 06:00Z"), pd.Timestamp("2024-03-01 12:00Z")
    )
    market_fetch.fetch_into(
        cache, fetch, "AAPL", "1h", pd.Timestamp("2024-02-29 06:00Z"), pd.Timestamp("2024-03-01 09:00Z")
    )
    assert cache.asked[("AAPL", "1h")] == pd.Timestamp("2024-03-01 12:00Z")


def test_a_success_clears_the_failure_that_would_hold_the_source_back(tmp_path: Path):
    """Kills market_fetch.py:fetch_into keeping the last failure after a success (`cache.failed.pop` dropped): the
    source failed, then served a load; a request for more bars within the throttle must ask it, not repeat the
    failure."""
    cache, fetch = BarCache(tmp_path), FailingOnce()
    with pytest.raises(DataError, match="the source is down"):
        recent_bars("AAPL", "1h", 2, cache, fetch, now=NOW)
    load_bars(
        "yfinance",
        ["AAPL"],
        days=1,
        interval="1h",
        cache_dir=tmp_path,
        fetch=fetch,
        now=NOW + timedelta(minutes=1),
    )
    served = recent_bars("AAPL", "1h", 48, cache, fetch, now=NOW + timedelta(minutes=2))
    assert len(fetch.calls) == 3 and len(served) == 48


def closes(values: list[float]) -> pd.DataFrame:
    index = pd.date_range("2024-03-01 10:00", periods=len(values), freq="h", tz="UTC", name="timestamp")
    return pd.DataFrame({"close": values}, index=index)


def test_a_split_down_is_judged_as_a_split_up_of_the_same_size():
    """Kills market_splits.py:split_factor measuring the change as |factor - 1| rather than |log factor|: x1/1.051
    is as much a split as x1.051, though it moves the closes by under 5 %."""
    cached = closes([100.0, 110.0, 120.0, 130.0])
    assert split_factor(cached, closes([100 / 1.051, 110 / 1.051, 120 / 1.051])) == pytest.approx(1 / 1.051)
    assert split_factor(cached, closes([100 * 1.051, 110 * 1.051, 120 * 1.051])) == pytest.approx(1.051)
    assert split_factor(cached, closes([100 / 1.049, 110 / 1.049, 120 / 1.049])) is None


def test_a_moment_given_in_another_zone_is_taken_in_utc():
    """Kills market_fetch.py:utc keeping an aware moment's own zone (tz_convert dropped): `_due` reads the weekday
    of `end`, and Friday 22:00 in New York is Saturday in UTC."""
    friday_evening = datetime(2024, 3, 1, 22, tzinfo=ZoneInfo("America/New_York"))
    stamp = market_fetch.utc(friday_evening)
    assert str(stamp.tz) == "UTC" and stamp.day_of_week == 5 and stamp == pd.Timestamp("2024-03-02 03:00Z")
    assert market_fetch.utc(datetime(2024, 3, 1, 22)) == pd.Timestamp("2024-03-01 22:00Z")


# -- comparisons ---------------------------------------------------------------------------------------

LEXICON = FinanceLexicon()


def signs(text: str) -> list[int]:
    return [sign for _, sign, _ in compared(text, LEXICON.is_cost, LEXICON.direction)]


def test_an_accountants_bracket_after_a_currency_is_a_negative_figure():
    """Kills comparisons.py:_figures reading "$(0.12)" as +0.12 (the negation dropped): EPS of -0.12 against 0.05
    went down, not up."""
    assert signs("EPS was $(0.12) versus $0.05 a year earlier") == [-1]


@pytest.mark.parametrize("year", ["1900", "2100"])
def test_the_first_and_last_years_of_the_range_are_years_not_figures(year: str):
    """Kills comparisons.py:_figures taking 1900 or 2100 for a plain number (`1900 <= v <= 2100` made `<` at
    either end)."""
    assert signs(f"The index was founded in {year} versus 1850 for the older one") == []


def test_a_full_stop_after_a_figure_ends_a_sentence_even_after_an_abbreviation():
    """Kills comparisons.py:_ends skipping any stop whose preceding word is an abbreviation, even where a digit
    stands right before the stop ("no 40." ends a sentence; "no." would not)."""
    assert signs("Jobs were cut at plant no 40. Versus 30 expected, analysts said") == []
    assert signs("Jobs were cut at plant 40 versus 30 expected, analysts said") == [1]


def test_the_clause_before_a_figure_says_what_it_measures_not_the_sentence_before():
    """Kills comparisons.py:_Reader.metric reading the lead words back across a sentence's end: "a loss." in the
    sentence before does not make 12 versus 10 two losses."""
    assert signs("The company reported a loss. It made 12 versus 10 a year earlier.") == [1]


def test_only_the_last_sixteen_words_before_a_figure_say_what_it_measures():
    """Kills comparisons.py:_Reader.metric reading every word of the clause (the `[-LEAD:]` bound dropped)."""
    text = (
        "Loss making peers aside the group many had written off two years ago "
        "now holds more stores at 12 versus 10"
    )
    assert signs(text) == [1]


def test_a_range_comparison_spans_both_ends_of_each_range():
    """Kills comparisons.py:_Reader._middle keeping the span of the one figure instead of the whole range's."""
    text = "Raises organic growth outlook to 6%-8% from 4%-6%"
    assert [words for words, _, _ in compared(text, LEXICON.is_cost)] == ["6%-8% from 4%-6%"]


def test_a_change_that_fell_by_a_figure_is_negative():
    """Kills comparisons.py:_Reader.signed reading the word "by" instead of the one before it ("fell by 5%")."""
    assert signs("Sales fell by 5% versus 3% expected") == [-1]


def test_only_the_word_right_after_a_change_can_make_it_a_fall():
    """Kills comparisons.py:_Reader.signed reading three words after a change for a falling one instead of one:
    "3% before the slump" is no fall."""
    assert signs("Revenue growth was 2% versus 3% before the slump") == [-1]


def test_a_change_followed_by_a_falling_word_is_negative():
    """Kills comparisons.py:_Reader.signed ignoring the word after a change ("a 3% decline")."""
    assert signs("Output rose 2% versus a 3% decline a year ago") == [1]


def test_a_figure_beyond_reach_of_the_comparing_word_is_not_compared():
    """Kills comparisons.py:_Reader.read dropping the REACH bound on the characters around a comparing word."""
    assert signs("Orders were 12 versus" + " " * 200 + "10") == []
    assert signs("Orders were 12 versus" + " " * 100 + "10") == [1]


def test_a_bracket_compares_only_when_it_stands_right_after_the_figure():
    """Kills comparisons.py:_Reader.read taking a bracket as the year before's figure wherever it stands (the check
    that nothing is between A and the bracket dropped)."""
    assert signs("Store count was 10 in Sweden (8)") == []
    assert signs("Store count was 10 (8) in Sweden") == [1]


def test_at_most_twelve_words_may_stand_between_a_figure_and_its_comparing_word():
    """Kills comparisons.py:_Reader.read allowing MAX_BETWEEN + 1 words between A and the comparing word."""
    assert signs("Orders were 12 in the first three months of the year across all of our regions versus 10") == []
    assert signs("Orders were 12 in the first three months of the year across of our regions versus 10") == [1]


def test_at_most_six_connecting_words_may_stand_between_the_comparing_word_and_its_figure():
    """Kills comparisons.py:_Reader.read allowing MAX_GAP + 1 words between the comparing word and B."""
    assert signs("Orders were 12 versus the same period a year ago of 10") == []
    assert signs("Orders were 12 versus the same period a year ago 10") == [1]


def test_an_amount_and_a_percentage_side_by_side_are_no_range():
    """Kills comparisons.py:_Reader._middle taking the middle of two figures of different kinds ($12 and 5 %)."""
    assert signs("Shares closed at $12 - 5% higher - versus a 6% gain for the index") == [-1]


def test_two_scaled_amounts_far_apart_are_still_compared():
    """Kills comparisons.py:_apart refusing any two amounts a thousand times apart (the check that only one of them
    has a scale dropped)."""
    assert signs("Net income rose to $2.1 billion from $1.5 million") == [1]


def test_a_scaled_amount_a_few_hundred_times_an_unscaled_one_is_compared():
    """Kills comparisons.py:_apart taking amounts a hundred times apart for a total beside a per-share figure
    (1000 made 100)."""
    assert signs("Revenue was $1.5 million versus $9,000 a year earlier") == [1]


def test_a_rate_first_in_its_clause_is_no_rate_of_interest_because_of_the_clauses_last_word():
    """Kills comparisons.py:_metric reading the word before a clause's first word "rate" as words[-1] (the `k and`
    guard dropped): "Rate of return on the policy" is no policy rate."""
    assert signs("Rate of return on the policy 5% versus 4%") == [1]


def test_a_rate_that_is_no_rate_of_interest_takes_its_subject_from_the_words_before_it():
    """Kills comparisons.py:_metric stopping at a rate that is not one of interest (`continue` made `return None`):
    the unemployment rate is a cost."""
    assert signs("The unemployment rate rose to 5% from 4%") == [-1]


def test_the_words_before_the_second_figure_are_among_the_subjects_compared():
    """Kills comparisons.py:_Reader.read naming as subjects only the words before A (the gap's words dropped)."""
    [(_, _, subjects)] = compared("Revenue was EUR 5 mn, compared to estimates of EUR 6 mn", LEXICON.is_cost)
    assert {"revenue", "estimates"} <= subjects


def test_a_long_abbreviation_before_a_full_stop_ends_no_sentence():
    """Kills comparisons.py:_ends looking only three characters back for an abbreviation ("Corp." ended a
    sentence)."""
    assert signs("Revenue was $5m at Acme Corp. versus $4m a year earlier") == [1]


def test_figures_exactly_one_percent_apart_say_nothing():
    """Kills comparisons.py:_Reader.read comparing figures exactly SAME apart (`<=` made `<`)."""
    assert signs("Orders were 100 versus 99 a year earlier") == []
    assert signs("Orders were 100 versus 98.9 a year earlier") == [1]
