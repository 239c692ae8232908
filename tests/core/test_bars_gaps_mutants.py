"""Bar cleaning and gap handling at the edges the other tests leave open (investiq/core/bars.py,
investiq/core/gaps.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from investiq.core.bar_intervals import find_gaps, median_spacing, session_dates
from investiq.core.bar_numbers import decimal_comma
from investiq.core.bar_times import number_times, slash_day_first
from investiq.core.bars import CleaningReport, clean_bars, one_symbol
from investiq.core.errors import DataError
from investiq.core.gaps import GapIntervals, ahead, as_served, cell_factors, first_gaps, fit_gaps, gap_before


def test_a_tokyo_daily_bar_labelled_the_evening_before_in_utc_is_its_own_session_date():
    """bar_intervals.py:session_dates, the half day added before flooring dropped (a Tokyo bar fell on the day
    before)."""
    labels = pd.DatetimeIndex(["2021-12-01 15:00", "2021-12-02 04:00", "2021-12-02 00:00"], tz="UTC")
    assert [d.strftime("%Y-%m-%d") for d in session_dates(labels)] == ["2021-12-02"] * 3


def test_a_file_with_a_decimal_point_somewhere_is_not_read_with_decimal_commas():
    """bar_numbers.py:decimal_comma, `and not point_only` dropped (1050.25 beside 1,1113 read the file as
    European)."""
    assert decimal_comma([pd.Series(["1,1113", "1,1120"])])
    assert not decimal_comma([pd.Series(["1,1113", "1050.25"])])
    assert not decimal_comma([pd.Series(["1,1113"]), pd.Series(["1,050.25"])])


def test_rows_that_are_no_bar_do_not_move_the_median_spacing():
    """bar_intervals.py:median_spacing, `dropna()` dropped (trailing blank rows, NaT, pulled the median to 30
    minutes)."""
    times = pd.DatetimeIndex(["2024-01-02 10:00", "2024-01-02 11:00", "2024-01-02 12:00", *[None] * 4], tz="UTC")
    assert median_spacing(times) == pd.Timedelta(hours=1)


def utc_times(stamps: list[str], interval: str) -> list[str]:
    """The bar times clean_bars gives Tokyo bars of these time stamps, in UTC."""
    frame, _ = clean_bars(pd.DataFrame({"timestamp": stamps, "close": [1.0, 2.0]}), "7203.T", interval)
    return [t.strftime("%Y-%m-%d %H:%M") for t in frame.index.tz_convert("UTC")]


def test_intraday_times_at_a_local_midnight_keep_their_instant():
    """bar_times.py:_bar_times, `if daily` dropped before _local_days (intraday bars moved 9 hours later, to the
    local midnight read as UTC: bars dated after they traded)."""
    stamps = ["2021-12-02 00:00:00+09:00", "2021-12-03 00:00:00+09:00"]
    assert utc_times(stamps, "1h") == ["2021-12-01 15:00", "2021-12-02 15:00"]


def test_daily_times_with_offsets_not_all_at_a_local_midnight_are_converted_to_utc():
    """bar_times.py:_local_days, `.all()` of the local midnights made `.any()` (a time of day read as UTC: 9 hours
    off)."""
    stamps = ["2021-12-02 00:00:00+09:00", "2021-12-03 09:30:00+09:00"]
    assert utc_times(stamps, "1d") == ["2021-12-01 15:00", "2021-12-03 00:30"]


def test_slash_dates_whose_first_number_is_twelve_at_most_are_ambiguous():
    """bar_times.py:slash_day_first, `> 12` made `>= 12` (12/05/2015 decided the file day first)."""
    with pytest.raises(ValueError, match="ambiguous"):
        slash_day_first(pd.Series(["12/05/2015", "11/05/2015"]))
    assert slash_day_first(pd.Series(["13/05/2015", "11/05/2015"]))


def test_two_bars_with_a_hole_between_them_count_one_gap():
    """bar_intervals.py:find_gaps, `len(index) < 2` made `< 3` (a two-bar series' hole went uncounted)."""
    times = pd.DatetimeIndex(["2024-01-02 14:00", "2024-01-02 17:00"], tz="UTC")
    assert find_gaps(times, "1h") == (1, pd.Timedelta(hours=3))
    assert find_gaps(times[:1], "1h") == (0, None)


def test_a_market_open_every_day_that_shuts_each_night_is_no_round_the_clock_market():
    """bar_intervals.py:ROUND_THE_CLOCK_HOLES 0.02 made 0.2 (a nightly close across midnight, 1 in 20 spacings,
    counted as a gap every night)."""
    days = pd.date_range("2024-01-01", periods=14, freq="D", tz="UTC")
    times = pd.DatetimeIndex([d + pd.Timedelta(hours=h) for d in days for h in range(2, 22)])
    assert find_gaps(times, "1h") == (0, None)


def test_of_two_columns_of_one_name_the_first_is_read():
    """bar_columns.py:column_names, `setdefault` made a plain assignment (the last of equal names won)."""
    raw = pd.DataFrame({"timestamp": ["2024-01-02", "2024-01-03"], "Close": [10.0, 11.0], "<CLOSE>": [20.0, 22.0]})
    frame, _ = clean_bars(raw, "X", "1d")
    assert frame["close"].tolist() == [10.0, 11.0]


def test_a_close_under_another_name_is_read_before_an_adjusted_close():
    """bar_columns.py:column_names, the adjusted close tried before ALIASES (Investing.com's Price beside an Adj
    Close column read the adjusted one)."""
    raw = pd.DataFrame({"Date": ["2024-01-02", "2024-01-03"], "Price": [10.0, 11.0], "Adj Close": [5.0, 5.5]})
    frame, report = clean_bars(raw, "X", "1d")
    assert frame["close"].tolist() == [10.0, 11.0] and report.close_column == "Price"


def test_a_row_of_spaces_alone_is_an_empty_row_not_a_bar():
    """bar_columns.py:empty_cells, the blank-after-strip check dropped (a row of spaces refused the file as an
    empty time)."""
    raw = pd.DataFrame({"timestamp": ["2024-01-02", "2024-01-03", "  "], "close": [10.0, 11.0, " "]})
    frame, report = clean_bars(raw, "X", "1d")
    assert (len(frame), report.blank, report.nan_rows) == (2, 1, 0)


def sessions(days: int, bars: int) -> pd.DatetimeIndex:
    """Hourly stock bars: `bars` a weekday from 14:30 UTC."""
    dates = pd.bdate_range("2024-01-01", periods=days)
    return pd.DatetimeIndex(
        [d + pd.Timedelta(hours=14.5) + k * pd.Timedelta(hours=1) for d in dates for k in range(bars)], tz="UTC"
    )


def test_a_spacing_of_exactly_the_gap_threshold_is_no_gap():
    """gaps.py:gap_before, `>` made `>=` (hourly bars 3 hours apart, GAP_EXTRA over the usual, were a night)."""
    hours = ["08:00", "09:00", "10:00", "11:00", "12:00", "15:00", "18:00:01"]
    times = pd.DatetimeIndex([f"2024-01-02 {h}" for h in hours])
    assert gap_before(times).tolist() == [False] * 6 + [True]


def test_a_window_sees_only_the_gaps_between_its_own_bars_and_three_sessions_are_enough():
    """gaps.py:ahead, the window's first gap taken from before its first bar (`o - context + 1`: a gap the window
    cannot see, between its first bar and the one before it), and `< MIN_SESSIONS` made `<=` (three session
    lengths refused)."""
    gap = gap_before(sessions(10, 7))  # gaps before bars 7, 14, 21, 28, ...
    assert ahead(gap, np.array([30]), 24, 2).tolist() == [[-1, -1]]  # bars 7..30: the gap before bar 7 unseen
    assert ahead(gap, np.array([30]), 25, 2).tolist() == [[0, 0]]  # bars 6..30: gaps before 7, 14, 21, 28


def test_a_session_length_held_by_exactly_half_of_the_sessions_is_the_usual_one():
    """gaps.py:ahead, `2 * counts[usual] >= lengths.size` made `>` (half the sessions were not enough)."""
    gap = np.zeros(30, dtype=bool)
    gap[[3, 10, 17, 22, 25]] = True  # sessions of 7, 7, 5 and 3 bars
    assert ahead(gap, np.array([27]), 30, 5).tolist() == [[0, 0, 0, 0, 1]]


def test_a_path_is_labelled_by_the_first_gap_it_crosses():
    """gaps.py:first_gaps, `argmax` of the gaps along the path made `argmin` (the path was labelled by its first
    step's bar, not the night it crosses)."""
    times = pd.date_range("2024-01-01", periods=8, freq="h", tz="UTC")
    gap = np.zeros(8, dtype=bool)
    gap[[3, 5]] = True
    stamps = times.as_unit("ns").asi8.tolist()
    assert first_gaps(times, gap, np.array([0, 3]), 4).tolist() == [
        [-1, -1, stamps[3], stamps[3]],
        [-1, stamps[5], stamps[5], stamps[5]],
    ]


def test_one_factor_on_a_shape_counts_each_window_once_however_many_levels_it_is_fitted_across():
    """gaps.py:_least_loss, `/ len(at)` dropped from the effective count (two levels fitted together counted each
    window twice: the conformal rank too low, intervals too narrow)."""
    levels = np.array([0.2, 0.5, 0.8])
    z = np.tile([-1.0, 0.0, 1.0], (10, 1))
    target = np.arange(1.0, 11.0)  # distances -10 .. -1 and 1 .. 10; at the rank 0.8 (11 / 10) of 20: the 18th
    np.testing.assert_array_equal(cell_factors(target, z, 1, levels, np.ones(3)), [8.0, 8.0, 8.0])


def test_windows_that_cross_a_gap_only_by_the_last_step_are_enough_to_fit_on():
    """gaps.py:fit_gaps, windows across a gap counted at the first step instead of the last (paths that reach the
    night after their first step were no evidence: nothing fitted); the anchor of a thin cell fitted per level
    (`own(..., None)` for the flat shape)."""
    n = 40
    levels = np.array([0.1, 0.5, 0.9])
    target = np.random.default_rng(0).standard_normal((n, 2))
    z = np.broadcast_to(np.array([-1.3, 0.0, 1.3]), (n, 2, 3))
    crossed = np.zeros((n, 2), dtype=np.int64)
    crossed[:30, 1] = 1
    events = np.where(crossed > 0, np.arange(n)[:, None], -1)
    fitted = fit_gaps(target, z, 1, levels, crossed, events)
    assert fitted is not None
    assert fitted[2].tolist() == [[n, 10], [0, 30], [0, 0]]
    assert np.ptp(fitted[1][0, 0]) == 0.0  # the anchor of fewer than MIN_LEVELS windows: one factor for all levels


def test_gap_factors_of_a_shape_not_h_plus_one_by_h_are_refused_or_ignored():
    """gaps.py:GapIntervals.__post_init__ and from_calibration, the [H + 1, H] shape checks dropped (factors of
    another horizon were taken, then indexed wrongly or refused at serving)."""
    with pytest.raises(ValueError, match="H \\+ 1, H, K"):
        GapIntervals(1.0, np.ones((2, 2, 3)))
    assert GapIntervals.from_calibration({"gaps": {"rho": 1.0, "factors": [[1.0, 1.0], [1.0, 1.0]]}}) is None
    assert GapIntervals.from_calibration({"gaps": {"rho": 1.0, "factors": np.ones((2, 2, 3)).tolist()}}) is None


def test_windows_are_served_the_factors_of_the_gaps_their_own_bars_show():
    """gaps.py:as_served, the window one bar shorter (`context - 1`: the three sessions it shows, one unseen, and
    it was served the pooled intervals)."""
    calibration = {"gaps": {"rho": 4.0, "factors": np.full((3, 2, 3), 2.0).tolist()}}
    times = sessions(10, 7)
    quantiles = np.array([[[90.0, 100.0, 110.0]] * 2])
    served = as_served(
        calibration, times, np.array([30]), 25, np.array([100.0]), np.full((1, 2), 100.0), quantiles
    )
    np.testing.assert_allclose(served, [[[81.0, 100.0, 121.0]] * 2])
    pooled = as_served(
        calibration, times, np.array([30]), 24, np.array([100.0]), np.full((1, 2), 100.0), quantiles
    )
    np.testing.assert_allclose(pooled, quantiles)


def test_duplicates_alone_are_a_warning_of_rows_dropped():
    """bars.py:CleaningReport.warnings, the duplicates left out of the rows dropped (a file of repeated times was
    said to have dropped nothing)."""
    report = CleaningReport(
        "X", rows_in=3, rows_out=2, duplicates=1, nan_rows=0, non_positive=0, gaps=0, largest_gap="none"
    )
    assert report.warnings() == [
        "1 of 3 rows dropped: 1 duplicate timestamps, 0 closes missing or NaN, 0 closes <= 0"
    ]


def test_numbers_in_the_date_range_with_fractions_are_no_yyyymmdd_dates():
    """bar_times.py:number_times, the whole-number check dropped (20240102.5 was read as 2 January 2024)."""
    with pytest.raises(ValueError, match="neither epoch times nor YYYYMMDD"):
        number_times(pd.Series([20240102.5, 20240103.5]))
    assert number_times(pd.Series([20240102.0, 20240103.0])).strftime("%Y-%m-%d").tolist() == [
        "2024-01-02",
        "2024-01-03",
    ]


def test_a_time_of_day_column_read_as_floats_is_hours_and_minutes():
    """bar_times.py:_clock, `.removesuffix(".0")` dropped (930.0, as pandas reads a column of numbers with a hole,
    was no time)."""
    raw = pd.DataFrame({"Date": ["2024-01-02", "2024-01-02"], "Time": [930.0, 1000.0], "Close": [10.0, 11.0]})
    frame, _ = clean_bars(raw, "X", "15m")
    assert frame.index.strftime("%H:%M").tolist() == ["09:30", "10:00"]


def test_blank_cells_of_a_symbol_column_name_no_second_symbol():
    """bars.py:one_symbol, `- {""}` dropped (a blank Ticker cell was a second symbol and the file refused)."""
    one_symbol(pd.Series(["AAPL", " ", None, "AAPL"]), "Ticker", "AAPL")
    with pytest.raises(DataError, match="2 symbols"):
        one_symbol(pd.Series(["AAPL", "MSFT"]), "Ticker", "AAPL")


def test_a_footer_is_named_alone_though_a_time_cell_is_empty_too():
    """bar_times.py:_stray_rows, the empty cells kept among the rows that are no time (an empty cell named beside
    the footer: the file's error pointed at the wrong line)."""
    times = [str(d.date()) for d in pd.date_range("2024-01-01", periods=199)] + ["Total"]
    times[100] = ""
    raw = pd.DataFrame({"timestamp": times, "close": [10.0] * 200})
    with pytest.raises(DataError, match=r"line 201 \('Total'\) is not a time"):
        clean_bars(raw, "X", "1d")


def test_a_cell_whose_quantiles_all_sit_on_the_median_keeps_factors_of_one():
    """gaps.py:_least_loss, the factor where every distance is 0 made 0.1 (was 1); cell_factors, the median's own
    factor made 0 (was 1: it sets the shape other cells take, anchor / its mean)."""
    levels = np.array([0.1, 0.5, 0.9])
    flat = np.zeros((5, 3))
    np.testing.assert_array_equal(cell_factors(np.arange(5.0), flat, 1, levels), [1.0, 1.0, 1.0])
    z = np.tile([-1.0, 0.0, 1.0], (5, 1))
    assert cell_factors(np.arange(5.0), z, 1, levels)[1] == 1.0


def test_a_window_whose_quantile_sits_on_the_median_does_not_set_the_factor():
    """gaps.py:_least_loss, the conformal share no longer capped at 1 (past every weighted distance, the factor was
    read off a window of no weight, one whose quantile sat on the median: 100, clipped to 10)."""
    levels = np.array([0.2, 0.5, 0.8])
    z = np.array([[-1.0, 0.0, 1.0]] * 3 + [[0.0, 0.0, 0.0]])
    target = np.array([1.0, 2.0, 3.0, 100.0])  # three windows: the rank 0.8 x 4 / 3 is past them all, so the last
    assert cell_factors(target, z, 1, levels)[2] == 3.0


def test_a_duplicate_dropped_is_not_counted_as_a_row_set_to_the_close():
    """bars.py:clean_bars counted `filled` before duplicate times were dropped: a replaced row's open of 0 was
    reported as "1 rows without a usable open, high or low: set to the close", though every kept open was the
    file's own."""
    raw = pd.DataFrame(
        {
            "timestamp": ["2024-01-02", "2024-01-02", "2024-01-03"],
            "open": [0.0, 10.0, 11.0],
            "close": [10.0, 10.5, 11.0],
        }
    )
    frame, report = clean_bars(raw, "X", "1d")
    assert frame["open"].tolist() == [10.0, 11.0] and list(frame.columns) == [
        "open",
        "high",
        "low",
        "close",
        "volume",
    ]
    assert (report.duplicates, report.filled) == (1, 0)
    kept_bad = raw.assign(open=[10.0, 0.0, 11.0])  # the kept duplicate is the one set to the close: still counted
    assert clean_bars(kept_bad, "X", "1d")[1].filled == 1
