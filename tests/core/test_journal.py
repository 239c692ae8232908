"""The SQLite journal: pragmas, migrations, the agent's trades table, the one writer."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from investiq.core.journal import (
    SCHEMA_VERSION,
    JournalError,
    JournalWriter,
    connect,
    migrate,
    open_journal,
    timestamps,
    trades,
)
from investiq.core.journal import writer as writer_module
from investiq.core.journal.schema import status

GATEWAY_TABLES = {"trades", "sentiment_predictions", "price_predictions", "bayesian_events", "bayesian_state"}


def test_open_creates_every_table_in_wal_mode_with_a_busy_timeout(db_path: Path):
    conn = open_journal(db_path, busy_timeout_ms=1234)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 1234
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    info = status(conn)
    rows = info["rows"]
    assert isinstance(rows, dict)
    assert set(rows) >= GATEWAY_TABLES
    assert info["integrity"] == "ok"
    price_columns = {r[1] for r in conn.execute("PRAGMA table_info(price_predictions)")}
    assert {
        "target_time",
        "actual_price",
        "correct",
        "resolved_at",
        "model_name",
        "model_version",
        "confidence",
        "probability_up",
        "quantiles",
        "volatility",
    } <= price_columns


def test_migrating_twice_changes_nothing(db_path: Path):
    open_journal(db_path).close()
    conn = connect(db_path)
    before = conn.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall()
    assert migrate(conn) == SCHEMA_VERSION
    assert conn.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall() == before


def test_forecasts_unresolved_at_schema_4_keep_the_resolver_rule_they_were_made_under(db_path: Path):
    """Before schema 4 the resolver took bars opening strictly after last_bar_time, and a forecast from cached
    bars recorded its last bar's opening time: under the new rule (at or after) that bar is its first step."""
    from investiq.core.journal.schema import MIGRATIONS

    old = sqlite3.connect(db_path)
    for statements in MIGRATIONS[:3]:
        for statement in statements:
            old.execute(statement)
    old.execute("PRAGMA user_version = 3")
    rows = (("2026-01-02T00:00:00+00:00", None), ("2026-01-05T00:00:00+00:00", "2026-01-07T00:00:00Z"))
    for bar, resolved in rows:
        old.execute(
            "INSERT INTO price_predictions (created_at, symbol, model_name, model_version, interval, "
            "horizon_steps, last_price, last_bar_time, predicted_price, predicted_return, direction, target_time, "
            "latency_ms, resolved_at, forecast_json) "
            "VALUES (?, 'SPY', 'patchtst', 'v1', '1d', 1, 100, ?, 101, 0.01, 'up', ?, 3, ?, '[101]')",
            (bar, bar, bar, resolved),
        )
    old.commit()
    old.close()
    conn = open_journal(db_path)  # migrates to the latest schema
    times = [row[0] for row in conn.execute("SELECT last_bar_time FROM price_predictions ORDER BY id")]
    conn.close()
    assert times == ["2026-01-02T00:00:00.001+00:00", "2026-01-05T00:00:00+00:00"]  # the resolved row: as it was


