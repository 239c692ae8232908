"""`investiq backtest`: which trades, which filters, every variant walked forward, then the report.

Bar sources: the first `history_fraction` of the distinct bar times (pooled over all symbols' bars, not of
the calendar span) is history only, for the price model to train on; the backtest window starts at the first
bar after it, and only trades decided in the window are allocated (the agent starts knowing nothing, as a new
agent would). The journal: every closed trade, from the first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pandas as pd  # type: ignore[import-untyped, unused-ignore]

from investiq.core.errors import DataError
from investiq.core.market import SpacingError
from investiq.core.settings import Settings
from investiq.ops.backtest import report
from investiq.ops.backtest.analysis import Analysis, Replay, analyse
from investiq.ops.backtest.baseline import NO_PRICES
from investiq.ops.backtest.config import BacktestConfig
from investiq.ops.backtest.gating import EntryFilter
from investiq.ops.backtest.strategies import strategy_trades
from investiq.ops.backtest.trades import JournalTrades, Trade, posted_note, read_journal
from investiq.ops.patchtst import Bars, config_for, load_series

Log = Callable[[str], None]

# How an entry filter's refusal acts, said in report.md (gating.py).
SIGNAL_LEVEL = (
    "entry filters act on the stand-in strategies' entry signals: a refused signal is no entry, and the strategy, "
    "still flat, enters at the first later signal the filters allow, so a filtered variant has trades of its own"
)
# What a journal trade's P&L is (investiq.core.journal.trades.closed_trades), said in report.md.
JOURNAL_PNL = (
    "P&L is the profit_loss column as recorded (net of costs only if the agent recorded it net), or, where it is "
    "missing, (exit - entry) x quantity from the prices, negated for a short side: gross, before fees; the "
    "backtest deducts no cost from either"
)
# What "equal weights" is on the agent's journal (README says it; report.md did not: a quant's review).
LIVE_BOOK = (
    "the recorded trades may already reflect the agent's own use of the ML layer (it calls /sentiment, /price and "
    '/bayesian when it trades): "equal weights" is then its live book re-sized to equal shares, and a filter is '
    "tested only on trades the agent chose to take, not on the ones it passed over"
)
DELETED = (
    "the journal's trades carry no entry signals, so a trade that an entry filter (--headlines) refuses is simply "
    "deleted, not replaced by a later entry (what the agent would have done instead is unknown), which may "
    "overstate the filter's effect on trades and return, and moves its Sharpe ratio toward 0 (no claim is "
    "credited without a rise in the P&L per trade)"
)


@dataclass(frozen=True)
class Request:
    """What to backtest: `bars` for the stand-in strategies, or `db_path` for the agent's own trades."""

    bars: Bars | None = None
    db_path: Path | None = None
    price_filter: bool = False
    headlines: Path | None = None
    config: BacktestConfig = field(default_factory=BacktestConfig)
    command: str = ""  # how it was run, for report.md


def closes_of(settings: Settings, bars: Bars, log: Log) -> dict[str, pd.Series]:
    """Each symbol's cleaned closes, indexed by UTC bar time. DataError for bars that are not daily: the stand-in
    rules and the price filter read daily closes (no --interval changes that)."""
    try:
        series = load_series(settings, bars, log)
    except SpacingError as exc:
        looks = f"{exc.looks_like} bars" if exc.looks_like else "of no interval InvestIQ takes"
        raise DataError(
            f"investiq backtest trades daily bars: those of {exc.symbol} are {exc.median} apart (median), "
            f"{looks}; give it a file of daily bars"
        ) from None
    return {s: pd.Series(c, index=pd.DatetimeIndex(pd.to_datetime(t, utc=True))) for s, (c, t) in series.items()}


def window_start(closes: dict[str, pd.Series], fraction: float) -> pd.Timestamp:
    """The first bar time after the first `fraction` of the distinct bar times (pooled over symbols): a share of
    the bars' times, not of the calendar span (a symbol with a longer history, or a gap, moves them apart)."""
    times = pd.DatetimeIndex(sorted(set().union(*(c.index for c in closes.values()))))
    return pd.Timestamp(times[min(int(fraction * len(times)), len(times) - 1)])


