"""How often `investiq backtest` credits the ML layer where nothing has an edge: `python -m harness.backtest_null`.

Two symbols of random-walk daily closes (a common factor and a symbol's own noise, no drift: no rule has an edge),
5,000 business days each; the stand-in strategies and every variant of the backtest run on them (`strategy_trades`,
`analyse`, no filters), and the claims are judged as `report.md` judges them. Printed: the share of runs in which
some variant-claim pair reads "supported" or "partly supported" (a chance verdict), and per pair how often the
measured difference's interval lies wholly above or below 0. Until 2026-12-05 a higher win rate or average win
was credited on its own, and weights that favour a strategy winning often by little (or one swinging wide) raised
it with no edge: 18.8 % of 400 such runs had a chance verdict (a review); now a win rate or average win needs the
P&L per trade to rise too, and what remains is the Sharpe ratio's, about 2.5 % a pair at 95 % each.

`--journal-days N`: null journals instead, as the agent's would be read: three strategies with the same P&L law
trading once each a weekday for N weekdays. Until 2026-12-05 a figure on a block or two of the bootstrap was
judged: at 25 weekdays (one block of days, 7 of trades) 33 % of such runs had a chance verdict (a review), at 40
weekdays 20 % (a probe); now a figure on fewer than intervals.MIN_BLOCKS blocks is "not tested" and the report
warns.
"""

from __future__ import annotations

import argparse
import collections
import time

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]

from investiq.core.settings import Settings
from investiq.ops.backtest.analysis import analyse
from investiq.ops.backtest.config import BacktestConfig
from investiq.ops.backtest.run import window_start
from investiq.ops.backtest.strategies import strategy_trades
from investiq.ops.backtest.trades import Trade

CREDITED = ("supported", "partly supported")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200, help="random walks (default 200; ~2 s each)")
    parser.add_argument("--bars", type=int, default=5000, help="business days per walk (default 5000)")
    parser.add_argument("--reps", type=int, default=1000, help="bootstrap replicates per interval (default 1000)")
    parser.add_argument(
        "--journal-days", type=int, default=0, help="null journals of this many weekdays instead of random walks"
    )
    args = parser.parse_args()
    settings = Settings()
    above: collections.Counter[tuple[str, str]] = collections.Counter()
    below: collections.Counter[tuple[str, str]] = collections.Counter()
    tested: collections.Counter[tuple[str, str]] = collections.Counter()
    credited = runs = 0
    began = time.monotonic()
    for seed in range(args.runs):
        rng = np.random.default_rng(1000 + seed)
        trades = null_journal(rng, args.journal_days) if args.journal_days else walk_trades(rng, args.bars)
        if len(trades) < 20:
            continue
        runs += 1
        analysis = analyse(trades, [], settings, BacktestConfig(reps=args.reps, seed=seed), progress=False)
        lead = False
        for c in analysis.claims:
            if c.verdict.startswith(("not tested", "undefined")):
                continue
            pair = (c.label, c.claim.split(" +")[0])
            tested[pair] += 1
            above[pair] += c.measured.ci95[0] > 0
            below[pair] += c.measured.ci95[1] < 0
            lead |= c.verdict.split(":")[0] in CREDITED
        credited += lead
    what = (
        f"null journals of {args.journal_days} weekdays"
        if args.journal_days
        else f"random walks of {args.bars} days"
    )
    print(
        f"{runs} {what}, {time.monotonic() - began:.0f} s: runs with a 'supported' or "
        f"'partly supported' verdict: {credited / max(runs, 1):.1%}"
    )
    for pair in sorted(tested):
        n = tested[pair]
        print(
            f"{pair[0]:26s} {pair[1]:12s} n={n:4d}  interval wholly above 0: {above[pair] / n:6.1%}  "
            f"wholly below 0: {below[pair] / n:6.1%}"
        )


def walk_trades(rng: np.random.Generator, bars: int) -> list[Trade]:
    """The stand-in strategies' trades on two random walks of `bars` business days (a common factor, no drift)."""
    days = pd.bdate_range("2001-01-01", periods=bars, tz="UTC")
    common = rng.normal(0, 0.01, bars)
    closes = {
        symbol: pd.Series(100 * np.exp(np.cumsum(common + rng.normal(0, 0.006, bars))), index=days)
        for symbol in ("AAA", "BBB")
    }
    return strategy_trades(closes, window_start(closes, 0.6), 5.0)


def null_journal(rng: np.random.Generator, weekdays: int) -> list[Trade]:
    """Three strategies with the same P&L law (no edge), each trading once a weekday, decided at 14:00 UTC and
    closed at 19:00, as a journal's trades (no marks)."""
    days = pd.bdate_range("2024-01-01", periods=weekdays, tz="UTC").as_unit("ns").asi8 / 1e9
    hour = 3600.0
    return [
        Trade(name, "X", d + 14 * hour + k, d + 19 * hour + k, float(rng.normal(0, 10)))
        for d in days
        for k, name in enumerate("ABC")
    ]


if __name__ == "__main__":
    main()
