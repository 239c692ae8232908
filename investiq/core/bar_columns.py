"""The columns of a bar file or frame: which column is the close, the time, the volume, whatever the export
calls them (`column_names`), and which cells are empty."""

from __future__ import annotations

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
from numpy.typing import NDArray

PRICES = ("open", "high", "low", "close")
COLUMNS = [*PRICES, "volume"]
TIME_COLUMNS = ("timestamp", "datetime", "date")  # first found wins (date + a time column: both); else the index
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


def plain_name(name: object) -> str:
    """A column's name as column_names compares it: lower-cased, stripped, MetaTrader's <> dropped."""
    return str(name).strip().lower().removeprefix("<").removesuffix(">")


def empty_cells(values: pd.Series) -> NDArray[np.bool_]:
    """Cells that are missing or blank."""
    return np.asarray(values.isna().to_numpy() | (values.astype(str).str.strip() == "").to_numpy(), dtype=bool)


def column_names(df: pd.DataFrame) -> dict[str, object]:
    """Lower-cased, stripped column name (MetaTrader's <> dropped) -> the column's own name; the first of equal
    names wins. A column used here under another name (ALIASES) answers to its name too, where that is absent."""
    names: dict[str, object] = {}
    for column in df.columns:
        names.setdefault(plain_name(column), column)
    for name, others in [*ALIASES.items(), ("close", ADJUSTED_CLOSE)]:  # an adjusted close: after every other
        found = next((names[other] for other in others if other in names), None)
        if name not in names and found is not None and not (name == "timestamp" and "date" in names):
            names[name] = found
    return names