def closes_at(trades: Sequence[Trade]) -> str:
    """The strategy and symbol of each trade closed on the last bar, and its P&L there: "trend SPX +0.015"."""
    return ", ".join(f"{t.strategy} {t.symbol} {t.pnl:+.3f}" for t in trades if t.open_at_end)


def not_run(request: Request) -> list[str]:
    """A note naming the ML filters this run left out, so that no reader takes their absence for a verdict on them
    (the committed sample ran no sentiment filter, and its report was read as if it had tested all three)."""
    missing = [] if request.headlines is not None else ["the sentiment filter (no --headlines)"]
    if not request.price_filter:
        missing.append("the P(up) price filter (" + ("--no-price-filter" if request.bars else "no bars") + ")")
    if not missing:
        return []
    return [f"not run, so nothing here tests {'them' if len(missing) > 1 else 'it'}: {' and '.join(missing)}"]


def backtest(settings: Settings, request: Request, out: Path, log: Log, progress: bool = True) -> Analysis:
    """Run the request and write report.md, report.json and the PNGs into `out`."""
    config = request.config
    notes: list[str] = []
    filters: list[EntryFilter] = []
    replay: Replay | None = None
    journal: JournalTrades | None = None
    closes: dict[str, pd.Series] | None = None
    if request.bars is not None:
        closes = closes_of(settings, request.bars, log)
        start = window_start(closes, config.history_fraction)
        trades = strategy_trades(closes, start, config.cost_bps)
        replay = partial(strategy_trades, closes, start, config.cost_bps)  # the same trades behind a gate
        notes.append(
            f"{request.bars.source} bars of {', '.join(closes)}; window from {start.date()} (the first "
            f"{config.history_fraction:.0%} of the distinct bar times is history for the price model); costs "
            f"{config.cost_bps:g} bps per side"
        )
        if still_open := sum(t.open_at_end for t in trades):
            notes.append(
                f"{still_open} trades still open on the last bar closed at its close ({closes_at(trades)}), exit "
                "cost paid: left out, the rules' figures would lean by what each leaves open"
            )
        if request.price_filter:
            from investiq.ops.backtest.filters import price_filter

            work = settings.models_dir / "backtest"
            # the bars' own source, days and file: `investiq evaluate patchtst` reloads the same bars from them
            shape = config_for(request.bars, window_stride=config.price_window_stride, epochs=config.price_epochs)
            filters.append(
                price_filter(
                    closes,
                    start,
                    settings,
                    work_dir=work,
                    seed=config.seed,
                    budget_s=config.price_budget_s,
                    progress=progress,
                    config=shape,
                )
            )
    elif request.db_path is not None:
        journal = read_journal(request.db_path, settings.db_busy_timeout_ms)
        trades = journal.trades
        notes.append(f"closed trades of {request.db_path}; {JOURNAL_PNL}")
        notes.append(LIVE_BOOK)
        notes.append(DELETED)
        notes.append(NO_PRICES)
        for reason, count in journal.skipped.items():
            notes.append(f"{count} rows left out: {reason}")
    else:
        raise ValueError("a request needs bars or a journal")
    if len(trades) < config.min_trades:
        more = (
            "use a longer history (--days) or more symbols"
            if request.bars is not None
            else "the agent's trades table needs more closed trades; or judge the stand-in strategies on bars "
            "(--source sample, csv or yfinance)"
        )
        raise DataError(
            f"only {len(trades)} closed trades to allocate between, at least {config.min_trades} needed to judge "
            f"anything: {more}{'' if journal is None else posted_note(journal.posted)}"
        )
    if request.headlines is not None:
        from investiq.ops.backtest.filters import sentiment_filter

        filters.append(sentiment_filter(request.headlines, settings, progress=progress))
    if filters and replay is not None:
        notes.append(SIGNAL_LEVEL)
    notes += not_run(request)
    analysis = analyse(trades, filters, settings, config, progress, replay, closes)
    analysis.notes[:0] = notes
    report.write(out, analysis, config, request.command)
    return analysis
