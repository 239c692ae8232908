"""The trades a backtest allocates between, and reading them from the agent's `trades` table.

Times are epoch seconds (UTC). A trade's P&L: for the stand-in strategies on bars, a simple return (0.01 = +1% of
the notional) net of their costs; for the agent's own trades, currency: the journal's profit_loss as recorded, or,
where it is missing, (exit - entry) x quantity from its prices, gross of fees (`cost` 0: nothing deducted).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from investiq.core.errors import DataError
from investiq.core.journal import BUSY_TIMEOUT_MS, connect
from investiq.core.journal import bayesian as journal_bayesian
from investiq.core.journal import trades as journal_trades
from investiq.core.journal.timestamps import MAX_TS, MIN_TS


@dataclass(frozen=True)
class Trade:
    strategy: str
    symbol: str
    decided_ts: float  # the entry decision: its weight comes from trades closed strictly before this
    closed_ts: float
    pnl: float  # net of `cost` (a journal's: as recorded, or gross from its prices)
    cost: float = 0.0  # what costs took from pnl (same units; 0 for a journal's trades)
    # (epoch seconds, P&L so far, net of the costs paid so far) at each bar from the entry fill to the exit, the
    # last one being (closed_ts, pnl): the trade marked to market. Empty (the agent's trades: no prices between
    # entry and exit) counts the whole P&L on the day the trade closed.
    marks: tuple[tuple[float, float], ...] = ()
    # The stamp of the bar whose close fills the entry (bar t+1 of a stand-in strategy's signal at bar t): news
    # published before it is known when the order goes in, so the sentiment filter reads up to it. None: the
    # entry filled when it was decided (the agent's trades: their opened_at).
    fill_bar_ts: float | None = None
    # False for an agent's trade without a readable opened_at, decided at its close: its entry time is unknown,
    # so no entry filter judges it (news up to its close may postdate its entry: look-ahead), every variant sizes
    # it 1 (a weight at its close would rest on trades closed after its entry) and the claims leave it out.
    entry_known: bool = True
    # a stand-in strategy's trade still open on the last bar: closed at its close (exit cost paid) by the backtest
    open_at_end: bool = False

    @property
    def won(self) -> bool:
        return self.pnl > 0


@dataclass(frozen=True)
class JournalTrades:
    trades: list[Trade]
    skipped: dict[str, int]  # rows left out, by reason
    without_open_time: int  # trades decided at their close time (no readable opened_at): `Trade.entry_known`
    posted: int = 0  # trades posted to /bayesian/update, which the backtest cannot replay (no entry, no symbol)


def read_journal(db_path: Path, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> JournalTrades:
    """Every closed trade of the agent's journal, read by column name as the Bayesian sync reads them.

    A trade is decided at its opened_at; without one (column absent or unreadable) at its close time, with
    `entry_known` False: a weight there would see trades that closed after its real entry (it once did: sized 1.20
    where its entry would have been 1.00), so every variant sizes it 1 (engine.py), the claims leave it out
    (analysis.compared) and no entry filter judges it. DataError, naming the columns needed, when the table is
    unusable.
    """
    if not db_path.is_file():
        raise DataError(f"no journal at {db_path}: pass the agent's database with --db portfolio.db")
    conn = connect(db_path, busy_timeout_ms, readonly=True)
    posted = 0
    try:
        posted = journal_bayesian.posted(conn)
        scan = journal_trades.closed_trades(conn, MIN_TS, MAX_TS)
    except journal_trades.TradesTableError as exc:
        raise DataError(
            f"{db_path}: {exc}. A backtest needs a trades table with strategy_name, closed_at and profit_loss "
            "(or side, quantity, entry_price, exit_price); opened_at and symbol are used when present"
            + posted_note(posted)
        ) from None
    finally:
        conn.close()
    out, late = [], 0
    owners: dict[str, str] = {}
    for t in scan.trades:
        # a trade id counts once, as the sync counts it (the agent's table may have no primary key: a repeated
        # row inflated one strategy and the claims, unsaid; a quant's review)
        if t.trade_id is not None:
            if t.trade_id in owners:
                same = owners[t.trade_id] == t.strategy_name
                scan.skipped["repeated trade id" if same else "trade id recorded for another strategy"] += 1
                continue
            owners[t.trade_id] = t.strategy_name
        start, known = t.opened_ts, True
        if start is None or start > t.closed_ts:
            start, known, late = t.closed_ts, False, late + 1
        out.append(Trade(t.strategy_name, t.symbol or "", start, t.closed_ts, t.profit_loss, entry_known=known))
    out.sort(key=lambda t: (t.decided_ts, t.closed_ts, t.strategy))
    return JournalTrades(out, dict(Counter(scan.skipped)), late, posted)


def posted_note(count: int) -> str:
    """What to say of the trades posted to /bayesian/update: counted there, not replayed here."""
    if not count:
        return ""
    return (
        f" ({count} trades posted to /bayesian/update are in the journal: they have no entry time or symbol, so "
        "the backtest does not replay them; it reads the agent's own trades table)"
    )
