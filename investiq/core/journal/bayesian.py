"""SQL of the Bayesian tables: the event log (source of truth) and the folded state per strategy.

Events are only ever added: an update or a sync never deletes one (a trade_id is recorded once).
"""

from __future__ import annotations

import sqlite3
from collections import Counter
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


def strategy_of(conn: sqlite3.Connection, trade_id: str) -> str | None:
    """The strategy the trade with this id was recorded for, or None if it was not recorded."""
    row = conn.execute("SELECT strategy_name FROM bayesian_events WHERE trade_id = ?", (trade_id,)).fetchone()
    return None if row is None else str(row[0])


def recorded_ids(conn: sqlite3.Connection) -> dict[str, str]:
    """trade_id -> strategy of every recorded trade that has an id."""
    rows = conn.execute("SELECT trade_id, strategy_name FROM bayesian_events WHERE trade_id IS NOT NULL")
    return {str(trade_id): str(name) for trade_id, name in rows}


def synced_without_id(conn: sqlite3.Connection) -> Counter[tuple[str, float, float | None]]:
    """(strategy, closed_ts, profit_loss) of the trades a sync imported from rows without an id, with
    their multiplicity: how a later sync recognises those rows (there is nothing else to go by)."""
    rows = conn.execute(
        "SELECT strategy_name, closed_ts, profit_loss FROM bayesian_events "
        "WHERE source = 'sync' AND trade_id IS NULL"
    )
    return Counter((str(name), float(ts), pnl) for name, ts, pnl in rows)


def count_events(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM bayesian_events").fetchone()[0])
