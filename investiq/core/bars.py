"""Cleaning OHLCV bars from any source into one shape: UTC, sorted, unique, float64, no made-up rows.

Rows that cannot be used are dropped and counted; holes in the series are counted, never filled,
because a forecast trained or served on interpolated prices would learn from prices that never
traded. `investiq.core.market` re-exports what loading bars needs (clean_bars, find_gaps, CleaningReport...);
the rest is imported from here.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
from numpy.typing import NDArray

from investiq.core.errors import DataError
from investiq.core.splits import RATIOS as SPLIT_RATIOS
from investiq.core.splits import SPLIT_MOVE

PRICES = ("open", "high", "low", "close")
COLUMNS = [*PRICES, "volume"]
TIME_COLUMNS = ("timestamp", "datetime", "date")  # first found wins (date + a time column: both); else the index

# Bar spacing in seconds, keyed by the interval names Yahoo Finance uses.
INTERVAL_SECONDS: dict[str, int] = {
    "1m": 60,
    "2m": 120,
    "5m": 300,
    "15m": 900,
    "30m": 1800,
    "60m": 3600,
    "90m": 5400,
    "1h": 3600,
    "1d": 86_400,
    "1wk": 7 * 86_400,
}
# Daily and weekly bars skip weekends and holidays (Good Friday + weekend: Thursday -> Monday,
# 4 calendar days), so only spacing beyond the interval plus 3 days counts as a hole.
CLOSED_DAYS = 3
# A one-bar move beyond this factor either way (log return +-0.69) is reported: a 2:1 split or more in prices
# that are not split-adjusted looks like a crash the model would learn from. Kept, since real crashes happen.
JUMP_FACTOR = 2.0
# A stock split moves the unadjusted price by its ratio times the day's own move: a 2:1 split on a +4 % day is
# x0.52, inside x2 or /2. So a move within SPLIT_MOVE of a split ratio (investiq/core/splits.py, as the gateway's
# warnings: forward n:1, 3:2, 5:2; a reverse split is the inverse) is reported too. A -40 % day (x0.6) is near
# none of them.
OFFSET = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[+-]\d{2}:?\d{2}|Z)$"  # ISO, with offset
# Numeric timestamps: epoch seconds, milliseconds, microseconds or nanoseconds, told apart by magnitude (the
# largest below each bound; a date from 1973 to 5138 in that unit), or YYYYMMDD integers (19000101-21001231).
EPOCH_UNITS = ((1e11, "s"), (1e14, "ms"), (1e17, "us"), (float("inf"), "ns"))
# 02/03/2015, 02.03.2015, 02-03-2015: 2 March or February 3, as the file decides (slash_day_first)
SLASH_DATE = r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-]\d{2,4}"
# A file's median bar spacing within this factor of its interval, either way, is that interval: 60m against 90m
# (x1.5) and 1m against 2m (x2) are told apart, and days against weeks.
SPACING_TOLERANCE = 1.25
STRAY_ROWS = 5  # at most this many rows that are no time (a footer, a note) are named as such
# Other names that exports give the columns used here (lower-cased, <> stripped): Investing.com's Price,
# Nasdaq.com's Close/Last, MetaTrader's <CLOSE>, Investing.com's Vol.; used where the column's own name is absent.
ALIASES = {
    "close": ("close/last", "price", "last"),
    "volume": ("vol.", "vol", "tickvol"),
    # Binance's kline files where they carry a header; TradingView's exports ("time": epoch seconds or ISO times;
    # a file with a date column too is a date and a time of day: bar_times)
    "timestamp": ("open_time", "open time", "time"),
    # yfinance's long format (`download(...).stack()`) names the symbol column Ticker: it was not read as one, and
    # a file of two tickers was refused as bars "0 days apart" (their times interleaved)
    "symbol": ("ticker",),
}
# A file without a close column is read from its adjusted close (Yahoo's `Adj Close`: split- and
# dividend-adjusted), and the cleaning report says so; with one, the close is read and the adjusted close ignored.
ADJUSTED_CLOSE = ("adj close", "adj. close", "adj_close", "adjclose", "adjusted close", "adjusted_close")
# Thousands grouped by a space, an apostrophe (Swiss: 1'234.56, or its typographic form) or a no-break space
# (U+00A0, or the narrow U+202F that French and Swiss locales write; U+2009, a thin space): never a decimal sign,
# so dropped wherever they group digits in threes. Read as no number before, a 5,031-row file grouped so kept
# its 503 closes under 1,000, with holes of 5 years, and trained on them (a review).
GROUP_MARKS = " '\u2019\u00a0\u202f\u2009"
SPACED = rf"[-+]?\d{{1,3}}([{GROUP_MARKS}])\d{{3}}(?:\1\d{{3}})*(?:[.,]\d*)?"  # 1 234.56, 1'234,5, 1 234 567
# A file where more than this share of the non-empty close cells that hold digits reads as no number is refused:
# a format not read here (dropping those rows would train on the rest, with holes). Fewer are dropped and counted.
UNREADABLE_SHARE = 0.05


@dataclass(frozen=True)
class CleaningReport:
    symbol: str
    rows_in: int
    rows_out: int
    duplicates: int  # duplicate timestamps dropped (the last one kept)
    nan_rows: int  # rows whose close is missing, NaN or inf, dropped
    non_positive: int  # rows whose close is <= 0, dropped
    gaps: int  # unexpected holes, see find_gaps
    largest_gap: str  # pandas Timedelta str of the largest hole, e.g. "7 days 00:00:00", or "none"
    jumps: int = 0  # one-bar close moves beyond JUMP_FACTOR either way (kept): unadjusted splits look like this
    largest_jump: str = ""  # the largest of them: "x0.25 on 2020-08-31", or ""
    older_rows: int = 0  # rows before the window asked for (load_bars' `days`), left out before all of the above
    filled: int = 0  # kept rows whose open, high or low column held no usable value, set to the close (the close
    # is used); a column the file lacks is set to the close without counting (all of a file of closes were said)
    unreadable: int = 0  # of nan_rows: close cells with digits that read as no number ("1.2.3"), dropped
    blank: int = 0  # rows with neither a time nor a close (a trailing ",,,,," line), dropped
    close_column: str = ""  # the column the closes were read from where the file has no close column (Adj Close)

    def __str__(self) -> str:
        text = (
            f"{self.symbol}: {self.rows_in} rows in, {self.rows_out} kept "
            f"({self.duplicates} duplicate timestamps, {self.nan_rows} NaN/inf, "
            f"{self.non_positive} non-positive dropped); {self.gaps} gaps, largest {self.largest_gap}"
        )
        if self.older_rows:
            text += f"; {self.older_rows} older rows outside the window left out (--days)"
        if self.filled:
            text += f"; {self.filled} rows without a usable open, high or low: set to the close"
        if self.unreadable:
            text += f"; {self.unreadable} of the NaN closes are no number InvestIQ reads"
        if self.blank:
            text += f"; {self.blank} empty rows (no time, no close) dropped"
        if self.close_column:
            text += f"; closes read from the {self.close_column!r} column (the file has no close column)"
        if self.jumps:
            text += f"; WARNING {self._jumps()}"
        return text

    def _jumps(self) -> str:
        return (
            f"{self.jumps} one-bar move{'s' if self.jumps > 1 else ''} like a split (beyond x{JUMP_FACTOR:g} or "
            f"/{JUMP_FACTOR:g}, or near a split ratio such as 2:1 or 3:2), the largest {self.largest_jump}: if a "
            "stock split, use split-adjusted prices"
        )

    def warnings(self) -> list[str]:
        """What of this cleaning whoever reads a forecast's evaluation must know: moves like an unadjusted split,
        rows dropped, holes. Logged only, a 100x unadjusted split flipped an evaluation's verdict without a word in
        its report (a review). Kept, not refused: real crashes and halts happen, and a file may have holes."""
        said = [self._jumps()] if self.jumps else []
        dropped = self.duplicates + self.nan_rows + self.non_positive
        if dropped:
            unreadable = f", {self.unreadable} of them no number InvestIQ reads" if self.unreadable else ""
            said.append(
                f"{dropped} of {self.rows_in} rows dropped: {self.duplicates} duplicate timestamps, "
                f"{self.nan_rows} closes missing or NaN{unreadable}, {self.non_positive} closes <= 0"
            )
        if self.gaps:
            said.append(f"{self.gaps} gaps in the bars (holes, not filled), the largest {self.largest_gap}")
        return said


def interval_step(interval: str) -> pd.Timedelta:
    """Bar spacing of `interval` ('15m', '1d', ...); DataError for a name not in INTERVAL_SECONDS."""
    if interval not in INTERVAL_SECONDS:
        raise DataError(f"unknown interval {interval!r}; use one of {', '.join(INTERVAL_SECONDS)}")
    return pd.Timedelta(seconds=INTERVAL_SECONDS[interval])


def is_daily(interval: str) -> bool:
    """Whether bars of `interval` are a day or longer apart (one per trading day, week, ...)."""
    return bool(interval_step(interval) >= pd.Timedelta(days=1))


def session_dates(labels: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """The session date (UTC midnight) of each daily bar label: the UTC date half a day after it. Yahoo labels a
    session at its exchange's midnight (04:00 UTC for New York, 15:00 UTC the day before for Tokyo), a bar file
    at 00:00 UTC of its date (`_local_days`): both give the session's own date, for exchanges from UTC-11 to
    UTC+12."""
    return (labels + pd.Timedelta(hours=12)).floor("D")


def clean_bars(
    df: pd.DataFrame, symbol: str, interval: str, *, refuse_unreadable: bool = True
) -> tuple[pd.DataFrame, CleaningReport]:
    """Bars in, clean bars and a report of what was dropped out.

    Input: a datetime-like index or a 'timestamp' ('datetime', 'date') column, a close column, and
    optionally open, high, low and volume columns, names case-insensitive ('Adj Close' and other columns
    ignored). Output: index a tz-aware UTC DatetimeIndex (ns) named 'timestamp', ascending and unique;
    columns exactly open, high, low, close, volume as float64. Naive timestamps are taken as UTC. Missing or
    non-finite volume is 0. Rows whose close is non-finite or non-positive are dropped before duplicates, so
    a broken later row never replaces a good earlier one; an open, high or low that is missing or not
    positive (Yahoo's old index history has opens of 0) is set to the close, since only the close is used.
    Gaps are reported, not filled. `refuse_unreadable` False: close cells that read as no number are dropped and
    counted however many (a first look at a whole file, before the rows outside the window asked for are left out:
    those must not refuse it).
    """
    interval_step(interval)
    names = column_names(df)
    if "close" not in names:
        found = ", ".join(map(str, df.columns)) or "none"
        raise DataError(f"bars for {symbol} lack a close column (found: {found}); give a close column")
    if "symbol" in names:
        one_symbol(df[names["symbol"]], names["symbol"], symbol)
    comma = decimal_comma([df[names[c]] for c in PRICES if c in names])
    frame = pd.DataFrame(
        {c: numbers(df[names[c]], comma) if c in names else np.full(len(df), np.nan) for c in PRICES},
        index=bar_times(df, symbol, daily=is_daily(interval)),
    )
    close = frame["close"].to_numpy()
    unreadable = unreadable_closes(df, names["close"], close, symbol, refuse=refuse_unreadable)
    others = frame[[c for c in PRICES if c != "close"]].to_numpy()
    unusable = ~(np.isfinite(others) & (others > 0))
    frame[[c for c in PRICES if c != "close"]] = np.where(unusable, close[:, None], others)
    if "volume" in names:
        volume = numbers(df[names["volume"]], comma)
        frame["volume"] = np.where(np.isfinite(volume), volume, 0.0)
    else:
        frame["volume"] = 0.0

    blank = np.asarray(frame.index.isna())  # no time and no close (bar_times): no bar
    finite, positive = np.isfinite(close), close > 0
    kept = finite & positive
    # of the columns the file has: a file of closes only was said to have no usable open in every row (a review)
    given = [i for i, c in enumerate(c for c in PRICES if c != "close") if c in names]
    # counted of the rows kept: a duplicate time's row dropped was set to nothing (a review: counted before)
    frame["_set_to_close"] = unusable[:, given].any(axis=1) if given else False
    frame = frame[kept].sort_index(kind="stable")  # stable: equal times keep input order
    repeated = frame.index.duplicated(keep="last")
    frame = frame[~repeated]
    filled = int(frame.pop("_set_to_close").sum())
    gaps, largest = find_gaps(frame.index, interval)
    jumps, largest_jump = find_jumps(frame["close"])
    written = str(names["close"])
    report = CleaningReport(
        symbol=symbol,
        rows_in=len(df),
        rows_out=len(frame),
        duplicates=int(repeated.sum()),
        nan_rows=int((~finite & ~blank).sum()),
        non_positive=int((finite & ~positive).sum()),
        gaps=gaps,
        largest_gap="none" if largest is None else str(largest),
        jumps=jumps,
        largest_jump=largest_jump,
        filled=filled,
        unreadable=int(unreadable.sum()),
        blank=int(blank.sum()),
        close_column="" if _plain(written) == "close" else written,
    )
    return frame, report


# 1,050.25 or 1,095: thousands grouped with commas; never from a leading 0 ("0,512" is a decimal comma: it was read
# as 512, a review)
GROUPED = r"[-+]?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d*)?"
COMMA_DECIMAL = r"[-+]?(?:\d{1,3}(?:\.\d{3})+|\d+),\d+"  # 1.050,25 or 1050,25 or 1,095: a decimal comma
POINT_DECIMAL = r"[-+]?\d*\.\d+"  # 1050.25
POINT_GROUPED = r"[-+]?\d{1,3}(?:\.\d{3})+"  # 1.050: thousands where commas are decimal, else 1.05


def _plain(name: object) -> str:
    """A column's name as column_names compares it: lower-cased, stripped, MetaTrader's <> dropped."""
    return str(name).strip().lower().removeprefix("<").removesuffix(">")


def _text(values: pd.Series) -> pd.Series:
    """A column as stripped text without a leading currency sign ($, €, £, ¥), and without the spaces, apostrophes
    or no-break spaces that group its thousands (SPACED: 1 234.56 is 1234.56, 1 234,56 is 1234,56)."""
    text = values.astype(str).str.strip().str.replace(r"^([-+]?)[$€£¥]\s*", r"\1", regex=True)
    return text.where(~text.str.fullmatch(SPACED), text.str.replace(f"[{GROUP_MARKS}]", "", regex=True))


def decimal_comma(columns: list[pd.Series]) -> bool:
    """Whether the price columns of one file write decimal commas (European spreadsheets: 1050,25, 1.050,25):
    some number in them reads only that way (1,1113, 1050,25) and none reads only with a decimal point
    (1,050.25, 1050.25). A file whose every comma has three digits after it (1,095) stays read as thousands:
    nothing in it says otherwise."""
    comma_only = point_only = False
    for values in columns:
        if pd.api.types.is_numeric_dtype(values):
            continue
        text = _text(values)
        grouped, european = text.str.fullmatch(GROUPED), text.str.fullmatch(COMMA_DECIMAL)
        comma_only = comma_only or bool((european & ~grouped).any())
        point = text.str.fullmatch(POINT_DECIMAL) & ~text.str.fullmatch(POINT_GROUPED)
        point_only = point_only or bool((point | (grouped & text.str.contains(".", regex=False))).any())
    return comma_only and not point_only


def numbers(values: pd.Series, comma: bool = False) -> NDArray[np.float64]:
    """A column's numbers as float64, NaN where there is none. Text may carry a currency sign ($, €, £, ¥) and
    thousands grouped with commas (1,050.25), as spreadsheets export prices, or with spaces, apostrophes or
    no-break spaces (1 050.25, 1'050.25: SPACED); with `comma` (decimal_comma of the file), a decimal comma and
    points or those marks grouping thousands (1.050,25, 1 050,25)."""
    if not pd.api.types.is_numeric_dtype(values):
        text = _text(values)
        if comma:  # a point can only group thousands then: 1.050 is 1050
            european = text.str.fullmatch(COMMA_DECIMAL) | text.str.fullmatch(POINT_GROUPED)
            written = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
            values = text.where(~european, written)
        else:
            grouped = text.str.fullmatch(GROUPED)
            values = text.where(~grouped, text.str.replace(",", "", regex=False))
    out: NDArray[np.float64] = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")
    return out


def unreadable_closes(
    df: pd.DataFrame, column: object, close: NDArray[np.float64], symbol: str, *, refuse: bool = True
) -> NDArray[np.bool_]:
    """Rows of raw `df` whose close cell (in `column`; `close`, as numbers read it) holds digits yet reads as no
    number ("1.2.3", "12:30"): dropped with the NaN closes and counted. DataError naming one and its file line when
    they are more than UNREADABLE_SHARE of the non-empty close cells: a format not read here, and training on the
    rest would train on a series with holes."""
    values = df[column]
    if pd.api.types.is_numeric_dtype(values):
        return np.zeros(len(df), dtype=bool)
    text = values.astype(str).str.strip()
    written = ~_empty(values)
    bad = written & text.str.contains(r"\d").to_numpy() & np.isnan(close)
    if refuse and bad.sum() > UNREADABLE_SHARE * written.sum():
        first = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"bars for {symbol}: {bad.sum()} of {written.sum()} close cells read as no number, e.g. "
            f"{text.iloc[first]!r} on {row_name(df, first)}; write prices as 1234.56, with thousands grouped by "
            "commas, spaces or apostrophes or not at all, or as 1.234,56 with a decimal comma throughout"
        )
    return np.asarray(bad, dtype=bool)


def one_symbol(labels: pd.Series, column: object, symbol: str) -> None:
    """DataError where the rows given as one symbol's bars name several in their symbol column (read_bar_csv did
    not split them by it): their closes would interleave as one series jumping between prices, as a `Ticker`
    column of two tickers did (a review: 1,499 "split-like" moves, trained on)."""
    written = sorted(set(labels.dropna().astype(str).str.strip()) - {""})
    if len(written) > 1:
        shown = ", ".join(written[:5]) + (f" and {len(written) - 5} more" if len(written) > 5 else "")
        raise DataError(
            f"bars for {symbol} hold rows of {len(written)} symbols in their {column!r} column ({shown}): one "
            "series would interleave their prices; pick one symbol's rows (--symbols, or split the file)"
        )


def find_jumps(close: pd.Series) -> tuple[int, str]:
    """One-bar moves of sorted, positive closes that look like an unadjusted split, beyond JUMP_FACTOR either way
    or within SPLIT_MOVE of a split ratio: (count, the largest as "x0.25 on 2020-08-31", or "")."""
    ratio = close.to_numpy(dtype="float64")[1:] / close.to_numpy(dtype="float64")[:-1]
    size = np.abs(np.log(ratio)) if len(ratio) else np.zeros(0)
    off_split = np.abs(size[:, None] - np.log(SPLIT_RATIOS)[None, :]).min(axis=1, initial=np.inf)
    beyond = (size > np.log(JUMP_FACTOR)) | (off_split < np.log(SPLIT_MOVE))
    if not beyond.any():
        return 0, ""
    at = int(np.argmax(np.where(beyond, size, -1.0)))  # the largest of those reported
    return int(beyond.sum()), f"x{ratio[at]:.3g} on {close.index[at + 1]:%Y-%m-%d}"


class SpacingError(DataError):
    """Bars spaced unlike the interval they were read as (`interval`; None: none was given); `looks_like` is the
    interval they are (None: none InvestIQ takes)."""

    def __init__(self, symbol: str, interval: str | None, median: pd.Timedelta, looks_like: str | None) -> None:
        self.symbol, self.median, self.looks_like = symbol, median, looks_like
        text = f"bars for {symbol} are {median} apart (median)"
        text += f", not {interval} as the interval says: " if interval is not None else ": "
        if looks_like is not None:
            text += f"pass --interval {looks_like} (or set price_interval)"
        else:
            text += f"that is no interval InvestIQ takes ({', '.join(INTERVAL_SECONDS)}); resample them to one"
        super().__init__(text)


def median_spacing(index: pd.DatetimeIndex) -> pd.Timedelta:
    """The median time between consecutive sorted bar times (nights and weekends are a few of many); rows that are
    no bar (NaT: bar_times) left out."""
    return pd.Timedelta(np.median(np.diff(index.dropna().as_unit("ns").asi8)), unit="ns")


def interval_of(spacing: pd.Timedelta) -> str | None:
    """The interval whose bars are `spacing` apart, within SPACING_TOLERANCE either way; None for a spacing no
    interval has (4 hours, a month). Of equal ones (60m, 1h) the later name."""
    seconds = max(spacing.total_seconds(), 1e-9)
    off = {name: abs(np.log(seconds / step)) for name, step in reversed(INTERVAL_SECONDS.items())}
    best = min(off, key=off.__getitem__)
    return best if off[best] <= np.log(SPACING_TOLERANCE) else None


def check_spacing(index: pd.DatetimeIndex, interval: str, symbol: str) -> None:
    """SpacingError when sorted bar times are spaced unlike `interval` (the median spacing further than
    SPACING_TOLERANCE from it, from 10 bars on): daily bars read as 15m would be windowed, gap-checked and dated
    as 15m bars, and 30m bars read as 15m would be annualised as 15m ones."""
    step = interval_step(interval)
    if len(index) < 10:
        return
    median = median_spacing(index)
    if abs(np.log(median / step)) > np.log(SPACING_TOLERANCE):
        raise SpacingError(symbol, interval, median, interval_of(median))


def bar_times(df: pd.DataFrame, symbol: str, *, daily: bool = False) -> pd.DatetimeIndex:
    """The bar times of raw `df` as a UTC DatetimeIndex (ns) named 'timestamp', one per row, in row order.

    `daily` (daily or weekly bars): written times that carry a UTC offset and all fall on their own midnight
    (`2021-12-02 00:00:00+09:00`, as yfinance writes a Tokyo or Frankfurt listing's days) are those days, at
    00:00 UTC; in UTC they would fall on the day before, east of Greenwich.

    A row with neither a time nor a close (a trailing `,,,,,` line, as spreadsheets save) is no bar: NaT, which
    clean_bars drops and counts. It refused the whole file ("an empty timestamp in row 1500", a review). Errors
    name rows by their file line (row_name)."""
    names = column_names(df)
    blank = _blank_rows(df, names)
    if not blank.any():
        return _bar_times(df, names, symbol, daily)
    stamps = np.full(len(df), np.datetime64("NaT"), dtype="datetime64[ns]")
    stamps[~blank] = _bar_times(df[~blank], names, symbol, daily).tz_convert(None).to_numpy()
    return pd.DatetimeIndex(stamps).tz_localize("UTC").rename("timestamp")


def _bar_times(df: pd.DataFrame, names: dict[str, object], symbol: str, daily: bool) -> pd.DatetimeIndex:
    """bar_times of rows that each hold a time or a close."""
    column = next((names[c] for c in TIME_COLUMNS if c in names), None)
    if column is not None and column == names.get("date") and "time" in names:  # a date and a time of day
        values = df[column].astype(str).str.strip() + " " + _clock(df[names["time"]])
    elif column is not None:
        values = df[column]
    elif isinstance(df.index, pd.DatetimeIndex) or not pd.api.types.is_numeric_dtype(df.index):
        values = df.index
    else:  # a RangeIndex would parse as nanoseconds after 1970: refuse rather than guess
        raise DataError(f"bars for {symbol} need a datetime index or a 'timestamp' column")
    try:
        days = _local_days(values) if daily else None
        times = days if days is not None else _parse_times(values)
    except (ValueError, TypeError, OverflowError) as exc:
        raise _unread_times(df, values, symbol, exc, column is not None) from None
    if times.hasnans:
        where = row_name(df, int(np.flatnonzero(times.isna())[0]))
        raise DataError(f"bars for {symbol} have an empty timestamp on {where}; fill or remove that row")
    return times.as_unit("ns").rename("timestamp")


def _unread_times(df: pd.DataFrame, values: object, symbol: str, exc: Exception, column: bool) -> DataError:
    """Why the times of `df` (`values`, from a time `column` or the index) cannot be read, as a DataError."""
    spilled = _more_fields(df) if column else None
    if spilled is not None:
        return DataError(f"cannot read the timestamps of {symbol}: {spilled}")
    strays = _stray_rows(values)
    if strays:  # a footer ("Total") or a note among good times: name them rather than blame the format
        shown = ", ".join(f"{row_name(df, row)} ({text!r})" for row, text in strays[:3])
        return DataError(
            f"cannot read the timestamps of {symbol}: {shown} {'is' if len(strays) == 1 else 'are'} not a "
            "time; remove such rows (a footer or a note) from the file"
        )
    reason = str(exc).splitlines()[0].split(". You might want to try")[0].rstrip(".:; ")
    return DataError(
        f"cannot read the timestamps of {symbol}: {reason}; "
        "write them in one ISO 8601 format, e.g. 2024-01-02T14:30:00Z"
    )


def _more_fields(df: pd.DataFrame) -> str | None:
    """What is wrong with a file whose rows hold more fields than its header names, or None. pandas then takes the
    first fields of each row for an index (not integers, beside a time column): an unquoted thousands separator
    does that (`2013-01-16,1,472.63` under `timestamp,close`), and the times were blamed ("numbers such as 1 are
    neither epoch times nor YYYYMMDD dates")."""
    if len(df) == 0 or pd.api.types.is_integer_dtype(df.index) or isinstance(df.index, pd.DatetimeIndex):
        return None
    first = df.index[0]
    fields = [*(first if isinstance(first, tuple) else (first,)), *(df[c].iloc[0] for c in df.columns)]
    line = ",".join("" if pd.isna(v) else str(v) for v in fields)
    return (
        f"line 2 holds {len(fields)} fields where the header names {len(df.columns)} ({line!r}): an unquoted "
        'thousands separator, as in 1,472.63? Quote such numbers ("1,472.63") or write them without it'
    )


def row_name(df: pd.DataFrame, position: int) -> str:
    """Row `position` of raw bars `df` as a person finds it in the file: pandas numbers a CSV's rows 0, 1, ...
    below its header, so row label i is line i + 2 (1-based, the header line 1); a row of a frame not indexed so
    (Yahoo's, by time) by its position from 1. Errors named 0-based data rows ("row 1500" was line 1502)."""
    label = df.index[position]
    if isinstance(label, int | np.integer) and not isinstance(label, bool | np.bool_):
        return f"line {int(label) + 2}"
    return f"row {position + 1}"


def _blank_rows(df: pd.DataFrame, names: dict[str, object]) -> NDArray[np.bool_]:
    """Rows whose time and close cells are both empty (a line of separators alone)."""
    time = next((names[c] for c in TIME_COLUMNS if c in names), None)
    if time is None or "close" not in names:
        return np.zeros(len(df), dtype=bool)
    return _empty(df[time]) & _empty(df[names["close"]])


def _empty(values: pd.Series) -> NDArray[np.bool_]:
    """Cells that are missing or blank."""
    return np.asarray(values.isna().to_numpy() | (values.astype(str).str.strip() == "").to_numpy(), dtype=bool)


def _local_days(values: object) -> pd.DatetimeIndex | None:
    """The days of written times with UTC offsets that are all local midnights, at 00:00 UTC; None for any other
    times (no offset, a time of day, numbers, already parsed times)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return None
    texts = pd.Series(np.asarray(values))
    if pd.api.types.is_numeric_dtype(texts) or texts.empty:
        return None
    texts = texts.astype(str).str.strip()
    if not re.match(OFFSET, texts.iloc[0]) or not texts.str.match(OFFSET).all():
        return None
    try:
        parsed = pd.to_datetime(texts)  # one offset throughout: aware in it
        local = pd.DatetimeIndex(parsed).tz_localize(None)
    except (ValueError, TypeError, OverflowError):
        try:  # offsets that change with daylight saving: each time in its own
            local = pd.DatetimeIndex([pd.Timestamp(text).tz_localize(None) for text in texts])
        except (ValueError, TypeError, OverflowError):
            return None  # _parse_times says what is wrong
    if not (local == local.normalize()).all():
        return None
    return local.tz_localize("UTC")


def _clock(values: pd.Series) -> pd.Series:
    """A time-of-day column as text; whole numbers as written by some exports (930, 1600, 93000: HMM or HHMMSS)
    as 09:30 and 16:00:00."""
    text = values.astype(str).str.strip().str.removesuffix(".0")
    digits = text.str.fullmatch(r"\d{3,6}")
    if not digits.all():
        return text
    padded = text.where(text.str.len() > 4, text.str.zfill(4) + "00").str.zfill(6)  # HHMMSS each
    return padded.str[:2] + ":" + padded.str[2:4] + ":" + padded.str[4:6]


def _stray_rows(values: object) -> list[tuple[int, str]]:
    """(row, text) of the few rows (at most STRAY_ROWS, and under 1 % of them) that are no time when the others
    parse one by one; [] when the times themselves are the problem (a format no rule reads)."""
    texts = pd.Series(np.asarray(values)).astype(str).str.strip()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dateutil's "could not infer format": each is tried alone here
        parsed = pd.to_datetime(texts, errors="coerce", utc=True, format="mixed", dayfirst=_day_first(texts))
    bad = np.flatnonzero(parsed.isna().to_numpy() & (texts != "").to_numpy())
    if not 0 < len(bad) <= min(STRAY_ROWS, 0.01 * len(texts)):
        return []
    return [(int(row), texts.iloc[row]) for row in bad]


def _day_first(texts: pd.Series) -> bool:
    """slash_day_first, False where the file itself is ambiguous (the caller reports that)."""
    try:
        return slash_day_first(texts)
    except ValueError:
        return False


# A time that names its zone: an offset or Z, UTC or GMT, right after the time of day ("-2017" of "31-May-2017" is
# no offset; "14:30:00 UTC" is one: a review of the mixed-zone check)
AWARE = r"\d:\d\d(?::\d\d(?:\.\d+)?)?\s*(?:Z|[+-]\d\d:?\d\d|UTC|GMT)$"


def _parse_times(values: object) -> pd.DatetimeIndex:
    """Timestamps as UTC (naive ones taken as UTC, aware ones converted). Numbers are epoch times in the unit
    their magnitude says (EPOCH_UNITS), or YYYYMMDD dates; slash dates day or month first as the file says
    (slash_day_first)."""
    if pd.api.types.is_datetime64_any_dtype(values):  # already times (a cache's index): nothing to decide
        return pd.DatetimeIndex(pd.to_datetime(values, utc=True))
    series = pd.Series(np.asarray(values))
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return number_times(series)
    dayfirst = slash_day_first(series)
    with warnings.catch_warnings():  # dateutil's "could not infer format": the times still parse, or fail loudly
        warnings.simplefilter("ignore", UserWarning)
        try:
            return pd.DatetimeIndex(pd.to_datetime(values, utc=True, dayfirst=dayfirst))
        except ValueError as exc:
            # the format pandas guessed from the first row only: "31-May-2017" read as a full month name refused
            # "01-Jun-2017" (a file starting in June read fine; a review). Each row's own, once that failed (not
            # where a row has more than the format: naive and aware times mixed stay refused)
            cells = series[series.notna()].astype(str).str.strip()
            offset = cells[cells != ""].str.contains(AWARE, regex=True)
            if "doesn't match format" not in str(exc) or offset.any() != offset.all():
                raise  # naive and aware times mixed: refused, whichever comes first (a review of the retry)
            try:
                return pd.DatetimeIndex(pd.to_datetime(values, utc=True, dayfirst=dayfirst, format="mixed"))
            except ValueError:
                raise exc from None  # its message names the row, as before


def number_times(series: pd.Series) -> pd.DatetimeIndex:
    """Numbers as UTC times: YYYYMMDD dates when every one reads as one, else epoch times in the unit their
    magnitude says (EPOCH_UNITS). ValueError for numbers that are neither (a day count, an index)."""
    numbers = series.to_numpy(dtype="float64")
    finite = numbers[np.isfinite(numbers)]
    if len(finite) and (finite >= 19000101).all() and (finite <= 21001231).all() and (finite % 1 == 0).all():
        text = series.map(lambda v: f"{v:.0f}" if np.isfinite(v) else None)
        return pd.DatetimeIndex(pd.to_datetime(text, format="%Y%m%d", utc=True))
    top = float(np.abs(finite).max()) if len(finite) else 0.0
    low = float(np.abs(finite).min()) if len(finite) else 0.0
    if low < 1e8:  # epoch seconds before 1973: rather a day count, an index or a YYYYMMDD date than a time
        raise ValueError(f"numbers such as {low:g} are neither epoch times nor YYYYMMDD dates")
    unit = next(u for bound, u in EPOCH_UNITS if top < bound)
    if unit != next(u for bound, u in EPOCH_UNITS if low < bound):  # each unit's band spans 1973 to 5138
        raise ValueError(f"epoch times such as {low:g} and {top:g} are in different units (s, ms, us, ns)")
    return pd.DatetimeIndex(pd.to_datetime(series, unit=unit, utc=True))


def slash_day_first(texts: pd.Series) -> bool:
    """Whether the slash dates among `texts` (02/03/2015) are day first, as the file itself says: a first number
    above 12 somewhere means day first, a second one month first; no slash date: False. ValueError when the file
    says both, or nothing (every one of them could be either): guessing would move dates by months, silently."""
    found = texts.astype(str).str.extract(SLASH_DATE).dropna().astype(int)
    if found.empty:
        return False
    day_first, month_first = bool((found[0] > 12).any()), bool((found[1] > 12).any())
    if day_first != month_first:
        return day_first
    example = texts[found.index[0]]
    why = "some day first, some month first" if day_first else "each could be day or month first"
    raise ValueError(f"dates such as {example!r} are ambiguous ({why})")


def find_gaps(index: pd.DatetimeIndex, interval: str) -> tuple[int, pd.Timedelta | None]:
    """Unexpected holes in sorted UTC bar times: (count, largest spacing among them or None).

    Intraday: spacing above the interval between two bars of the same UTC day (nights, weekends and
    holidays are not holes), or between any two bars of a market that trades round the clock (`round_the_clock`:
    an outage of a crypto feed from one day into the next was no hole, a review). Daily and weekly: more than
    interval + 3 calendar days between bar dates.
    """
    step = interval_step(interval)
    if len(index) < 2:
        return 0, None
    spacing = index[1:] - index[:-1]
    days = index[1:].normalize() - index[:-1].normalize()  # calendar days: DST shifts do not count
    if step < pd.Timedelta(days=1):
        hole = (spacing > step) & ((days == pd.Timedelta(0)) | round_the_clock(index, spacing, step))
    else:
        hole = days > step + pd.Timedelta(days=CLOSED_DAYS)
    count = int(np.count_nonzero(hole))
    return count, (spacing[hole].max() if count else None)


# Of a round-the-clock market's intraday spacings at most this share exceeds its interval (its outages); a market
# that closes has one such spacing a session at least: 1 in 7 hourly bars of a stock, 1 in 23 of a future.
ROUND_THE_CLOCK_HOLES = 0.02


def round_the_clock(index: pd.DatetimeIndex, spacing: pd.TimedeltaIndex, step: pd.Timedelta) -> bool:
    """Whether sorted intraday bar times show a market that never closes (a crypto pair): bars on Saturdays and on
    Sundays (UTC), and hardly a spacing longer than the interval. Both days: FX and futures open on Sunday evening
    (UTC) and shut at weekends, which a Sunday alone counted as gaps, one a week (a review of this rule)."""
    days = set(index.day_of_week)
    return {5, 6} <= days and float(np.mean(spacing > step)) <= ROUND_THE_CLOCK_HOLES


def column_names(df: pd.DataFrame) -> dict[str, object]:
    """Lower-cased, stripped column name (MetaTrader's <> dropped) -> the column's own name; the first of equal
    names wins. A column used here under another name (ALIASES) answers to its name too, where that is absent."""
    names: dict[str, object] = {}
    for column in df.columns:
        names.setdefault(_plain(column), column)
    for name, others in [*ALIASES.items(), ("close", ADJUSTED_CLOSE)]:  # an adjusted close: after every other
        found = next((names[other] for other in others if other in names), None)
        if name not in names and found is not None and not (name == "timestamp" and "date" in names):
            names[name] = found
    return names
