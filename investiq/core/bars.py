"""Cleaning OHLCV bars from any source into one shape: UTC, sorted, unique, float64, no made-up rows.

Rows that cannot be used are dropped and counted; holes in the series are counted, never filled,
because a forecast trained or served on interpolated prices would learn from prices that never
traded. What a file's columns are is read by bar_columns.py, its times by bar_times.py, its prices by
bar_numbers.py; intervals, spacing and holes are bar_intervals.py's. `investiq.core.market` re-exports what
loading bars needs (clean_bars, find_gaps, CleaningReport...); the rest is imported from those modules.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]

from investiq.core.bar_columns import PRICES, column_names, plain_name
from investiq.core.bar_intervals import find_gaps, interval_step, is_daily
from investiq.core.bar_numbers import decimal_comma, numbers, unreadable_closes
from investiq.core.bar_times import bar_times
from investiq.core.errors import DataError
from investiq.core.splits import RATIOS as SPLIT_RATIOS
from investiq.core.splits import SPLIT_MOVE

# A one-bar move beyond this factor either way (log return +-0.69) is reported: a 2:1 split or more in prices
# that are not split-adjusted looks like a crash the model would learn from. Kept, since real crashes happen.
JUMP_FACTOR = 2.0
# A stock split moves the unadjusted price by its ratio times the day's own move: a 2:1 split on a +4 % day is
# x0.52, inside x2 or /2. So a move within SPLIT_MOVE of a split ratio (investiq/core/splits.py, as the gateway's
# warnings: forward n:1, 3:2, 5:2; a reverse split is the inverse) is reported too. A -40 % day (x0.6) is near
# none of them.


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
        close_column="" if plain_name(written) == "close" else written,
    )
    return frame, report


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
