"""Kill tests of a mutation audit of investiq/ops/resolve.py (`investiq resolve`) and investiq/core/bar_columns.py
(which column of a bar file is the close, the time, ...): each docstring names the mutant(s) it fails with,
"file:function: X -> Y (what went unseen)"."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from investiq.core.bar_columns import column_names
from investiq.core.bars import clean_bars
from investiq.core.journal import JournalWriter, open_journal
from investiq.core.journal.predictions import PriceRow, insert_price
from investiq.core.journal.schema import MIGRATIONS, SCHEMA_VERSION
from investiq.core.settings import Settings
from investiq.ops import resolve as resolve_module
from investiq.ops.resolve import resolve

# -- resolve.py ---------------------------------------------------------------------------------------------------


def settings_on(tmp_path: Path) -> Settings:
    return Settings(
        db_path=tmp_path / "portfolio.db", data_dir=tmp_path / "data", model_repository=tmp_path / "repository"
    )


def journal_with_a_due_forecast(settings: Settings) -> None:
    """A journal holding one one-day forecast of AAA, due long ago."""
    open_journal(settings.db_path).close()
    writer = JournalWriter(settings.db_path)
    writer.start()
    closed = "2026-01-05T00:00:00+00:00"
    row = PriceRow(
        closed, "AAA", "patchtst", "v1", "1d", 1, 100.0, closed, 101.0, 0.01, "up", 0.6, "[]",
        "2026-01-06T00:00:00+00:00", 3.0,
    )  # fmt: skip
    try:
        writer.submit(insert_price([row])).result()
    finally:
        writer.close()


def bar_file(tmp_path: Path) -> Path:
    path = tmp_path / "bars.csv"
    path.write_text("symbol,date,close\nAAA,2026-01-04,100\nAAA,2026-01-05,103\n")
    return path


def test_resolve_migrates_a_journal_an_older_release_left(tmp_path: Path) -> None:
    """resolve.py:resolve, `init_journal(settings)` dropped (a journal one release old was read unmigrated: its
    schema version stayed behind, and the resolver's queries met the old tables)."""
    settings = settings_on(tmp_path)
    conn = sqlite3.connect(settings.db_path, isolation_level=None)
    for statements in MIGRATIONS[: SCHEMA_VERSION - 1]:
        for statement in statements:
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION - 1}")
    conn.close()
    report = resolve(settings)
    assert (report.resolved, report.waiting, report.errors) == (0, 0, {})
    with sqlite3.connect(settings.db_path) as after:
        assert after.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


class Writers:
    """JournalWriter as resolve.py makes it, each close counted."""

    def __init__(self) -> None:
        self.made: list[JournalWriter] = []
        self.closed = 0

    def writer(self, *args: Any) -> JournalWriter:
        counter = self

        class Counted(JournalWriter):
            def close(self, timeout: float = 10.0) -> None:
                counter.closed += 1
                super().close(timeout)

        made = Counted(*args)
        self.made.append(made)
        return made


def test_the_journal_writer_is_closed_after_a_pass_and_after_a_failed_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """resolve.py:resolve, `writer.close()` in `finally` dropped (each pass left its writer thread and its
    connection open: a scheduler calling resolve in-process gathered them)."""
    settings = settings_on(tmp_path)
    journal_with_a_due_forecast(settings)
    writers = Writers()
    monkeypatch.setattr(resolve_module, "JournalWriter", writers.writer)
    assert resolve(settings, bar_file(tmp_path)).resolved == 1
    assert (len(writers.made), writers.closed) == (1, 1)

    def failing(*args: Any) -> None:
        raise RuntimeError("the pass failed")

    monkeypatch.setattr(resolve_module, "resolve_due", failing)
    with pytest.raises(RuntimeError, match="the pass failed"):
        resolve(settings)
    assert (len(writers.made), writers.closed) == (2, 2)


def test_the_series_are_resolved_through_a_progress_bar_that_a_log_never_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """resolve.py:resolve, the progress callable not passed to resolve_due (minutes at a thousand symbols with
    nothing said), or tqdm's `disable=None` made False / `leave=False` made True (a bar written into a cron log,
    or left on the terminal)."""
    settings = settings_on(tmp_path)
    journal_with_a_due_forecast(settings)
    seen: list[tuple[list[Any], dict[str, Any]]] = []

    def recording(series: list[Any], **kwargs: Any) -> Iterator[Any]:
        seen.append((list(series), kwargs))
        return iter(series)

    monkeypatch.setattr(resolve_module, "tqdm", recording)
    assert resolve(settings, bar_file(tmp_path)).resolved == 1
    assert len(seen) == 1
    series, kwargs = seen[0]
    assert [key for key, _ in series] == [("AAA", "1d")]
    assert kwargs == {"desc": "resolving", "unit": "symbol", "leave": False, "disable": None}


def test_no_progress_bar_is_written_where_stderr_is_no_terminal(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """resolve.py:resolve, tqdm's `disable=None` made False (the bar's carriage-return frames written into a
    scheduled run's log, which is no terminal)."""
    settings = settings_on(tmp_path)
    journal_with_a_due_forecast(settings)
    capfd.readouterr()
    assert resolve(settings, bar_file(tmp_path)).resolved == 1
    written = capfd.readouterr()
    assert "resolving" not in written.err and "\r" not in written.err


# -- bar_columns.py -----------------------------------------------------------------------------------------------

DAYS = ["2024-01-02", "2024-01-03"]


def cleaned(columns: dict[str, Iterable[object]]) -> tuple[pd.DataFrame, Any]:
    frame, report = clean_bars(pd.DataFrame({k: list(v) for k, v in columns.items()}), "X", "1d")
    return frame, report


def test_of_a_timestamp_and_a_datetime_column_the_timestamp_is_read() -> None:
    """bar_columns.py:TIME_COLUMNS, "datetime" put before "timestamp" (the first found wins: a file carrying both
    read its bar times from the other column)."""
    frame, _ = cleaned({"datetime": ["2023-06-01", "2023-06-02"], "timestamp": DAYS, "close": [10.0, 11.0]})
    assert [t.strftime("%Y-%m-%d") for t in frame.index] == DAYS


def test_a_last_column_is_read_as_the_close() -> None:
    """bar_columns.py:ALIASES, "last" dropped from the close's other names (a file of Date,Last was refused for
    lacking a close)."""
    frame, report = cleaned({"Date": DAYS, "Last": [10.0, 11.0]})
    assert frame["close"].tolist() == [10.0, 11.0] and report.close_column == "Last"


def test_of_two_other_names_of_the_close_the_first_listed_is_read() -> None:
    """bar_columns.py:ALIASES, the close's other names reversed ("last" before "price"), and column_names, the
    last of the other names found winning (`reversed(others)`): Price beside Last read the Last column."""
    frame, report = cleaned({"Date": DAYS, "Price": [10.0, 11.0], "Last": [20.0, 22.0]})
    assert frame["close"].tolist() == [10.0, 11.0] and report.close_column == "Price"
    assert column_names(pd.DataFrame(columns=["Close/Last", "Price", "Last"]))["close"] == "Close/Last"


def test_column_names_with_spaces_around_them_are_read() -> None:
    """bar_columns.py:plain_name, `.strip()` dropped (a header written "Date, Close" found neither its time nor
    its close)."""
    assert column_names(pd.DataFrame(columns=[" Date", " Close "])) == {"date": " Date", "close": " Close "}
    frame, report = cleaned({" Date": DAYS, " Close": [10.0, 11.0]})
    assert frame["close"].tolist() == [10.0, 11.0] and report.close_column == ""
