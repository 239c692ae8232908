"""Kill tests of a mutation audit of the journal (writer, connection, predictions, trades): each fails with the
mutant its docstring names applied, and passes on the code as it is."""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from investiq.core.journal import JournalError, JournalWriter, connect, open_journal, require_journal, trades
from investiq.core.journal import writer as writer_module
from investiq.core.journal.predictions import (
    SentimentRow,
    _after_every_stamp,
    due_price_predictions,
    insert_sentiment,
    pending_price_predictions,
    prune,
    resolve_price,
    resolved_in_window,
    sentiment_labels_by_day,
)
from investiq.core.names import MAX_NAME
from tests.core.test_journal import _forecasts, _insert, writer  # noqa: F401  (writer: a fixture)


def test_a_log_refused_as_busy_is_queued_again_like_a_locked_one(writer: JournalWriter, db_path: Path):  # noqa: F811
    """writer.py:_locked: "busy" no longer taken for the lock, so such a log is dropped, not retried."""
    busy = sqlite3.OperationalError("database is busy")
    first, second = threading.Event(), threading.Event()

    def job(conn: sqlite3.Connection) -> int:
        if not first.is_set():
            first.set()
            raise busy
        second.set()
        return int(_insert("retried")(conn))

    writer.log(job)
    assert first.wait(5)
    assert second.wait(5), "the log was not tried again"
    writer.flush()
    names = [r[0] for r in sqlite3.connect(db_path).execute("SELECT strategy_name FROM bayesian_state")]
    assert names == ["retried"] and writer.failed == 0


def test_a_success_in_the_same_clock_tick_as_a_failure_clears_failing(
    writer: JournalWriter,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
):
    """writer.py:JournalWriter.failing: `<` as `<=`, a success at the failure's clock reading still failing."""
    monkeypatch.setattr(writer_module, "time", SimpleNamespace(time=lambda: 1000.0, monotonic=time.monotonic))
    writer.log(lambda conn: conn.execute("INSERT INTO no_such_table VALUES (1)"))
    writer.flush()
    assert writer.failing
    writer.submit(_insert("ok")).result(5)
    assert writer.last_commit_ts == writer.last_failure_ts == 1000.0 and not writer.failing


def test_the_first_damage_seen_is_the_one_kept(writer: JournalWriter):  # noqa: F811
    """writer.py:JournalWriter.saw: `self.damage is None` dropped, a later error overwrites the first damage."""
    writer.saw(sqlite3.DatabaseError("database disk image is malformed"))
    writer.saw(sqlite3.DatabaseError("file is not a database"))
    assert writer.damage == "database disk image is malformed"


def test_a_log_after_close_is_counted_as_failed(db_path: Path):
    """writer.py:JournalWriter.log: a log refused by a stopped writer dropped without counting a failure."""
    open_journal(db_path).close()
    w = JournalWriter(db_path)
    w.start()
    w.close()
    w.log(_insert("late"))
    assert w.failed == 1 and "not running" in (w.last_error or "")


def test_damage_met_by_an_awaited_write_makes_the_journal_damaged(writer: JournalWriter):  # noqa: F811
    """writer.py:JournalWriter._settle: `saw` skipped for an awaited job, damage met by an update unnoticed."""

    def damaged(conn: sqlite3.Connection) -> None:
        raise sqlite3.DatabaseError("database disk image is malformed")

    with pytest.raises(sqlite3.DatabaseError):
        writer.submit(damaged).result(5)
    assert writer.damage == "database disk image is malformed"


def test_every_read_write_connection_commits_with_synchronous_full(db_path: Path):
    """connection.py:connect: synchronous FULL as NORMAL, an acknowledged update lost on power loss."""
    conn = connect(db_path)
    try:
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    finally:
        conn.close()


def _foreign(path: Path) -> Path:
    """Another program's SQLite file: one table, none of the gateway's."""
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY)")
    return path


