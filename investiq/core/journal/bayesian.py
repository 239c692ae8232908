"""SQL of the Bayesian tables: the event log (source of truth) and the folded state per strategy."""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass, fields

from investiq.core.bayes.posterior import Evidence
from investiq.core.journal.timestamps import iso

_STATE_FIELDS = [f.name for f in fields(Evidence)]


@dataclass(frozen=True)
class TradeEvent:
    strategy_name: str
    won: bool | None
    profit_loss: float | None
    closed_ts: float
    source: str  # 'update' or 'sync'
    trade_id: str | None
    received_ts: float


def insert_event(conn: sqlite3.Connection, event: TradeEvent) -> bool:
    """Record the trade; False when its trade_id was already recorded (a retry or a synced trade)."""
    cursor = conn.execute(
        "INSERT INTO bayesian_events (strategy_name, won, profit_loss, closed_at, closed_ts, source, "
        "trade_id, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (trade_id) DO NOTHING",
        (
            event.strategy_name,
            None if event.won is None else int(event.won),
            event.profit_loss,
            iso(event.closed_ts),
            event.closed_ts,
            event.source,
            event.trade_id,
            iso(event.received_ts),
        ),
    )
    return cursor.rowcount == 1


def load_state(conn: sqlite3.Connection, strategy_name: str) -> Evidence | None:
    row = conn.execute(
        f"SELECT {', '.join(_STATE_FIELDS)} FROM bayesian_state WHERE strategy_name = ?", (strategy_name,)
    ).fetchone()
    return None if row is None else Evidence(*tuple(row))


def load_states(conn: sqlite3.Connection) -> dict[str, Evidence]:
    rows = conn.execute(
        f"SELECT strategy_name, {', '.join(_STATE_FIELDS)} FROM bayesian_state ORDER BY strategy_name"
    )
    return {row[0]: Evidence(*tuple(row)[1:]) for row in rows}


def save_state(conn: sqlite3.Connection, strategy_name: str, ev: Evidence, now_ts: float) -> None:
    values = asdict(ev)
    conn.execute(
        f"INSERT OR REPLACE INTO bayesian_state (strategy_name, {', '.join(_STATE_FIELDS)}, updated_at) "
        f"VALUES (?, {', '.join('?' for _ in _STATE_FIELDS)}, ?)",
        (strategy_name, *(values[name] for name in _STATE_FIELDS), iso(now_ts)),
    )


def clear(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM bayesian_events")
    conn.execute("DELETE FROM bayesian_state")


def count_events(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM bayesian_events").fetchone()[0])