def test_symbols_journaled_before_schema_10_become_one_ticker_each(db_path: Path):
    """ "spy" and "SPY" were two symbols, each with part of the forecasts: schema 10 keeps every symbol upper case
    (`ticker`, Python's: SQLite's upper() leaves "é"), and a sentiment row without a symbol keeps none."""
    from investiq.core.journal.schema import MIGRATIONS

    old = sqlite3.connect(db_path)
    for statements in MIGRATIONS[:9]:
        for statement in statements:
            old.execute(statement)
    old.execute("PRAGMA user_version = 9")
    for symbol in ("spy", "SPY", "caf\u00e9", "brk.b"):
        old.execute(
            "INSERT INTO price_predictions (created_at, symbol, model_name, model_version, interval, "
            "horizon_steps, last_price, last_bar_time, predicted_price, predicted_return, direction, target_time, "
            "latency_ms, forecast_json) VALUES ('2026-01-02T00:00:00+00:00', ?, 'patchtst', 'v1', '1d', 1, 100, "
            "'2026-01-02T00:00:00+00:00', 101, 0.01, 'up', '2026-01-03T00:00:00+00:00', 3, '[101]')",
            (symbol,),
        )
    for tag in ("aapl", None):
        old.execute(
            "INSERT INTO sentiment_predictions (created_at, symbol, text, label, confidence, score, p_positive, "
            "p_negative, p_neutral, model_name, model_version, cached) VALUES ('2026-01-02T00:00:00+00:00', ?, "
            "'x', 'neutral', 0.9, 0, 0.05, 0.05, 0.9, 'finbert', 'v1', 0)",
            (tag,),
        )
    old.commit()
    old.close()
    conn = open_journal(db_path)
    prices = [row[0] for row in conn.execute("SELECT symbol FROM price_predictions ORDER BY id")]
    sentiments = [row[0] for row in conn.execute("SELECT symbol FROM sentiment_predictions ORDER BY id")]
    conn.close()
    assert prices == ["SPY", "SPY", "CAF\u00c9", "BRK.B"]
    assert sentiments == ["AAPL", None]


def test_flat_forecasts_resolved_before_schema_5_call_no_direction(db_path: Path):
    """A 'flat' forecast (the random walk's median) was scored as a call that the close stays within 1 bp, so
    the random walk read as wrong on nearly every forecast: at schema 5 its `correct` becomes NULL."""
    from investiq.core.journal.schema import MIGRATIONS

    old = sqlite3.connect(db_path)
    for statements in MIGRATIONS[:4]:
        for statement in statements:
            old.execute(statement)
    old.execute("PRAGMA user_version = 4")
    for direction, correct in (("flat", 0), ("up", 1), ("down", 0), ("flat", None)):
        old.execute(
            "INSERT INTO price_predictions (created_at, symbol, model_name, model_version, interval, "
            "horizon_steps, last_price, last_bar_time, predicted_price, predicted_return, direction, target_time, "
            "correct, forecast_json) VALUES ('2026-01-02T00:00:00+00:00', 'SPY', 'patchtst', 'v1', '1d', 1, 100, "
            "'2026-01-02T00:00:00+00:00', 100, 0, ?, '2026-01-03T00:00:00+00:00', ?, '[100]')",
            (direction, correct),
        )
    old.commit()
    old.close()
    conn = open_journal(db_path)
    scored = [row[0] for row in conn.execute("SELECT correct FROM price_predictions ORDER BY id")]
    conn.close()
    assert scored == [None, 1, 0, None]


def test_a_journal_of_schema_2_gains_the_probabilistic_columns_and_keeps_its_rows(db_path: Path):
    """Schema 3 adds P(up), quantiles and volatility to price_predictions: rows written before are kept,
    with NULL there; rows written after carry them."""
    from investiq.core.journal.predictions import PriceRow, insert_price
    from investiq.core.journal.schema import MIGRATIONS

    old = sqlite3.connect(db_path)
    for statements in MIGRATIONS[:2]:
        for statement in statements:
            old.execute(statement)
    old.execute("PRAGMA user_version = 2")
    before = PriceRow("2026-01-02T10:00:00+00:00", "SPY", "patchtst", "v1", "1d", 4, 100.0, "t", 101.0, 0.01, "up",
                      0.6, "[101.0]", "2026-01-06T10:00:00+00:00", 3.0)  # fmt: skip
    old.execute(
        "INSERT INTO price_predictions (created_at, symbol, model_name, model_version, interval, horizon_steps, "
        "last_price, last_bar_time, predicted_price, predicted_return, direction, confidence, forecast_json, "
        "target_time, latency_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [getattr(before, name) for name in list(PriceRow.__dataclass_fields__)[:15]],
    )
    old.commit()
    old.close()
    conn = open_journal(db_path)
    after = PriceRow(**{**vars(before), "probability_up": 0.55, "quantiles": '{"0.5": 101.0}', "volatility": 0.01})
    insert_price([after])(conn)
    rows = conn.execute(
        "SELECT probability_up, quantiles, volatility FROM price_predictions ORDER BY id"
    ).fetchall()
    assert [tuple(r) for r in rows] == [(None, None, None), (0.55, '{"0.5": 101.0}', 0.01)]