def test_only_a_command_that_tidies_the_journal_asks_for_its_tables(tmp_path: Path):
    """connection.py:require_journal: `if not tables: return` dropped, or `isdisjoint` as `not found`."""
    other = _foreign(tmp_path / "other.db")
    require_journal(other)  # it exists: enough for a command that only reads
    with pytest.raises(JournalError, match="holds none of the gateway's tables"):
        require_journal(other, tables=True)


def test_a_read_only_connection_cannot_write(db_path: Path):
    """connection.py:connect: readonly opened with mode=rw, a reader (report, backtest) able to write."""
    open_journal(db_path).close()
    conn = connect(db_path, readonly=True)
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            conn.execute("DELETE FROM bayesian_state")
    finally:
        conn.close()


def test_a_sentiment_log_keeps_each_probability_in_its_own_column(db_path: Path):
    """predictions.py:insert_sentiment: p_positive/p_negative swapped, or `cached` inverted, in the row."""
    conn = open_journal(db_path)
    row = SentimentRow("2026-01-05T21:00:00+00:00", "AAPL", "news", "positive", 0.7, 0.6, 0.7, 0.1, 0.2, "lexicon",
                       "1", 2.0, True)  # fmt: skip
    insert_sentiment([row])(conn)
    got = conn.execute("SELECT p_positive, p_negative, p_neutral, cached FROM sentiment_predictions").fetchone()
    conn.close()
    assert tuple(got) == (0.7, 0.1, 0.2, 1)


def test_a_forecast_is_due_at_its_target_time(db_path: Path):
    """predictions.py:due_price_predictions: `target_time <= ?` as `<`, a forecast due now left unresolved."""
    conn = open_journal(db_path)
    [one] = _forecasts(conn, 1)
    due = due_price_predictions(conn, "2026-01-05T21:00:00+00:00")  # _forecasts' target time
    conn.close()
    assert [r["id"] for r in due] == [one]


def test_a_stamp_at_the_same_instant_as_the_latest_is_a_microsecond_past_it(db_path: Path):
    """predictions.py:_after_every_stamp: `stamped >= now` as `>`, a stamp equal to the latest, not past it."""
    conn = open_journal(db_path)
    ids = _forecasts(conn, 2)
    resolve_price([(ids[1], 101.0, True)], "2026-01-07T00:00:00+00:00")(conn)
    stamp = _after_every_stamp(conn, datetime(2026, 1, 7, tzinfo=timezone.utc))
    conn.close()
    assert stamp == "2026-01-07T00:00:00.000001+00:00"


def test_a_forecast_made_at_the_start_of_the_window_is_in_it(db_path: Path):
    """predictions.py:resolved_in_window: `created_at >= ?` as `>`, the window's first instant left out."""
    conn = open_journal(db_path)
    [one] = _forecasts(conn, 1)
    resolve_price([(one, 101.0, True)], "2026-01-07T00:00:00+00:00")(conn)
    rows = list(resolved_in_window(conn, "2026-01-05T21:00:00+00:00", "id"))  # _forecasts' created_at
    conn.close()
    assert [r["id"] for r in rows] == [one]


def _headlines(conn: sqlite3.Connection, made: list[str]) -> None:
    insert_sentiment(
        [
            SentimentRow(at, "AAPL", "news", "neutral", 0.6, 0.0, 0.2, 0.2, 0.6, "lexicon", "1", 1.0, False)
            for at in made
        ]
    )(conn)


def test_a_prune_batch_deletes_the_oldest_headlines_first(db_path: Path):
    """predictions.py:prune: sentiment rows ORDER BY created_at DESC, a batch deletes the newest first."""
    conn = open_journal(db_path)
    _headlines(conn, ["2026-01-03T00:00:00+00:00", "2026-01-01T00:00:00+00:00", "2026-01-02T00:00:00+00:00"])
    assert prune("2026-02-01T00:00:00+00:00", batch=1)(conn).sentiment == 1
    left = [r[0] for r in conn.execute("SELECT created_at FROM sentiment_predictions ORDER BY created_at")]
    conn.close()
    assert left == ["2026-01-02T00:00:00+00:00", "2026-01-03T00:00:00+00:00"]


