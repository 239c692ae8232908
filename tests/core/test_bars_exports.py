"""Bar files as people export them, from a review of the training-data path: thousands grouped by spaces,
apostrophes and no-break spaces; cells that read as no number; an adjusted close alone; a Ticker column; a
trailing empty row; errors that name file lines; --csv with --symbols and --interval."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
import pytest

from investiq.core import market
from investiq.core.bar_files import load_csv
from investiq.core.errors import DataError
from investiq.core.market import clean_bars

DAYS = pd.bdate_range("2020-01-01", periods=60)
CLOSES = 900.0 + 5.0 * np.arange(60)  # 900 to 1195: a third of them need a thousands separator


def written(path: Path, cells: list[str], header: str = "Date,Close") -> Path:
    path.write_text(header + "\n" + "".join(f"{d:%Y-%m-%d},{c}\n" for d, c in zip(DAYS, cells, strict=True)))
    return path


@pytest.mark.parametrize("mark", [" ", "'", "\u00a0", "\u202f"])
def test_thousands_grouped_by_a_space_an_apostrophe_or_a_no_break_space_are_read(tmp_path: Path, mark: str):
    """Read as no number, those closes were dropped and the rest trained on: a 5,031-row file kept its 503 closes
    under 1,000, with holes of 5 years (a review)."""
    cells = [f"{c:,.2f}".replace(",", mark) for c in CLOSES]
    frame, report = clean_bars(load_csv(written(tmp_path / "grouped.csv", cells)), "X", "1d")
    assert frame["close"].tolist() == CLOSES.tolist()
    assert (report.rows_out, report.nan_rows, report.gaps) == (60, 0, 0)


def test_a_decimal_comma_with_thousands_grouped_by_spaces_is_read(tmp_path: Path):
    """French and Swiss spreadsheets: 1 234,56 (a narrow no-break space) beside 984,54."""
    cells = [f'"{c:,.2f}"'.replace(",", "X").replace(".", ",").replace("X", "\u202f") for c in CLOSES]
    frame, _ = clean_bars(load_csv(written(tmp_path / "fr.csv", cells)), "X", "1d")
    assert frame["close"].tolist() == CLOSES.tolist()


def test_a_file_whose_closes_largely_read_as_no_number_is_refused_naming_a_cell_and_its_line(tmp_path: Path):
    """Over 5 % of the written closes unreadable: refused with one of them and its file line (the header is line
    1), not dropped and the rest trained on. A few are dropped and counted."""
    cells = [f"{c:.2f}" for c in CLOSES]
    for row in (10, 20, 30, 40):  # 4 of 60: 6.7 %
        cells[row] = f"{CLOSES[row]:.2f}".replace(".", "~")
    path = written(tmp_path / "odd.csv", cells)
    with pytest.raises(DataError, match=r"4 of 60 close cells read as no number, e.g. '950~00' on line 12"):
        clean_bars(load_csv(path), "X", "1d")
    cells[20] = cells[30] = cells[40] = "1000.00"
    _, report = clean_bars(load_csv(written(path, cells)), "X", "1d")  # 1 of 60: dropped and said
    assert (report.rows_out, report.nan_rows, report.unreadable) == (59, 1, 1)
    assert "1 of the NaN closes are no number InvestIQ reads" in str(report)
    assert "1 of 60 rows dropped" in report.warnings()[0]


def test_unreadable_closes_outside_the_window_asked_for_do_not_refuse_the_file(tmp_path: Path):
    """The oldest rows of a file written another way ("100.13 USD") refused it though --days left them out (a
    review of the 5 % rule): only the rows inside the window count."""
    cells = [f"{c:.2f} USD" if i < 30 else f"{c:.2f}" for i, c in enumerate(CLOSES)]
    path = written(tmp_path / "old_rows.csv", cells)
    loaded = market.load_bars("csv", ["X"], days=30, interval="1d", cache_dir=tmp_path, csv_path=path)
    frame, report = loaded["X"]
    assert frame["close"].tolist() == CLOSES[-len(frame) :].tolist() and report.unreadable == 0
    with pytest.raises(DataError, match="30 of 60 close cells read as no number"):
        market.load_bars("csv", ["X"], days=3650, interval="1d", cache_dir=tmp_path, csv_path=path)


def test_an_adjusted_close_is_read_where_there_is_no_close_and_the_report_says_so(tmp_path: Path):
    """yfinance's auto-adjusted downloads write Adj Close alone: the file was refused for lacking a close."""
    cells = [f"{c:.2f}" for c in CLOSES]
    frame, report = clean_bars(load_csv(written(tmp_path / "adj.csv", cells, "Date,Adj Close")), "X", "1d")
    assert frame["close"].tolist() == CLOSES.tolist()
    assert report.close_column == "Adj Close"
    assert "closes read from the 'Adj Close' column (the file has no close column)" in str(report)
    both = tmp_path / "both.csv"  # a close beside it is the close read
    both.write_text("Date,Close,Adj Close\n2020-01-01,10,5\n2020-01-02,11,6\n")
    frame, report = clean_bars(load_csv(both), "X", "1d")
    assert (frame["close"].tolist(), report.close_column) == ([10.0, 11.0], "")


