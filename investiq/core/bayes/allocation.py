"""Turning posteriors into strategy weights.

Rules, in order:
1. Minimum evidence: a strategy with fewer effective (decayed) trades than `min_trades` keeps its
   prior share 1/K (K = number of strategies) and takes no part in the ranking. Effective trades
   are rounded to the nearest whole trade first: N trades count as N until their decay takes them
   below N - 0.5 (5 trades at the default 30-day half-life: 4.6 days without a new one), not for
   the split second before any decay shows.
2. The proven strategies share the remaining mass in proportion to their score: the posterior mean
   win probability (`mean`), the probability of having the highest win probability, estimated by
   Monte Carlo draws from the Beta posteriors, each giving every strategy its exact chance to beat the
   others' best draw (`thompson`, seeded through the generator), or the
   probability of having the highest mean P&L per trade, by draws from each strategy's distribution of
   that mean given its P&L alone (Student-t: `pnl`, on the P&L's own scale, whatever its units). The
   first two ignore P&L: a strategy that wins 90% of its trades by 1 and loses the rest by 20 outranks
   one that wins 40% by 5 and loses the rest by 1. `pnl` counts only trades reported with a P&L as
   evidence (rule 1).
3. Floor and cap: proven weight i = clip(lam * score_i, floor, cap), lam chosen so the proven
   weights sum to their mass: proportional where the bounds do not bind. A cap the strategies cannot
   meet (n * cap < mass) widens just enough, cap' = max(cap, mass / n); the floor is at most half the
   equal share, floor' = min(floor, mass / (2 n)), so that the evidence still ranks however many share it.
Weights are >= 0 and sum to 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from investiq.core.bayes.posterior import Posterior

TINY = 1e-300  # a score below this counts as 0 (its weight's multiplier would overflow a float)
GRID = 513  # points of a strategy's survival function `prob_best` interpolates between
BLOCK = 20_000  # joint draws held at once (`_in_blocks`)
Method = Literal["mean", "thompson", "pnl"]
METHODS: tuple[Method, ...] = ("mean", "thompson", "pnl")
DEFAULT_METHOD: Method = "mean"  # GET /bayesian/weights' default, which `investiq report` plots too


@dataclass(frozen=True)
class AllocationRules:
    min_trades: float = 5.0
    floor: float = 0.02
    cap: float = 0.6
    draws: int = 10_000


PNL_MIN_TRADES = 2  # trades with a P&L before `pnl` ranks a strategy, whatever bayes_min_trades says


def is_proven(post: Posterior, rules: AllocationRules, method: Method = "mean") -> bool:
    """Enough effective trades to be ranked: those with a P&L for `pnl`, and at least PNL_MIN_TRADES of them (a
    P&L's spread needs two: with `bayes_min_trades` 1, one trade of +50 was a certain mean, weights 1.0 and 4e-99
    against 100 trades of 10 +- 5, a review), every trade for the others."""
    if method == "pnl":
        return math.floor(post.effective_pnl_trades + 0.5) >= max(rules.min_trades, PNL_MIN_TRADES)
    return math.floor(post.effective_trades + 0.5) >= rules.min_trades


def _others_best(samples: NDArray[np.float64]) -> NDArray[np.float64]:
    """Per draw and strategy i, the highest sample of the others (-inf for K = 1). (draws, K) -> (draws, K)."""
    if samples.shape[1] == 1:
        return np.full(samples.shape, -np.inf)
    order = np.argsort(samples, axis=1)
    first = np.take_along_axis(samples, order[:, -1:], axis=1)
    second = np.take_along_axis(samples, order[:, -2:-1], axis=1)
    return np.where(np.arange(samples.shape[1])[None, :] == order[:, -1:], second, first)


def prob_best(
    alphas: NDArray[np.float64], betas: NDArray[np.float64], rng: np.random.Generator, draws: int
) -> NDArray[np.float64]:
    """P(strategy i has the highest win probability), by `draws` joint samples. Shapes: (K,) -> (K,).

    Each draw gives strategy i its exact chance to beat the others' best sample (the Beta's survival function
    there), not a 0 or a 1 for whether its own sample won (Rao-Blackwell): counting wins made a strategy behind a
    capped leader 0.38 on 5 wins in 10,000 draws and another 0.02 on none, two strategies with the same record
    0.295 and 0.105 by seed, and every zero share the rest equally, so the worst rose tenfold as the leader
    improved (a review)."""
    return _in_blocks(
        draws, lambda size: _prob_best(alphas, betas, rng.beta(alphas, betas, size=(size, len(alphas))))
    )


def _in_blocks(draws: int, shares: Callable[[int], NDArray[np.float64]]) -> NDArray[np.float64]:
    """The mean of `shares(size)` over blocks of at most BLOCK draws that add up to `draws`, weighted by size: the
    (draws, K) arrays of one block at a time. At bayes_thompson_draws' largest, 1,000,000, one call held ~26 MB a
    strategy (40 strategies: 1.2 GB a request; a review). One block, as at the default 10,000, draws the very
    samples one array did."""
    total: NDArray[np.float64] | None = None
    for start in range(0, draws, BLOCK):
        size = min(BLOCK, draws - start)
        part = size * shares(size)
        total = part if total is None else total + part
    assert total is not None  # draws >= 1
    return total / draws


def _prob_best(
    alphas: NDArray[np.float64], betas: NDArray[np.float64], samples: NDArray[np.float64]
) -> NDArray[np.float64]:
    """`prob_best` on one block of joint samples (draws, K)."""
    from scipy import special  # here: the CLI starts without scipy (tests/test_architecture.py)

    others = _others_best(samples)
    shares = np.ones(len(alphas))
    for i in range(len(alphas)) if len(alphas) > 1 else ():
        # the survival function on a grid over where the others' best fell, interpolated in logs: exact at every
        # draw cost 0.14 s a call for 20 strategies (the incomplete beta function 200,000 times), this ~10 ms.
        # Beta(a, b)'s survival at x is Beta(b, a)'s CDF at 1 - x: the same values (to 1e-12 in logs), and SciPy
        # 1.17's betainc takes a tenth of betaincc's time (40 strategies: 83 -> 7 ms a call)
        lo, hi = others[:, i].min(), others[:, i].max()
        log_sf = np.log(np.maximum(special.betainc(betas[i], alphas[i], 1.0 - np.linspace(lo, hi, GRID)), TINY))
        shares[i] = np.exp(_on_grid(others[:, i], lo, hi, log_sf)).mean()
    return shares


def _on_grid(x: NDArray[np.float64], lo: float, hi: float, values: NDArray[np.float64]) -> NDArray[np.float64]:
    """`values` (at len(values) points spread evenly from lo to hi) interpolated linearly at x (lo <= x <= hi):
    what np.interp answers, by arithmetic on the even grid instead of a binary search per point, which took a
    third of a `thompson` or `pnl` weighing (the same to 1e-15)."""
    per_unit = (len(values) - 1) / (hi - lo) if hi > lo else math.inf
    if not math.isfinite(per_unit) or not np.isfinite(x).all():  # one point, too narrow a range, NaN, inf
        return np.asarray(np.interp(x, np.linspace(lo, hi, len(values)), values), dtype=np.float64)
    t = (x - lo) * per_unit
    j = np.minimum(t.astype(np.intp), len(values) - 2)
    return np.asarray(values[j] + (t - j) * (values[j + 1] - values[j]), dtype=np.float64)


def prob_best_mean(posteriors: Sequence[Posterior], rng: np.random.Generator, draws: int) -> NDArray[np.float64]:
    """P(strategy i has the highest mean P&L per trade), by `draws` joint samples of each mean from the P&L
    evidence alone (the reference prior: Student-t with n - 1 degrees of freedom around the sample mean, scale
    s / sqrt(n), n the effective P&L trades). On the evidence's own scale, whatever the P&L's units: the
    configured NIG prior (in the agent's units, scale 100 by default) swamped returns of 0.01, and every
    weight stayed near equal. Each draw gives i its exact chance to beat the others' best, as `prob_best`; a
    strategy whose P&L never varied (scale 0) beats a value below its mean, ties one equal to it. (K,) -> (K,)."""
    n = np.array([p.effective_pnl_trades for p in posteriors])
    loc = np.array([p.pnl_sample_mean for p in posteriors])
    scale = np.array([p.pnl_sample_sd for p in posteriors]) / np.sqrt(np.maximum(n, 1.0))
    df = np.maximum(n - 1.0, 1.0)
    return _in_blocks(
        draws, lambda size: _prob_best_mean(loc, scale, df, loc + scale * rng.standard_t(df, size=(size, len(df))))
    )


def _prob_best_mean(
    loc: NDArray[np.float64], scale: NDArray[np.float64], df: NDArray[np.float64], samples: NDArray[np.float64]
) -> NDArray[np.float64]:
    """`prob_best_mean` on one block of joint samples (draws, K)."""
    from scipy import special  # here: the CLI starts without scipy (tests/test_architecture.py)

    others = _others_best(samples)
    shares = np.empty(len(loc))
    for i in range(len(loc)):
        if scale[i] <= 0:  # never varied: a point at its mean
            shares[i] = np.where(others[:, i] < loc[i], 1.0, np.where(others[:, i] == loc[i], 0.5, 0.0)).mean()
            continue
        # the t's survival function on a grid over where the others' best fell, interpolated in logs, as
        # `prob_best` does: exact at every draw (stdtr 400,000 times for 40 strategies) was most of a `pnl` call.
        # The grid is even in arcsinh(z): even in z, the heavy tails of a strategy with 2 or 3 trades spread it so
        # far that no point fell where the function turns (a review: 0.26 for an even 0.50)
        z = (others[:, i] - loc[i]) / scale[i]
        if not np.all(np.isfinite(z)):  # one strategy alone: the others' best is -inf, beaten every time
            shares[i] = special.stdtr(df[i], -z).mean()
            continue
        u = np.arcsinh(z)
        lo, hi = u.min(), u.max()
        log_sf = np.log(np.maximum(special.stdtr(df[i], -np.sinh(np.linspace(lo, hi, GRID))), TINY))
        shares[i] = np.exp(_on_grid(u, lo, hi, log_sf)).mean()
    return shares


def clip_to_box(scores: NDArray[np.float64], mass: float, floor: float, cap: float) -> NDArray[np.float64]:
    """w_i = clip(lam * s_i, floor, cap) with lam chosen so that sum(w) = mass. Shapes (n,) -> (n,).

    The bounds widen first: a cap below the equal share (n * cap < mass) to it, and a floor to at most half of it.
    A floor near the equal share leaves no room for the evidence: widened only to the equal share, from 50
    strategies at the default floor of 0.02, every weight was 1/K whatever the trades (a review: 50 wins against
    none, 0.02 like the rest), and just below 50 nearly so. Negative scores (and those below TINY) count as 0;
    if even lam -> inf leaves mass over (many zero scores), the zero scores share what the capped ones leave.
    """
    n = len(scores)
    if n == 0:
        return np.zeros(0)
    floor, cap = min(floor, 0.5 * mass / n), max(cap, mass / n)
    s = np.where(scores > TINY, scores, 0.0)
    positive = s > 0
    most = positive.sum() * cap + (~positive).sum() * floor
    if most <= mass:  # caps bind everywhere: the zero scores take the rest equally
        w = np.where(positive, cap, floor)
        if (~positive).any():
            w[~positive] = (mass - positive.sum() * cap) / (~positive).sum()
        return w
    # sum(w(lam)) is continuous and non-decreasing in lam, at least mass at lam = cap / (smallest positive score):
    # bisection on log(lam), as that can be 1e300 (a score of 1e-300: a P(best) far out in a tail), where halving
    # the range [0, 1e300] 200 times left it 1e240 wide
    lo, hi = math.log(cap) - math.log(s[positive].max()) - 750.0, math.log(cap) - math.log(s[positive].min())
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if np.clip(math.exp(mid) * s, floor, cap).sum() < mass:
            lo = mid
        else:
            hi = mid
    w = np.clip(math.exp(hi) * s, floor, cap)
    return np.asarray(w * (mass / w.sum()), dtype=np.float64)  # remove the last rounding of the sum


def allocate(
    posteriors: Sequence[Posterior], method: Method, rules: AllocationRules, rng: np.random.Generator
) -> NDArray[np.float64]:
    """Weights for the strategies in the order given. Shape (K,), >= 0, sums to 1 (empty for K = 0)."""
    k = len(posteriors)
    weights = np.full(k, 1.0 / k) if k else np.zeros(0)
    proven = np.array([is_proven(p, rules, method) for p in posteriors], dtype=bool)
    if not proven.any():
        return weights
    ranked = [p for p, ok in zip(posteriors, proven, strict=True) if ok]
    alphas = np.array([p.alpha for p in ranked])
    betas = np.array([p.beta for p in ranked])
    if method == "mean":
        scores = alphas / (alphas + betas)
    elif method == "thompson":
        scores = prob_best(alphas, betas, rng, rules.draws)
    elif method == "pnl":
        scores = prob_best_mean(ranked, rng, rules.draws)
    else:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    weights[proven] = clip_to_box(scores, proven.sum() / k, rules.floor, rules.cap)
    return weights