def test_bayesian_state_of_schema_8_keeps_its_pnl_spread_as_a_scatter(db_path: Path):
    """Schema 9 keeps sum w (x - mean)^2 where sum w x^2 was: a state is converted, and replayed from its events
    exactly at the gateway's start (refold), the conversion being only as precise as the sums it had."""
    from investiq.core.journal import bayesian as store
    from investiq.core.journal.schema import MIGRATIONS

    old = sqlite3.connect(db_path)
    for statements in MIGRATIONS[:8]:
        for statement in statements:
            old.execute(statement)
    old.execute("PRAGMA user_version = 8")
    state = "INSERT INTO bayesian_state VALUES (?, 0, 2, 1, 3, ?, ?, 2, 1, 3, '1970-01-01T00:00:00+00:00', 30.0)"
    old.execute(state, ("restored", 6.0, 1.0 + 4.0 + 9.0))  # P&L 1, 2, 3 and no events: a journal restored in part
    pnls = (1e8 - 1.6, 1e8 + 1.6, 1e8)
    old.execute(state, ("huge", sum(pnls), sum(x * x for x in pnls)))
    for pnl in pnls:
        old.execute(
            "INSERT INTO bayesian_events (strategy_name, profit_loss, closed_at, closed_ts, source, received_at) "
            "VALUES ('huge', ?, '1970-01-01T00:00:00+00:00', 0, 'update', '1970-01-01T00:00:00+00:00')",
            (pnl,),
        )
    old.commit()
    old.close()
    conn = open_journal(db_path)
    assert sorted(store.folded_otherwise(conn, 30.0)) == ["huge", "restored"]
    assert store.refold(conn, 30.0, now_ts=0.0) == 1  # "restored" has no events: kept as converted
    states = store.load_states(conn, 30.0)
    conn.close()
    assert states["restored"].pnl_scatter == pytest.approx(2.0)  # (1-2)^2 + 0 + (3-2)^2
    assert states["huge"].pnl_scatter == pytest.approx(2 * 1.6**2, rel=1e-6)  # from the sums: 0 or worse


def test_a_gateway_of_the_release_before_schema_9_still_reads_and_writes_the_migrated_journal(db_path: Path):
    """Migration 9 renamed pnl_s2 first: a gateway of the release before, still running on the journal (several
    may share it), failed every Bayesian read and write ("no such column: pnl_s2", a review). The column stays
    and is written; a row such a gateway writes has no scatter, which is then taken from its sums and replayed."""
    from investiq.core.bayes.posterior import Evidence, observe
    from investiq.core.journal import bayesian as store

    conn = open_journal(db_path)
    ev = Evidence(ref_ts=0.0)
    for pnl in (1.0, 2.0, 3.0):
        ev = observe(ev, 0.0, None, pnl, 30.0)
    store.save_state(conn, "new", ev, 0.0, 30.0)
    old_columns = "ref_ts, win_w, loss_w, pnl_w, pnl_s1, pnl_s2, wins, losses, pnl_count"
    assert conn.execute(f"SELECT {old_columns} FROM bayesian_state").fetchone()[5] == pytest.approx(14.0)
    conn.execute(  # what the release before writes: its columns only (INSERT OR REPLACE: pnl_scatter NULL)
        f"INSERT OR REPLACE INTO bayesian_state (strategy_name, {old_columns}, updated_at, half_life_days) "
        "VALUES ('old', 0, 3, 0, 3, 6, 14, 3, 0, 3, '1970-01-01T00:00:00+00:00', 30.0)"
    )
    assert store.folded_otherwise(conn, 30.0) == ["old"]
    assert store.load_states(conn, 30.0)["old"].pnl_scatter == pytest.approx(2.0)
    conn.close()


