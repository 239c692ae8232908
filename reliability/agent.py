"""A stand-in for the Rust agent's writes to `trades`, in a process of its own.

    python -m reliability.agent --db portfolio.db [--seconds 60] [--interval-ms 5]

Like the agent (sqlx on SQLite): its own connection in WAL mode with a busy timeout, autocommit
statements, an INSERT for each opened trade and an UPDATE closing the one opened before. Runs until
--seconds pass or SIGTERM, then prints one JSON line: writes, failures, "database is locked"
failures, and the slowest write (how long the gateway ever made it wait).
"""

from __future__ import annotations

import argparse
import json
import signal
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from investiq.core.journal.schema import TRADES

SYMBOL = "AGENT"  # the rows this process writes


def connect(db: Path, busy_timeout_ms: int) -> sqlite3.Connection:
    conn = sqlite3.connect(db, timeout=busy_timeout_ms / 1000, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(TRADES)  # CREATE TABLE IF NOT EXISTS, as the agent's own migration would
    return conn


def run(db: Path, seconds: float, interval_s: float, busy_timeout_ms: int) -> dict[str, Any]:
    stopping = False

    def on_term(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_term)
    conn = connect(db, busy_timeout_ms)
    counts: dict[str, Any] = {"inserts": 0, "closes": 0, "failures": 0, "locked": 0, "errors": []}
    slowest_ms, open_id, n = 0.0, None, 0
    deadline = time.monotonic() + seconds
    while not stopping and time.monotonic() < deadline:
        n += 1
        now = datetime.now(timezone.utc).isoformat()
        began = time.monotonic()
        try:
            if open_id is None:
                cursor = conn.execute(
                    "INSERT INTO trades (symbol, strategy_name, side, quantity, entry_price, opened_at) "
                    "VALUES (?, ?, 'buy', 1, ?, ?)",
                    (SYMBOL, "momentum", 100.0 + n % 7, now),
                )
                open_id = cursor.lastrowid
                counts["inserts"] += 1
            else:
                pnl = float(n % 11 - 5)
                cursor = conn.execute(
                    "UPDATE trades SET exit_price = entry_price + ?, profit_loss = ?, closed_at = ? WHERE id = ?",
                    (pnl, pnl, now, open_id),
                )
                if cursor.rowcount != 1:
                    raise sqlite3.DatabaseError(f"the open trade {open_id} was not found to close")
                open_id = None
                counts["closes"] += 1
        except sqlite3.Error as exc:
            counts["failures"] += 1
            counts["locked"] += int("locked" in str(exc) or "busy" in str(exc))
            if len(counts["errors"]) < 5:
                counts["errors"].append(f"{type(exc).__name__}: {exc}")
        slowest_ms = max(slowest_ms, (time.monotonic() - began) * 1000)
        time.sleep(interval_s)
    conn.close()
    return {**counts, "writes": counts["inserts"] + counts["closes"], "slowest_write_ms": round(slowest_ms, 1)}


def agent_rows(db: Path) -> tuple[int, int]:
    """(rows, closed rows) of this stand-in in `trades`, to check its writes are all there."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        row = conn.execute("SELECT count(*), count(closed_at) FROM trades WHERE symbol = ?", (SYMBOL,)).fetchone()
    finally:
        conn.close()
    return int(row[0]), int(row[1])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m reliability.agent", description=__doc__)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=3600.0, help="stop after this long (or on SIGTERM)")
    parser.add_argument("--interval-ms", type=float, default=5.0, help="pause between writes")
    parser.add_argument("--busy-timeout-ms", type=int, default=5000)
    args = parser.parse_args()
    print(json.dumps(run(args.db, args.seconds, args.interval_ms / 1000, args.busy_timeout_ms)), flush=True)


if __name__ == "__main__":
    main()
