"""Turning posteriors into strategy weights.

Rules, in order:
1. Minimum evidence: a strategy with fewer effective (decayed) trades than `min_trades` keeps its
   prior share 1/K (K = number of strategies) and takes no part in the ranking. Effective trades
   are rounded to the nearest whole trade first: N trades count as N until their decay takes them
   below N - 0.5 (5 trades at the default 30-day half-life: 4.6 days without a new one), not for
   the split second before any decay shows.
2. The proven strategies share the remaining mass in proportion to their score: the posterior mean
   win probability (`mean`), the probability of having the highest win probability, estimated by
   Monte Carlo draws from the Beta posteriors (`thompson`, seeded through the generator), or the
   probability of having the highest mean P&L per trade, by draws from each strategy's distribution of
   that mean given its P&L alone (Student-t: `pnl`, on the P&L's own scale, whatever its units). The
   first two ignore P&L: a strategy that wins 90% of its trades by 1 and loses the rest by 20 outranks
   one that wins 40% by 5 and loses the rest by 1. `pnl` counts only trades reported with a P&L as
   evidence (rule 1).
3. Floor and cap: proven weight i = clip(lam * score_i, floor, cap), lam chosen so the proven
   weights sum to their mass: proportional where the bounds do not bind. When the number of
   strategies makes the bounds infeasible (n * cap < mass, n * floor > mass), they widen just enough
   (cap' = max(cap, mass / n), floor' = min(floor, mass / n)).
Weights are >= 0 and sum to 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from investiq.core.bayes.posterior import Posterior

Method = Literal["mean", "thompson", "pnl"]
METHODS: tuple[Method, ...] = ("mean", "thompson", "pnl")


@dataclass(frozen=True)
class AllocationRules:
    min_trades: float = 5.0
    floor: float = 0.02
    cap: float = 0.6
    draws: int = 10_000


def is_proven(post: Posterior, rules: AllocationRules, method: Method = "mean") -> bool:
    """Enough effective trades to be ranked: those with a P&L for `pnl`, every trade for the others."""
    evidence = post.effective_pnl_trades if method == "pnl" else post.effective_trades
    return math.floor(evidence + 0.5) >= rules.min_trades


def prob_best(
    alphas: NDArray[np.float64], betas: NDArray[np.float64], rng: np.random.Generator, draws: int
) -> NDArray[np.float64]:
    """P(strategy i has the highest win probability), by `draws` joint samples. Shapes: (K,) -> (K,)."""
    samples = rng.beta(alphas, betas, size=(draws, len(alphas)))  # (draws, K)
    counts = np.bincount(samples.argmax(axis=1), minlength=len(alphas))
    return np.asarray(counts / draws, dtype=np.float64)


def prob_best_mean(posteriors: Sequence[Posterior], rng: np.random.Generator, draws: int) -> NDArray[np.float64]:
    """P(strategy i has the highest mean P&L per trade), by `draws` joint samples of each mean from the P&L
    evidence alone (the reference prior: Student-t with n - 1 degrees of freedom around the sample mean, scale
    s / sqrt(n), n the effective P&L trades). On the evidence's own scale, whatever the P&L's units: the
    configured NIG prior (in the agent's units, scale 100 by default) swamped returns of 0.01, and every
    weight stayed near equal. (K,) -> (K,)."""
    n = np.array([p.effective_pnl_trades for p in posteriors])
    loc = np.array([p.pnl_sample_mean for p in posteriors])
    scale = np.array([p.pnl_sample_sd for p in posteriors]) / np.sqrt(np.maximum(n, 1.0))
    samples = loc + scale * rng.standard_t(np.maximum(n - 1.0, 1.0), size=(draws, len(posteriors)))
    counts = np.bincount(samples.argmax(axis=1), minlength=len(posteriors))
    return np.asarray(counts / draws, dtype=np.float64)


def clip_to_box(scores: NDArray[np.float64], mass: float, floor: float, cap: float) -> NDArray[np.float64]:
    """w_i = clip(lam * s_i, floor, cap) with lam chosen so that sum(w) = mass. Shapes (n,) -> (n,).

    The bounds widen first if they cannot be met (n * floor > mass or n * cap < mass). Negative
    scores count as 0; if even lam -> inf leaves mass over (many zero scores), the zero-score
    strategies share what the capped ones leave.
    """
    n = len(scores)
    if n == 0:
        return np.zeros(0)
    floor, cap = min(floor, mass / n), max(cap, mass / n)
    s = np.clip(scores, 0.0, None)
    positive = s > 0
    most = positive.sum() * cap + (~positive).sum() * floor
    if most <= mass:  # caps bind everywhere: the zero scores take the rest equally
        w = np.where(positive, cap, floor)
        if (~positive).any():
            w[~positive] = (mass - positive.sum() * cap) / (~positive).sum()
        return w
    lo, hi = 0.0, cap / s[positive].min()  # sum(w(lo)) <= mass < sum(w(hi))
    for _ in range(200):  # bisection: sum(w(lam)) is continuous and non-decreasing in lam
        lam = 0.5 * (lo + hi)
        if np.clip(lam * s, floor, cap).sum() < mass:
            lo = lam
        else:
            hi = lam
    w = np.clip(hi * s, floor, cap)
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