def test_a_journal_that_the_first_release_of_migration_9_renamed_gets_pnl_s2_back(db_path: Path):
    """Migration 9 first renamed pnl_s2 to pnl_scatter, then was changed to add pnl_scatter beside it: a journal
    migrated by that first release is at version 9 without pnl_s2, and every Bayesian read and write of the
    releases after failed on it, db init repairing nothing (an audit of upgrades). The column comes back."""
    from investiq.core.bayes.posterior import Evidence, observe
    from investiq.core.journal import bayesian as store

    conn = open_journal(db_path)
    ev = Evidence(ref_ts=0.0)
    for pnl in (1.0, 2.0, 3.0):
        ev = observe(ev, 0.0, None, pnl, 30.0)
    store.save_state(conn, "a", ev, 0.0, 30.0)
    conn.execute("ALTER TABLE bayesian_state DROP COLUMN pnl_s2")  # as that release left it
    conn.close()
    conn = open_journal(db_path)
    assert conn.execute("SELECT pnl_s2 FROM bayesian_state").fetchone()[0] == pytest.approx(14.0)
    assert store.load_states(conn, 30.0)["a"] == ev
    store.save_state(conn, "a", observe(ev, 0.0, None, 4.0, 30.0), 0.0, 30.0)
    conn.close()


def test_processes_that_restore_pnl_s2_together_restore_it_once(db_path: Path):
    """Both read the column missing, then waited for the write lock: the second failed with "duplicate column name:
    pnl_s2" (a review). Each looks again in the lock."""
    from investiq.core.journal import connect

    open_journal(db_path).close()
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("ALTER TABLE bayesian_state DROP COLUMN pnl_s2")
    holder.execute("BEGIN IMMEDIATE")  # another writer mid-write: both wait behind it

    def release() -> None:
        time.sleep(0.5)
        holder.execute("COMMIT")

    assert migrate_together([connect(db_path) for _ in range(2)], release) == [SCHEMA_VERSION] * 2
    holder.close()


def test_an_agents_trades_table_is_kept_as_it_is(db_path: Path):
    agent = sqlite3.connect(db_path)
    ddl = (
        "CREATE TABLE trades (closed_at TEXT, profit_loss REAL, strategy_name TEXT, id INTEGER PRIMARY KEY, "
        "symbol TEXT, broker_ref TEXT, fees REAL)"
    )
    agent.execute(ddl)
    agent.execute("INSERT INTO trades VALUES ('2026-01-02T10:00:00Z', 5.0, 'momentum', 1, 'AAPL', 'x', 0.1)")
    agent.commit()
    agent.close()
    conn = open_journal(db_path)
    assert conn.execute("SELECT sql FROM sqlite_master WHERE name = 'trades'").fetchone()[0] == ddl
    assert conn.execute("SELECT count(*) FROM trades").fetchone()[0] == 1


def test_a_journal_from_a_newer_version_is_refused(db_path: Path):
    open_journal(db_path).close()  # the gateway's tables: a journal, of a later release
    sqlite3.connect(db_path).execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(JournalError, match="newer than this InvestIQ"):
        open_journal(db_path)


