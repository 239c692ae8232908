"""What the journal file says after a run: its integrity, the row of each request (by the keys of
reliability/traffic.py), and whether the Bayesian state agrees with its event log."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from reliability.traffic import Outcome, key_prefix

# endpoint -> the query giving the key of every row of its table
KEY_QUERIES = {
    "sentiment": "SELECT text FROM sentiment_predictions",
    "price": "SELECT symbol FROM price_predictions",
    "bayesian": "SELECT trade_id FROM bayesian_events",
}


def _open(db: Path) -> sqlite3.Connection:
    # Read-only, with the busy timeout every journal connection has: the agent may be writing.
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


def integrity(db: Path) -> str:
    """`PRAGMA integrity_check`: 'ok', or the problems it found (first lines)."""
    conn = _open(db)
    try:
        rows = [str(r[0]) for r in conn.execute("PRAGMA integrity_check")]
    finally:
        conn.close()
    return "ok" if rows == ["ok"] else "; ".join(rows[:5])


def journal_keys(db: Path) -> dict[str, Counter[str]]:
    """Per endpoint, how many rows carry each key (the last word of a sentiment text)."""
    conn = _open(db)
    try:
        keys: dict[str, Counter[str]] = {}
        for endpoint, query in KEY_QUERIES.items():
            values = (str(r[0]) for r in conn.execute(query) if r[0] is not None)
            keys[endpoint] = Counter(v.rsplit(" ", 1)[-1] if endpoint == "sentiment" else v for v in values)
    finally:
        conn.close()
    return keys


def reconcile(outcomes: Iterable[Outcome], keys: dict[str, Counter[str]], run: str) -> dict[str, dict[str, Any]]:
    """Per endpoint: every acknowledged request (200) should have exactly one row; rows of requests
    that got no 200 are counted apart (in flight when the server died, or failed after logging)."""
    prefix = key_prefix(run)
    acked: dict[str, set[str]] = {e: set() for e in KEY_QUERIES}
    sent: dict[str, set[str]] = {e: set() for e in KEY_QUERIES}
    for o in outcomes:
        sent[o.endpoint].add(o.key)
        if o.status == 200:
            acked[o.endpoint].add(o.key)
    report: dict[str, dict[str, Any]] = {}
    for endpoint, rows in keys.items():
        ours = {k: n for k, n in rows.items() if k.startswith(prefix) and k in sent[endpoint]}
        missing = sorted(k for k in acked[endpoint] if k not in ours)
        duplicated = sorted(k for k, n in ours.items() if n > 1)
        report[endpoint] = {
            "acknowledged": len(acked[endpoint]),
            "journaled_once": sum(1 for k in acked[endpoint] if ours.get(k) == 1),
            "missing": len(missing),
            "duplicated": len(duplicated),
            "unacknowledged_rows": sum(1 for k in ours if k not in acked[endpoint]),
            "examples": (missing + duplicated)[:5],
        }
    return report


def bayesian_disagreements(db: Path) -> list[str]:
    """Strategies whose folded state does not count the wins, losses and P&Ls of its events (a
    trade without `won` is a win when its P&L is positive, as the posterior folds it). State and
    event are written in one transaction, so after any crash they must agree."""
    conn = _open(db)
    try:
        events = {
            row[0]: tuple(row[1:])
            for row in conn.execute(
                "SELECT strategy_name, sum(coalesce(won, profit_loss > 0) = 1), "
                "sum(coalesce(won, profit_loss > 0) = 0), count(profit_loss) "
                "FROM bayesian_events GROUP BY strategy_name"
            )
        }
        state = {
            row[0]: tuple(row[1:])
            for row in conn.execute("SELECT strategy_name, wins, losses, pnl_count FROM bayesian_state")
        }
    finally:
        conn.close()
    return [
        f"{name}: events (wins, losses, pnls) {events.get(name)} but state {state.get(name)}"
        for name in sorted(set(events) | set(state))
        if events.get(name) != state.get(name)
    ]
