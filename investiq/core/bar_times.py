"""The times of a bar file's rows, however it writes them (ISO with or without offsets, local days, a date and
a time of day, epoch numbers, YYYYMMDD, slash dates day or month first), as UTC; errors name the file's line."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
from numpy.typing import NDArray

from investiq.core.bar_columns import TIME_COLUMNS, column_names, empty_cells
from investiq.core.errors import DataError

OFFSET = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[+-]\d{2}:?\d{2}|Z)$"  # ISO, with offset
# Numeric timestamps: epoch seconds, milliseconds, microseconds or nanoseconds, told apart by magnitude (the
# largest below each bound; a date from 1973 to 5138 in that unit), or YYYYMMDD integers (19000101-21001231).
EPOCH_UNITS = ((1e11, "s"), (1e14, "ms"), (1e17, "us"), (float("inf"), "ns"))
# 02/03/2015, 02.03.2015, 02-03-2015: 2 March or February 3, as the file decides (slash_day_first)
SLASH_DATE = r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-]\d{2,4}"
STRAY_ROWS = 5  # at most this many rows that are no time (a footer, a note) are named as such


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
    return empty_cells(df[time]) & empty_cells(df[names["close"]])


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
