"""Does forgetting pay? A seeded simulation with known change points.

K strategies trade once per day each; strategy i wins with probability p_i, and every
`change_every` days the p's rotate (the best strategy becomes the worst). Each day the weights
(by `allocate`) are set from the posteriors, then every strategy's trade is observed.
Regret per day = max_i p_i - sum_i w_i p_i; the figure is its sum over the horizon.

    python -m investiq.core.bayes.regret --runs 200      # prints the comparison with 95% intervals
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

import numpy as np

from investiq.core.bayes.allocation import AllocationRules, Method, allocate
from investiq.core.bayes.posterior import SECONDS_PER_DAY, Evidence, Prior, observe, posterior

WIN_PROBS = (0.62, 0.5, 0.38)


@dataclass(frozen=True)
class RegretSummary:
    half_life_days: float
    mean: float
    ci95: tuple[float, float]


def cumulative_regret(
    half_life_days: float,
    rng: np.random.Generator,
    *,
    days: int = 900,
    change_every: int = 150,
    method: Method = "thompson",
    rules: AllocationRules | None = None,
) -> float:
    """One run: the summed regret of the weights over `days` days."""
    rules = rules or AllocationRules(min_trades=5, floor=0.02, cap=0.9, draws=400)
    probs = np.array(WIN_PROBS)
    states = [Evidence(ref_ts=0.0) for _ in probs]
    prior = Prior()
    total = 0.0
    for day in range(days):
        if day and day % change_every == 0:
            probs = np.roll(probs, 1)
        now = day * SECONDS_PER_DAY
        posts = [posterior(prior, ev, now, half_life_days) for ev in states]
        weights = allocate(posts, method, rules, rng)
        total += float(probs.max() - weights @ probs)
        wins = rng.random(len(probs)) < probs
        states = [observe(ev, now, bool(w), None, half_life_days) for ev, w in zip(states, wins, strict=True)]
    return total


def compare(half_lives: tuple[float, ...], runs: int, seed: int = 7, **kwargs: object) -> list[RegretSummary]:
    """Mean cumulative regret per half-life over `runs` runs; the runs share seeds across half-lives."""
    out = []
    for h in half_lives:
        values = np.array(
            [cumulative_regret(h, np.random.default_rng([seed, r]), **kwargs) for r in range(runs)]  # type: ignore[arg-type]
        )
        half = 1.96 * values.std(ddof=1) / math.sqrt(runs)
        out.append(
            RegretSummary(h, float(values.mean()), (float(values.mean() - half), float(values.mean() + half)))
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--half-lives", type=float, nargs="+", default=[0.0, 15.0, 30.0, 60.0])
    args = parser.parse_args()
    if args.runs < 2:  # an interval needs two runs: 1 printed [nan, nan], 0 a nan mean
        parser.error(f"--runs {args.runs}: give at least 2 (an interval needs two runs)")
    print(f"strategies win {WIN_PROBS}, rotating every 150 days, 900 days, {args.runs} runs per row")
    print("half-life (days; 0 = no forgetting) | mean cumulative regret | 95% CI")
    for s in compare(tuple(args.half_lives), args.runs):
        print(f"{s.half_life_days:>8g} | {s.mean:8.2f} | [{s.ci95[0]:.2f}, {s.ci95[1]:.2f}]", flush=True)


if __name__ == "__main__":
    main()
