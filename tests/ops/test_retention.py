"""Retention of prediction rows: old sentiment rows and never-resolved forecasts go, resolved forecasts
(the live-skill record) stay, whether the gateway prunes or `investiq db prune` does."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

from click.testing import CliRunner

from investiq.cli.main import main
from investiq.core.journal import JournalWriter, open_journal
from investiq.core.journal.predictions import PriceRow, SentimentRow, insert_price, insert_sentiment, resolve_price


def journal(db: Path) -> None:
    """Rows made 400, 399 and 10 days before now: now when the test runs, as the prune that follows reads it (a
    time taken at import aged with the suite's run)."""
    now = datetime.now(timezone.utc)

    def made(days_ago: int) -> str:
        return (now - timedelta(days=days_ago)).isoformat()

    open_journal(db).close()
    writer = JournalWriter(db)
    writer.start()
    sentiment = [
        SentimentRow(made(d), "AAPL", "news", "neutral", 0.6, 0.0, 0.2, 0.2, 0.6, "lexicon", "1", 1.0, False)
        for d in (400, 10)
    ]
    writer.submit(insert_sentiment(sentiment)).result()
    price = [
        PriceRow(
            made(d),
            "AAPL",
            "patchtst",
            "v1",
            "1d",
            1,
            100.0,
            made(d),
            101.0,
            0.01,
            "up",
            0.6,
            "[]",
            made(d - 1),
            1.0,
        )
        for d in (400, 399, 10)
    ]
    writer.submit(insert_price(price)).result()
    writer.submit(resolve_price([(1, 101.0, True)], made(398))).result()  # the oldest one was resolved
    writer.close()


def counts(db: Path) -> tuple[int, int, int]:
    conn = sqlite3.connect(db)
    try:
        sentiment = conn.execute("SELECT count(*) FROM sentiment_predictions").fetchone()[0]
        resolved = conn.execute("SELECT count(*) FROM price_predictions WHERE resolved_at IS NOT NULL").fetchone()[
            0
        ]
        pending = conn.execute("SELECT count(*) FROM price_predictions WHERE resolved_at IS NULL").fetchone()[0]
        return sentiment, resolved, pending
    finally:
        conn.close()


def test_db_prune_keeps_the_live_skill_record(tmp_path: Path):
    db = tmp_path / "portfolio.db"
    journal(db)
    assert counts(db) == (2, 1, 2)
    result = CliRunner().invoke(main, ["db", "prune", "--db", str(db), "--days", "365"])
    assert result.exit_code == 0, result.output
    assert "deleted 1 sentiment predictions and 1 never-resolved price forecasts" in result.output
    assert counts(db) == (1, 1, 1)  # the 400-day-old resolved forecast stays; the recent rows stay
    refused = CliRunner().invoke(main, ["db", "prune", "--db", str(db), "--days", "1000000"])
    assert refused.exit_code == 2 and "36500" in refused.output  # an OverflowError traceback (a review)


def test_the_gateway_prunes_on_its_schedule(tmp_path: Path):
    import asyncio

    from gateway.services.retention import prune_periodically

    db = tmp_path / "portfolio.db"
    journal(db)
    writer = JournalWriter(db)
    writer.start()

    async def one_pass() -> None:
        task = asyncio.create_task(prune_periodically(writer, 30, every_s=3600, first_after_s=0))
        for _ in range(200):
            await asyncio.sleep(0.05)
            if counts(db) == (1, 1, 1):
                break
        task.cancel()

    try:
        asyncio.run(one_pass())
    finally:
        writer.close()
    assert counts(db) == (1, 1, 1)
