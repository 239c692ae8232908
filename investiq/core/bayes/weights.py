"""Strategy weights at a moment: the one function behind GET /bayesian/weights and `investiq backtest`.

Posteriors at `now` (evidence decayed with the half-life), then `allocate` with the floor, cap and
minimum evidence of `rules`. The generator is made afresh from `seed` on every call, so the same
evidence at the same moment always gives the same Thompson weights.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from investiq.core.bayes.allocation import AllocationRules, Method, allocate
from investiq.core.bayes.posterior import Evidence, Posterior, Prior, posterior


def strategy_weights(
    states: Mapping[str, Evidence],
    method: Method,
    now: float,
    *,
    prior: Prior,
    half_life_days: float,
    rules: AllocationRules,
    seed: int,
) -> tuple[list[str], list[Posterior], NDArray[np.float64]]:
    """(names sorted, their posteriors at `now` (epoch s), weights of shape (K,) summing to 1)."""
    names = sorted(states)
    posts = [posterior(prior, states[n], now, half_life_days) for n in names]
    weights = allocate(posts, method, rules, np.random.default_rng(seed))
    return names, posts, weights
