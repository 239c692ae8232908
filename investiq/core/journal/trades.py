"""Reading the agent's `trades` table, whatever extra columns or column order it has."""

from __future__ import annotations

import math
import sqlite3
from collections import Counter
from dataclasses import dataclass, field

from investiq.core.errors import InvestIQError
from investiq.core.journal import timestamps
from investiq.core.names import MAX_NAME, first_invisible, one_spelling, ticker

REQUIRED = ("strategy_name", "closed_at")
MAX_ABS_PNL = 1e15  # a P&L beyond it is no trade's (a price in the wrong units, a corrupt row): never learnt from
PRICE_COLUMNS = ("side", "quantity", "entry_price", "exit_price")
NEEDED = "strategy_name, closed_at and profit_loss (or side, quantity, entry_price and exit_price)"


class TradesTableError(InvestIQError, ValueError):
    """The trades table cannot be used; the message names the missing columns."""


@dataclass(frozen=True)
class ClosedTrade:
    trade_id: str | None
    strategy_name: str
    profit_loss: float
    closed_ts: float
    opened_ts: float | None = None  # when the table has a readable opened_at
    symbol: str | None = None  # when the table has a non-empty symbol (upper case)


@dataclass
class TradesScan:
    trades: list[ClosedTrade] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> rows


def columns(conn: sqlite3.Connection) -> list[str]:
    return [row[1] for row in conn.execute("PRAGMA table_info(trades)")]


def unreadable(conn: sqlite3.Connection) -> str | None:
    """Why the trades table cannot be read for closed trades (no table, columns missing), or None."""
    have = set(columns(conn))
    if not have:
        return "the journal has no trades table"
    missing = [c for c in REQUIRED if c not in have]
    if missing or ("profit_loss" not in have and not set(PRICE_COLUMNS) <= have):
        need = missing or ["profit_loss (or side, quantity, entry_price, exit_price)"]
        return f"the trades table lacks column(s) {', '.join(need)}"
    return None


def closed_trades(conn: sqlite3.Connection, since_ts: float, until_ts: float) -> TradesScan:
    """Trades closed in [since_ts, until_ts], by column name. P&L is profit_loss, or else
    (exit - entry) * quantity, negated for a short side. Unusable rows are counted by reason."""
    if (problem := unreadable(conn)) is not None:
        raise TradesTableError(problem)
    have = set(columns(conn))
    wanted = ["id" if "id" in have else "NULL", "strategy_name", "closed_at"]
    wanted += [c if c in have else "NULL" for c in ("profit_loss", *PRICE_COLUMNS, "opened_at", "symbol")]
    query = f"SELECT {', '.join(wanted)} FROM trades WHERE closed_at IS NOT NULL"
    scan = TradesScan()
    for row in conn.execute(query):
        trade_id, name, closed_at, pnl, side, qty, entry, exit_, opened_at, symbol = tuple(row)
        ts = timestamps.parse(closed_at)
        if ts is None:
            scan.skipped["unreadable closed_at"] += 1
            continue
        if ts > until_ts:  # learnt once the clock passes it; said, not silently left (a review)
            scan.skipped["closed_at ahead of the gateway's clock (learnt by a later sync)"] += 1
            continue
        if ts < since_ts:
            continue  # before the window: not an error
        if not isinstance(name, str) or not one_spelling(name):
            scan.skipped["empty strategy_name"] += 1
            continue
        if first_invisible(one_spelling(name)) is not None:  # refused by /bayesian/update: never addressable
            scan.skipped["strategy_name with a character that does not show"] += 1
            continue
        if len(one_spelling(name)) > MAX_NAME:  # refused by /bayesian/update too
            scan.skipped[f"strategy_name longer than {MAX_NAME} characters"] += 1
            continue
        value = _pnl(pnl, side, qty, entry, exit_)
        if value is None:
            scan.skipped["no finite profit_loss"] += 1
            continue
        if abs(value) > MAX_ABS_PNL:
            scan.skipped[f"profit_loss beyond ±{MAX_ABS_PNL:g}"] += 1
            continue
        symbol = ticker(symbol) if isinstance(symbol, str) and symbol.strip() else None
        scan.trades.append(
            ClosedTrade(
                None if trade_id is None else one_spelling(str(trade_id)) or str(trade_id),  # as /update takes it
                one_spelling(name),  # as /bayesian/update takes it, so that both name one strategy
                value,
                ts,
                timestamps.parse(opened_at),
                symbol,
            )
        )
    scan.trades.sort(key=lambda t: (t.closed_ts, t.trade_id or ""))
    return scan


def _pnl(pnl: object, side: object, qty: object, entry: object, exit_: object) -> float | None:
    given = _number(pnl)
    if given is not None:
        return given
    if isinstance(pnl, float) or (isinstance(pnl, str) and pnl.strip()):  # written, but no finite number:
        return None  # not guessed from the prices
    q, e, x = (_number(v) for v in (qty, entry, exit_))
    if q is None or e is None or x is None:
        return None
    sign = -1.0 if str(side).strip().lower() in {"sell", "short"} else 1.0
    return sign * (x - e) * q


def _number(value: object) -> float | None:
    """A finite number from a REAL or INTEGER cell, or from TEXT that holds one (an agent storing decimals as
    text, as rust_decimal does: '-2.50'); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None
