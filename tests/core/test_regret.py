"""Forgetting beats the plain posterior when strategies change (seeded, over many runs).

Full figures: `python -m investiq.core.bayes.regret --runs 200`.
"""

from __future__ import annotations

import math

import numpy as np

from investiq.core.bayes.regret import cumulative_regret


def test_forgetting_has_lower_cumulative_regret_after_change_points():
    runs = 12
    diffs = []
    for r in range(runs):
        plain = cumulative_regret(0.0, np.random.default_rng([11, r]), days=450, change_every=150)
        forgetful = cumulative_regret(30.0, np.random.default_rng([11, r]), days=450, change_every=150)
        diffs.append(plain - forgetful)
    d = np.array(diffs)
    half_width = 1.96 * d.std(ddof=1) / math.sqrt(runs)
    print(f"plain - forgetting regret: mean {d.mean():.2f}, 95% CI ±{half_width:.2f}")
    assert d.mean() - half_width > 0  # forgetting is better, and not by chance


def test_without_changes_forgetting_costs_little():
    plain = cumulative_regret(0.0, np.random.default_rng(3), days=300, change_every=10_000)
    forgetful = cumulative_regret(30.0, np.random.default_rng(3), days=300, change_every=10_000)
    assert forgetful < plain + 10  # stationary world: some cost, bounded