def test_a_ticker_column_names_the_symbols_and_is_never_read_as_one_series(tmp_path: Path):
    """yfinance's long format names its symbol column Ticker. A file of two read as one series (1,499 split-like
    moves, trained on), or was refused as bars "0 days apart"."""
    from investiq.core.settings import Settings
    from investiq.ops.patchtst import choose_bars

    path = tmp_path / "long.csv"
    path.write_text(
        "Date,Ticker,Close\n"
        + "".join(
            f"{d:%Y-%m-%d},{t},{c:.2f}\n"
            for t, k in (("SPX", 1), ("NDX", 3))
            for d, c in zip(DAYS, k * CLOSES, strict=True)
        )
    )
    assert choose_bars(Settings(), "csv", (), None, None, path, log=lambda _: None).symbols == ("NDX", "SPX")
    with pytest.raises(
        DataError, match=r"bars for SPX hold rows of 2 symbols in their 'Ticker' column \(NDX, SPX\)"
    ):
        clean_bars(pd.read_csv(path), "SPX", "1d")  # rows not split by symbol: never one series


def test_a_trailing_empty_row_is_dropped_and_errors_name_file_lines(tmp_path: Path):
    """A `,,,,,` line after the bars refused the whole file ("an empty timestamp in row 1500"); a row with a close
    and no time is still refused, by its file line (it was the 0-based data row: "row 10" for line 12)."""
    path = tmp_path / "trailing.csv"
    path.write_text(
        "timestamp,open,close\n"
        + "".join(f"{d:%Y-%m-%d},{c},{c}\n" for d, c in zip(DAYS, CLOSES, strict=True))
        + ",,\n"
    )
    frame, report = clean_bars(load_csv(path), "X", "1d")
    assert (len(frame), report.rows_in, report.blank, report.nan_rows) == (60, 61, 1, 0)
    assert report.warnings() == []  # nothing a reader must know
    lines = path.read_text().splitlines()
    lines[11] = ",1500,1500"  # line 12: a close without a time
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"bars for X have an empty timestamp on line 12; fill or remove that row"):
        clean_bars(load_csv(path), "X", "1d")


def test_an_unquoted_thousands_separator_is_named_not_the_times_blamed(tmp_path: Path):
    """`2013-01-16,1,472.63` under `timestamp,close`: pandas takes the date for an index and 1 for the time, and
    the error said "numbers such as 1 are neither epoch times nor YYYYMMDD dates"."""
    path = tmp_path / "unquoted.csv"
    path.write_text(
        "timestamp,close\n" + "".join(f"{d:%Y-%m-%d},{1000 + c:,.2f}\n" for d, c in zip(DAYS, CLOSES, strict=True))
    )
    with pytest.raises(
        DataError, match=r"line 2 holds 3 fields where the header names 2 \('2020-01-01,1,900.0'\): an unquoted "
    ):
        clean_bars(load_csv(path), "X", "1d")


