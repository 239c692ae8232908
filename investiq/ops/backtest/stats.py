"""Figures of a backtest variant, and its differences from equal weights with 95% bootstrap intervals.

Per trade i of a variant: size s_i (K * weight; 0 when not taken) and net P&L x_i. Win rate is
size-weighted, sum(s | x > 0) / sum(s), as are the average win and loss (mean x of winners or losers,
weighted by s): so they describe where the money was, and do not grow with leverage. The daily P&L is
the sum over trades of s_i times the change that day (UTC) of trade i's P&L marked to market (the stand-in
strategies on bars carry their marks; the agent's trades, without prices between entry and exit, count
x_i on the day they closed), on every day from the first decision to the last close: every weekday, or
every day when the trades show a market open at weekends (crypto);
total return is its sum, in P&L units (returns of one unit of notional per trade for bar strategies,
currency for the journal). Annual return (mean daily P&L * D) and the Sharpe ratio (mean / standard
deviation of the daily P&L * sqrt(D)) use D, the days a year of that grid itself (`grid_periods_per_year`):
about 261 for weekdays (a holiday is a day of no P&L, as a weekend is not), 365.25 for every day. So the
annual return is the P&L per year of the window whatever the market, not a stock exchange's 252 days
applied to a grid of 261 or 365.
Max drawdown is the largest fall of the cumulative P&L from its running peak, in the same units.

The P&L per trade that a variant's difference from equal weights compares is what its sizes added to equal weights'
mean P&L per trade x_eq, per trade taken and unit of exposure: sum(q_i (x_i - x_eq)) / n, q_i = s_i / c_i, c_i the
variant's mean size over the trades decided up to trade i (its running exposure, known at the decision;
`_trade_columns`). A shift of every P&L (costs, a drift) leaves it as it was, and it does not shrink with a variant
that trades less. Until 2026-12-05 it was sum(s x) / sum(s) - mean(x), whose denominator, the whole window's mean
size, moves with the outcomes (weights learn from them). On six driftless random walks correlated 0.8, where no
weighting has an edge (300 runs, standard errors about 0.0003): old +0.0010 a trade under Thompson weights, +0.0005
under pnl's, +0.0002 under mean's; now +0.0006, +0.0002, +0.0002. What is left is x_eq holding the outcomes the
sizes followed; two forms tried that day did worse: sum(q x) / n - mean(x) carries mean(x) (mean(q) - 1), -0.002
a trade with sizes fixed in advance and every P&L +0.0109 (a review), and centring each trade on the mean of those
closed after its decision, exact where outcomes are independent, read +0.0014 under Thompson on the walks, whose
open trades share moves with the closed ones the sizes learnt from. The intervals of the forms measured on the
walks were also narrow (wholly above 0 in 9-15 of 150 runs, about 4 expected; a review), probably because trades
held for months tie together more days than a block holds: read a P&L per trade whose interval only just clears 0
as weak evidence.
report.PER_TRADE says it in report.md.

Differences from equal weights are paired, over days: each variant's trade columns (win rate, average win, P&L
per trade) summed on their decision days (blocks of whole days holding block_trades trades on average, at least
block_days: `trade_basis`), and its daily P&L (total return, Sharpe, blocks of block_days), by
`forecast_stats.bootstrap_interval`; so are a variant's own win rate's intervals. Trades of one day move together
(several symbols in one market, one signal across them): resampled one trade at a time, in blocks of trades in
decision order, the intervals were far too narrow (a quant's review: 18 of 40 runs with no edge anywhere excluded
0 at a correlation of 0.8 between a strategy's trades of a day). A filtered variant of the stand-in strategies
holds trades of its own (gating.py), not equal weights' trades: the same calendar pairs them; the daily P&L of both
runs over the same grid of days, built from every variant's trades. Every interval
here is its expanded percentile interval, which widens with few blocks, where the plain percentile interval
rejected a true null about twice as often as 5% in a simulation.

The relative Sharpe difference, what the claim "Sharpe +50%" is about, is (mine - equal's) / |equal's|: mine /
equal's - 1 where equal weights' Sharpe is positive, and where it is negative the improvement measured against
its size (-0.69 -> +3.82 is +654%, not "undefined"), so that a negative baseline is judged too. It has no value
only in a replicate where equal weights' Sharpe is exactly 0 (a replicate that drew no trade of it) or not finite,
and its interval is taken over the other replicates. `Difference.sharpe_relative_dropped` is the share left out,
reported beside it when there is any, and a claim on an interval with more than DROPPED_CONDITIONAL of them left
out says the interval is conditional on equal weights' Sharpe being non-zero. (Judging the claim on the absolute
Sharpe difference instead would need the promise in absolute terms, which the original design never gave: +50%
of what equal weights made.)

The daily P&L's grid of days and its sums are daily.py's; what an interval rests on (`Basis`, `trade_basis`,
MIN_BLOCKS) and the interval itself, intervals.py's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
from numpy.typing import NDArray

from investiq.core.forecast_stats import (
    Estimate,
    block_bootstrap_means,
    expanded_tail,
)
from investiq.ops.backtest.config import BacktestConfig
from investiq.ops.backtest.daily import daily_pnl, grid_periods_per_year
from investiq.ops.backtest.intervals import TAIL, Basis, interval, trade_basis
from investiq.ops.backtest.trades import Trade

# A relative Sharpe interval that left out more than this share of its replicates (equal weights' Sharpe exactly 0,
# or not finite, in them) is named conditional on equal weights' Sharpe being non-zero.
DROPPED_CONDITIONAL = 0.05

# the most bootstrap replicates an interval held together with others draws (`difference`): memory grows with them
MAX_REPS = 50_000


@dataclass(frozen=True)
class VariantStats:
    label: str
    trades: int  # taken (size > 0)
    win_rate: Estimate  # size-weighted, 95% CI over decision days
    average_win: float  # size-weighted mean P&L of the winners
    average_loss: float  # the same of the losers (<= 0)
    profit_factor: float  # sum of sized wins / sum of sized losses (inf without a loss; nan without a trade)
    total_return: float  # sum of the daily P&L
    annual_return: float  # mean daily P&L * periods_per_year
    sharpe: float  # of the daily P&L, * sqrt(periods_per_year)
    max_drawdown: float  # >= 0, P&L units
    turnover: float  # traded notional: 2 * sum of sizes (in and out), in units of one trade at size 1
    costs: float  # sum of size * cost
    resized: float  # share of taken trades not at size 1: how often the weights had left the equal share
    periods_per_year: float  # days a year of the daily P&L grid, from its dates (grid_periods_per_year)
    # gross notional traded (sum of sizes) relative to equal weights' without filters (analysis sets it): total
    # return and drawdown scale with it
    exposure: float = math.nan


@dataclass(frozen=True)
class Difference:
    """A variant minus equal weights: win rate in points (0.01 = 1 point), average win relative (0.33 = +33%),
    Sharpe relative ((mine - equal's) / |equal's|: 0.5 = +50%; nan when equal's is 0), total return and Sharpe in
    their own units."""

    label: str
    win_rate: Estimate
    average_win: Estimate
    total_return: Estimate
    sharpe: Estimate
    sharpe_relative: Estimate
    # the sized P&L per trade taken, sizes relative to the running exposure known at each decision, mine - equal's
    # mean P&L per trade (what a higher win rate or average win is worth; `_trade_columns`)
    pnl_per_trade: Estimate
    # share of the bootstrap replicates left out of sharpe_relative's interval: those where equal weights' Sharpe
    # was exactly 0 or not finite (no relative change); nan without an interval
    sharpe_relative_dropped: float = math.nan
    # the figures (by field name) without an interval because they rest on fewer than MIN_BLOCKS blocks, and why:
    # {"sharpe": "too few days (25: 1 block of 20, 10 needed)", ...}
    too_few: dict[str, str] = field(default_factory=dict)

    @property
    def sharpe_relative_conditional(self) -> bool:
        """Whether sharpe_relative's interval left out more than DROPPED_CONDITIONAL of the replicates."""
        return self.sharpe_relative_dropped > DROPPED_CONDITIONAL


def _sharpe(mean: NDArray[np.float64], square: NDArray[np.float64], per_year: float) -> NDArray[np.float64]:
    """Annualised at `per_year` days a year; 0 where the daily P&L never varies (a bootstrap replicate that drew
    no trade). A variant that made no trade at all has no Sharpe ratio: variant_stats and difference report nan."""
    std = np.sqrt(np.maximum(square - mean * mean, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(std > 1e-12 * np.abs(mean) + 1e-300, mean / std, 0.0) * math.sqrt(per_year))


def variant_stats(
    label: str, trades: Sequence[Trade], sizes: NDArray[np.float64], days: pd.DatetimeIndex, config: BacktestConfig
) -> VariantStats:
    x = np.array([t.pnl for t in trades], dtype=np.float64)
    win = x > 0
    sized = sizes * x
    rows = np.column_stack([sizes * win, sizes])
    taken = Basis(int(np.count_nonzero(sizes > 0)), config.block_trades, "trades")
    # resampled by decision day (`trade_basis`): trades of one day move together
    rate = interval(_by_decision_day(trades, rows, days), _share, trade_basis(taken, days, config), config)
    daily = daily_pnl(trades, sizes, days)
    per_year = grid_periods_per_year(days)
    equity = np.cumsum(daily)
    peak = np.maximum.accumulate(np.concatenate(([0.0], equity)))[1:]
    total = float(equity[-1]) if len(equity) else 0.0
    gains, losses = float(sized[win].sum()), float(-sized[~win].sum())
    return VariantStats(
        label=label,
        trades=taken.count,
        win_rate=rate,
        average_win=_ratio(gains, float(sizes[win].sum())),
        average_loss=_ratio(-losses, float(sizes[~win].sum())),
        profit_factor=gains / losses if losses > 0 else (math.inf if gains > 0 else math.nan),  # nan: no trade
        total_return=total,
        annual_return=total * per_year / max(len(days), 1),
        sharpe=float(_sharpe(np.asarray(daily.mean()), np.asarray((daily * daily).mean()), per_year))
        if np.any(sizes > 0)
        else math.nan,  # no trade: no Sharpe ratio (0 would read as -100 % of equal weights')
        max_drawdown=float(np.max(peak - equity, initial=0.0)),
        turnover=float(2 * sizes.sum()),
        costs=float(np.dot(sizes, [t.cost for t in trades])),
        resized=float(np.mean(np.abs(sizes[sizes > 0] - 1) > 1e-9)) if np.any(sizes > 0) else 0.0,
        periods_per_year=per_year,
    )


def _share(m: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(m[..., 0] / m[..., 1])


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else math.nan


TRADE_COLUMNS = 7


def running_exposure(
    trades: Sequence[Trade], sizes: NDArray[np.float64], taken: NDArray[np.bool_] | None = None
) -> NDArray[np.float64]:
    """(n,) c_i: the mean size of the trades taken (`taken`; None: size > 0) that were decided at or before trade
    i's decision time, what the variant's exposure was as far as it was known then (1 for equal weights; nan where
    none was taken yet). It rests only on weights at decisions up to trade i's, never on an outcome after it."""
    took = (sizes > 0) if taken is None else np.asarray(taken, dtype=bool)
    decided = np.array([t.decided_ts for t in trades], dtype=np.float64)
    order = np.argsort(decided, kind="stable")
    total = np.cumsum(np.where(took, sizes, 0.0)[order])
    count = np.cumsum(took[order])
    last = np.searchsorted(decided[order], decided, side="right") - 1  # the last trade decided at or before
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(count[last] > 0, total[last] / np.maximum(count[last], 1), np.nan))


@dataclass(frozen=True)
class PairedDays:
    """Two daily P&L series on one grid of days, paired for the block bootstrap over days: rows (mine, mine^2,
    theirs, theirs^2) per day, and the differences their means give (mine minus theirs)."""

    rows: NDArray[np.float64]
    basis: Basis
    per_year: float

    @classmethod
    def of(
        cls, mine: NDArray[np.float64], theirs: NDArray[np.float64], days: pd.DatetimeIndex, config: BacktestConfig
    ) -> PairedDays:
        rows = np.column_stack([mine, mine * mine, theirs, theirs * theirs])
        return cls(rows, Basis(len(days), config.block_days, "days"), grid_periods_per_year(days))

    def total(self, m: NDArray[np.float64]) -> NDArray[np.float64]:
        """Total return, mine minus theirs, from the means of the rows."""
        return np.asarray((m[..., 0] - m[..., 2]) * len(self.rows))

    def sharpe(self, m: NDArray[np.float64]) -> NDArray[np.float64]:
        """The Sharpe ratio, mine minus theirs, from the means of the rows."""
        return _sharpe(m[..., 0], m[..., 1], self.per_year) - _sharpe(m[..., 2], m[..., 3], self.per_year)


def _trade_columns(
    trades: Sequence[Trade],
    sizes: NDArray[np.float64],
    taken: NDArray[np.bool_] | None = None,
) -> NDArray[np.float64]:
    """(n, 7) per trade: size if won, size, size * P&L if won, size * P&L (the sums behind win rate and average
    win), taken (1 or 0; `taken` None: size > 0), q * P&L and q, q = size / running exposure (`running_exposure`:
    the sums behind the P&L per trade). A trade not taken adds nothing, nor one taken at size 0 before any other
    (no exposure yet: it was 0 / 0, and made the variant's whole figure nan)."""
    x = np.array([t.pnl for t in trades], dtype=np.float64)
    took = (sizes > 0) if taken is None else np.asarray(taken, dtype=bool)
    win = (x > 0).astype(np.float64)
    exposure = running_exposure(trades, sizes, took)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(took & (exposure > 0), sizes / exposure, 0.0)
    columns = [sizes * win, sizes, sizes * x * win, sizes * x, took.astype(np.float64), relative * x, relative]
    return np.column_stack(columns).reshape(len(trades), TRADE_COLUMNS)


def _by_decision_day(
    trades: Sequence[Trade], columns: NDArray[np.float64], days: pd.DatetimeIndex
) -> NDArray[np.float64]:
    """(len(days), m) the rows of `columns` (one per trade) summed on each trade's decision day."""
    decided = pd.DatetimeIndex(pd.to_datetime([t.decided_ts for t in trades], unit="s", utc=True)).floor("D")
    at = days.get_indexer(decided)
    if np.any(at < 0):
        raise ValueError("a trade decided on a day outside the daily P&L's grid: build the grid from every trade")
    out = np.zeros((len(days), columns.shape[1]))
    np.add.at(out, at, columns)
    return out


def _paired_trade_rows(
    mine: tuple[Sequence[Trade], NDArray[np.float64]],
    reference: tuple[Sequence[Trade], NDArray[np.float64]],
    days: pd.DatetimeIndex,
    config: BacktestConfig,
    taken: NDArray[np.bool_] | None = None,
) -> tuple[NDArray[np.float64], Basis]:
    """(rows, basis) to resample win rate and average win of `mine` against `reference` (each: trades, sizes)
    together: mine, then the reference's columns (`_trade_columns`), one row per day of `days` (the trades summed
    on their decision day), in blocks of days (`trade_basis`). Resampled one trade at a time, in blocks of trades,
    they were far too narrow where a day's trades move together (several symbols, one market): 18 of 40 runs with
    no edge anywhere excluded 0 at a correlation of 0.8, 4 of 40 without (a quant's review). `taken`: which of
    mine its book took (None: those of size > 0)."""
    (a, size_a), (b, size_b) = mine, reference
    cols_a, cols_b = _trade_columns(a, size_a, taken), _trade_columns(b, size_b)
    count = Basis(
        int(min(np.count_nonzero(size_a > 0), np.count_nonzero(size_b > 0))), config.block_trades, "trades"
    )
    rows = np.hstack([_by_decision_day(a, cols_a, days), _by_decision_day(b, cols_b, days)])
    return rows, trade_basis(count, days, config)


def difference(
    label: str,
    trades: Sequence[Trade],
    sizes: NDArray[np.float64],
    equal: NDArray[np.float64],
    days: pd.DatetimeIndex,
    config: BacktestConfig,
    equal_trades: Sequence[Trade] | None = None,
    taken: NDArray[np.bool_] | None = None,
    tail: float = TAIL,
) -> Difference:
    """`sizes` (n,) on `trades` against equal weights' `equal` on `equal_trades` (None: the same trades), over the
    same `days`. Total return and Sharpe are paired over days; so are win rate, average win and P&L per trade:
    each variant's trades summed on their decision day, blocks of days (`_paired_trade_rows`), never two lists of
    trades of different lengths side by side. `taken` (n,): the trades the variant's book took (None: those of
    size > 0; a weight of exactly 0 is a trade taken at size 0, which the P&L per trade counts). `tail`: each
    interval's, before its expansion (TAIL: 95 %; smaller for intervals held together, `claims.held_together`, with
    replicates in proportion, so that as many fall in a tail)."""
    reference = trades if equal_trades is None else equal_trades
    per_trade, per_trade_basis = _paired_trade_rows((trades, sizes), (reference, equal), days, config, taken)

    r = TRADE_COLUMNS  # the reference's columns follow mine

    def win_rate(m: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(m[..., 0] / m[..., 1] - m[..., r] / m[..., r + 1])

    def average_win(m: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray((m[..., 2] / m[..., 0]) / (m[..., r + 2] / m[..., r]) - 1)

    def per_trade_pnl(m: NDArray[np.float64]) -> NDArray[np.float64]:
        # sum(q (x - equal weights' mean P&L per trade)) / trades taken, q = s / c (module docstring)
        return np.asarray((m[..., 5] - m[..., 6] * m[..., r + 5] / m[..., r + 4]) / m[..., 4])

    paired = PairedDays.of(daily_pnl(trades, sizes, days), daily_pnl(reference, equal, days), days, config)
    config = replace(config, reps=_reps(config.reps, tail, (per_trade_basis, paired.basis)))
    per_day, day_basis, per_year, total, sharpe = (
        paired.rows,
        paired.basis,
        paired.per_year,
        paired.total,
        paired.sharpe,
    )

    def sharpe_relative(m: NDArray[np.float64]) -> NDArray[np.float64]:
        base = _sharpe(m[..., 2], m[..., 3], per_year)
        mine = _sharpe(m[..., 0], m[..., 1], per_year)
        return _relative(mine, base)

    traded = bool(np.any(sizes > 0))
    undefined = Estimate(math.nan, (math.nan, math.nan))  # a variant that made no trade has no Sharpe ratio
    relative = interval(per_day, sharpe_relative, day_basis, config, tail) if traded else undefined
    dropped = math.nan
    if not math.isnan(relative.ci95[0]):
        # the replicates bootstrap_interval drew (the same rows, block, reps and seed): where equal's Sharpe is 0
        # or not finite, sharpe_relative is nan and nanpercentile left them out
        means = block_bootstrap_means([per_day], config.block_days, config.reps, config.seed)
        base = _sharpe(means[:, 2], means[:, 3], per_year)
        dropped = float(np.mean((base == 0) | ~np.isfinite(base)))
    return Difference(
        label=label,
        win_rate=interval(per_trade, win_rate, per_trade_basis, config, tail),
        average_win=interval(per_trade, average_win, per_trade_basis, config, tail),
        pnl_per_trade=interval(per_trade, per_trade_pnl, per_trade_basis, config, tail),
        total_return=interval(per_day, total, day_basis, config, tail),
        sharpe=interval(per_day, sharpe, day_basis, config, tail) if traded else undefined,
        sharpe_relative=relative,
        sharpe_relative_dropped=dropped,
        too_few={
            name: why
            for names, basis in ((PAIRED_OVER_TRADES, per_trade_basis), (PAIRED_OVER_DAYS, day_basis))
            for name in names
            if (why := basis.too_few())
        },
    )


def _reps(reps: int, tail: float, bases: Sequence[Basis]) -> int:
    """Replicates for intervals with `tail` in each tail: `reps` at TAIL (95 %), else as many as leave the same
    number of draws beyond each end after the widening for few blocks (`expanded_tail`, on the fewest blocks of
    `bases`), at most MAX_REPS: scaled by TAIL / tail alone, the ends of 9 claims' intervals on 10 blocks rested
    on about one draw (a review)."""
    if tail >= TAIL:
        return reps
    blocks = min(-(-b.count // b.block) for b in bases)
    wanted = math.ceil(reps * expanded_tail(blocks, TAIL) / expanded_tail(blocks, tail))
    return max(reps, min(MAX_REPS, wanted))


# The fields of Difference resampled with win rate's rows, and those resampled over days (too_few's keys).
PAIRED_OVER_TRADES = ("win_rate", "average_win", "pnl_per_trade")
PAIRED_OVER_DAYS = ("total_return", "sharpe", "sharpe_relative")


def _relative(mine: NDArray[np.float64], base: NDArray[np.float64]) -> NDArray[np.float64]:
    """(mine - base) / |base|, the relative change (mine / base - 1 where base > 0); nan where base is 0 or either
    is not finite."""
    defined = (base != 0) & np.isfinite(base) & np.isfinite(mine)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(defined, (mine - base) / np.where(defined, np.abs(base), 1.0), np.nan))
