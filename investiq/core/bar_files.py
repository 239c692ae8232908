"""Bar files: CSV (plain or compressed) as people export them, one symbol or many (a symbol column), Binance
klines and yfinance's own layout, read into raw bars (investiq.core.bars cleans them)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd  # type: ignore[import-untyped, unused-ignore]

from investiq.core.bar_columns import TIME_COLUMNS, column_names
from investiq.core.bar_intervals import SpacingError, interval_of, median_spacing
from investiq.core.bar_times import bar_times
from investiq.core.errors import DataError


def load_csv(path: Path, symbol: str | None = None) -> pd.DataFrame:
    """Raw bars from a CSV file with a 'timestamp' (or 'date'/'datetime') column, a close column and optionally
    open, high, low and volume (names case-insensitive). With a 'symbol' column, `symbol` picks its
    rows (case-insensitive); a file of several symbols needs one. Rows are not cleaned."""
    return symbol_rows(read_bar_csv(path), path, symbol)


def read_bar_csv(path: Path) -> pd.DataFrame:
    """Every row of the bar file at `path` (load_csv), its columns checked. A 'symbol' column is read as text,
    as written: a ticker such as 0700 keeps its zeros, and NA or NULL (real tickers) are not missing values."""
    try:
        separator = _separator(path)
        frame = pd.read_csv(path, sep=separator)
        labels = column_names(frame).get("symbol")  # a 'symbol' column, or yfinance's 'Ticker'
        if labels is not None:  # read again as text, that column alone
            text = pd.read_csv(path, sep=separator, usecols=[labels], dtype=str, keep_default_na=False)
            frame[labels] = text[labels]
        if _no_header(frame):
            frame = _binance_klines(path, separator, frame)
    except DataError:
        raise
    except (OSError, ValueError) as exc:  # pandas' parser and empty-file errors are ValueErrors
        reason = getattr(exc, "strerror", None) or str(exc).splitlines()[0]
        if re.search(r"Expected \d+ fields in line \d+, saw \d+", reason):  # more fields than the header names
            reason += ": an unquoted thousands separator, as in 1,472.63? Quote such numbers or drop the separator"
        raise DataError(f"cannot read CSV {path}: {reason}") from None
    frame = _from_yfinance_layout(frame)
    columns = column_names(frame)
    missing = [] if "close" in columns else ["close"]  # open, high and low are optional (only the close is used)
    if not any(c in columns for c in TIME_COLUMNS):
        missing.insert(0, "timestamp (or date/datetime)")
    if missing:
        found = ", ".join(map(str, frame.columns)) or "none"
        raise DataError(f"CSV {path} lacks column(s) {', '.join(missing)} (found: {found})")
    return frame


# Binance's kline files (data.binance.vision) have no header row: their twelve columns, in order. Open times are
# epoch milliseconds, or microseconds in spot files from 2025 on.
BINANCE_KLINES = (
    "timestamp",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "trades",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
)
NUMBER = re.compile(r"[-+]?\d+(\.\d*)?([eE][-+]?\d+)?(\.\d+)?")  # the last part: pandas' suffix on a repeat


def _no_header(frame: pd.DataFrame) -> bool:
    """Whether the file's first line, read as the header, was data: every column named by a number."""
    return len(frame.columns) > 1 and all(NUMBER.fullmatch(str(c).strip()) for c in frame.columns)


