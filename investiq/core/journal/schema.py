"""Tables of the journal, created and migrated on start; the version lives in `PRAGMA user_version`.

`trades` belongs to the Rust agent: it is created only when absent (`IF NOT EXISTS`) and never
altered, so an agent's table with extra or reordered columns is read as it is.
Append a migration to MIGRATIONS to change the schema; never edit one that has shipped.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable

from investiq.core.journal import trades
from investiq.core.journal.connection import JournalError, roll_back
from investiq.core.names import ticker

TICKER_SQL = "investiq_ticker"  # `ticker` as an SQL function, for migration 10

TRADES = """
CREATE TABLE IF NOT EXISTS trades (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    symbol TEXT NOT NULL,
    strategy_name TEXT NOT NULL,
    side TEXT NOT NULL,
    quantity REAL NOT NULL,
    entry_price REAL NOT NULL,
    exit_price REAL,
    profit_loss REAL,
    opened_at TEXT NOT NULL,
    closed_at TEXT
)"""

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: the gateway's tables.
    (
        TRADES,
        """CREATE TABLE sentiment_predictions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created_at TEXT NOT NULL,
            symbol TEXT,
            text TEXT NOT NULL,
            label TEXT NOT NULL CHECK (label IN ('positive', 'negative', 'neutral')),
            confidence REAL NOT NULL,
            score REAL NOT NULL,
            p_positive REAL NOT NULL,
            p_negative REAL NOT NULL,
            p_neutral REAL NOT NULL,
            model_name TEXT NOT NULL,
            model_version TEXT NOT NULL,
            latency_ms REAL,
            cached INTEGER NOT NULL CHECK (cached IN (0, 1))
        )""",
        "CREATE INDEX sentiment_predictions_symbol_time ON sentiment_predictions (symbol, created_at)",
        """CREATE TABLE price_predictions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created_at TEXT NOT NULL,
            symbol TEXT NOT NULL,
            model_name TEXT NOT NULL,
            model_version TEXT NOT NULL,
            interval TEXT NOT NULL,
            horizon_steps INTEGER NOT NULL CHECK (horizon_steps > 0),
            last_price REAL NOT NULL,
            last_bar_time TEXT,
            predicted_price REAL NOT NULL,
            predicted_return REAL NOT NULL,
            direction TEXT NOT NULL CHECK (direction IN ('up', 'down', 'flat')),
            forecast_json TEXT NOT NULL,
            target_time TEXT NOT NULL,
            actual_price REAL,
            correct INTEGER CHECK (correct IN (0, 1)),
            resolved_at TEXT,
            latency_ms REAL
        )""",
        "CREATE INDEX price_predictions_unresolved ON price_predictions (resolved_at, target_time)",
        "CREATE INDEX price_predictions_symbol_time ON price_predictions (symbol, created_at)",
        # Every closed trade the Bayesian service has learnt from: the source of truth.
        """CREATE TABLE bayesian_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            strategy_name TEXT NOT NULL,
            won INTEGER CHECK (won IN (0, 1)),
            profit_loss REAL,
            closed_at TEXT NOT NULL,
            closed_ts REAL NOT NULL,
            source TEXT NOT NULL CHECK (source IN ('update', 'sync')),
            trade_id TEXT UNIQUE,
            received_at TEXT NOT NULL,
            CHECK (won IS NOT NULL OR profit_loss IS NOT NULL)
        )""",
        "CREATE INDEX bayesian_events_strategy ON bayesian_events (strategy_name, closed_ts)",
        # Decayed sufficient statistics per strategy at ref_ts: the events folded, for fast reads.
        """CREATE TABLE bayesian_state (
            strategy_name TEXT PRIMARY KEY,
            ref_ts REAL NOT NULL,
            win_w REAL NOT NULL,
            loss_w REAL NOT NULL,
            pnl_w REAL NOT NULL,
            pnl_s1 REAL NOT NULL,
            pnl_s2 REAL NOT NULL,
            wins INTEGER NOT NULL,
            losses INTEGER NOT NULL,
            pnl_count INTEGER NOT NULL,
            updated_at TEXT NOT NULL
        )""",
    ),
    # 2: the confidence of each price forecast (derived from the forecast and recent volatility).
    ("ALTER TABLE price_predictions ADD COLUMN confidence REAL",),
    # 3: the probabilistic forecast at the horizon: calibrated P(up), the P(up) the model serves without
    # skill (its training up-rate: the Brier skill's reference), the quantile closes as a JSON object
    # {"0.05": price, ...}, and the one-step volatility it was scaled by. NULL in older rows.
    (
        "ALTER TABLE price_predictions ADD COLUMN probability_up REAL",
        "ALTER TABLE price_predictions ADD COLUMN base_probability_up REAL",
        "ALTER TABLE price_predictions ADD COLUMN quantiles TEXT",
        "ALTER TABLE price_predictions ADD COLUMN volatility REAL",
        "CREATE INDEX price_predictions_resolved ON price_predictions (resolved_at, id)",
    ),
    # 4: the resolver counts a forecast's bars from the first one opening at or after last_bar_time (when the last
    # bar closed); before, from the first opening strictly after it, and forecasts from cached bars recorded their
    # last bar's opening time. Forecasts still unresolved keep the rule they were made under: their last_bar_time
    # moves 1 ms later, so that `>=` excludes the bar it named, as `>` did (a time SQLite cannot read is left).
    (
        "UPDATE price_predictions "
        "SET last_bar_time = strftime('%Y-%m-%dT%H:%M:%f', last_bar_time, '+0.001 seconds') || '+00:00' "
        "WHERE resolved_at IS NULL AND strftime('%Y-%m-%dT%H:%M:%f', last_bar_time) IS NOT NULL",
    ),
    # 5: a 'flat' forecast (the random walk's median, always) calls no direction: its `correct` is NULL and hit
    # rates leave it out. It was scored as a call that the close stays within 1 bp, so wrong nearly every time.
    ("UPDATE price_predictions SET correct = NULL WHERE direction = 'flat'",),
    # 6: the forgetting half-life each strategy's state was folded with. A state folded with another one (or
    # NULL: before this column) is replayed from bayesian_events when read, so that changing
    # bayes_half_life_days gives the weights a replay of the whole history with the new one would give.
    ("ALTER TABLE bayesian_state ADD COLUMN half_life_days REAL",),
    # 7: how a price forecast's quantiles were fitted: 'gaps_ahead' (to the nights and weekends its path crosses,
    # its bar times known) or 'pooled' (over every place in a session), so that live coverage can be told apart
    # by kind (investiq/core/gaps.py). NULL in older rows.
    ("ALTER TABLE price_predictions ADD COLUMN intervals TEXT",),
    # 8: when the H-th bar that scored a forecast closed, as the resolver found it: the time its horizon really
    # took (12 daily bars span about 17 days with the weekends, 12 hourly stock bars about two and a half), which
    # live skill's periods go by (investiq/core/skill.py). NULL in older rows and until resolved.
    ("ALTER TABLE price_predictions ADD COLUMN outcome_bar_time TEXT",),
    # 9: a strategy's P&L scatter (sum of w (x - mean)^2) is kept as such, updated as Welford's, not derived from
    # sum w x^2: the difference of two large sums cancelled when the mean is large against the spread. A state
    # is converted (as precise as the sums it had), and marked folded with no half-life, so that the gateway's
    # start replays it from its events exactly (investiq/core/journal/bayesian.py refold). A new column, not
    # pnl_s2 renamed: a gateway of the release before, still running on the journal, reads and writes pnl_s2
    # (still written), and a row it writes has no scatter (NULL), which is then replayed too.
    (
        "ALTER TABLE bayesian_state ADD COLUMN pnl_scatter REAL",
        "UPDATE bayesian_state SET half_life_days = NULL, pnl_scatter = "
        "CASE WHEN pnl_w > 0 THEN max(pnl_s2 - pnl_s1 * pnl_s1 / pnl_w, 0.0) ELSE 0.0 END",
    ),
    # 10: symbols are tickers, kept in upper case (investiq/core/names.py `ticker`, which the gateway applies to
    # every symbol it takes): "spy" and "SPY" were two symbols, each with part of the forecasts. `ticker` is
    # Python's (SQLite's upper() changes ASCII letters only), registered on the connection by `migrate`.
    (
        f"UPDATE price_predictions SET symbol = {TICKER_SQL}(symbol) WHERE symbol <> {TICKER_SQL}(symbol)",
        f"UPDATE sentiment_predictions SET symbol = {TICKER_SQL}(symbol) WHERE symbol <> {TICKER_SQL}(symbol)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)
# Indexes that change no table, made where missing after the migrations, with no new version: a release before
# them reads and writes a journal that has them as before, and may restart on it (a numbered migration would make
# it refuse the journal as newer, a review). Sentiment predictions by creation time, which retention deletes them
# by, a few thousand a transaction (predictions.prune): without it each of those found its rows by a scan of the
# table, and one DELETE of 1.6M rows of 2.4M held the write lock for seconds, past the agent's busy timeout (a
# review). Price forecasts are pruned through price_predictions_unresolved (resolved_at, target_time).
INDEXES = {
    "sentiment_predictions_created": "CREATE INDEX IF NOT EXISTS sentiment_predictions_created "
    "ON sentiment_predictions (created_at)",
}
# Migration 9 as first released renamed pnl_s2 to pnl_scatter; the releases after it add pnl_scatter beside pnl_s2,
# which they read and write. A journal migrated by that first release is at version 9 without pnl_s2, and every
# Bayesian read and write failed on it ("no such column: pnl_s2", an audit of upgrades): the column is put back,
# sum w x^2 from the scatter it kept (the inverse of migration 9's conversion). A write only where it is missing.
RESTORE_PNL_S2 = (
    "ALTER TABLE bayesian_state ADD COLUMN pnl_s2 REAL NOT NULL DEFAULT 0.0",
    "UPDATE bayesian_state SET pnl_s2 = "
    "CASE WHEN pnl_w > 0 THEN coalesce(pnl_scatter, 0.0) + pnl_s1 * pnl_s1 / pnl_w ELSE 0.0 END",
)
# The tables that are the gateway's alone: `trades` may be there before any migration (the agent creates it).
GATEWAY_TABLES = ("sentiment_predictions", "price_predictions", "bayesian_events", "bayesian_state")


def version(conn: sqlite3.Connection) -> int:
    """The journal's schema version (0: none of the gateway's tables)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the migrations the database has not seen, each in its own transaction; return the version."""
    found = version(conn)
    refuse_foreign(conn, found)
    _refuse_newer(found)
    conn.create_function(TICKER_SQL, 1, _ticker_sql, deterministic=True)
    for number in range(found + 1, SCHEMA_VERSION + 1):
        _in_transaction(conn, functools.partial(_apply, conn, number))
    present = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    if missing := [sql for name, sql in INDEXES.items() if name not in present]:  # a write only where one is
        _in_transaction(conn, lambda: [conn.execute(sql) for sql in missing])
    if not _has_pnl_s2(conn):
        _in_transaction(conn, functools.partial(_restore_pnl_s2, conn))
    return SCHEMA_VERSION


def _has_pnl_s2(conn: sqlite3.Connection) -> bool:
    return "pnl_s2" in {row[1] for row in conn.execute("PRAGMA table_info(bayesian_state)")}


def _restore_pnl_s2(conn: sqlite3.Connection) -> None:
    """RESTORE_PNL_S2, in the write lock, unless a process that got the lock first has restored it (two starting
    together: the second failed with "duplicate column name: pnl_s2", a review), as `_apply` reads the version."""
    if not _has_pnl_s2(conn):
        for statement in RESTORE_PNL_S2:
            conn.execute(statement)


def _ticker_sql(symbol: str | None) -> str | None:
    """`ticker` for SQL: NULL (a headline without a symbol) and what is not text (SQLite keeps what it is given)
    stay as they are."""
    return ticker(symbol) if isinstance(symbol, str) else symbol


def _in_transaction(conn: sqlite3.Connection, work: Callable[[], object]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        work()
        conn.execute("COMMIT")
    except BaseException:
        roll_back(conn)
        raise


def _apply(conn: sqlite3.Connection, number: int) -> None:
    """Migration `number`, in the write lock, unless the journal has it already. Several processes may start on one
    journal at once: whoever got the write lock first may have applied it while we waited for the lock, or, a newer
    release, migrated past this one (the version read before the wait let this release start on such a journal, a
    review): the version is read again here."""
    current = version(conn)
    _refuse_newer(current)
    if current >= number:
        return
    if current == 0:
        _refuse_unversioned(conn)
    for statement in MIGRATIONS[number - 1]:
        conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {number}")


def refuse_foreign(conn: sqlite3.Connection, found: int) -> None:
    """JournalError for a file whose user_version another program set: a version, and none of the gateway's
    tables. Migrations from that version on were applied to it, and failed ("no such table: price_predictions"),
    while every command sent the user to `db init`, which failed so (a review: rusqlite_migration, which a Rust
    agent may use on the shared file, keeps its schema's version there)."""
    if found == 0:
        return
    tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if tables.isdisjoint(GATEWAY_TABLES):
        raise JournalError(
            f"this file's user_version ({found}) is another program's, and it holds none of the gateway's tables: "
            "the journal keeps its schema version there. Point --db / INVESTIQ_DB_PATH at a file of its own (the "
            "agent reads and writes the journal's `trades` table beside the gateway's)"
        )


def _refuse_newer(found: int) -> None:
    if found > SCHEMA_VERSION:
        raise JournalError(
            f"the journal has schema version {found}, newer than this InvestIQ ({SCHEMA_VERSION}): "
            "upgrade InvestIQ or point --db at another file"
        )


def _refuse_unversioned(conn: sqlite3.Connection) -> None:
    """JournalError when a journal of version 0 has the gateway's tables: one restored from a SQL text dump
    (`sqlite3 .dump`, Python's iterdump), which carries no `PRAGMA user_version`; migration 1 failed on it with
    "table ... already exists" (a review). Its version cannot be told from its tables (migrations 4 and 5 changed
    rows only), so it is not guessed."""
    placeholders = ", ".join("?" for _ in GATEWAY_TABLES)
    present = conn.execute(
        f"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ({placeholders})", GATEWAY_TABLES
    ).fetchone()[0]
    if not present:
        return
    file = conn.execute("PRAGMA database_list").fetchone()[2]
    raise JournalError(
        f"the journal {file!r} has the gateway's tables but schema version 0: it was restored from a SQL text "
        "dump (.dump), which does not keep the version (PRAGMA user_version). Restore it from a copy that keeps "
        'it (`sqlite3 portfolio.db ".backup copy.db"`, or VACUUM INTO), or, once sure which release made the '
        f"dump, set that release's schema version (this one's is {SCHEMA_VERSION}): "
        f"`sqlite3 {file} 'PRAGMA user_version = {SCHEMA_VERSION}'`"
    )


def status(conn: sqlite3.Connection) -> dict[str, object]:
    """What `investiq db status` prints: version, mode, integrity and row counts."""
    tables = [
        row[0]
        for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    ]
    try:  # the damage it exists to report raised as often as it was reported (a review)
        integrity = str(conn.execute("PRAGMA quick_check").fetchone()[0])
        rows = {name: conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in sorted(tables)}
    except sqlite3.DatabaseError as exc:
        integrity, rows = str(exc), {}
    return {
        "schema_version": version(conn),
        "latest_version": SCHEMA_VERSION,
        "journal_mode": conn.execute("PRAGMA journal_mode").fetchone()[0],
        "integrity": integrity,
        "rows": rows,
        # the agent's table as the sync reads it: an unreadable one was first told as a sync's error (an audit)
        "trades_table": (trades.unreadable(conn) or "ok") if integrity == "ok" else None,  # None: not read
    }
