"""Defaults of `investiq backtest`, defined once: the command's flags default to None and resolve here.

The Bayesian prior, half-life, floor, cap, minimum evidence and Thompson draws are not here: they are
the settings `bayes_*` that the gateway serves with, so a backtest replays the served configuration.
"""

from __future__ import annotations

from dataclasses import dataclass

from investiq.core import market
from investiq.core.patchtst import QUICK_WINDOW_STRIDE

# The original design's promises, each as (metric, smallest promised change, largest, unit):
# win rate 50-55% -> 65-75% (+15 to +20 points), average win $150 -> $200 (+33%), Sharpe 1.2 -> 1.8 (+50%).
CLAIMS: tuple[tuple[str, float, float, str], ...] = (
    ("win_rate", 0.15, 0.20, "points"),
    ("average_win", 0.33, 0.33, "relative"),
    ("sharpe", 0.50, 0.50, "relative"),
)


# Bar sources without --days: all of it (a CSV's whole file, Yahoo Finance's whole daily history), not the
# price_days setting, which sizes `investiq up`'s intraday model (60 days: too few daily bars to trade on).
ALL_DAYS = market.ALL_DAYS


@dataclass(frozen=True)
class BacktestConfig:
    # per side, of the traded notional (bar strategies only; a journal's P&L is used as recorded, or from its
    # prices gross of fees: no cost is deducted from it)
    cost_bps: float = 5.0
    # bar sources: the first 60% of the distinct bar times (pooled over symbols; not of the calendar span) trains
    # the price model only
    history_fraction: float = 0.6
    price_budget_s: float = 300.0  # most seconds the price filter may train (checked between epochs): a safety net
    price_window_stride: int = QUICK_WINDOW_STRIDE  # as `investiq up`'s quick model: an epoch fits in the budget
    # a fixed number of epochs, so the model (and report.json) does not depend on how busy the machine was when
    # the time budget ran out; 3 of them took about 150 s on the sample on 2 busy cores
    price_epochs: int = 3
    seed: int = 0  # every bootstrap and the price filter's training (the weights' draws: bayes_seed, as served)
    block_days: int = 20  # block length of the daily bootstrap (about a month of trading days)
    # trades a block of days holds on average, at least: a trade figure is resampled by decision day in blocks of
    # whole days spanning block_trades trades (at least block_days; intervals.trade_basis). Few blocks (147 trades:
    # 15), so every interval is the expanded percentile one (intervals.py), which the plain percentile interval's
    # excess rejections called for. A figure needs intervals.MIN_BLOCKS (10) blocks: 100 trades (a trade figure)
    # and 200 days
    block_trades: int = 10
    reps: int = 2000  # bootstrap replicates
    # fewer closed trades in the window: nothing to judge, said so; fewer taken by a variant (behind a filter, or
    # with a known entry time): its claims are "not tested: only n trades"
    min_trades: int = 20
