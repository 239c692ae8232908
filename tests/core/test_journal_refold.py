"""The gateway's start-up refold: each strategy replayed on a read connection and saved in a short write
transaction of its own, only if no trade came in meanwhile."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from investiq.core.bayes.posterior import Evidence
from investiq.core.journal import JournalWriter, connect, open_journal
from investiq.core.journal import bayesian as store

HALF_LIFE = 30.0
Job = Callable[[sqlite3.Connection], bool]


def trade(conn: sqlite3.Connection, name: str, pnl: float) -> None:
    store.insert_event(conn, store.TradeEvent(name, None, pnl, 1e9, "update", None, 1e9))


@pytest.fixture
def journal(db_path: Path) -> Iterator[JournalWriter]:
    """Strategies a, b, c with 3 trades each, their states folded with another half-life (to be replayed)."""
    conn = open_journal(db_path)
    for name in "abc":
        for pnl in (1.0, -2.0, 3.0):
            trade(conn, name, pnl)
        store.save_state(conn, name, Evidence(ref_ts=1e9), 1e9, 10.0)
    conn.close()
    writer = JournalWriter(db_path)
    writer.start()
    yield writer
    writer.close()


def test_each_strategy_is_saved_in_a_write_transaction_of_its_own(journal: JournalWriter, db_path: Path):
    """One write transaction replayed every strategy: 8 strategies of 60,000 trades held the write lock 6 s, and
    the agent's write timed out (a review). Here the agent writes between the saves without waiting at all."""
    agent = sqlite3.connect(db_path, timeout=0, isolation_level=None)
    agent.execute("PRAGMA busy_timeout = 0")

    def agent_then_writer(job: Job) -> bool:
        agent.execute("INSERT INTO trades (symbol, strategy_name, side, quantity, entry_price, opened_at) "
                      "VALUES ('A', 'm', 'buy', 1, 1, 'x')")  # fmt: skip
        return journal.submit(job).result(5)

    reader = connect(db_path, readonly=True)
    before = journal.committed
    assert store.refold(reader, HALF_LIFE, 2e9, agent_then_writer) == 3
    assert journal.committed - before == 3
    assert agent.execute("SELECT count(*) FROM trades").fetchone()[0] == 3
    assert store.folded_otherwise(reader, HALF_LIFE) == []
    assert store.load_state(reader, "a", HALF_LIFE) == store.replay(reader, "a", HALF_LIFE)
    agent.close()
    reader.close()


def test_the_gateway_refolds_through_its_writer(journal: JournalWriter, db_path: Path):
    assert store.refold_in_steps(db_path, journal, HALF_LIFE, 2e9, 5000) == 3
    reader = connect(db_path, readonly=True)
    assert store.folded_otherwise(reader, HALF_LIFE) == []
    reader.close()


def test_a_trade_that_comes_in_during_the_replay_is_replayed_too(journal: JournalWriter, db_path: Path):
    """Saved as replayed, the state would undo what the trade's update had folded in."""
    saves: list[bool] = []

    def trade_arrives_first_time(job: Job) -> bool:
        if not saves:
            journal.submit(lambda conn: trade(conn, "a", 5.0)).result(5)
        saves.append(journal.submit(job).result(5))
        return saves[-1]

    reader = connect(db_path, readonly=True)
    assert store.refold(reader, HALF_LIFE, 2e9, trade_arrives_first_time) == 3
    assert saves == [False, True, True, True]  # a again, then b and c
    state = store.load_state(reader, "a", HALF_LIFE)
    assert state is not None and state.pnl_count == 4
    assert state == store.replay(reader, "a", HALF_LIFE)
    reader.close()


def test_a_strategy_whose_trades_keep_coming_is_left_for_reads_to_replay(journal: JournalWriter, db_path: Path):
    def trade_arrives_every_time(job: Job) -> bool:
        journal.submit(lambda conn: trade(conn, "a", 5.0)).result(5)
        return journal.submit(job).result(5)

    reader = connect(db_path, readonly=True)
    assert store.refold(reader, HALF_LIFE, 2e9, trade_arrives_every_time) == 2  # b and c
    assert store.folded_otherwise(reader, HALF_LIFE) == ["a"]
    reader.close()


def test_a_state_folded_with_another_half_life_is_read_as_its_events_replayed(
    journal: JournalWriter, db_path: Path
):
    """Before any refold (or where the refold gave up, REFOLD_TRIES), a state folded with another half-life is read
    as its events replayed with the one asked for, not as stored (here an empty state folded with 10 days); one
    folded with the half-life asked for is read as stored. A mutation audit: every state served as stored survived
    every test."""
    reader = connect(db_path, readonly=True)
    assert store.folded_otherwise(reader, HALF_LIFE) == ["a", "b", "c"]
    replayed = store.replay(reader, "a", HALF_LIFE)
    assert replayed is not None and replayed.pnl_count == 3
    assert store.load_state(reader, "a", HALF_LIFE) == replayed
    assert store.load_states(reader, HALF_LIFE)["b"] == store.replay(reader, "b", HALF_LIFE)
    assert store.load_state(reader, "a", 10.0) == Evidence(ref_ts=1e9)  # folded with it: as stored
    reader.close()