def test_a_newer_release_that_migrates_while_this_one_waits_for_the_lock_is_refused(db_path: Path):
    """The version was read only before waiting for the write lock: a newer release that migrated meanwhile left
    this one starting on its schema (a review). The newer release writes as this one asks for the lock."""
    open_journal(db_path).close()
    newer = sqlite3.connect(db_path, isolation_level=None)
    newer.execute(f"PRAGMA user_version = {SCHEMA_VERSION - 1}")  # one migration behind
    conn = connect(db_path)
    migrated: list[str] = []

    def newer_migrates_first(statement: str) -> None:  # runs as the statement starts, before it takes the lock
        if statement == "BEGIN IMMEDIATE" and not migrated:
            newer.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
            migrated.append(statement)

    conn.set_trace_callback(newer_migrates_first)
    with pytest.raises(JournalError, match="newer than this InvestIQ"):
        migrate(conn)
    assert migrated
    conn.close()
    newer.close()


def test_a_journal_restored_from_a_text_dump_is_refused_with_how_to_restore_it(db_path: Path, tmp_path: Path):
    """A SQL text dump (`.dump`, iterdump) keeps no PRAGMA user_version: restored, the journal has every table at
    version 0, and migration 1 failed on "table ... already exists" (a review)."""
    source = open_journal(tmp_path / "source.db")
    dump = "\n".join(source.iterdump())
    source.close()
    restored = sqlite3.connect(db_path)
    restored.executescript(dump)
    restored.close()
    with pytest.raises(JournalError, match=r"restored from a SQL text dump.*\.backup.*PRAGMA user_version = "):
        open_journal(db_path)
    assert sqlite3.connect(db_path).execute("PRAGMA user_version").fetchone()[0] == 0  # left as it was