def test_a_headline_scored_at_the_start_of_the_window_is_counted(db_path: Path):
    """predictions.py:sentiment_labels_by_day: `created_at >= ?` as `>`, the first instant left out."""
    conn = open_journal(db_path)
    _headlines(conn, ["2026-01-02T00:00:00+00:00"])
    got = [tuple(r) for r in sentiment_labels_by_day(conn, "2026-01-02T00:00:00+00:00")]
    conn.close()
    assert got == [("2026-01-02", "neutral", 1)]


def test_a_resolved_forecast_is_not_pending(db_path: Path):
    """predictions.py:pending_price_predictions: `resolved_at IS NULL` dropped, resolved rows pending."""
    conn = open_journal(db_path)
    ids = _forecasts(conn, 2)
    resolve_price([(ids[0], 101.0, True)], "2026-01-07T00:00:00+00:00")(conn)
    pending = pending_price_predictions(conn, "SPX", "2026-01-01T00:00:00+00:00")
    conn.close()
    assert len(pending) == 1


CLOSED = 1767348000.0  # 2026-01-02T10:00:00Z


def _trade_table() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE TABLE trades (id INTEGER PRIMARY KEY, strategy_name TEXT, closed_at TEXT, profit_loss REAL)"
    )
    conn.execute("INSERT INTO trades VALUES (1, 'trend', '2026-01-02T10:00:00Z', 5.0)")
    return conn


def test_a_trade_closed_at_either_end_of_the_window_is_in_it():
    """journal/trades.py:closed_trades: `ts > until_ts` as `>=` or `ts < since_ts` as `<=`, an end dropped."""
    conn = _trade_table()
    for since, until in ((CLOSED, CLOSED + 60), (CLOSED - 60, CLOSED)):
        scan = trades.closed_trades(conn, since, until)
        assert [(t.trade_id, t.profit_loss) for t in scan.trades] == [("1", 5.0)], (since, until)
        assert not scan.skipped


def test_an_agents_table_is_read_whatever_its_spelling_of_side_symbol_and_row_order():
    """journal/trades.py:closed_trades: MAX_NAME `>` as `>=`, symbol not ticker()'d, or the sort dropped."""
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE TABLE trades (id INTEGER PRIMARY KEY, strategy_name TEXT, symbol TEXT, side TEXT, quantity REAL, "
        "entry_price REAL, exit_price REAL, closed_at TEXT)"
    )
    longest = "s" * MAX_NAME
    conn.executemany(
        "INSERT INTO trades VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (1, "trend", " aapl ", "SELL", 2, 100, 90, "2026-01-03T10:00:00Z"),  # a short that gained 20
            (2, longest, "MSFT", "buy", 1, 100, 101, "2026-01-02T10:00:00Z"),
        ],
    )
    scan = trades.closed_trades(conn, 0, 2e9)
    assert [(t.trade_id, t.strategy_name, t.symbol, t.profit_loss) for t in scan.trades] == [
        ("2", longest, "MSFT", 1.0),
        ("1", "trend", "AAPL", 20.0),
    ]
    assert not scan.skipped


def test_a_table_with_only_some_price_columns_and_no_profit_loss_is_named_unreadable():
    """journal/trades.py:unreadable: `<= have` as `& have`, a side alone (no prices, no P&L) taken as readable."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE trades (id INTEGER PRIMARY KEY, strategy_name TEXT, side TEXT, closed_at TEXT)")
    assert trades.unreadable(conn) == (
        "the trades table lacks column(s) profit_loss (or side, quantity, entry_price, exit_price)"
    )
