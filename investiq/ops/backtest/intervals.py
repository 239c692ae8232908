"""What a backtest figure's bootstrap interval rests on, and the interval: `Basis` (rows in blocks: taken trades,
or days of the daily P&L), `trade_basis` (a trade figure's blocks of days), `interval` (a statistic of column
means with its expanded percentile interval over blocks, TAIL in each tail) and `too_few_note`.

An interval rests on the whole blocks it resamples: a figure on fewer than MIN_BLOCKS of them (days in blocks of
block_days; for a trade figure, also taken trades in blocks of block_trades) gets none, and its claim the verdict
"not tested: too few ...": `Basis`, `too_few_note`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
from numpy.typing import NDArray

from investiq.core.forecast_stats import (
    MIN_BLOCKS as FORECAST_MIN_BLOCKS,
)
from investiq.core.forecast_stats import (
    Estimate,
    bootstrap_interval,
)
from investiq.ops.backtest.config import BacktestConfig

# The fewest whole bootstrap blocks a figure's interval, and a verdict on it, rests on: forecast_stats.MIN_BLOCKS
# (10), the retrain gate's and the skill tests' floor, where the percentile interval of the circular block
# bootstrap was found too narrow with fewer. The backtest showed it too: with fewer rows than one block every
# replicate was the whole series (an interval of zero width), and on null journals (three strategies, no edge,
# 3 trades a weekday) of 25 weekdays (one block of days, 7 of trades) 33 % of runs had a "supported" or "partly
# supported" verdict, against 0 % at 120 weekdays (a review's simulation). So 100 taken trades (blocks of
# block_trades, 10) and 200 days of daily P&L (blocks of block_days, 20: about ten months of weekdays) before a
# figure is judged.
MIN_BLOCKS = FORECAST_MIN_BLOCKS

TAIL = 0.025  # each tail of a 95 % interval

# Figures of resampled column means (forecast_stats.bootstrap_interval's `statistic`).
Statistic = Callable[[NDArray[np.float64]], NDArray[Any]]


@dataclass(frozen=True)
class Basis:
    """What an interval resamples: `count` rows (taken trades, or days of the daily P&L) in blocks of `block`."""

    count: int
    block: int
    unit: str  # "trades" or "days"

    @property
    def blocks(self) -> int:
        """Whole blocks, as the retrain gate counts them (MIN_BLOCKS * horizon bar times to judge)."""
        return self.count // self.block

    def too_few(self) -> str:
        """Why a figure over this basis gets no interval: "too few days (25: 1 block of 20, 10 needed)"; "" when
        it has MIN_BLOCKS blocks or more."""
        if self.blocks >= MIN_BLOCKS:
            return ""
        plural = "s" if self.blocks != 1 else ""
        return (
            f"too few {self.unit} ({self.count}: {self.blocks} block{plural} of {self.block}, {MIN_BLOCKS} needed)"
        )


def too_few_note(basis: Basis, consequence: str) -> str:
    """A warning for report.md and report.json when `basis` (the unfiltered trades, or the daily P&L's days) has
    fewer than MIN_BLOCKS blocks ("" when it has enough), saying its `consequence` (which figures get no interval,
    which claims are not tested). Before, the warning came under 30 calendar days only, and 25 weekdays (one block
    of days) drew verdicts that were chance in a third of null journals (MIN_BLOCKS)."""
    why = basis.too_few()
    if not why:
        return ""
    return f"warning: {why} for the bootstrap: {consequence}; backtest a longer history"


def interval(
    rows: NDArray[np.float64], statistic: Statistic, basis: Basis, config: BacktestConfig, tail: float = TAIL
) -> Estimate:
    """`statistic` of the column means of `rows` with its expanded percentile interval over blocks of `basis`
    (`tail` in each tail before the expansion), or with none (nan) when `basis` has fewer than MIN_BLOCKS blocks:
    with fewer rows than a block, every replicate was the whole series (an interval of zero width), and with a few
    blocks the interval is far too narrow."""
    with np.errstate(divide="ignore", invalid="ignore"):  # a replicate may draw only refused (size 0) trades
        if basis.too_few():
            value = float(statistic(rows.mean(axis=0))) if len(rows) else math.nan
            return Estimate(value, (math.nan, math.nan))
        found = bootstrap_interval(
            [rows], statistic, basis.block, config.reps, config.seed, expanded=True, tail=tail
        )
    return Estimate(*found)


def trade_basis(taken: Basis, days: pd.DatetimeIndex, config: BacktestConfig) -> Basis:
    """What a trade figure's interval rests on: the trades taken, when they are too few for MIN_BLOCKS blocks of
    block_trades (said so: a variant behind a filter that let one entry in had an interval over the days'
    blocks); else the days they were decided on, in blocks of whole days that hold block_trades trades on average
    and at least block_days: a sparse journal's blocks span the months its trades' dependence does (147 trades
    in 2,000 days: blocks of 136 days, as blocks of 10 trades were), a dense one's a month of days."""
    if taken.too_few():
        return taken
    span = math.ceil(config.block_trades * len(days) / taken.count)
    # never fewer than MIN_BLOCKS blocks once both are enough: rounded up, 100 trades in 221 days made 9 blocks
    # of 23 (a review of the rule)
    return Basis(len(days), max(config.block_days, min(span, len(days) // MIN_BLOCKS)), "days")