def test_an_unusable_path_is_a_clear_error(tmp_path: Path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where a directory should be")
    with pytest.raises(JournalError, match=r"not-a-directory.*--db or INVESTIQ_DB_PATH"):
        open_journal(blocker / "portfolio.db")


def _insert(name: str):
    def job(conn: sqlite3.Connection) -> int:
        return int(
            conn.execute(
                "INSERT INTO bayesian_state VALUES (?, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'now', 30, 0)", (name,)
            ).lastrowid
            or 0
        )

    return job


@pytest.fixture
def writer(db_path: Path):
    open_journal(db_path).close()
    w = JournalWriter(db_path)
    w.start()
    yield w
    w.close()


def test_a_result_is_committed_when_the_future_resolves(writer: JournalWriter, db_path: Path):
    writer.submit(_insert("a")).result(5)
    other = connect(db_path, readonly=True)  # another connection sees it: committed, not pending
    assert other.execute("SELECT count(*) FROM bayesian_state").fetchone()[0] == 1


def test_a_failing_job_rolls_back_alone(writer: JournalWriter, db_path: Path):
    def boom(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO bayesian_state VALUES ('b', 0, 0, 0, 0, 0, 0, 0, 0, 0, 'now', 30, 0)")
        raise RuntimeError("half-written")

    gate = threading.Event()
    writer.submit(lambda conn: gate.wait(5))  # hold the writer so the next three share a batch
    futures = [writer.submit(_insert("a")), writer.submit(boom), writer.submit(_insert("c"))]
    gate.set()
    futures[0].result(5)
    futures[2].result(5)
    with pytest.raises(RuntimeError, match="half-written"):
        futures[1].result(5)
    names = [r[0] for r in connect(db_path).execute("SELECT strategy_name FROM bayesian_state ORDER BY 1")]
    assert names == ["a", "c"]  # no half-written 'b'


def test_a_failing_log_is_counted_never_raised(writer: JournalWriter):
    writer.log(lambda conn: conn.execute("INSERT INTO no_such_table VALUES (1)"))
    writer.flush()  # waits for the log job queued before it
    assert writer.failed == 1
    assert "no_such_table" in (writer.last_error or "")
    assert writer.failing  # the flush itself wrote nothing, so it does not clear the failure
    writer.submit(_insert("ok")).result(5)
    assert not writer.failing  # a later success clears the failing state


def test_logs_wait_for_a_lock_another_process_holds_and_a_waiting_job_is_told_at_once(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The agent holding the write lock past the busy timeout dropped the prediction logs queued meanwhile,
    though their requests had their 200 (found by a probe): now they wait for the lock; a job someone waits
    for (a trade update) still fails at once, for its caller to answer 503 and be retried."""
    monkeypatch.setattr(writer_module, "LOCKED_RETRIES", 10_000)  # however slow this machine is
    open_journal(db_path).close()
    w = JournalWriter(db_path, busy_timeout_ms=100)
    w.start()
    agent = sqlite3.connect(db_path, isolation_level=None)
    agent.execute("BEGIN IMMEDIATE")
    try:
        w.log(_insert("logged"))
        update = w.submit(_insert("awaited"))
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            update.result(5)
        time.sleep(0.3)  # a few of the logs' tries
        assert w.failing and w.failed == 1  # the awaited job; the log is still queued for its next try
    finally:
        agent.execute("ROLLBACK")
        agent.close()
    w.flush()
    w.close()
    names = [r[0] for r in connect(db_path).execute("SELECT strategy_name FROM bayesian_state")]
    assert names == ["logged"] and w.failed == 1 and not w.failing


def test_close_flushes_what_is_queued(db_path: Path):
    open_journal(db_path).close()
    w = JournalWriter(db_path)
    w.start()
    for i in range(300):
        w.log(_insert(f"s{i}"))
    w.close()
    assert connect(db_path).execute("SELECT count(*) FROM bayesian_state").fetchone()[0] == 300
    with pytest.raises(JournalError, match="not running"):
        w.submit(_insert("late"))


def test_logs_are_grouped_until_their_delay_or_a_job_someone_waits_for(db_path: Path):
    open_journal(db_path).close()
    w = JournalWriter(db_path, log_delay_s=60.0)  # far longer than the test: nothing commits by the clock
    w.start()
    reader = connect(db_path, readonly=True)
    try:
        for i in range(3):
            w.log(_insert(f"log{i}"))
        time.sleep(0.2)
        assert reader.execute("SELECT count(*) FROM bayesian_state").fetchone()[0] == 0  # held, not lost
        started = time.monotonic()
        w.submit(_insert("waited")).result(10)  # commits at once, with the logs queued before it
        assert time.monotonic() - started < 10
        assert reader.execute("SELECT count(*) FROM bayesian_state").fetchone()[0] == 4
        w.log(_insert("last"))
        w.flush()  # so does a flush
        assert reader.execute("SELECT count(*) FROM bayesian_state").fetchone()[0] == 5
        w.log(_insert("at close"))
    finally:
        w.close()  # and closing: it does not sit out the delay
    assert reader.execute("SELECT count(*) FROM bayesian_state").fetchone()[0] == 6


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-02T10:00:00Z", 1767348000.0),
        ("2026-01-02T10:00:00", 1767348000.0),
        ("2026-01-02 11:00:00+01:00", 1767348000.0),
        (1767348000, 1767348000.0),
        (1767348000000, 1767348000.0),
        ("1767348000", 1767348000.0),
        ("yesterday", None),
        (None, None),
        (float("nan"), None),
    ],
)
def test_timestamps_in_the_forms_an_agent_writes(value: object, expected: float | None):
    assert timestamps.parse(value) == expected


def test_trades_are_read_by_column_name_with_pnl_from_prices(db_path: Path):
    conn = sqlite3.connect(db_path)
    conn.execute(
        "CREATE TABLE trades (exit_price REAL, id INTEGER PRIMARY KEY, side TEXT, quantity REAL, "
        "strategy_name TEXT, entry_price REAL, note TEXT, closed_at TEXT, profit_loss REAL)"
    )
    rows = [
        (110, 1, "buy", 2, "trend", 100, "", "2026-01-02T10:00:00Z", None),  # +20 from prices
        (90, 2, "short", 1, "trend", 100, "", "2026-01-03T10:00:00Z", None),  # +10: short
        (0, 3, "buy", 1, "mr", 0, "", "2026-01-04T10:00:00Z", -3.0),  # profit_loss wins
        (0, 4, "buy", 1, "mr", 0, "", "not a time", 1.0),
        (None, 5, "buy", 1, "mr", None, "", "2026-01-05T10:00:00Z", None),  # open-ended prices
        (0, 6, "buy", 1, "  ", 0, "", "2026-01-05T10:00:00Z", 1.0),
        (1, 7, "buy", 1, "mr", 1, "", None, 1.0),  # still open: ignored
    ]
    conn.executemany("INSERT INTO trades VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    scan = trades.closed_trades(conn, 0, 2e9)
    assert [(t.trade_id, t.strategy_name, t.profit_loss) for t in scan.trades] == [
        ("1", "trend", 20.0),
        ("2", "trend", 10.0),
        ("3", "mr", -3.0),
    ]
    assert dict(scan.skipped) == {
        "unreadable closed_at": 1,
        "no finite profit_loss": 1,
        "empty strategy_name": 1,
    }


def test_a_trades_table_without_needed_columns_is_named(db_path: Path):
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE trades (id INTEGER, symbol TEXT)")
    with pytest.raises(trades.TradesTableError, match="strategy_name, closed_at"):
        trades.closed_trades(conn, 0, 1)


def test_processes_that_start_together_migrate_once(tmp_path: Path):
    """Two connections read version 0, one migrates while the other waits for the write lock: the
    second finds the work done instead of failing on 'table already exists'."""

    from investiq.core.journal import connect
    from investiq.core.journal.schema import SCHEMA_VERSION

    db = tmp_path / "p.db"
    assert migrate_together([connect(db) for _ in range(4)]) == [SCHEMA_VERSION] * 4


def migrate_together(
    conns: list[sqlite3.Connection], meanwhile: Callable[[], None] = lambda: None
) -> list[object]:
    """What `migrate` returns (or raises) on each connection, each in a thread of its own, started together while
    `meanwhile` runs; the connections closed."""
    from investiq.core.journal.schema import migrate

    barrier = threading.Barrier(len(conns))
    results: list[object] = []

    def run(conn: sqlite3.Connection) -> None:
        barrier.wait()
        try:
            results.append(migrate(conn))
        except Exception as exc:  # the failure these tests guard against
            results.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in conns]
    for t in threads:
        t.start()
    meanwhile()
    for t in threads:
        t.join()
    for c in conns:
        c.close()
    return results


def _forecasts(conn: sqlite3.Connection, n: int) -> list[int]:
    """n price forecasts, unresolved; their ids."""
    from investiq.core.journal.predictions import PriceRow, insert_price

    at = "2026-01-05T21:00:00+00:00"
    row = PriceRow(at, "SPX", "patchtst", "v1", "1d", 1, 100.0, at, 101.0, 0.01, "up", 0.6, "[]", at, 1.0)
    insert_price([row] * n)(conn)
    return [r[0] for r in conn.execute("SELECT id FROM price_predictions ORDER BY id")]


def test_a_forecast_resolved_twice_keeps_its_first_outcome(db_path: Path):
    """The resolver and `investiq resolve` may both score a forecast: the second resolution changes nothing (a
    second stamp would move the row past a gateway's watermark and count it again)."""
    from investiq.core.journal.predictions import Resolution, resolve_price

    conn = open_journal(db_path)
    [one] = _forecasts(conn, 1)
    resolve_price([Resolution(one, 102.0, True, "2026-01-06T21:00:00+00:00")], "2026-01-07T00:00:00+00:00")(conn)
    resolve_price([Resolution(one, 98.0, False, "2026-01-07T21:00:00+00:00")], "2026-01-08T00:00:00+00:00")(conn)
    row = conn.execute(
        "SELECT actual_price, correct, outcome_bar_time, resolved_at FROM price_predictions WHERE id = ?", (one,)
    ).fetchone()
    conn.close()
    assert tuple(row) == (102.0, 1, "2026-01-06T21:00:00+00:00", "2026-01-07T00:00:00+00:00")


def test_resolved_rows_with_one_stamp_are_all_read_across_pages(db_path: Path):
    """A pass resolves many rows with one stamp: read in pages after the watermark (resolved_at, id), the rows of
    that stamp beyond the first page are found by their ids, not skipped."""
    from investiq.core.journal.predictions import resolve_price, resolved_after

    conn = open_journal(db_path)
    ids = _forecasts(conn, 3)
    resolve_price([(i, 101.0, True) for i in ids], "2026-01-07T00:00:00+00:00")(conn)
    seen: list[int] = []
    mark = ("", 0)
    for _ in range(len(ids) + 1):  # bounded: a watermark that does not move must fail, not hang
        page = resolved_after(conn, *mark, limit=2)
        if not page:
            break
        assert len(page) <= 2
        seen += [int(r["id"]) for r in page]
        mark = (page[-1]["resolved_at"], int(page[-1]["id"]))
    conn.close()
    assert seen == ids


def test_reading_after_the_watermark_reads_no_older_row(db_path: Path):
    """The skill tally asks for the rows after its watermark every refresh: written as `resolved_at IS NOT NULL AND
    (resolved_at > ? OR ...)`, SQLite seeked the index from its start and read every resolved row (33 ms on 500k
    rows, every 30 s, a review). Counted in SQLite's virtual machine steps, which grow with the rows it reads."""
    from investiq.core.journal.predictions import resolve_price, resolved_after

    conn = open_journal(db_path)
    ids = _forecasts(conn, 2000)
    resolve_price([(i, 101.0, True) for i in ids], "2026-01-07T00:00:00+00:00")(conn)
    steps = [0]

    def step() -> int:
        steps[0] += 1
        return 0  # go on

    conn.set_progress_handler(step, 100)  # called every 100 steps
    assert resolved_after(conn, "2026-01-07T00:00:00+00:00", ids[-1]) == []
    conn.close()
    assert steps[0] <= 2  # it read ~2,000 rows: 100 calls


def test_a_log_is_committed_within_its_delay_and_pending_until_then(db_path: Path):
    """ "A crash loses at most journal_log_delay_ms of logs" had no test: logs held for an hour passed every suite
    (a review). And `pending` read only the queue, 0 while a batch waited out its delay: "drained" came before the
    commit."""
    conn = open_journal(db_path)
    conn.execute("CREATE TABLE logged (x)")
    conn.close()
    writer = JournalWriter(db_path, log_delay_s=0.5)
    writer.start()
    try:
        writer.log(lambda conn: conn.execute("INSERT INTO logged VALUES (1)"))
        assert writer.pending == 1  # queued, or taken from the queue and waiting out its delay
        deadline = time.monotonic() + 10  # 20x the delay: a busy machine keeps it, an hour's delay does not
        while time.monotonic() < deadline and writer.pending:
            time.sleep(0.02)
        conn = sqlite3.connect(db_path)
        assert conn.execute("SELECT count(*) FROM logged").fetchone()[0] == 1 and writer.pending == 0
        conn.close()
    finally:
        writer.close()


def test_a_file_whose_user_version_another_program_set_is_refused_untouched(tmp_path: Path):
    """Its version was taken for the journal's: the migrations after it failed ("no such table"), every command
    sent the user to `db init`, which failed so, and the file was left in WAL mode (a review)."""
    import sqlite3

    from investiq.core.journal import JournalError, open_journal

    theirs = tmp_path / "agent.db"
    with closing(sqlite3.connect(theirs)) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY)")
        conn.execute("PRAGMA user_version = 4")
    with pytest.raises(JournalError, match=r"user_version \(4\) is another program's"):
        open_journal(theirs)
    with closing(sqlite3.connect(theirs)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 4
    (tmp_path / "folder.db").mkdir()
    with pytest.raises(JournalError, match="is a folder, not a journal"):
        open_journal(tmp_path / "folder.db")
