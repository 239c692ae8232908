"""Kill tests of a mutation audit of the journal's schema (investiq/core/journal/schema.py: its migrations, the
checks that refuse a file before migrating it, pnl_s2's restoration and `db status`). Each test fails with the
mutant its docstring names applied, and passes on the code as it is; every other test survived that mutant."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from investiq.core.journal import JournalError, connect, migrate, open_journal, schema
from investiq.core.journal.schema import MIGRATIONS, SCHEMA_VERSION, status

STATE = (
    "INSERT INTO bayesian_state (strategy_name, ref_ts, win_w, loss_w, pnl_w, pnl_s1, pnl_s2, wins, losses, "
    "pnl_count, updated_at) VALUES (?, 0.0, 0.0, 0.0, ?, ?, ?, 0, 0, 0, '2026-01-02T00:00:00+00:00')"
)
SENTIMENT = (
    "INSERT INTO sentiment_predictions (created_at, symbol, text, label, confidence, score, p_positive, "
    "p_negative, p_neutral, model_name, model_version, cached) VALUES ('2026-01-02T00:00:00+00:00', ?, 'x', "
    "'neutral', 0.9, 0, 0.05, 0.05, 0.9, 'finbert', 'v1', 0)"
)


def at_version(path: Path, number: int) -> sqlite3.Connection:
    """A journal as release `number` left it (its first `number` migrations applied), open in autocommit mode."""
    conn = sqlite3.connect(path, isolation_level=None)
    for statements in MIGRATIONS[:number]:
        for statement in statements:
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {number}")
    return conn


def columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [str(row[1]) for row in conn.execute(f"PRAGMA table_info({table})")]


def test_migrate_itself_refuses_a_file_whose_user_version_another_program_set(tmp_path: Path):
    """schema.py:migrate: `refuse_foreign(conn, found)` dropped (only open_journal's reader then refused such a
    file: `migrate` on it ran migrations 5 to 10 against another program's schema, "no such table")."""
    theirs = tmp_path / "agent.db"
    with closing(sqlite3.connect(theirs)) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY)")
        conn.execute("PRAGMA user_version = 4")
    with (
        closing(connect(theirs)) as conn,
        pytest.raises(JournalError, match=r"user_version \(4\) is another program's"),
    ):
        migrate(conn)
    with closing(sqlite3.connect(theirs)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 4
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["notes"]


def test_a_symbol_that_is_not_text_is_kept_as_it_is_by_migration_10(db_path: Path):
    """schema.py:_ticker_sql: `isinstance(symbol, str)` as `symbol is not None` (a symbol SQLite keeps as a blob
    reached `ticker`, which raised inside the UPDATE: migration 10 failed and the journal could not be opened)."""
    with closing(at_version(db_path, 9)) as old:
        old.execute(SENTIMENT, (b"\x01\xff",))
        old.execute(SENTIMENT, ("aapl",))
    with closing(open_journal(db_path)) as conn:
        symbols = [row[0] for row in conn.execute("SELECT symbol FROM sentiment_predictions ORDER BY id")]
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert symbols == [b"\x01\xff", "AAPL"]


def test_a_migration_that_fails_part_way_is_rolled_back_and_leaves_no_transaction_open(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """schema.py:_in_transaction: `roll_back(conn)` dropped (a statement that failed after another of its migration
    had run left the transaction open, that statement's change in it: the connection's next COMMIT, any caller's,
    would have written half a migration)."""
    conn = open_journal(db_path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION - 1}")
    half = ("ALTER TABLE price_predictions ADD COLUMN half_done REAL", "SELECT * FROM no_such_table")
    monkeypatch.setattr(schema, "MIGRATIONS", (*MIGRATIONS[:-1], half))
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        migrate(conn)
    assert not conn.in_transaction
    assert "half_done" not in columns(conn, "price_predictions")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION - 1
    conn.close()


def test_a_migration_another_process_applies_while_this_one_waits_for_the_lock_is_not_applied_again(db_path: Path):
    """schema.py:_apply: `current >= number` as `current > number` (a migration that the process holding the write
    lock had just applied, the version read again in the lock being that migration's own, was applied a second
    time: "duplicate column name: pnl_scatter", and the start failed). The other process applies migration 9 as
    this one asks for the lock, through the trace callback (no timing)."""
    at_version(db_path, 8).close()
    conn = connect(db_path)
    other = sqlite3.connect(db_path, isolation_level=None)
    applied: list[int] = []

    def other_applies_9_first(statement: str) -> None:  # runs as the statement starts, before it takes the lock
        if statement == "BEGIN IMMEDIATE" and not applied:
            applied.append(9)
            other.execute("BEGIN IMMEDIATE")
            for sql in MIGRATIONS[8]:
                other.execute(sql)
            other.execute("PRAGMA user_version = 9")
            other.execute("COMMIT")

    conn.set_trace_callback(other_applies_9_first)
    assert migrate(conn) == SCHEMA_VERSION
    conn.set_trace_callback(None)
    assert applied == [9]
    assert columns(conn, "bayesian_state").count("pnl_scatter") == 1
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    other.close()
    conn.close()


def test_a_partial_text_dump_restored_without_a_version_is_refused_untouched(db_path: Path):
    """schema.py:_refuse_unversioned: `if not present` as `if present < len(GATEWAY_TABLES)` (a journal restored
    from a dump of some of the gateway's tables, at version 0, was migrated: migration 1 failed with "table
    sentiment_predictions already exists", which names no dump and no way to restore)."""
    with closing(sqlite3.connect(db_path)) as restored:
        restored.execute(MIGRATIONS[0][1])  # sentiment_predictions only, as `.dump sentiment_predictions` keeps it
        restored.commit()
    with pytest.raises(JournalError, match=r"restored from a SQL text dump.*PRAGMA user_version = "):
        open_journal(db_path)
    with closing(sqlite3.connect(db_path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"sentiment_predictions", "sqlite_sequence"}


def test_db_status_counts_the_journals_tables_not_sqlites_own(db_path: Path):
    """schema.py:status: `AND name NOT LIKE 'sqlite_%'` dropped (`db status` counted SQLite's sqlite_sequence as a
    table of the journal)."""
    conn = open_journal(db_path)
    rows = status(conn)["rows"]
    conn.close()
    assert rows == {
        "bayesian_events": 0,
        "bayesian_state": 0,
        "price_predictions": 0,
        "sentiment_predictions": 0,
        "trades": 0,
    }


@pytest.mark.parametrize("offset", [0, 3000], ids=["raised", "reported"])
def test_db_status_does_not_read_the_trades_table_of_a_damaged_journal(db_path: Path, offset: int):
    """schema.py:status: `if integrity == "ok" else None` dropped (the trades table of a journal quick_check found
    damaged was read and told as "ok": the sync's table vouched for on a file that needs restoring)."""
    conn = open_journal(db_path)
    conn.executemany(
        "INSERT INTO trades (symbol, strategy_name, side, quantity, entry_price, exit_price, profit_loss, "
        "opened_at, closed_at) VALUES ('SPY', ?, 'buy', 1, 1, 1, 1, 'x', 'x')",
        [(f"s{i}" * 20,) for i in range(300)],
    )
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(db_path.read_bytes())
    last = (len(data) // 4096 - 1) * 4096  # a page of the trades, not the schema's first page
    data[last + offset : last + offset + 300] = b"\xff" * 300
    db_path.write_bytes(bytes(data))
    with closing(sqlite3.connect(db_path)) as damaged:
        found = status(damaged)
    assert found["integrity"] != "ok"  # the situation: damage quick_check raised or reported
    assert found["trades_table"] is None


def test_db_status_reports_the_version_the_journal_is_at(db_path: Path):
    """schema.py:status: "schema_version" as SCHEMA_VERSION (a journal not yet migrated read as up to date, its
    "latest_version" beside it the same)."""
    at_version(db_path, 9).close()
    with closing(connect(db_path, readonly=True)) as conn:
        found = status(conn)
    assert (found["schema_version"], found["latest_version"]) == (9, SCHEMA_VERSION)


def test_pnl_s2_is_restored_for_a_state_with_no_pnl_weight_and_one_with_no_scatter(db_path: Path):
    """schema.py:RESTORE_PNL_S2: `pnl_w > 0` as `pnl_w >= 0` (s1^2 / 0 is NULL in SQLite) or `coalesce(pnl_scatter,
    0.0)` as `pnl_scatter` (a row the release before wrote has none): either makes pnl_s2 NULL, which its NOT NULL
    refuses, and the journal could not be opened."""
    conn = open_journal(db_path)
    conn.execute(STATE, ("flat", 0.0, 0.0, 0.0))
    conn.execute(STATE, ("old", 2.0, 4.0, 9.0))  # pnl_scatter NULL: written by the release before
    conn.execute("ALTER TABLE bayesian_state DROP COLUMN pnl_s2")  # as the first release of migration 9 left it
    conn.close()
    with closing(open_journal(db_path)) as conn:
        restored = dict(conn.execute("SELECT strategy_name, pnl_s2 FROM bayesian_state").fetchall())
    assert restored == {"flat": 0.0, "old": pytest.approx(8.0)}  # 0 + 4^2 / 2


def test_migration_9_never_makes_a_negative_scatter(db_path: Path):
    """schema.py:MIGRATIONS[8]: `max(..., 0.0)` dropped (a scatter derived as the difference of two sums that
    rounding put below zero was kept negative: a variance below zero for a state with no events to replay it)."""
    with closing(at_version(db_path, 8)) as old:
        old.execute(STATE, ("one", 1.0, 0.1, 0.01))  # one P&L of 0.1: 0.01 - 0.1 * 0.1 is -1.7e-18 in doubles
    with closing(open_journal(db_path)) as conn:
        scatter = conn.execute("SELECT pnl_scatter FROM bayesian_state").fetchone()[0]
    assert scatter == 0.0
