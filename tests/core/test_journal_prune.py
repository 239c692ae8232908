"""Retention of prediction rows: which forecasts it may delete, in transactions short enough for the agent to write
between them, and the WAL the deletes grew given back."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from gateway.services.retention import prune_now
from investiq.core.journal import JournalWriter, connect, open_journal
from investiq.core.journal.predictions import PriceRow, Pruned, SentimentRow, insert_price, insert_sentiment
from investiq.core.journal.schema import SCHEMA_VERSION

NOW = datetime(2026, 12, 5, tzinfo=timezone.utc)


def ago(days: float) -> str:
    return (NOW - timedelta(days=days)).isoformat()


def forecast(made_days_ago: float, due_days_ago: float) -> PriceRow:
    made = ago(made_days_ago)
    return PriceRow(made, "AAPL", "patchtst", "v1", "1d", 12, 100.0, made, 101.0, 0.01, "up", 0.6, "[]",
                    ago(due_days_ago), 1.0)  # fmt: skip


def headline(made_days_ago: float) -> SentimentRow:
    return SentimentRow(ago(made_days_ago), "AAPL", "news " * 40, "neutral", 0.6, 0.0, 0.2, 0.2, 0.6, "lexicon",
                        "1", 1.0, False)  # fmt: skip


@pytest.fixture
def writer(db_path: Path) -> Iterator[JournalWriter]:
    open_journal(db_path).close()
    w = JournalWriter(db_path)
    w.start()
    yield w
    w.close()


def forecasts_left(db_path: Path) -> list[str]:
    conn = connect(db_path, readonly=True)
    try:
        return [row[0] for row in conn.execute("SELECT target_time FROM price_predictions ORDER BY id")]
    finally:
        conn.close()


def test_a_forecast_not_due_yet_is_kept_however_long_ago_it_was_made(writer: JournalWriter, db_path: Path):
    """Retention 7 days, a daily model's 12-bar horizon: made 8 days ago, due in 4, it was deleted as 'never
    resolved' before its outcome could come (a review). Only one due before the cutoff too can no longer be."""
    pending, overdue = forecast(8, -4), forecast(20, 8)
    writer.submit(insert_price([pending, overdue])).result(5)
    assert prune_now(writer, 7, NOW) == Pruned(0, 1)
    assert forecasts_left(db_path) == [pending.target_time]


def test_a_prune_deletes_in_transactions_of_a_few_rows_each(writer: JournalWriter, db_path: Path):
    """One DELETE of a long history held the write lock for seconds, past the agent's busy timeout (a review):
    `batch` rows of a table per writer job, each committed on its own."""
    writer.submit(insert_sentiment([headline(30 + i) for i in range(5)] + [headline(1)])).result(5)
    writer.submit(insert_price([forecast(30 + i, 20) for i in range(3)])).result(5)
    before = writer.committed
    assert prune_now(writer, 7, NOW, batch=2) == Pruned(5, 3)
    assert writer.committed - before == 3  # (2, 2), (2, 1), (1, 0): three transactions
    assert forecasts_left(db_path) == []


def test_old_sentiment_rows_are_found_by_an_index(db_path: Path):
    conn = open_journal(db_path)
    plan = conn.execute("EXPLAIN QUERY PLAN SELECT id FROM sentiment_predictions WHERE created_at < ?", ("x",))
    details = " ".join(row[3] for row in plan)
    conn.close()
    assert "INDEX sentiment_predictions_created (created_at<?)" in details


def test_the_index_comes_without_a_new_schema_version(db_path: Path):
    """A numbered migration made the release before refuse the journal as newer at its next start (a review): the
    index is made where missing, version unchanged, and a journal of that release without it gets it."""
    conn = open_journal(db_path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.execute("DROP INDEX sentiment_predictions_created")  # as that release left it
    conn.close()
    conn = open_journal(db_path)
    names = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION  # made without a new version
    conn.close()
    assert "sentiment_predictions_created" in names


def test_every_read_write_connection_caps_the_wal_it_leaves(db_path: Path):
    conn = connect(db_path)
    assert conn.execute("PRAGMA journal_size_limit").fetchone()[0] == 64 * 1024 * 1024
    conn.close()


def test_a_prune_that_deleted_rows_gives_the_wal_back(writer: JournalWriter, db_path: Path):
    """The WAL keeps the size of its biggest transaction while a connection is open (the writer's, for the life of
    the gateway): a prune of 400,000 rows left 170 MB of it (a review)."""
    writer.submit(insert_sentiment([headline(400)] * 300)).result(5)
    assert prune_now(writer, 7, NOW) == Pruned(300, 0)
    assert writer.alive
    assert os.path.getsize(f"{db_path}-wal") == 0