def test_a_csv_named_with_symbols_and_an_interval_is_used_whole(tmp_path: Path):
    """`--csv FILE --symbols X --interval 1d` trained on price_days' 60 days of FILE, where the file alone, or with
    either of them, is all of its history."""
    from investiq.core.settings import Settings
    from investiq.ops.patchtst import choose_bars

    path = written(tmp_path / "x.csv", [f"{c:.2f}" for c in CLOSES])
    logged: list[str] = []
    bars = choose_bars(Settings(), None, ("X",), None, "1d", path, log=logged.append)
    assert (bars.source, bars.symbols, bars.interval, bars.days) == ("csv", ("X",), "1d", market.SAMPLE_DAYS)
    assert logged == [f"{path}: X (as given), 1d bars (as given), all of its history"]
    assert choose_bars(Settings(), None, ("X",), 30, "1d", path, log=logged.append).days == 30


def test_a_csv_other_than_the_settings_one_is_the_files_to_describe(tmp_path: Path):
    """With price_source csv in the settings, `--csv OTHER` trained on the settings' symbols, interval and 60 days
    ("no rows for SPY", an audit of scale); the settings' own file keeps their description."""
    from investiq.core.settings import Settings
    from investiq.ops.patchtst import choose_bars

    path = written(tmp_path / "x.csv", [f"{c:.2f}" for c in CLOSES])
    mine = written(tmp_path / "mine.csv", [f"{c:.2f}" for c in CLOSES])
    settings = Settings(price_source="csv", price_csv=mine, price_symbols=["SPY"], price_days=60)
    other = choose_bars(settings, None, (), None, None, path, log=lambda _: None)
    assert (other.symbols, other.days, other.csv_path) == (("x",), market.SAMPLE_DAYS, path)  # its name
    same = choose_bars(settings, None, (), None, None, tmp_path / "." / "mine.csv", log=lambda _: None)
    assert (same.symbols, same.days) == (("SPY",), 60)


def test_a_ticker_column_splits_the_file_like_a_symbol_column(tmp_path: Path):
    """yfinance's long format: `Ticker` is read as the symbol column, as text (0700 keeps its zero)."""
    path = tmp_path / "long.csv"
    path.write_text(
        "Date,Ticker,Close\n"
        + "".join(
            f"{d:%Y-%m-%d},{t},{c:.2f}\n" for t in ("0700", "NDX") for d, c in zip(DAYS, CLOSES, strict=True)
        )
    )
    loaded = market.load_bars("csv", ["0700", "NDX"], days=30, interval="1d", cache_dir=tmp_path, csv_path=path)
    assert [len(frame) for frame, _ in loaded.values()] == [22, 22]


def test_an_unquoted_thousands_separator_past_the_first_row_is_named(tmp_path: Path):
    path = tmp_path / "unquoted.csv"
    path.write_text("timestamp,close\n2020-01-01,999.50\n2020-01-02,1,000.50\n")
    with pytest.raises(DataError, match=r"Expected 2 fields in line 3, saw 3: an unquoted thousands separator"):
        load_csv(path)


def test_an_empty_last_row_is_not_counted_as_outside_the_window(tmp_path: Path):
    path = written(tmp_path / "trailing.csv", [f"{c:.2f}" for c in CLOSES])
    path.write_text(path.read_text() + ",\n")
    _, report = market.load_bars("csv", ["X"], days=3650, interval="1d", cache_dir=tmp_path, csv_path=path)["X"]
    assert (report.rows_in, report.rows_out, report.blank, report.older_rows) == (61, 60, 1, 0)


def test_the_cleaning_of_many_symbols_is_logged_where_it_found_something_and_in_total(tmp_path: Path):
    """A line a symbol: a 100-symbol file logged 100 lines of '0 ... dropped' (an audit of scale)."""
    from investiq.core.settings import Settings
    from investiq.ops.patchtst import MAX_CLEANING_LINES, choose_bars, loaded_series

    n = MAX_CLEANING_LINES + 2
    rows = [f"{d:%Y-%m-%d},S{k:02d},{c:.2f}" for k in range(n) for d, c in zip(DAYS, CLOSES, strict=True)]
    rows.append(f"{DAYS[3]:%Y-%m-%d},S05,-1")  # S05: one row dropped
    path = tmp_path / "many.csv"
    path.write_text("Date,symbol,Close\n" + "\n".join(rows) + "\n")
    logged: list[str] = []
    bars = choose_bars(Settings(data_dir=tmp_path), None, (), None, "1d", path, log=lambda _: None)
    loaded_series(Settings(data_dir=tmp_path), bars, logged.append)
    assert [line.split(":")[0] for line in logged] == ["S05", f"{n} symbols"], logged
