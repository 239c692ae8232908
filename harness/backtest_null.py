"""How often `investiq backtest` credits the ML layer where nothing has an edge: `python -m harness.backtest_null`.

Two symbols of random-walk daily closes (a common factor and a symbol's own noise, no drift: no rule has an edge),
5,000 business days each; the stand-in strategies and every variant of the backtest run on them (`strategy_trades`,
`analyse`, no filters), and the claims are judged as `report.md` judges them. Printed: the share of runs in which
some variant-claim pair reads "supported" or "partly supported" (a chance verdict), and per pair how often the
measured difference's interval lies wholly above or below 0. Until 2026-12-05 a higher win rate or average win
was credited on its own, and weights that favour a strategy winning often by little (or one swinging wide) raised
it with no edge: 18.8 % of 400 such runs had a chance verdict (a review); now a win rate or average win needs the
P&L per trade to rise too, and what remains is the Sharpe ratio's, about 2.5 % a pair at 95 % each.
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

CREDITED = ("supported", "partly supported")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200, help="random walks (default 200; ~2 s each)")
    parser.add_argument("--bars", type=int, default=5000, help="business days per walk (default 5000)")
    parser.add_argument("--reps", type=int, default=1000, help="bootstrap replicates per interval (default 1000)")
    args = parser.parse_args()
    settings = Settings()
    above: collections.Counter[tuple[str, str]] = collections.Counter()
    below: collections.Counter[tuple[str, str]] = collections.Counter()
    tested: collections.Counter[tuple[str, str]] = collections.Counter()
    credited = runs = 0
    began = time.monotonic()
    for seed in range(args.runs):
        rng = np.random.default_rng(1000 + seed)
        days = pd.bdate_range("2001-01-01", periods=args.bars, tz="UTC")
        common = rng.normal(0, 0.01, args.bars)
        closes = {
            symbol: pd.Series(100 * np.exp(np.cumsum(common + rng.normal(0, 0.006, args.bars))), index=days)
            for symbol in ("AAA", "BBB")
        }
        trades = strategy_trades(closes, window_start(closes, 0.6), 5.0)
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
    print(
        f"{runs} random walks of {args.bars} days, {time.monotonic() - began:.0f} s: runs with a 'supported' or "
        f"'partly supported' verdict: {credited / max(runs, 1):.1%}"
    )
    for pair in sorted(tested):
        n = tested[pair]
        print(
            f"{pair[0]:26s} {pair[1]:12s} n={n:4d}  interval wholly above 0: {above[pair] / n:6.1%}  "
            f"wholly below 0: {below[pair] / n:6.1%}"
        )


if __name__ == "__main__":
    main()