def _binance_klines(path: Path, separator: str, frame: pd.DataFrame) -> pd.DataFrame:
    """A bar file without a header row, read as Binance's klines (open times as epoch milliseconds, whether
    written in ms or in µs, so that a year of each in one file is one series); DataError for any other width."""
    if len(frame.columns) != len(BINANCE_KLINES):
        raise DataError(
            f"CSV {path} has no header row: its first line holds {len(frame.columns)} numbers. Add a header "
            "line naming the columns, e.g. timestamp,open,high,low,close,volume (Binance's 12-column kline "
            "files are read without one)"
        )
    klines = pd.read_csv(path, sep=separator, header=None, names=list(BINANCE_KLINES))
    opened = pd.to_numeric(klines["timestamp"], errors="coerce")
    klines["timestamp"] = opened.where(opened < 1e14, opened // 1000)  # µs (>= 1e14 from 1973) to ms
    return klines


def csv_outline(path: Path, chosen: Sequence[str] = ()) -> tuple[tuple[str, ...], str]:
    """What a bar file holds when nobody said: its symbols as written (the file's name when it has no symbol
    column) and the interval its bars are spaced at (each symbol's median spacing, of the `chosen` symbols where
    given; bars.interval_of). SpacingError when a spacing is no interval InvestIQ takes; DataError when the
    symbols' intervals differ (one model forecasts bars of one interval)."""
    frame = read_bar_csv(path)
    names = column_names(frame)
    if "symbol" in names:
        written = frame[names["symbol"]].fillna("").astype(str).str.strip()
        symbols = tuple(sorted(set(written) - {""}))
        wanted = {c.strip().upper() for c in chosen}
        of = {s: frame[written == s] for s in symbols}
        rows = {s: part for s, part in of.items() if s.upper() in wanted} if wanted else of
        if wanted and not rows:
            present = ", ".join(symbols) or "none (its symbol column is blank)"
            raise DataError(f"CSV {path} holds none of {', '.join(chosen)}: its symbols are {present}")
        rows = rows or {"": frame}
    else:
        symbols, rows = (named_symbol(path),), {named_symbol(path): frame}
    intervals: dict[str, str] = {}
    for symbol, part in rows.items():
        times = bar_times(part, symbol or named_symbol(path)).sort_values()
        if len(times) < 2:  # no spacing to read an interval from ("bars ... are 0 days apart" said nothing)
            name = symbol or named_symbol(path)
            raise DataError(f"CSV {path}: {len(times)} bar(s) of {name}; it takes 2 or more to read an interval")
        spacing = median_spacing(times)
        interval = interval_of(spacing)
        if interval is None:
            raise SpacingError(symbol or named_symbol(path), None, spacing, None)
        intervals[symbol] = interval
    if len(set(intervals.values())) > 1:
        spaced = ", ".join(f"{s} {i}" for s, i in list(intervals.items())[:8])
        more = f" and {len(intervals) - 8} more" if len(intervals) > 8 else ""
        raise DataError(
            f"CSV {path} mixes bar intervals ({spaced}{more}): one model forecasts bars of one interval; pass "
            "--symbols with those of one interval (and --interval)"
        )
    return symbols, next(iter(intervals.values()))


COMPRESSED = (".gz", ".bz2", ".zip", ".xz", ".zst")  # what pandas reads a bar file through


def named_symbol(path: Path) -> str:
    """The symbol a bar file without a symbol column holds: its name without the extension, and without a
    compression's ("QQQ.csv.gz" is QQQ's, not "QQQ.csv"'s; a review)."""
    plain = path.with_suffix("") if path.suffix.lower() in COMPRESSED else path
    return plain.stem


def _separator(path: Path) -> str:
    """The field separator of a bar file, from its first line: a comma where there is one, else a semicolon (as
    spreadsheets write where the comma is the decimal sign), a tab (MetaTrader) or a bar; else a comma."""
    with path.open(encoding="utf-8", errors="replace") as handle:
        first = handle.readline()
    return next((sep for sep in (",", ";", "\t", "|") if sep in first), ",")


def symbol_rows(frame: pd.DataFrame, path: Path, symbol: str | None) -> pd.DataFrame:
    """The rows of `symbol` (case-insensitive) in a bar file's `frame` (read_bar_csv); all of them when the file
    has no 'symbol' column, or `symbol` is None and it names one symbol. A blank symbol is none."""
    return symbols_rows(frame, path, [symbol] if symbol is not None else None)[symbol]


def symbols_rows(frame: pd.DataFrame, path: Path, symbols: Sequence[str] | None) -> dict[str | None, pd.DataFrame]:
    """symbol_rows of each of `symbols` (None: of the one the file names); the file split by symbol once."""
    if "symbol" not in column_names(frame):  # 'symbol', or yfinance's 'Ticker'
        keys: list[str | None] = [*symbols] if symbols is not None else [None]
        return dict.fromkeys(keys, frame)
    split = BySymbol(frame, path)
    if symbols is None:
        if len(split.groups) > 1:
            raise DataError(f"CSV {path} holds several symbols ({split.present}); name one")
        return {None: next(iter(split.groups.values()), frame)}
    return {symbol: split.rows(symbol) for symbol in symbols}


class BySymbol:
    """A bar file's `frame` with a symbol column, split by symbol once: each symbol's rows by how it is asked."""

    def __init__(self, frame: pd.DataFrame, path: Path) -> None:
        labels = frame[column_names(frame)["symbol"]].fillna("").astype(str).str.strip()
        self.groups: dict[str, pd.DataFrame] = dict(tuple(frame.groupby(labels.to_numpy(), sort=True)))
        self.groups.pop("", None)
        self.present = ", ".join(map(str, self.groups)) or "none (its symbol column is blank)"
        self.path = path

    def rows(self, symbol: str) -> pd.DataFrame:
        """The rows of `symbol`, case-insensitive (`_spelling`)."""
        return self.groups[_spelling(symbol.strip(), list(self.groups), self.path, self.present)]


def _spelling(symbol: str, written: list[str], path: Path, present: str) -> str:
    """How the file writes `symbol`: as given, else the one spelling that differs from it only in case. DataError
    when there is none, or several (abc and ABC are two symbols: their rows must not be mixed)."""
    if symbol in written:
        return symbol
    matches = [name for name in written if name.upper() == symbol.upper()]
    if not matches:
        raise DataError(f"CSV {path} has no rows for {symbol}; its symbols are {present}")
    if len(matches) > 1:
        raise DataError(
            f"CSV {path} has symbols that differ only in case ({', '.join(matches)}): name one as it is written"
        )
    return matches[0]


def _from_yfinance_layout(frame: pd.DataFrame) -> pd.DataFrame:
    """A CSV written by yfinance's `download(...).to_csv()` has three header rows (`Price,Close,...`,
    `Ticker,AAPL,...`, `Date,,...`; with `group_by="ticker"` the first two swapped): its bars with one header,
    one `symbol` column when it holds several tickers. Any other frame is returned as it is."""
    if len(frame) < 2:
        return frame
    first, second = str(frame.columns[0]).strip().lower(), str(frame.iat[0, 0]).strip().lower()
    if {first, second} != {"price", "ticker"}:
        return frame
    time_name = str(frame.iat[1, 0]).strip() or "timestamp"  # Date, or Datetime for intraday bars
    header = [re.sub(r"\.\d+$", "", str(c)) for c in frame.columns[1:]]  # pandas names repeats Close.1, ...
    row = [str(t).strip() for t in frame.iloc[0, 1:]]
    fields, tickers = (header, row) if first == "price" else (row, header)
    body = frame.iloc[2:].reset_index(drop=True)
    parts = []
    for name in dict.fromkeys(tickers):
        part = pd.DataFrame({time_name: body.iloc[:, 0]})
        for i, (field, owner) in enumerate(zip(fields, tickers, strict=True)):
            if owner == name:
                part[field] = body.iloc[:, 1 + i]
        if len(set(tickers)) > 1:
            part["symbol"] = name
        parts.append(part)
    return pd.concat(parts, ignore_index=True)
